import FwdwatchConfig
import FwdwatchCore
import FwdwatchFirewall
import FwdwatchJournal
import FwdwatchNetlink
import FwdwatchProc

@testable import FwdwatchDaemon

/// Drives a `DaemonStateMachine` the way the driver does, on a clock the test moves, and keeps every
/// action it returned.
struct MachineHarness {
    var machine: DaemonStateMachine
    let start = ContinuousClock.now
    private(set) var now: ContinuousClock.Instant
    private(set) var log: [DaemonStateMachine.Action] = []

    init(
        configuration: Configuration = Configuration(daemon: DaemonOptions(flapHold: .zero)),
        watchdogInterval: Duration? = nil
    ) {
        now = start
        machine = DaemonStateMachine(configuration: configuration, start: start, watchdogInterval: watchdogInterval)
    }

    mutating func advance(_ duration: Duration) { now = now + duration }

    @discardableResult
    mutating func send(_ input: DaemonStateMachine.Input) -> [DaemonStateMachine.Action] {
        let actions = machine.handle(input, now: now)
        log += actions
        return actions
    }

    /// Starts and completes the first evaluation (netlink, /proc, rules, evaluation with `findings`): the
    /// machine is running afterwards.
    @discardableResult
    mutating func startRunning(
        findings: [Finding] = [], notifications: NotificationAvailability = .available,
        firewall: FirewallReading = .state(FirewallState())
    ) -> [DaemonStateMachine.Action] {
        var actions = send(.start)
        actions += send(.firewallNotifications(notifications))
        actions += send(.netlink(.initial(Fixtures.netlink)))
        actions += send(.hostFilesRead(Fixtures.hostFiles()))
        actions += send(.firewallRead(firewall))
        actions += answerEvaluation(findings: findings)
        return actions
    }

    /// Answers the `.evaluate` of the last turn with an evaluation holding `findings`.
    @discardableResult
    mutating func answerEvaluation(
        findings: [Finding] = [], allForwarding: Int? = 1, modelDisagreements: [String] = [],
        routeLookupFailure: String? = nil, dropObservations: [DropObservation] = []
    ) -> [DaemonStateMachine.Action] {
        send(
            .evaluated(
                EvaluationOutcome(
                    evaluation: Evaluation(findings: findings, modelDisagreements: modelDisagreements),
                    allForwarding: allForwarding, duration: .milliseconds(1),
                    newRouteLookupFailure: routeLookupFailure, routeQuestionsAsked: 7,
                    newDropObservations: dropObservations)))
    }
}

enum Fixtures {
    static let netlink = NetlinkState(
        links: [
            Link(index: 1, name: "lo", loopback: true), Link(index: 2, name: "eth0"),
            Link(index: 3, name: "docker0", kind: "bridge"),
        ],
        ipv4Netconf: ["all": NetconfValues(forwarding: 1), "eth0": NetconfValues(forwarding: 1)])

    static func hostFiles(inAddrErrors: UInt64 = 0, legacyTables: Bool? = false) -> HostFiles {
        HostFiles(
            proc: .read(ProcState(ipCounters: ["InAddrErrors": inAddrErrors, "ForwDatagrams": 0])),
            persistentSettings: [], legacyTables: legacyTables, duration: .milliseconds(2))
    }

    /// The incident's finding: forwarding off on the uplink.
    static let uplinkForwardingOff = Finding(
        rule: "interface-forwarding-disabled", subject: "eth0", severity: .critical,
        message: "forwarding is 0 on eth0", fix: "sysctl -w net.ipv4.conf.eth0.forwarding=1", interface: "eth0",
        evidence: [Evidence("value", "0")])

    static func configuration(
        _ text: String, path: String = "/etc/fwdwatch/fwdwatch.toml"
    ) throws(ConfigurationError) -> Configuration {
        try ConfigurationParser.parse(text, path: path)
    }

    static let legacyReading = FirewallReading.state(
        FirewallState(tables: [FirewallTable(backend: .iptablesLegacy, family: .ip, name: "filter")]))
}

/// Reading actions back.
extension DaemonStateMachine.Action {
    var event: DaemonEvent? {
        if case .publish(let event) = self { return event }
        return nil
    }

    var notice: DaemonNotice? {
        if case .publish(.notice(let notice)) = self { return notice }
        return nil
    }

    var systemd: SystemdNotification? {
        if case .publish(.systemd(let notification)) = self { return notification }
        return nil
    }

    var transitions: [AlertTransition]? {
        if case .publish(.transitions(let transitions)) = self { return transitions }
        return nil
    }

    var evaluationRequest: EvaluationRequest? {
        if case .evaluate(let request) = self { return request }
        return nil
    }

    var isEvaluate: Bool { evaluationRequest != nil }

    var isFirewallRead: Bool {
        if case .startFirewallRead = self { return true }
        return false
    }

    var isReadHostFiles: Bool {
        if case .readHostFiles = self { return true }
        return false
    }

    var isRepair: Bool {
        if case .writeRepairs = self { return true }
        return false
    }

    /// The delay of a `.schedule(timer, ...)`.
    func scheduled(_ timer: DaemonTimer) -> Duration? {
        if case .schedule(timer, let delay) = self { return delay }
        return nil
    }
}

extension Array where Element == DaemonStateMachine.Action {
    var notices: [DaemonNotice] { compactMap(\.notice) }
    var systemd: [SystemdNotification] { compactMap(\.systemd) }
    var evaluations: Int { count { $0.isEvaluate } }
    var firewallReads: Int { count { $0.isFirewallRead } }

    func scheduled(_ timer: DaemonTimer) -> [Duration] { compactMap { $0.scheduled(timer) } }

    /// The index of the first action matching `predicate`.
    func index(_ predicate: (DaemonStateMachine.Action) -> Bool) -> Int? { firstIndex(where: predicate) }
}

extension DaemonNotice {
    func field(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
}
