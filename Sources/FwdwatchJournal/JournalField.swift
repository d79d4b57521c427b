/// Rules for journal field names, and the mapping of fwdwatch's names onto them.
///
/// journald keeps a field only if its name is 1-64 characters of `A-Z`, `0-9` and `_`, and does not start
/// with `_` (trusted fields) or a digit. It drops other fields silently while `sd_journal_sendv` returns 0,
/// so the writer checks names before sending.
public enum JournalField {
    /// The longest field name journald accepts.
    public static let maximumNameLength = 64

    /// Whether journald keeps a field under `name`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maximumNameLength else { return false }
        guard first != UInt8(ascii: "_"), !isDigit(first) else { return false }
        return bytes.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// The journal field for a piece of evidence: `in_addr_errors_per_second` becomes
    /// `FWDWATCH_IN_ADDR_ERRORS_PER_SECOND`. Letters are upper-cased, anything outside `A-Z0-9_` becomes `_`,
    /// and the result is cut to 64 characters, so the name is always valid.
    public static func evidenceName(_ name: String) -> String {
        let prefix = "FWDWATCH_"
        var mapped = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z": mapped.unicodeScalars.append(Unicode.Scalar(UInt8(scalar.value) - 32))
            case "A"..."Z", "0"..."9", "_": mapped.unicodeScalars.append(scalar)
            default: mapped.append("_")
            }
        }
        if mapped.isEmpty { mapped = "EVIDENCE" }
        return String((prefix + mapped).prefix(maximumNameLength))
    }

    private static func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// Syslog priorities as journald's `PRIORITY` field carries them.
public enum JournalPriority: Int, Sendable, Codable, Comparable, CaseIterable {
    case emergency = 0
    case alert = 1
    case critical = 2
    case error = 3
    case warning = 4
    case notice = 5
    case info = 6
    case debug = 7

    public static func < (a: JournalPriority, b: JournalPriority) -> Bool { a.rawValue < b.rawValue }

    /// The lower-case name used in human output (`critical`, `notice`, ...).
    public var name: String {
        switch self {
        case .emergency: "emergency"
        case .alert: "alert"
        case .critical: "critical"
        case .error: "error"
        case .warning: "warning"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }
}
