import FwdwatchCore

/// Pure parsers for the files that set per-interface IPv4 sysctls persistently: sysctl.d(5) files and
/// systemd.network(5) files. No I/O: `PersistentSettingsReader` hands them what it read.
public enum PersistentSettingsText {
    /// The per-interface settings fwdwatch follows back to a file.
    public static let settings = ["forwarding", "rp_filter"]

    // MARK: - sysctl.d

    /// The lines of a sysctl.d file (or sysctl.conf) that write `net.ipv4.conf.<iface>.forwarding`,
    /// `net.ipv4.conf.<iface>.rp_filter` or `net.ipv4.ip_forward` (as interface "all", setting "forwarding").
    ///
    /// As systemd-sysctl reads them: `#` and `;` start comments, a leading `-` only means "ignore errors",
    /// the key's separator is whichever of `.` and `/` comes first (the other one is part of a name, so
    /// `net.ipv4.conf.eth0/100.forwarding` and `net/ipv4/conf/eth0.100/forwarding` both name `eth0.100`),
    /// and a key may be a glob (`net.ipv4.conf.*.rp_filter`). Interface names are stored as the kernel
    /// spells them (`eth0.100`); a glob in the setting part yields one entry per setting it matches.
    /// Lines whose value is not an integer are left out (the kernel would reject them).
    ///
    /// - Parameter file: the file's path on the host, for the entries.
    public static func sysctlSettings(_ text: String, file: String) -> [PersistentSetting] {
        var found: [PersistentSetting] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = trim(raw)
            guard let first = line.first, first != "#", first != ";" else { continue }
            var assignment = line[...]
            if assignment.first == "-" { assignment = assignment.dropFirst() }
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            let key = trim(assignment[..<equals])
            guard let value = Int(trim(assignment[assignment.index(after: equals)...])) else { continue }
            for (interface, setting) in targets(ofSysctlKey: key) {
                found.append(
                    PersistentSetting(
                        origin: .sysctl, file: file, line: index + 1, setting: setting, interfaces: [interface],
                        value: value, text: line))
            }
        }
        return found
    }

    /// The (interface, setting) pairs a sysctl key writes, among those fwdwatch follows; empty for others.
    /// `net.ipv4.ip_forward` is ("all", "forwarding").
    public static func targets(ofSysctlKey key: String) -> [(interface: String, setting: String)] {
        let parts = normalizedSysctlPath(key).split(separator: "/").map(String.init)
        func segment(_ pattern: String, matches name: String) -> Bool {
            isGlob(pattern) ? Glob(pattern).matches(name) : pattern == name
        }
        if parts.count == 3, zip(parts, ["net", "ipv4", "ip_forward"]).allSatisfy(segment) {
            return [("all", "forwarding")]
        }
        guard parts.count == 5, zip(parts.prefix(3), ["net", "ipv4", "conf"]).allSatisfy(segment) else { return [] }
        return settings.filter { segment(parts[4], matches: $0) }.map { (parts[3], $0) }
    }

    /// A sysctl key as a `/`-separated path, as systemd's `sysctl_normalize` makes it: when the first
    /// separator is a `.`, dots and slashes swap.
    public static func normalizedSysctlPath(_ key: String) -> String {
        guard let separator = key.first(where: { $0 == "." || $0 == "/" }), separator == "." else { return key }
        return String(key.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })
    }

    /// Whether a pattern has glob characters, as systemd's `string_is_glob` decides.
    public static func isGlob(_ text: String) -> Bool {
        text.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    // MARK: - systemd-networkd

    /// The `IPv4Forwarding=` and `IPForward=` lines of a `.network` file's `[Network]` section, each with the
    /// file's `[Match] Name=` patterns as its interfaces (several `Name=` lines add up, an empty one resets
    /// the list; a list prefixed with `!` matches the names it does not list, and is stored with the `!` on
    /// its first pattern). A file whose `[Match]` has no `Name=` gets no patterns: it may match any link.
    ///
    /// `IPv4Forwarding=` takes a boolean; `IPForward=` yes/true/1/ipv4 (1) or no/false/0/ipv6 (0), and
    /// `kernel` (leave the kernel's value) is left out, like unparsable values.
    public static func networkSettings(_ text: String, file: String) -> [PersistentSetting] {
        var section = ""
        var names: [String] = []
        var inverted = false
        var lines: [(line: Int, value: Int, text: String)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = trim(raw)
            guard let first = line.first, first != "#", first != ";" else { continue }
            if first == "[" {
                section = line.hasSuffix("]") ? String(line.dropFirst().dropLast()) : ""
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = trim(line[..<equals])
            let value = trim(line[line.index(after: equals)...])
            switch (section, key) {
            case ("Match", "Name"):
                guard !value.isEmpty else {
                    names = []
                    inverted = false
                    continue
                }
                var list = value[...]
                if list.first == "!" {
                    inverted = true
                    list = list.dropFirst()
                }
                names += list.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { unquote(String($0)) }
            case ("Network", "IPv4Forwarding"):
                if let enabled = boolean(value) { lines.append((index + 1, enabled ? 1 : 0, line)) }
            case ("Network", "IPForward"):
                if let forwarding = ipForward(value) { lines.append((index + 1, forwarding, line)) }
            default:
                continue
            }
        }
        if inverted, !names.isEmpty { names[0] = "!" + names[0] }
        return lines.map {
            PersistentSetting(
                origin: .networkd, file: file, line: $0.line, setting: "forwarding", interfaces: names,
                value: $0.value, text: $0.text)
        }
    }

    /// systemd's `parse_boolean`.
    public static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "y", "true", "t", "on": true
        case "0", "no", "n", "false", "f", "off": false
        default: nil
        }
    }

    /// What `IPForward=` means for IPv4 forwarding: 1, 0, or nil for `kernel` and unknown values.
    static func ipForward(_ text: String) -> Int? {
        switch text.lowercased() {
        case "ipv4": return 1
        case "ipv6": return 0
        case "kernel": return nil
        default: return boolean(text).map { $0 ? 1 : 0 }
        }
    }

    // MARK: - Which files count

    /// The files systemd reads from a list of directories in priority order (`/etc` first): one per file
    /// name ending in `suffix`, the one in the earliest directory, in the lexical order of the file names.
    ///
    /// - Returns: full paths (`directory + "/" + name`).
    public static func effectiveFiles(_ listings: [(directory: String, names: [String])], suffix: String) -> [String] {
        var chosen: [String: String] = [:]
        for listing in listings {
            for name in listing.names where name.hasSuffix(suffix) && name.count > suffix.count && !name.hasPrefix(".") {
                if chosen[name] == nil { chosen[name] = listing.directory + "/" + name }
            }
        }
        return chosen.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.compactMap { chosen[$0] }
    }

    // MARK: - Text

    private static func trim(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
            let last = text.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(text[first...last])
    }

    private static func trim(_ text: String) -> String { trim(text[...]) }

    private static func unquote(_ word: String) -> String {
        guard word.count >= 2, let first = word.first, first == "\"" || first == "'", word.last == first else {
            return word
        }
        return String(word.dropFirst().dropLast())
    }
}
