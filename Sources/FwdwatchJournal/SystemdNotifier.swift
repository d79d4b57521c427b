import CSystemd

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Talks to the service manager through `sd_notify`: READY, RELOADING, STOPPING, STATUS and WATCHDOG.
///
/// Safe outside systemd: with `NOTIFY_SOCKET` unset every call is a no-op that returns `.notUnderSystemd`.
/// Never unsets the environment (unset_environment=0), which would be unsafe in a multi-threaded process.
public struct SystemdNotifier: Sendable {
    /// What became of a notification.
    public enum Outcome: Equatable, Sendable {
        case sent
        /// `NOTIFY_SOCKET` is not set: not started by systemd with Type=notify.
        case notUnderSystemd
        case failed(errno: Int32)
    }

    public init() {}

    /// Whether a service manager listens for notifications (`NOTIFY_SOCKET` is set).
    public var isUnderSystemd: Bool {
        guard let socket = getenv("NOTIFY_SOCKET") else { return false }
        return socket.pointee != 0
    }

    /// READY=1: startup (the first full dump and evaluation) or a reload is complete.
    @discardableResult public func ready(status: String? = nil) -> Outcome {
        notify(["READY=1"] + (status.map { ["STATUS=" + Self.oneLine($0)] } ?? []))
    }

    /// RELOADING=1 with MONOTONIC_USEC (systemd 253+ wants it; 252 ignores it). Send `ready()` when done.
    @discardableResult public func reloading() -> Outcome {
        notify(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"])
    }

    /// STOPPING=1: shutdown has begun.
    @discardableResult public func stopping() -> Outcome {
        notify(["STOPPING=1"])
    }

    /// STATUS=...: the one-line status `systemctl status` shows. Line breaks become spaces.
    @discardableResult public func status(_ text: String) -> Outcome {
        notify(["STATUS=" + Self.oneLine(text)])
    }

    /// WATCHDOG=1: call from the work loop itself, never from a separate timer.
    @discardableResult public func watchdog() -> Outcome {
        notify(["WATCHDOG=1"])
    }

    /// How often to send `watchdog()`: half of WatchdogSec, or nil when the watchdog is off for this process
    /// (also when WATCHDOG_PID names another process).
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds / 2))
    }

    /// Sends the assignments joined by newlines.
    @discardableResult public func notify(_ assignments: [String]) -> Outcome {
        let result = sd_notify(0, assignments.joined(separator: "\n"))
        if result > 0 { return .sent }
        if result == 0 { return .notUnderSystemd }
        return .failed(errno: -result)
    }

    static func oneLine(_ text: String) -> String {
        var line = ""
        var pendingSpace = false
        for character in text {
            if character.isNewline {
                pendingSpace = !line.isEmpty
                continue
            }
            if pendingSpace, character != " " { line.append(" ") }
            pendingSpace = false
            line.append(character)
        }
        return line
    }

    static func monotonicMicroseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1_000
    }
}
