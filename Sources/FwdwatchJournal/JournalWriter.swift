import CSystemd

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why an entry did not reach the journal.
public enum JournalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field name journald would drop silently (see `JournalField.isValidName`).
    case invalidFieldName(String)
    /// `sd_journal_sendv` failed with this errno (journald not running, socket gone, ...).
    case sendFailed(errno: Int32)

    public var description: String {
        switch self {
        case .invalidFieldName(let name): "invalid journal field name \"\(name)\""
        case .sendFailed(let code): "sending to journald failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// Where in the source an entry was written: CODE_FILE, CODE_LINE, CODE_FUNC.
public struct SourceLocation: Sendable, Equatable {
    public var fileID: String
    public var line: Int
    public var function: String

    public init(fileID: String = #fileID, line: Int = #line, function: String = #function) {
        self.fileID = fileID
        self.line = line
        self.function = function
    }
}

/// Something that delivers one journal entry: `JournalWriter` in the daemon, a recorder in tests.
public protocol JournalSending: Sendable {
    /// Sends one entry made of `fields` (`NAME`, value), in order.
    func send(_ fields: [(String, String)], at location: SourceLocation) throws(JournalError)
}

extension JournalSending {
    /// Sends one entry, recording the caller's source location.
    public func send(
        _ fields: [(String, String)], fileID: String = #fileID, line: Int = #line, function: String = #function
    ) throws(JournalError) {
        try send(fields, at: SourceLocation(fileID: fileID, line: line, function: function))
    }
}

/// Writes entries to journald through `sd_journal_sendv`.
///
/// Adds `SYSLOG_IDENTIFIER` (unless the fields carry one) and `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`
/// (the C macro that adds them is not reachable from Swift). Field names are checked before sending,
/// because journald drops invalid ones silently.
public struct JournalWriter: JournalSending {
    /// The `SYSLOG_IDENTIFIER` of every entry (`journalctl -t fwdwatch`).
    public var identifier: String

    public init(identifier: String = "fwdwatch") {
        self.identifier = identifier
    }

    public func send(_ fields: [(String, String)], at location: SourceLocation) throws(JournalError) {
        var all = fields
        if !fields.contains(where: { $0.0 == "SYSLOG_IDENTIFIER" }) { all.append(("SYSLOG_IDENTIFIER", identifier)) }
        if !fields.contains(where: { $0.0 == "CODE_FILE" }) {
            all.append(("CODE_FILE", location.fileID))
            all.append(("CODE_LINE", String(location.line)))
            all.append(("CODE_FUNC", location.function))
        }
        for (name, _) in all where !JournalField.isValidName(name) {
            throw .invalidFieldName(name)
        }

        // One buffer holds every "NAME=value"; the iovecs point into it.
        var buffer: [UInt8] = []
        var ranges: [(offset: Int, count: Int)] = []
        buffer.reserveCapacity(all.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 1 })
        for (name, value) in all {
            let start = buffer.count
            buffer.append(contentsOf: name.utf8)
            buffer.append(UInt8(ascii: "="))
            buffer.append(contentsOf: value.utf8)
            ranges.append((start, buffer.count - start))
        }
        let result = buffer.withUnsafeMutableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return -EINVAL }
            let vectors = ranges.map { iovec(iov_base: base + $0.offset, iov_len: $0.count) }
            return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
        if result < 0 { throw .sendFailed(errno: -result) }
    }
}
