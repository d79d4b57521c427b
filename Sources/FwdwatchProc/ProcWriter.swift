#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes the one sysctl fwdwatch repairs: `net.ipv4.conf.<iface>.forwarding`.
///
/// Paths hang off `root` exactly as `ProcReader`'s do (`"/"` writes `/proc/sys/...`, `"/tmp/x"` writes
/// `/tmp/x/proc/sys/...`). `/proc/sys/net` belongs to the network namespace of the process that opens it.
/// Writing needs CAP_NET_ADMIN in that namespace, and a writable `/proc/sys` (systemd's
/// ProtectKernelTunables=yes mounts it read-only).
public struct ProcWriter: Sendable {
    /// The directory that contains `proc`.
    public let root: String
    /// `<root>/proc`.
    public let procPath: String

    public init(root: String = "/") {
        self.root = root
        self.procPath = ProcReader(root: root).procPath
    }

    /// `<root>/proc/sys/net/ipv4/conf/<interface>/forwarding`.
    public func forwardingPath(of interface: String) -> String {
        procPath + "/sys/net/ipv4/conf/" + interface + "/forwarding"
    }

    /// Whether `interface` can only name a directory right under `conf/`: not empty, not `.`, no `/`, no
    /// `..` and no NUL. (The kernel refuses `/`, `.` and `..` as interface names; the check keeps a malformed
    /// name from ever reaching a path.)
    public static func isSafeInterfaceName(_ interface: String) -> Bool {
        !interface.isEmpty && interface != "." && !interface.contains("/") && !interface.contains("..")
            && !interface.utf8.contains(0)
    }

    /// Sets `forwarding` of `interface` to 1 unless it already is 1 (read first, so a repair is not made,
    /// or counted, twice).
    ///
    /// - Returns: `.enabled(previousValue:)` after a write, `.alreadyEnabled` when it read 1.
    /// - Throws: `ProcWriteError`, classified by errno; never crashes on a bad name or a failed call.
    public func enableForwarding(on interface: String) throws(ProcWriteError) -> ForwardingWriteOutcome {
        guard Self.isSafeInterfaceName(interface) else { throw .invalidInterfaceName(interface) }
        let path = forwardingPath(of: interface)
        let previous: Int?
        switch ProcFiles.read(path, shortReadEnds: true) {
        case .text(let text):
            previous = ProcText.sysctlInt(text)
            if previous == 1 { return .alreadyEnabled }
        case .missing:
            throw .interfaceGone(path: path)
        case .failed:
            // Unreadable but perhaps writable: the write below says what is wrong.
            previous = nil
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProcWriteError(path: path, errno: errno) }
        defer { close(fd) }
        let value: [UInt8] = Array("1\n".utf8)
        while true {
            let written = value.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written == value.count { return .enabled(previousValue: previous) }
            if written < 0 && errno == EINTR { continue }
            throw ProcWriteError(path: path, errno: written < 0 ? errno : EIO)
        }
    }
}

/// What `enableForwarding` did.
public enum ForwardingWriteOutcome: Sendable, Equatable {
    /// It wrote 1; the value before was `previousValue` (nil when it could not be read).
    case enabled(previousValue: Int?)
    /// The value was already 1: nothing was written.
    case alreadyEnabled
}

/// Why a sysctl could not be written.
public enum ProcWriteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name is empty or `.`, or contains `/`, `..` or NUL: it is not written to.
    case invalidInterfaceName(String)
    /// EROFS: `/proc/sys` is mounted read-only, as systemd's ProtectKernelTunables=yes does.
    case readOnlyFileSystem(path: String)
    /// EACCES or EPERM: the process lacks CAP_NET_ADMIN in the network namespace (or is not allowed by
    /// the file's mode).
    case permissionDenied(path: String, errno: Int32)
    /// ENOENT, ENODEV or ENOTDIR: the interface went away.
    case interfaceGone(path: String)
    /// Any other failure, with its errno.
    case failed(path: String, errno: Int32)

    /// Classifies the errno of a failed `open` or `write` of `path`.
    public init(path: String, errno code: Int32) {
        switch code {
        case EROFS: self = .readOnlyFileSystem(path: path)
        case EACCES, EPERM: self = .permissionDenied(path: path, errno: code)
        case _ where ProcFiles.isMissing(code): self = .interfaceGone(path: path)
        default: self = .failed(path: path, errno: code)
        }
    }

    public var description: String {
        switch self {
        case .invalidInterfaceName(let name):
            return "refusing to write a sysctl for the interface name \"\(name)\": not a plain interface name"
        case .readOnlyFileSystem(let path):
            return "cannot write \(path): read-only file system (EROFS)"
        case .permissionDenied(let path, let code):
            return "cannot write \(path): \(Self.errorText(code)) (\(code == EPERM ? "EPERM" : "EACCES"))"
        case .interfaceGone(let path):
            return "cannot write \(path): the interface no longer exists"
        case .failed(let path, let code):
            return "cannot write \(path): \(Self.errorText(code)) (errno \(code))"
        }
    }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "unknown error" }
        return String(cString: text)
    }
}
