/// Runs the enabled rules on a snapshot and returns the findings the operator should see.
public struct Evaluator: Sendable {
    public var settings: Settings
    public var rules: [any Rule]

    public init(settings: Settings = .defaults, rules: [any Rule] = RuleRegistry.all) {
        self.settings = settings
        self.rules = rules
    }

    public func evaluate(_ snapshot: Snapshot) -> Evaluation {
        var memo = EvaluationMemo()
        return evaluate(snapshot, memo: &memo, rulesVersion: nil)
    }

    /// Evaluates reusing what `memo` holds from the previous evaluation (see `EvaluationMemo`);
    /// `rulesVersion` must change whenever the firewall rules in the snapshot do.
    public func evaluate(_ snapshot: Snapshot, memo: inout EvaluationMemo, rulesVersion: Int?) -> Evaluation {
        let host = HostView(snapshot, settings: settings, memo: &memo, rulesVersion: rulesVersion)
        var findings: [Finding] = []
        for rule in rules where !settings.disabledRules.contains(rule.id) {
            for var finding in rule.evaluate(host) {
                if let interface = finding.interface, settings.isIgnored(interface) { continue }
                if let override = settings.severityOverrides[rule.id] { finding.severity = override }
                findings.append(finding)
            }
        }
        findings.sort { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            return a.key < b.key
        }
        return Evaluation(
            findings: findings, bridges: host.bridges.count,
            ports: host.bridges.reduce(0) { $0 + host.ports(of: $1).count },
            publishedPorts: zip(host.publishedPorts, host.portPaths).map { port, paths in
                PublishedPortStatus(port: port, paths: paths)
            },
            firewallUnavailable: snapshot.firewall == nil ? snapshot.firewallUnavailable : nil,
            modelDisagreements: host.modelDisagreements, firewallProblems: snapshot.firewall?.problems ?? [])
    }
}

/// The result of one evaluation.
public struct Evaluation: Sendable, Equatable, Codable {
    /// Worst first, then by rule and subject.
    public var findings: [Finding]
    /// How many bridges and bridge ports were watched, for the status line.
    public var bridges: Int
    public var ports: Int

    /// Every published port with its path from each ingress interface.
    public var publishedPorts: [PublishedPortStatus]
    /// Why the firewall rules could not be read (the published-port rules did not run); nil when read.
    public var firewallUnavailable: String?
    /// Where the kernel's route lookup and fwdwatch's model of it disagreed (the kernel decided): each
    /// a bug report in waiting, logged once by the daemon and counted in a metric.
    public var modelDisagreements: [String]
    /// What could not be read or parsed of the rules (a tool that failed, a rule skipped): published ports
    /// behind those rules may be missing from the evaluation.
    public var firewallProblems: [String]

    public init(
        findings: [Finding], bridges: Int = 0, ports: Int = 0, publishedPorts: [PublishedPortStatus] = [],
        firewallUnavailable: String? = nil, modelDisagreements: [String] = [], firewallProblems: [String] = []
    ) {
        self.findings = findings
        self.bridges = bridges
        self.ports = ports
        self.publishedPorts = publishedPorts
        self.firewallUnavailable = firewallUnavailable
        self.modelDisagreements = modelDisagreements
        self.firewallProblems = firewallProblems
    }

    public var worst: Severity? { findings.map(\.severity).max() }

    public var status: CheckStatus {
        switch worst {
        case .critical: .critical
        case .warning: .warning
        case .info, nil: .ok
        }
    }

    public func count(_ severity: Severity) -> Int {
        findings.count { $0.severity == severity }
    }
}

/// A published port and how it fares from each ingress interface.
public struct PublishedPortStatus: Sendable, Equatable, Codable {
    public var port: PublishedPort
    public var paths: [PortPath]

    public init(port: PublishedPort, paths: [PortPath]) {
        self.port = port
        self.paths = paths
    }

    /// Reachable from every ingress interface it applies to.
    public var reachable: Bool { !paths.contains(where: \.isBroken) }
}

/// The result of a check as monitoring plugins know it, with their exit codes.
public enum CheckStatus: String, Codable, Sendable {
    case ok, warning, critical, unknown

    public var exitCode: Int32 {
        switch self {
        case .ok: 0
        case .warning: 1
        case .critical: 2
        case .unknown: 3
        }
    }
}
