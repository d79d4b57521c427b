import FwdwatchConfig
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchNetlink
import FwdwatchProc
import Testing

@testable import FwdwatchDaemon

@Suite("The daemon's state machine: start, READY and stop")
struct DaemonStartAndStopTests {
    @Test("the start reads the host and the rules and sets the sweep and watchdog timers")
    func startReadsAndSetsTimers() {
        var harness = MachineHarness(watchdogInterval: .seconds(15))
        let actions = harness.send(.start)
        #expect(actions.contains { $0.isReadHostFiles })
        #expect(actions.firewallReads == 1)
        #expect(actions.scheduled(.sweep) == [.seconds(5)])
        #expect(actions.scheduled(.watchdog) == [.seconds(15)])
        #expect(actions.systemd.isEmpty, "nothing is said to systemd before the first evaluation")
    }

    @Test("no evaluation before the first netlink state, /proc read and rules read; no READY before the first evaluation")
    func firstEvaluationWaitsForAFullModel() {
        var harness = MachineHarness()
        harness.send(.start)
        #expect(harness.send(.netlink(.initial(Fixtures.netlink))).evaluations == 0)
        #expect(harness.send(.hostFilesRead(Fixtures.hostFiles())).evaluations == 0, "the rules are not read yet")
        let afterRules = harness.send(.firewallRead(.state(FirewallState())))
        #expect(afterRules.evaluations == 1)
        #expect(harness.log.systemd.isEmpty)
        #expect(!harness.machine.isRunning)
        // Inputs that evaluate once running do not evaluate a second time while the first is pending.
        #expect(harness.send(.netlink(.changed(Fixtures.netlink, events: 3))).evaluations == 0)
    }

    @Test("the order: alerts, STATUS=, the started notice, READY=1")
    func startedNoticePrecedesReady() throws {
        var harness = MachineHarness()
        harness.send(.watcherStarted(receiveBufferSize: 8_388_608))
        let actions = harness.startRunning(findings: [Fixtures.uplinkForwardingOff])
        let alerts = try #require(actions.index { $0.transitions != nil })
        let status = try #require(actions.index { if case .status = $0.systemd { true } else { false } })
        let started = try #require(actions.index { $0.notice?.id == JournalMessageID.started })
        let ready = try #require(actions.index { $0.systemd == .ready })
        #expect(alerts < status && status < started && started < ready)
        #expect(actions.systemd.filter { $0 == .ready }.count == 1)
        #expect(harness.machine.isRunning)

        let notice = try #require(actions[started].notice)
        #expect(notice.message == "fwdwatch started: 1 critical: interface-forwarding-disabled eth0 (0 bridges, 0 ports watched).")
        #expect(notice.priority == .info)
        #expect(notice.field("FWDWATCH_CONFIG") == "built-in defaults")
        #expect(notice.field("FWDWATCH_NETLINK_RECEIVE_BUFFER") == "8388608")

        // Later evaluations send no READY and no second started notice.
        let later = harness.send(.timer(.repairFollowUp)) + harness.answerEvaluation()
        #expect(!later.systemd.contains(.ready))
        #expect(!later.notices.contains { $0.id == JournalMessageID.started })
    }

    @Test("STATUS= is sent when the line changes, not after every evaluation")
    func statusOnlyOnChange() {
        var harness = MachineHarness()
        harness.startRunning()
        harness.send(.timer(.repairFollowUp))
        #expect(harness.answerEvaluation().systemd.isEmpty)
        harness.send(.timer(.repairFollowUp))
        let broken = harness.answerEvaluation(findings: [Fixtures.uplinkForwardingOff]).systemd
        #expect(broken == [.status("1 critical: interface-forwarding-disabled eth0 (0 bridges, 0 ports watched)")])
    }

    @Test("WATCHDOG=1 only from a turn that took a watchdog tick, which sets the next one")
    func watchdogFromTheLoop() {
        var harness = MachineHarness(watchdogInterval: .seconds(15))
        #expect(!harness.startRunning().systemd.contains(.watchdog))
        let tick = harness.send(.timer(.watchdog))
        #expect(tick.systemd == [.watchdog])
        #expect(tick.scheduled(.watchdog) == [.seconds(15)])
        // Also while starting: the loop turns, so it says so.
        var starting = MachineHarness(watchdogInterval: .seconds(15))
        starting.send(.start)
        #expect(starting.send(.timer(.watchdog)).systemd == [.watchdog])
        // Without a watchdog nothing is sent.
        var unwatched = MachineHarness()
        #expect(unwatched.send(.timer(.watchdog)).isEmpty)
    }

    @Test("shutdown: STOPPING=1, the stopped notice with the counts, finish; then every input is ignored")
    func stoppedNoticeAndSilence() throws {
        var harness = MachineHarness()
        harness.startRunning()
        harness.send(.netlink(.changed(Fixtures.netlink, events: 5)))
        harness.answerEvaluation()
        harness.send(.netlink(.resynced(Fixtures.netlink, reason: "receive queue overrun (ENOBUFS)")))
        harness.answerEvaluation()
        let actions = harness.send(.shutdown)
        #expect(actions.systemd == [.stopping])
        let notice = try #require(actions.notices.first)
        #expect(
            notice.message
                == "fwdwatch stopped after 3 evaluations of 5 netlink events (1 resyncs, 7 route questions asked).")
        #expect(notice.id == JournalMessageID.stopping)
        #expect(notice.field("FWDWATCH_EVALUATIONS") == "3")
        #expect(notice.field("FWDWATCH_NETLINK_EVENTS") == "5")
        #expect(notice.field("FWDWATCH_RESYNCS") == "1")
        #expect(notice.field("FWDWATCH_ROUTE_QUESTIONS") == "7")
        guard case .finish = try #require(actions.last) else {
            Issue.record("the last action is not .finish: \(actions)")
            return
        }
        #expect(harness.send(.netlink(.changed(Fixtures.netlink, events: 1))).isEmpty)
        #expect(harness.send(.netlinkEnded).isEmpty, "the watcher's end at shutdown is no failure")
        #expect(harness.send(.timer(.sweep)).isEmpty)
    }
}

@Suite("The daemon's state machine: reload")
struct DaemonReloadTests {
    let freshText = "[daemon]\nsweep-interval-seconds = 60\ncoalesce-milliseconds = 50\nflap-hold-seconds = 0\n[rules]\ndisable = [\"bridge-no-address\"]\n"

    @Test("a good file: RELOADING=1, the reloaded notice, READY=1, an evaluation with the new settings")
    func goodReload() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let versionBefore = try #require(harness.send(.timer(.repairFollowUp)).first?.evaluationRequest?.rulesVersion)
        harness.answerEvaluation()
        let fresh = try Fixtures.configuration(freshText)
        let actions = harness.send(.reload(ReloadReading(configuration: .success(fresh), persistentSettings: [])))
        #expect(actions.systemd == [.reloading, .ready])
        let reloading = try #require(actions.index { $0.systemd == .reloading })
        let reloaded = try #require(actions.index { $0.notice?.id == JournalMessageID.reloaded })
        let ready = try #require(actions.index { $0.systemd == .ready })
        let evaluate = try #require(actions.index { $0.isEvaluate })
        #expect(reloading < reloaded && reloaded < ready && ready < evaluate)
        #expect(
            actions.notices.first?.message
                == "Configuration reloaded from /etc/fwdwatch/fwdwatch.toml. daemon.coalesce-milliseconds changed and "
                + "take effect at the next restart.")
        let request = try #require(actions[evaluate].evaluationRequest)
        #expect(request.settings.disabledRules.contains("bridge-no-address"))
        #expect(request.rulesVersion > versionBefore, "new settings start the memo afresh")
        #expect(actions.scheduled(.sweep) == [.seconds(60)], "the new sweep interval applies at once")
        #expect(harness.machine.configuration == fresh)
    }

    @Test("a bad file keeps the old configuration and logs reloadFailed with CONFIG_FILE and CONFIG_LINE")
    func badReload() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let before = harness.machine.configuration
        let error: ConfigurationError
        do {
            _ = try Fixtures.configuration("[daemon]\nsweep-interval-seconds = \"soon\"\n", path: "/etc/fwdwatch/bad.toml")
            Issue.record("the file parsed")
            return
        } catch let caught {
            error = caught
        }
        let actions = harness.send(.reload(ReloadReading(configuration: .failure(error), persistentSettings: [])))
        #expect(actions.systemd == [.reloading, .ready])
        let notice = try #require(actions.notices.first)
        #expect(notice.id == JournalMessageID.reloadFailed)
        #expect(notice.priority == .error)
        #expect(notice.message.hasPrefix("Configuration not reloaded, the previous one stays in force: /etc/fwdwatch/bad.toml:2"))
        #expect(notice.field("CONFIG_FILE") == "/etc/fwdwatch/bad.toml")
        #expect(notice.field("CONFIG_LINE") == "2")
        #expect(harness.machine.configuration == before)
        #expect(actions.scheduled(.sweep).isEmpty)
        #expect(actions.evaluations == 1)
    }

    @Test("a reload before READY=1 applies the file but sends neither RELOADING=1 nor READY=1")
    func reloadWhileStarting() throws {
        var harness = MachineHarness()
        harness.send(.start)
        let fresh = try Fixtures.configuration(freshText)
        let actions = harness.send(.reload(ReloadReading(configuration: .success(fresh), persistentSettings: [])))
        #expect(actions.systemd.isEmpty)
        #expect(actions.notices.map(\.id) == [JournalMessageID.reloaded])
        #expect(harness.machine.configuration == fresh)
    }
}

@Suite("The daemon's state machine: repairs, flaps, netlink")
struct DaemonTurnTests {
    @Test("with [repair] on, the repair comes first, then the alert, then the repair's notice and a follow-up")
    func repairOrderAndFollowUp() throws {
        let configuration = try Fixtures.configuration(
            "[daemon]\nflap-hold-seconds = 0\ncoalesce-milliseconds = 40\n[repair]\nforwarding = true\n", path: "/x.toml")
        var harness = MachineHarness(configuration: configuration)
        harness.send(.start)
        harness.send(.netlink(.initial(Fixtures.netlink)))
        harness.send(.hostFilesRead(Fixtures.hostFiles()))
        harness.send(.firewallRead(.state(FirewallState())))
        let evaluated = harness.answerEvaluation(findings: [Fixtures.uplinkForwardingOff])
        guard case .writeRepairs(let request) = try #require(evaluated.last) else {
            Issue.record("no repair asked: \(evaluated)")
            return
        }
        #expect(request.findings == [Fixtures.uplinkForwardingOff])
        #expect(request.allForwarding == 1)
        #expect(request.policy.forwarding)
        #expect(!evaluated.contains { $0.transitions != nil }, "the alert waits for the repair")

        let repairNotice = DaemonNotices.repaired(
            ForwardingRepair(interface: "eth0", sysctlKey: "net.ipv4.conf.eth0.forwarding", observedValue: 0, repairsThisHour: 1),
            previous: 0, count: 1, policy: request.policy)
        let repaired = harness.send(.repaired(ForwardingRepairer.Outcome(notices: [repairNotice], wrote: true)))
        let alert = try #require(repaired.index { $0.transitions != nil })
        let notice = try #require(repaired.index { $0.notice?.id == JournalMessageID.repaired })
        #expect(alert < notice)
        #expect(repaired.scheduled(.repairFollowUp) == [.milliseconds(45)])
        #expect(repaired.systemd.contains(.ready))

        // The follow-up evaluates again.
        #expect(harness.send(.timer(.repairFollowUp)).evaluations == 1)
        // A repair that wrote nothing sets no follow-up.
        let quiet = harness.answerEvaluation() + harness.send(.repaired(ForwardingRepairer.Outcome()))
        #expect(quiet.scheduled(.repairFollowUp).isEmpty)
    }

    @Test("with [repair] off, no repair is asked")
    func noRepairWhenOff() {
        var harness = MachineHarness()
        let actions = harness.startRunning(findings: [Fixtures.uplinkForwardingOff])
        #expect(!actions.contains { $0.isRepair })
    }

    @Test("a flap hold sets one timer for the tracker's deadline; its expiry evaluates and resolves")
    func flapHoldTimer() throws {
        let configuration = Configuration(daemon: DaemonOptions(flapHold: .seconds(2)))
        var harness = MachineHarness(configuration: configuration)
        harness.startRunning(findings: [Fixtures.uplinkForwardingOff])
        harness.advance(.milliseconds(500))
        harness.send(.netlink(.changed(Fixtures.netlink, events: 1)))
        let cleared = harness.answerEvaluation()
        #expect(cleared.compactMap(\.transitions).isEmpty, "held, not resolved yet")
        let delay = try #require(cleared.scheduled(.flapHold).first)
        #expect(delay >= .milliseconds(1990) && delay <= .milliseconds(2010))

        // While the timer is pending, another evaluation sets no second one.
        harness.advance(.milliseconds(100))
        harness.send(.timer(.repairFollowUp))
        #expect(harness.answerEvaluation().scheduled(.flapHold).isEmpty)

        harness.advance(.seconds(2))
        #expect(harness.send(.timer(.flapHold)).evaluations == 1)
        let resolved = harness.answerEvaluation().compactMap(\.transitions).flatMap { $0 }
        #expect(resolved.map(\.state) == [.resolved])
    }

    @Test("netlink: events are counted, a resync is said with its count, a failure restarts the watcher after a delay")
    func netlinkUpdates() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let changed = harness.send(.netlink(.changed(Fixtures.netlink, events: 4)))
        #expect(changed.contains { if case .netlinkEvents(4) = $0.event { true } else { false } })
        #expect(changed.evaluations == 1)
        harness.answerEvaluation()

        let resynced = harness.send(.netlink(.resynced(Fixtures.netlink, reason: "receive queue overrun (ENOBUFS)")))
        #expect(resynced.contains { if case .netlinkResynced = $0.event { true } else { false } })
        let notice = try #require(resynced.notices.first)
        #expect(notice.message == "Netlink events were lost (receive queue overrun (ENOBUFS)); the whole state was re-read and compared.")
        #expect(notice.id == JournalMessageID.resynced)
        #expect(notice.field("FWDWATCH_RESYNCS") == "1")
        #expect(resynced.evaluations == 1)
        harness.answerEvaluation()

        let failed = harness.send(.netlink(.failed("netlink: poll failed")))
        #expect(failed.notices.map(\.message) == ["The netlink watcher failed: netlink: poll failed; restarting it."])
        #expect(failed.evaluations == 0)
        let ended = harness.send(.netlinkEnded)
        #expect(ended.scheduled(.watcherRestart) == [.seconds(1)])
        let due = harness.send(.timer(.watcherRestart))
        guard case .restartWatcher(let window) = try #require(due.first) else {
            Issue.record("no restart: \(due)")
            return
        }
        #expect(window == .milliseconds(20))
        let refused = harness.send(.watcherRestartFailed("opening: Too many open files"))
        #expect(refused.notices.map(\.message) == ["Cannot reopen netlink: opening: Too many open files; retrying."])
        #expect(refused.scheduled(.watcherRestart) == [.seconds(1)])
    }

    @Test("a failed /proc read keeps the last values and is logged; a sweep retries the journal backlog first")
    func sweepAndProcFailure() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let sweep = harness.send(.timer(.sweep))
        if case .publish(.retryBacklog) = try #require(sweep.first) {} else { Issue.record("no backlog retry: \(sweep)") }
        #expect(sweep.contains { $0.isReadHostFiles })
        #expect(sweep.scheduled(.sweep) == [.seconds(5)])

        harness.advance(.seconds(5))
        let good = harness.send(.hostFilesRead(Fixtures.hostFiles(inAddrErrors: 50)))
        let request = try #require(good.first { $0.isEvaluate }?.evaluationRequest)
        #expect(request.dropSample?.inAddrErrors == 50)
        #expect(request.routeAnswers == .dropAll, "a sweep drops the kernel's cached route answers")
        harness.answerEvaluation()

        let failed = harness.send(
            .hostFilesRead(HostFiles(proc: .failed("no /proc"), persistentSettings: [], legacyTables: false, duration: .zero)))
        guard case .log(let line) = try #require(failed.first) else {
            Issue.record("no log line: \(failed)")
            return
        }
        #expect(line.message == "reading /proc failed, keeping the last values")
        #expect(line.metadata["error"] == "no /proc")
        #expect(failed.first { $0.isEvaluate }?.evaluationRequest?.proc.ipCounters["InAddrErrors"] == 50)
    }

    @Test("new disagreements with the kernel are logged once each, at most ten per evaluation, and all counted")
    func disagreementsOnce() {
        var harness = MachineHarness()
        harness.startRunning()
        let texts = (1...12).map { "10001/tcp from eth0 via client 192.0.2.\($0)" }
        harness.send(.timer(.repairFollowUp))
        let first = harness.answerEvaluation(modelDisagreements: texts)
        #expect(first.notices.filter { $0.id == JournalMessageID.modelDisagreement }.count == 10)
        #expect(first.contains { if case .modelDisagreements(12) = $0.event { true } else { false } })
        harness.send(.timer(.repairFollowUp))
        let again = harness.answerEvaluation(modelDisagreements: texts)
        #expect(again.notices.isEmpty)
        #expect(again.contains { if case .modelDisagreements(0) = $0.event { true } else { false } })
    }
}

@Suite("The daemon's state machine: reading the firewall rules")
struct DaemonFirewallReadTests {
    @Test("a burst of nf_tables notifications is read once, after it went quiet")
    func burstIsDebounced() {
        var harness = MachineHarness()
        harness.startRunning()
        let first = harness.send(.firewallChanged)
        #expect(first.scheduled(.firewallQuiet) == [.milliseconds(30)])
        #expect(first.firewallReads == 0)
        for _ in 0..<5 {
            harness.advance(.milliseconds(10))
            #expect(harness.send(.firewallChanged).isEmpty, "one check is pending already")
        }
        // The check comes due 30 ms after the first notification, but the last was 10 ms ago: look again later.
        harness.advance(.milliseconds(10))
        let early = harness.send(.timer(.firewallQuiet))
        #expect(early.firewallReads == 0)
        #expect(early.scheduled(.firewallQuiet) == [.milliseconds(20)])
        harness.advance(.milliseconds(20))
        #expect(harness.send(.timer(.firewallQuiet)).firewallReads == 1)
        // A stray check with nothing pending does nothing.
        #expect(harness.send(.timer(.firewallQuiet)).isEmpty)
    }

    @Test("a burst that never goes quiet is read at the latest one second after its first notification")
    func endlessBurstIsReadWithinTheMaximum() throws {
        var harness = MachineHarness()
        harness.startRunning()
        let start = harness.now
        var due = harness.send(.firewallChanged).scheduled(.firewallQuiet).first.map { harness.now + $0 }
        var firstRead: Duration?
        while harness.now - start < .milliseconds(1500) {
            harness.advance(.milliseconds(10))
            if let time = due, harness.now >= time {
                due = nil
                let check = harness.send(.timer(.firewallQuiet))
                if check.firewallReads > 0, firstRead == nil { firstRead = harness.now - start }
                if let delay = check.scheduled(.firewallQuiet).first { due = harness.now + delay }
            }
            if let delay = harness.send(.firewallChanged).scheduled(.firewallQuiet).first { due = harness.now + delay }
        }
        let waited = try #require(firstRead)
        #expect(waited <= .milliseconds(1010), "read after \(waited)")
        #expect(waited >= .milliseconds(990), "not before the maximum delay while notifications keep coming")
    }

    @Test("a notification during a read causes exactly one more read, right after it; never two at once")
    func changeDuringAReadIsReadAgain() {
        var harness = MachineHarness()
        harness.startRunning()
        harness.send(.firewallChanged)
        harness.advance(.milliseconds(30))
        #expect(harness.send(.timer(.firewallQuiet)).firewallReads == 1)

        // Two bursts arrive while that read runs: no second read starts now.
        for _ in 0..<2 {
            harness.send(.firewallChanged)
            harness.advance(.milliseconds(30))
            #expect(harness.send(.timer(.firewallQuiet)).firewallReads == 0)
        }
        let rules = FirewallReading.state(FirewallState(problems: ["one"]))
        let firstDone = harness.send(.firewallRead(rules))
        #expect(firstDone.firewallReads == 1, "read again after this one")
        #expect(firstDone.evaluations == 1, "the changed rules are evaluated meanwhile")
        harness.answerEvaluation()
        let secondDone = harness.send(.firewallRead(rules))
        #expect(secondDone.firewallReads == 0)
        #expect(secondDone.evaluations == 0, "the same rules again: nothing to evaluate")
    }

    @Test("new rules bump the rules version and drop the route answers; unchanged rules change nothing")
    func rulesVersion() throws {
        var harness = MachineHarness()
        harness.startRunning()
        harness.send(.timer(.repairFollowUp))
        harness.answerEvaluation()
        harness.send(.firewallChanged)
        harness.advance(.milliseconds(30))
        harness.send(.timer(.firewallQuiet))
        let actions = harness.send(.firewallRead(.state(FirewallState(problems: ["a rule skipped"]))))
        let request = try #require(actions.first { $0.isEvaluate }?.evaluationRequest)
        #expect(request.routeAnswers == .dropAll)
        #expect(request.rulesVersion == 2)
    }

    @Test("while notifications work, a sweep runs no rule tool; without them, or with iptables-legacy, it does")
    func sweepReadsRulesOnlyWhenNeeded() {
        func sweepReads(
            notifications: NotificationAvailability, legacyInKernel: Bool?, reading: FirewallReading = .state(FirewallState())
        ) -> Int {
            var harness = MachineHarness()
            harness.startRunning(notifications: notifications, firewall: reading)
            let sweep = harness.send(.timer(.sweep))
            return sweep.firewallReads + harness.send(.hostFilesRead(Fixtures.hostFiles(legacyTables: legacyInKernel))).firewallReads
        }
        #expect(sweepReads(notifications: .available, legacyInKernel: false) == 0)
        #expect(sweepReads(notifications: .available, legacyInKernel: nil) == 0)
        #expect(sweepReads(notifications: .unavailable(reason: "Operation not permitted"), legacyInKernel: false) == 1)
        #expect(sweepReads(notifications: .available, legacyInKernel: true) == 1, "legacy tables announce nothing")
        #expect(
            sweepReads(notifications: .available, legacyInKernel: nil, reading: Fixtures.legacyReading) == 1,
            "the last reading held legacy rules")
    }

    @Test("a sweep's read is served by a read already running, and the nftables monitor's absence is said once")
    func sweepDuringARead() {
        var harness = MachineHarness()
        let started = harness.startRunning(notifications: .unavailable(reason: "Operation not permitted"))
        #expect(
            started.notices.map(\.message).contains(
                "nftables change notifications are unavailable (Operation not permitted); rule changes are seen at the next sweep."))
        harness.send(.timer(.sweep))
        #expect(harness.send(.hostFilesRead(Fixtures.hostFiles())).firewallReads == 1)
        harness.send(.timer(.sweep))
        #expect(harness.send(.hostFilesRead(Fixtures.hostFiles())).firewallReads == 0, "one read is running")
        #expect(harness.send(.firewallRead(.state(FirewallState()))).firewallReads == 0, "no read again for a poll")
    }

    @Test("unreadable rules are said once, when they become unreadable, and the sweep metric says so")
    func unavailableOnce() throws {
        var harness = MachineHarness()
        harness.send(.start)
        harness.send(.firewallNotifications(.available))
        harness.send(.netlink(.initial(Fixtures.netlink)))
        let sweep = harness.send(.hostFilesRead(Fixtures.hostFiles()))
        #expect(!sweep.contains { if case .swept = $0.event { true } else { false } }, "held until the rules are read")
        let reason = "reading firewall rules needs CAP_NET_ADMIN; NAT checks are off"
        let first = harness.send(.firewallRead(.unavailable(reason: reason)))
        #expect(first.notices.map(\.message) == ["Published-port checks are off: \(reason)"])
        #expect(first.contains { if case .swept(let record) = $0.event { !record.firewallRulesReadable } else { false } })
        harness.answerEvaluation()
        harness.send(.firewallChanged)
        harness.advance(.milliseconds(30))
        harness.send(.timer(.firewallQuiet))
        #expect(harness.send(.firewallRead(.unavailable(reason: reason))).notices.isEmpty)
    }
}

@Suite("The firewall read scheduler")
struct FirewallReadSchedulerTests {
    @Test("reads never overlap and a change during a read is read once more")
    func coalescing() {
        var scheduler = FirewallReadScheduler()
        #expect(scheduler.readWanted(forChange: true) == .startRead)
        #expect(scheduler.readWanted(forChange: true) == nil)
        #expect(scheduler.readWanted(forChange: true) == nil)
        #expect(scheduler.readFinished() == .startRead)
        #expect(scheduler.readFinished() == nil)
        #expect(!scheduler.isReading)
        #expect(scheduler.readFinished() == nil, "a stray result starts nothing")
    }

    @Test("a poll does not ask for a read again")
    func pollsCoalesce() {
        var scheduler = FirewallReadScheduler()
        #expect(scheduler.readWanted(forChange: false) == .startRead)
        #expect(scheduler.readWanted(forChange: false) == nil)
        #expect(scheduler.readFinished() == nil)
    }
}
