/// Which configuration lines write a setting of one interface, and which of them has the last word:
/// the line a bad value comes back from after a manual `sysctl -w`.
///
/// The model, from systemd-sysctl, systemd-networkd and the kernel:
/// - sysctl files are applied at boot in file name order, `/etc/sysctl.conf` last, later lines winning;
///   udev runs `systemd-sysctl --prefix=/net/ipv4/conf/<name>` for every new interface, so an explicit
///   `net.ipv4.conf.<name>.*` line and any glob matching the name (`net.ipv4.conf.*.rp_filter`) come back
///   whenever the interface appears. An explicit key beats a glob whatever their order (systemd-sysctl
///   skips a glob's match for which an explicit assignment exists). A glob also hits `all` and `default`.
/// - `net.ipv4.conf.default.<setting>` is inherited by interfaces created later: it is where a value
///   comes back from only when no line writes the interface itself.
/// - `all` and `net.ipv4.ip_forward` are copied to the interfaces only when their value changes, so an
///   `ip_forward=1` line repairs no per-interface 0: they count for `all` only.
/// - systemd-networkd configures a link with the first `.network` file (file name order) that matches
///   it, after udev: its `IPv4Forwarding=` (or the older `IPForward=`) beats sysctl files. Only the
///   `[Match] Name=` patterns are known here; a file without them is taken to match.
public enum PersistentSettingMatch {
    /// Every line that writes `setting` of `interface`, in the order they are applied (sysctl files, then
    /// networkd files). Empty when none does.
    public static func lines(
        of setting: String, on interface: String, in settings: [PersistentSetting]
    ) -> [PersistentSetting] {
        let sysctl = ordered(settings.filter { $0.origin == .sysctl && $0.setting == setting && applies($0, to: interface) })
        let networkd = isLink(interface)
            ? ordered(settings.filter { $0.origin == .networkd && $0.setting == setting && applies($0, to: interface) })
            : []
        return sysctl + networkd
    }

    /// The line whose value `interface` ends up with when it comes back (boot, re-creation, networkd
    /// reconfiguring it), or nil when no line decides it.
    public static func winner(
        of setting: String, on interface: String, in settings: [PersistentSetting]
    ) -> PersistentSetting? {
        let candidates = lines(of: setting, on: interface, in: settings)
        let networkd = candidates.filter { $0.origin == .networkd }
        if let file = networkd.first?.file {
            let own = networkd.filter { $0.file == file }
            // networkd 256+ ignores IPForward=; older versions do not know IPv4Forwarding=.
            let modern = own.filter { $0.text.hasPrefix("IPv4Forwarding") }
            if let last = (modern.isEmpty ? own : modern).last { return last }
        }
        let sysctl = candidates.filter { $0.origin == .sysctl }
        if let explicit = sysctl.last(where: { !isGlobLine($0) }) { return explicit }
        if let glob = sysctl.last { return glob }
        if isLink(interface) { return winner(of: setting, on: "default", in: settings) }
        return nil
    }

    /// Whether a line writes `interface`: the sysctl key's interface part (a name or a glob), or a
    /// `.network` file's `[Match] Name=` patterns (none: any link; a first pattern starting with `!`:
    /// every name the list does not match).
    public static func applies(_ line: PersistentSetting, to interface: String) -> Bool {
        switch line.origin {
        case .sysctl:
            return line.interfaces.contains { matches($0, interface) }
        case .networkd:
            guard isLink(interface) else { return false }
            guard let first = line.interfaces.first else { return true }
            if first.hasPrefix("!") {
                let patterns = [String(first.dropFirst())] + line.interfaces.dropFirst()
                return !patterns.contains { matches($0, interface) }
            }
            return line.interfaces.contains { matches($0, interface) }
        }
    }

    /// "all" and "default" are no links.
    static func isLink(_ interface: String) -> Bool { interface != "all" && interface != "default" }

    static func isGlob(_ pattern: String) -> Bool {
        pattern.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    static func isGlobLine(_ line: PersistentSetting) -> Bool { line.interfaces.contains(where: isGlob) }

    private static func matches(_ pattern: String, _ name: String) -> Bool {
        isGlob(pattern) ? Glob(pattern).matches(name) : pattern == name
    }

    /// In the order the lines are applied: by file name (`/etc/sysctl.conf` after the sysctl.d files),
    /// then line. Stable for equal keys.
    static func ordered(_ lines: [PersistentSetting]) -> [PersistentSetting] {
        lines.enumerated().sorted { a, b in
            let (x, y) = (order(a.element), order(b.element))
            if x != y { return x < y }
            return a.offset < b.offset
        }.map(\.element)
    }

    private static func order(_ line: PersistentSetting) -> OrderKey {
        let name = line.file.split(separator: "/").last.map(String.init) ?? line.file
        return OrderKey(
            afterDirectories: line.origin == .sysctl && line.file == "/etc/sysctl.conf", name: Array(name.utf8),
            line: line.line)
    }

    private struct OrderKey: Comparable {
        var afterDirectories: Bool
        var name: [UInt8]
        var line: Int

        static func < (a: OrderKey, b: OrderKey) -> Bool {
            if a.afterDirectories != b.afterDirectories { return !a.afterDirectories }
            if a.name != b.name { return a.name.lexicographicallyPrecedes(b.name) }
            return a.line < b.line
        }
    }
}

extension PersistentSetting {
    /// Whether this line is a systemd-networkd `.network` line.
    public var isNetworkd: Bool { origin == .networkd }

    /// Whether this line is shipped or generated (below /usr, /lib, /run) rather than the admin's own
    /// (/etc): such a file is overridden by one of the same name in /etc, not edited.
    public var isVendorFile: Bool { !file.hasPrefix("/etc/") }

    /// The file's name without its directory.
    public var fileName: String { file.split(separator: "/").last.map(String.init) ?? file }

    /// A sentence saying where the value comes back from on `interface`, for a finding's message:
    /// "It is set again by /etc/sysctl.d/50-uplink.conf line 3 (net.ipv4.conf.eth0.forwarding = 0) at boot
    /// and whenever eth0 appears."
    public func comesBackSentence(on interface: String) -> String {
        let place = "\(file) line \(line) (\(text))"
        if origin == .networkd {
            return "It is set again by \(place): systemd-networkd writes it whenever it configures \(interface)."
        }
        if interfaces == ["default"], interface != "default" {
            return "It comes back from \(place): \(interface) inherits net.ipv4.conf.default.\(setting) "
                + "whenever it is created again."
        }
        if !PersistentSettingMatch.isLink(interface) { return "It is set again by \(place) at boot." }
        return "It is set again by \(place) at boot and whenever \(interface) appears "
            + "(udev runs systemd-sysctl for every new interface)."
    }

    /// How to make a fix last, appended to a finding's fix: change or remove this line so that it writes
    /// `good`, or for networkd set `IPv4Forwarding=yes` and reload. A file outside /etc is overridden by a
    /// copy of the same name in /etc.
    public func lastingFix(good: Int) -> String {
        if origin == .networkd {
            let edit =
                isVendorFile
                ? "copy \(file) to /etc/systemd/network/\(fileName) and in the copy replace line \(line) (\(text)) "
                    + "with IPv4Forwarding=yes"
                : "in \(file) replace line \(line) (\(text)) with IPv4Forwarding=yes"
            return "to make it last, \(edit), then run networkctl reload"
        }
        let change = "write \(good) instead of \(value) on line \(line) (\(text)) or delete that line"
        if isVendorFile {
            return "to make it last, copy \(file) to /etc/sysctl.d/\(fileName) (it overrides the original) and "
                + "in the copy \(change)"
        }
        return "to make it last, in \(file) \(change)"
    }
}
