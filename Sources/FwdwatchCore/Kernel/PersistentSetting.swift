/// A line in a configuration file that sets a per-interface IPv4 sysctl when the system boots or an
/// interface appears: where a bad `forwarding` or `rp_filter` value will come back from after a manual
/// `sysctl -w`. Read by the proc edge from sysctl.d / sysctl.conf and systemd-networkd `.network` files
/// below its root; the core only matches and reports them.
public struct PersistentSetting: Codable, Sendable, Equatable {
    public enum Origin: String, Codable, Sendable, Equatable {
        /// `/etc/sysctl.d/*.conf`, `/run/sysctl.d`, `/usr/lib/sysctl.d`, `/etc/sysctl.conf`: applied by
        /// systemd-sysctl at boot and, through udev, for every new interface.
        case sysctl
        /// A systemd-networkd `.network` file (`IPv4Forwarding=`, `IPForward=`) for the links it matches.
        case networkd
    }

    public var origin: Origin
    /// The file, as a path on the host ("/etc/sysctl.d/99-hardening.conf").
    public var file: String
    /// 1-based line number.
    public var line: Int
    /// The sysctl setting it writes: "forwarding" or "rp_filter".
    public var setting: String
    /// The interfaces it applies to, as glob patterns: the sysctl key's interface part ("eth0", "*",
    /// "all", "default"), or a `.network` file's `[Match] Name=` patterns (empty: every link it matches).
    public var interfaces: [String]
    /// The value it writes, as an integer (networkd's yes/no/ipv4/true/false mapped to 1/0).
    public var value: Int
    /// The line as written, for evidence.
    public var text: String

    public init(
        origin: Origin, file: String, line: Int, setting: String, interfaces: [String], value: Int, text: String
    ) {
        self.origin = origin
        self.file = file
        self.line = line
        self.setting = setting
        self.interfaces = interfaces
        self.value = value
        self.text = text
    }

    /// "/etc/sysctl.d/99-hardening.conf:3".
    public var location: String { "\(file):\(line)" }
}
