/// Pure parsers for the text of proc files. No I/O: the reader hands them what it read.
public enum ProcText {
    /// A sysctl holding one integer, such as `"1\n"`. Nil for empty text, several values or anything
    /// that is not a decimal integer.
    public static func sysctlInt(_ text: String) -> Int? {
        let value = trimmedUTF8(text)
        let digits = value.first == UInt8(ascii: "-") ? value.dropFirst() : value[...]
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        return Int(Substring(value))
    }

    /// A sysctl holding one non-negative integer, such as `nf_conntrack_max`.
    public static func sysctlUInt64(_ text: String) -> UInt64? {
        let value = trimmedUTF8(text)
        guard !value.isEmpty, value.allSatisfy(isDigit) else { return nil }
        return UInt64(Substring(value))
    }

    /// A sysctl holding one line of text, such as `kernel/hostname`; nil when empty.
    public static func sysctlLine(_ text: String) -> String? {
        let value = trimmed(text)
        guard !value.isEmpty, !value.contains(where: \.isNewline) else { return nil }
        return value
    }

    /// The `Ip:` counters of `/proc/net/snmp`: a header line of names followed by a line of values,
    /// both starting with `Ip:`.
    ///
    /// - Parameter path: names the file in errors.
    /// - Throws: `ProcError.malformed` when the `Ip:` lines are missing, unpaired, of different
    ///   lengths, or hold a value that is not a non-negative integer.
    public static func ipCounters(fromSNMP text: String, path: String) throws(ProcError) -> [String: UInt64] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix(ipPrefix) }) else {
            throw .malformed(path: path, line: 0, reason: "no '\(ipPrefix)' header line")
        }
        let headerLine = headerIndex + 1
        let names = fields(of: lines[headerIndex])
        guard !names.isEmpty else {
            throw .malformed(path: path, line: headerLine, reason: "'\(ipPrefix)' header names no counters")
        }
        if let badName = names.first(where: { !$0.allSatisfy(\.isASCIILetterOrDigit) }) {
            throw .malformed(path: path, line: headerLine, reason: "'\(badName)' is not a counter name")
        }
        let valuesIndex = headerIndex + 1
        guard valuesIndex < lines.count, lines[valuesIndex].hasPrefix(ipPrefix) else {
            throw .malformed(
                path: path, line: headerLine + 1,
                reason: "the '\(ipPrefix)' header is not followed by a value line (file truncated?)")
        }
        let valuesLine = valuesIndex + 1
        let values = fields(of: lines[valuesIndex])
        guard values.count == names.count else {
            throw .malformed(
                path: path, line: valuesLine,
                reason: "\(names.count) counter names but \(values.count) values (file truncated?)")
        }
        var counters: [String: UInt64] = [:]
        for (name, text) in zip(names, values) {
            guard text.allSatisfy(\.isASCIIDigit), let value = UInt64(text) else {
                throw .malformed(
                    path: path, line: valuesLine,
                    reason: "value '\(text)' of \(name) is not a non-negative integer")
            }
            counters[String(name)] = value
        }
        return counters
    }

    private static let ipPrefix = "Ip:"

    /// The whitespace-separated fields of a `Ip: ...` line, without the prefix.
    private static func fields(of line: Substring) -> [Substring] {
        line.dropFirst(ipPrefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
    }

    private static func trimmed(_ text: String) -> String {
        String(Substring(trimmedUTF8(text)))
    }

    /// `text` without leading and trailing ASCII whitespace, as UTF-8 (cheaper than Characters: this runs
    /// for every sysctl value).
    private static func trimmedUTF8(_ text: String) -> Substring.UTF8View {
        let utf8 = Substring(text).utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }),
            let last = utf8.lastIndex(where: { !isSpace($0) })
        else { return Substring("").utf8 }
        return utf8[first...last]
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIILetterOrDigit: Bool { isASCII && (isLetter || isNumber) }
}
