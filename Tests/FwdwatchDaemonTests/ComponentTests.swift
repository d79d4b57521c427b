import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchNetlink
import FwdwatchProc
import Testing

@testable import FwdwatchDaemon

@Suite("SnapshotAssembler")
struct SnapshotAssemblerTests {
    @Test("netconf values win over /proc; sysctls of interfaces netlink does not know are dropped")
    func netconfWinsAndUnknownInterfacesGo() {
        let netlink = NetlinkState(
            links: [Link(index: 3, name: "docker0", kind: "bridge"), Link(index: 2, name: "eth0")],
            ipv4Netconf: ["eth0": NetconfValues(forwarding: 0, rpFilter: 1), "all": NetconfValues(forwarding: 1)],
            ipv6Forwarding: ["eth0": 1])
        let proc = ProcState(
            ipv4Conf: [
                "eth0": InterfaceConf(forwarding: 1, rpFilter: 2, routeLocalnet: 1),
                "all": InterfaceConf(forwarding: 1),
                "veth-gone": InterfaceConf(forwarding: 1),
            ],
            ipv6Forwarding: ["eth0": 0, "veth-gone": 1], ipCounters: ["InAddrErrors": 3], hostname: "docker-host")
        let snapshot = SnapshotAssembler.assemble(netlink: netlink, proc: proc, dropSample: nil)
        #expect(snapshot.links.map(\.name) == ["eth0", "docker0"], "sorted by ifindex")
        #expect(snapshot.ipv4Conf["eth0"] == InterfaceConf(forwarding: 0, rpFilter: 1, routeLocalnet: 1))
        #expect(snapshot.ipv4Conf["veth-gone"] == nil)
        #expect(snapshot.ipv4Conf["docker0"] == nil, "known to netlink, no values anywhere")
        #expect(snapshot.ipv6Forwarding == ["eth0": 1])
        #expect(snapshot.hostname == "docker-host")
        #expect(snapshot.ipCounters["InAddrErrors"] == 3)
        #expect(snapshot.firewall == nil && snapshot.firewallUnavailable == nil)
    }

    @Test("the rules reading goes in as state or as the reason it is missing")
    func firewallReading() {
        let unavailable = SnapshotAssembler.assemble(
            netlink: NetlinkState(), proc: ProcState(), dropSample: nil, firewall: .unavailable(reason: "no CAP_NET_ADMIN"))
        #expect(unavailable.firewall == nil)
        #expect(unavailable.firewallUnavailable == "no CAP_NET_ADMIN")
        let read = SnapshotAssembler.assemble(
            netlink: NetlinkState(), proc: ProcState(), dropSample: nil, firewall: .state(FirewallState(problems: ["x"])))
        #expect(read.firewall?.problems == ["x"])
        #expect(read.firewallUnavailable == nil)
    }
}

@Suite("ForwardingRepairer, on a proc tree in a scratch directory")
struct ForwardingRepairerTests {
    func findings(_ interface: String = "eth0") -> [Finding] {
        [
            Finding(
                rule: RepairPlanner.rule, subject: interface, severity: .critical, message: "m", fix: "f",
                interface: interface, evidence: [Evidence("value", "0")])
        ]
    }

    @Test("writes 1 where forwarding is 0, says so, and counts against the hour's limit")
    func repairsAndLimits() {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        writeProcTree(scratch, forwarding: ["all": 1, "eth0": 0])
        var repairer = ForwardingRepairer(writer: ProcWriter(root: scratch.path))
        let policy = RepairPolicy(forwarding: true, maxPerHour: 2)

        let first = repairer.repair(findings: findings(), allForwarding: 1, policy: policy, settings: .defaults, now: 10)
        #expect(first.wrote)
        #expect(
            first.notices.map(\.message) == [
                "Repaired forwarding on eth0: wrote net.ipv4.conf.eth0.forwarding=1 (it was 0). Repair 1 of at most 2 per hour for eth0."
            ])
        #expect(first.notices.first?.id == JournalMessageID.repaired)
        #expect(first.notices.first?.field("FWDWATCH_PREVIOUS_VALUE") == "0")
        #expect(scratch.read("proc/sys/net/ipv4/conf/eth0/forwarding") == "1\n")

        // Already 1 (an evaluation before the write's own event): nothing written, nothing counted.
        let again = repairer.repair(findings: findings(), allForwarding: 1, policy: policy, settings: .defaults, now: 11)
        #expect(!again.wrote && again.notices.isEmpty)

        scratch.write("proc/sys/net/ipv4/conf/eth0/forwarding", "0\n")
        #expect(repairer.repair(findings: findings(), allForwarding: 1, policy: policy, settings: .defaults, now: 12).wrote)
        scratch.write("proc/sys/net/ipv4/conf/eth0/forwarding", "0\n")
        let limited = repairer.repair(findings: findings(), allForwarding: 1, policy: policy, settings: .defaults, now: 13)
        #expect(!limited.wrote)
        #expect(limited.notices.map(\.id) == [JournalMessageID.repairLimitReached])
        #expect(limited.notices.first?.message.hasPrefix("Not repairing eth0 again: net.ipv4.conf.eth0.forwarding went back to 0 after 2 repairs") == true)
        #expect(scratch.read("proc/sys/net/ipv4/conf/eth0/forwarding") == "0\n")
        // The limit is said once.
        #expect(repairer.repair(findings: findings(), allForwarding: 1, policy: policy, settings: .defaults, now: 14).notices.isEmpty)
    }

    @Test("nothing is written while all.forwarding is not 1, or with [repair] off")
    func onlyWhenAllowed() {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        writeProcTree(scratch, forwarding: ["all": 0, "eth0": 0])
        var repairer = ForwardingRepairer(writer: ProcWriter(root: scratch.path))
        let on = RepairPolicy(forwarding: true, maxPerHour: 3)
        #expect(!repairer.repair(findings: findings(), allForwarding: 0, policy: on, settings: .defaults, now: 1).wrote)
        #expect(!repairer.repair(findings: findings(), allForwarding: 1, policy: .defaults, settings: .defaults, now: 2).wrote)
        #expect(scratch.read("proc/sys/net/ipv4/conf/eth0/forwarding") == "0\n")
    }

    @Test("a vanished interface is no notice; an unusable name is said once")
    func failures() {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        writeProcTree(scratch, forwarding: ["all": 1])
        var repairer = ForwardingRepairer(writer: ProcWriter(root: scratch.path))
        let policy = RepairPolicy(forwarding: true, maxPerHour: 3)
        let gone = repairer.repair(findings: findings("veth9"), allForwarding: 1, policy: policy, settings: .defaults, now: 1)
        #expect(!gone.wrote && gone.notices.isEmpty)
        let bad = repairer.repair(findings: findings("../x"), allForwarding: 1, policy: policy, settings: .defaults, now: 2)
        #expect(bad.notices.map(\.id) == [JournalMessageID.repairFailed])
        #expect(bad.notices.first?.message.contains("The interface name cannot be used in a path") == true)
        #expect(repairer.repair(findings: findings("../x"), allForwarding: 1, policy: policy, settings: .defaults, now: 3).notices.isEmpty)
    }
}

@Suite("HostFileReader")
struct HostFileReaderTests {
    @Test("reads /proc below the root and tells whether iptables-legacy tables exist")
    func readsBelowTheRoot() {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        writeProcTree(scratch, forwarding: ["all": 1, "eth0": 0], inAddrErrors: 42)
        let reader = HostFileReader(root: scratch.path)
        let files = reader.read()
        guard case .read(let proc) = files.proc else {
            Issue.record("not read: \(files.proc)")
            return
        }
        #expect(proc.ipv4Conf["eth0"]?.forwarding == 0)
        #expect(proc.ipCounters["InAddrErrors"] == 42)
        #expect(files.legacyTables == false, "no ip_tables module: no legacy tables")

        scratch.write("proc/net/ip_tables_names", "")
        #expect(reader.legacyTables() == false)
        scratch.write("proc/net/ip_tables_names", "filter\nnat\n")
        #expect(reader.legacyTables() == true)
    }

    @Test("a missing tree is a failed read, not a crash")
    func missingTree() {
        let files = HostFileReader(root: "/nonexistent-fwdwatch-root").read()
        guard case .failed(let reason) = files.proc else {
            Issue.record("read something: \(files.proc)")
            return
        }
        #expect(!reason.isEmpty)
    }
}
