#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the proc tree could not be read.
public enum ProcError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `<root>/proc/sys/net/ipv4/conf` does not exist: the root is not a procfs or a recorded proc tree.
    case rootMissing(root: String, path: String)
    /// A file the reader cannot do without could not be opened or read (`errno` from the failing call).
    case unreadable(path: String, errno: Int32)
    /// A file has an unexpected shape. `line` is 1-based; 0 means the file as a whole.
    case malformed(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .rootMissing(let root, let path):
            return "proc root '\(root)' is not usable: \(path) does not exist "
                + "(expected a procfs, or a recorded tree containing proc/sys/net/ipv4/conf)"
        case .unreadable(let path, let code):
            return "cannot read \(path): \(Self.errorText(code)) (errno \(code))"
        case .malformed(let path, let line, let reason):
            let place = line > 0 ? "\(path):\(line)" : path
            return "malformed \(place): \(reason)"
        }
    }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "unknown error" }
        return String(cString: text)
    }
}
