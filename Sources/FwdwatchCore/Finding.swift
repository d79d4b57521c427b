/// How bad a finding is. The order is the order of badness: `info < warning < critical`.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    /// Worth knowing; nothing is broken.
    case info
    /// A latent risk: something will break later, or for some traffic.
    case warning
    /// Traffic is broken now.
    case critical

    private var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A stable, kebab-case rule identifier such as `interface-forwarding-disabled`.
public struct RuleID: RawRepresentable, Codable, Hashable, Sendable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }
    public static func < (a: RuleID, b: RuleID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One piece of evidence: a value the rule read, under a stable lower_snake_case name
/// (it becomes the journal field `FWDWATCH_<NAME>`).
public struct Evidence: Codable, Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A problem one rule found with one subject.
public struct Finding: Codable, Sendable, Hashable {
    public var rule: RuleID
    /// What the problem is about: an interface ("eth0"), a bridge port ("docker0/veth1a2b"),
    /// a prefix ("172.17.0.0/16"), or a host-wide setting ("net.ipv4.conf.all.forwarding").
    public var subject: String
    public var severity: Severity
    /// What is wrong and what it breaks, in a sentence a person understands.
    public var message: String
    /// The exact command (or action) that repairs it.
    public var fix: String
    /// The interface involved, when there is one (the journal field `IFACE`).
    public var interface: String?
    /// The values the rule read, in the order the rule gave them.
    public var evidence: [Evidence]

    public init(
        rule: RuleID, subject: String, severity: Severity, message: String, fix: String,
        interface: String? = nil, evidence: [Evidence] = []
    ) {
        self.rule = rule
        self.subject = subject
        self.severity = severity
        self.message = message
        self.fix = fix
        self.interface = interface
        self.evidence = evidence
    }

    /// The identity an alert is tracked by.
    public var key: FindingKey { FindingKey(rule: rule, subject: subject) }

    public func evidence(_ name: String) -> String? {
        evidence.first { $0.name == name }?.value
    }
}

public struct FindingKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rule: RuleID
    public var subject: String

    public init(rule: RuleID, subject: String) {
        self.rule = rule
        self.subject = subject
    }

    public static func < (a: FindingKey, b: FindingKey) -> Bool {
        (a.rule, a.subject) < (b.rule, b.subject)
    }

    public var description: String { "\(rule) \(subject)" }
}
