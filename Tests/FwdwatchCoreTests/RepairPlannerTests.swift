import FwdwatchConfig
import FwdwatchCore
import Testing

/// The incident's finding for `interface`, as `InterfaceForwardingDisabled` reports it.
private func disabled(_ interface: String) -> Finding {
    Finding(
        rule: "interface-forwarding-disabled", subject: interface, severity: .critical, message: "off", fix: "fix",
        interface: interface,
        evidence: [
            Evidence("sysctl", HostView.sysctlKey(interface, "forwarding")), Evidence("value", "0"),
            Evidence("all_forwarding", "1"),
        ])
}

private let on = RepairPolicy(forwarding: true, maxPerHour: 3)

/// Plans at `now` and records every planned repair as made, like the daemon after successful writes.
private func planAndRepair(
    _ planner: inout RepairPlanner, _ findings: [Finding], now: Double, policy: RepairPolicy = on,
    settings: Settings = .defaults, allForwarding: Int? = 1
) -> RepairPlan {
    let plan = planner.plan(findings: findings, allForwarding: allForwarding, policy: policy, settings: settings, now: now)
    for repair in plan.repairs { planner.recordRepair(of: repair.interface, at: now) }
    return plan
}

@Suite struct RepairPlannerTests {
    @Test func repairsTheReportedInterfaceWithItsKeyAndCount() {
        var planner = RepairPlanner()
        let plan = planAndRepair(&planner, [disabled("eth0")], now: 10)
        #expect(
            plan.repairs == [
                ForwardingRepair(
                    interface: "eth0", sysctlKey: "net.ipv4.conf.eth0.forwarding", observedValue: 0, repairsThisHour: 1)
            ])
        #expect(plan.limitsReached.isEmpty)
        #expect(planner.repairs(of: "eth0", now: 10) == 1)
    }

    @Test func aVLANKeepsItsNameAndGetsSysctlsSlashKey() {
        var planner = RepairPlanner()
        let plan = planAndRepair(&planner, [disabled("eth0.100")], now: 0)
        #expect(plan.repairs.map(\.interface) == ["eth0.100"])
        #expect(plan.repairs.map(\.sysctlKey) == ["net.ipv4.conf.eth0/100.forwarding"])
    }

    @Test func limitHoldsAndIsReportedOnce() {
        var planner = RepairPlanner()
        for (index, time) in [0.0, 1, 2].enumerated() {
            let plan = planAndRepair(&planner, [disabled("eth0")], now: time)
            #expect(plan.repairs.map(\.repairsThisHour) == [index + 1])
            #expect(plan.limitsReached.isEmpty)
        }
        // The fourth 0 within the hour: no repair, one report with the time until repairs resume.
        let refused = planAndRepair(&planner, [disabled("eth0")], now: 3)
        #expect(refused.repairs.isEmpty)
        #expect(
            refused.limitsReached == [
                RepairLimitReached(
                    interface: "eth0", sysctlKey: "net.ipv4.conf.eth0.forwarding", repairsThisHour: 3,
                    secondsUntilNextRepair: 3597)
            ])
        // Later evaluations while the limit holds: neither a repair nor another report.
        for time in [4.0, 100, 3599] {
            #expect(planAndRepair(&planner, [disabled("eth0")], now: time).isEmpty, "at \(time)")
        }
        #expect(planner.repairs(of: "eth0", now: 3599) == 3)
    }

    @Test func windowSlidesOneRepairAtATime() {
        var planner = RepairPlanner()
        for time in [0.0, 600, 1200] { _ = planAndRepair(&planner, [disabled("eth0")], now: time) }
        #expect(planAndRepair(&planner, [disabled("eth0")], now: 3599.9).repairs.isEmpty)
        // The repair at 0 leaves the hour at 3600: exactly one repair is allowed, the count stays 3.
        let slid = planAndRepair(&planner, [disabled("eth0")], now: 3600)
        #expect(slid.repairs.map(\.repairsThisHour) == [3])
        let again = planAndRepair(&planner, [disabled("eth0")], now: 3601)
        #expect(again.repairs.isEmpty)
        // A new hour's limit is reported again (the earlier report belonged to the exhausted window).
        #expect(again.limitsReached.map(\.interface) == ["eth0"])
        #expect(again.limitsReached.first?.secondsUntilNextRepair == 599)
        // Once every old repair has left the window the full allowance is back.
        #expect(planner.repairs(of: "eth0", now: 7201) == 0)
        let fresh = planAndRepair(&planner, [disabled("eth0")], now: 7201)
        #expect(fresh.repairs.map(\.repairsThisHour) == [1])
    }

    @Test func limitsAreCountedPerInterface() {
        var planner = RepairPlanner()
        let policy = RepairPolicy(forwarding: true, maxPerHour: 1)
        #expect(planAndRepair(&planner, [disabled("eth0")], now: 0, policy: policy).repairs.count == 1)
        let plan = planAndRepair(&planner, [disabled("eth0"), disabled("eth1")], now: 1, policy: policy)
        #expect(plan.repairs.map(\.interface) == ["eth1"])
        #expect(plan.limitsReached.map(\.interface) == ["eth0"])
    }

    @Test func unrecordedRepairsDoNotCount() {
        // A failed write (or one that found 1 already) is not recorded: the next evaluation asks again.
        var planner = RepairPlanner()
        for time in 0..<10 {
            let plan = planner.plan(
                findings: [disabled("eth0")], allForwarding: 1, policy: on, settings: .defaults, now: Double(time))
            #expect(plan.repairs.map(\.repairsThisHour) == [1])
        }
    }

    @Test func ignoredInterfacesAreNeverTouched() {
        var planner = RepairPlanner()
        let settings = Settings(ignoredInterfaces: [Glob("tun*"), Glob("eth1")])
        let plan = planAndRepair(
            &planner, [disabled("tun0"), disabled("eth1"), disabled("eth0")], now: 0, settings: settings)
        #expect(plan.repairs.map(\.interface) == ["eth0"])
        #expect(plan.limitsReached.isEmpty)
    }

    @Test(arguments: [0, nil] as [Int?])
    func nothingWhileAllForwardingIsNotOne(_ all: Int?) {
        var planner = RepairPlanner()
        #expect(planAndRepair(&planner, [disabled("eth0")], now: 0, allForwarding: all).isEmpty)
        #expect(planner.repairs(of: "eth0", now: 0) == 0)
    }

    @Test func nothingWhenDisabled() {
        var planner = RepairPlanner()
        let off = RepairPolicy(forwarding: false, maxPerHour: 1000)
        #expect(planAndRepair(&planner, [disabled("eth0")], now: 0, policy: off).isEmpty)
        #expect(RepairPolicy.defaults.forwarding == false)
        #expect(planAndRepair(&planner, [disabled("eth0")], now: 0, policy: .defaults).isEmpty)
    }

    @Test func onlyTheInterfaceForwardingFindingIsRepaired() {
        var planner = RepairPlanner()
        var other = disabled("docker0")
        other.rule = "bridge-port-not-forwarding"
        var noInterface = disabled("eth0")
        noInterface.interface = nil
        #expect(planAndRepair(&planner, [other, noInterface], now: 0).isEmpty)
    }

    @Test func theRealRuleFindingIsPlanned() {
        // The finding InterfaceForwardingDisabled really produces carries what the planner reads.
        let snapshot = Snapshot(
            links: [
                Link(index: 1, name: "lo", loopback: true), Link(index: 2, name: "eth0"),
                Link(index: 3, name: "docker0", kind: "bridge"), Link(index: 4, name: "veth1", kind: "veth", master: 3),
            ],
            addresses: [
                Address(interfaceIndex: 2, address: "192.0.2.10", prefixLength: 24),
                Address(interfaceIndex: 3, address: "172.17.0.1", prefixLength: 16),
            ],
            ipv4Conf: [
                "all": InterfaceConf(forwarding: 1), "default": InterfaceConf(forwarding: 1),
                "eth0": InterfaceConf(forwarding: 0), "docker0": InterfaceConf(forwarding: 1),
                "veth1": InterfaceConf(forwarding: 1),
            ])
        let evaluation = Evaluator().evaluate(snapshot)
        var planner = RepairPlanner()
        let plan = planner.plan(
            findings: evaluation.findings, allForwarding: snapshot.ipv4Conf["all"]?.forwarding, policy: on,
            settings: .defaults, now: 0)
        #expect(plan.repairs.map(\.interface) == ["eth0"])
        #expect(plan.repairs.first?.observedValue == 0)
    }

    @Test func aLoweredLimitWaitsUntilEnoughRepairsLeaveTheHour() {
        var planner = RepairPlanner()
        for time in [0.0, 10, 20] { _ = planAndRepair(&planner, [disabled("eth0")], now: time) }
        let lowered = RepairPolicy(forwarding: true, maxPerHour: 1)
        let plan = planAndRepair(&planner, [disabled("eth0")], now: 30, policy: lowered)
        #expect(plan.repairs.isEmpty)
        // One allowed per hour: a repair is possible again once all three have left the hour, at 3620.
        #expect(plan.limitsReached.first?.secondsUntilNextRepair == 3590.0)
    }
}
