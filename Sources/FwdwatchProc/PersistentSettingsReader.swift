#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FwdwatchCore

/// Reads the configuration files that write per-interface `forwarding` / `rp_filter` at boot or when an
/// interface appears: sysctl.d(5) directories and `/etc/sysctl.conf`, and systemd-networkd `.network` files.
///
/// Every path hangs off `root`, like `ProcReader`: `"/"` reads `/etc/sysctl.d`, `"/tmp/x"` reads
/// `/tmp/x/etc/sysctl.d` (a recorded tree). The entries name files as paths on the host. Missing
/// directories and unreadable files are skipped: reading never fails.
public struct PersistentSettingsReader: Sendable {
    /// The directory the host paths are below.
    public let root: String
    private let base: String

    public init(root: String = "/") {
        self.root = root
        var base = root
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
    }

    /// sysctl.d directories in systemd-sysctl's priority order: a file name in an earlier one hides the
    /// same name in a later one.
    public static let sysctlDirectories = [
        "/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d",
    ]
    /// Read after every sysctl.d file (procps `sysctl --system` order).
    public static let sysctlConf = "/etc/sysctl.conf"
    /// systemd-networkd's `.network` directories, in priority order.
    public static let networkDirectories = [
        "/etc/systemd/network", "/run/systemd/network", "/usr/local/lib/systemd/network",
        "/usr/lib/systemd/network", "/lib/systemd/network",
    ]

    /// Every line that sets a followed setting, sysctl files first in the order they are applied (file
    /// name order, `/etc/sysctl.conf` last), then `.network` files in file name order.
    public func read() -> [PersistentSetting] {
        var settings: [PersistentSetting] = []
        for file in PersistentSettingsText.effectiveFiles(listings(of: Self.sysctlDirectories), suffix: ".conf") {
            // Debian's /etc/sysctl.d/99-sysctl.conf links to ../sysctl.conf, which is read last anyway.
            if isLink(file, to: Self.sysctlConf) { continue }
            if let text = text(of: file) { settings += PersistentSettingsText.sysctlSettings(text, file: file) }
        }
        if let text = text(of: Self.sysctlConf) {
            settings += PersistentSettingsText.sysctlSettings(text, file: Self.sysctlConf)
        }
        for file in PersistentSettingsText.effectiveFiles(listings(of: Self.networkDirectories), suffix: ".network") {
            if let text = text(of: file) { settings += PersistentSettingsText.networkSettings(text, file: file) }
        }
        return settings
    }

    // MARK: - Files

    private func listings(of directories: [String]) -> [(directory: String, names: [String])] {
        directories.compactMap { directory in
            guard case .opened(let fd) = ProcFiles.openDirectory(base + directory) else { return nil }
            defer { close(fd) }
            guard case .success(let names) = ProcFiles.entries(of: fd) else { return nil }
            return (directory, names)
        }
    }

    /// The text of a host path below the root; nil when it cannot be read (a directory, no permission).
    private func text(of path: String) -> String? {
        guard case .text(let text) = ProcFiles.read(base + path) else { return nil }
        return text
    }

    /// Whether the host path `path` is a symbolic link to the host path `target` (relative or absolute).
    private func isLink(_ path: String, to target: String) -> Bool {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(base + path, &buffer, buffer.count - 1)
        guard count > 0 else { return false }
        let destination = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Self.resolve(destination, from: path) == target
    }

    /// A link's destination as an absolute host path, `..` and `.` resolved lexically.
    static func resolve(_ destination: String, from linkPath: String) -> String {
        var parts: [Substring] = destination.hasPrefix("/") ? [] : linkPath.split(separator: "/").dropLast()
        for part in destination.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
