#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where the daemon writes alerts and logs.
public enum LogTarget: String, Sendable, CaseIterable, Codable {
    /// journald, through its native protocol (structured fields, MESSAGE_IDs).
    case journal
    /// One human line per alert on standard error.
    case console
    /// One JSON object per alert on standard output.
    case json

    /// The journald socket whose presence selects `.journal`.
    public static let journalSocketPath = "/run/systemd/journal/socket"

    /// `journal` when journald's socket exists, else `console`.
    public static func automatic(journalSocket: String = journalSocketPath) -> LogTarget {
        var info = stat()
        guard stat(journalSocket, &info) == 0 else { return .console }
        return (info.st_mode & S_IFMT) == S_IFSOCK ? .journal : .console
    }

    /// The sink for this target.
    public func makeSink(identifier: String = "fwdwatch") -> any AlertSink {
        switch self {
        case .journal: JournalAlertSink(journal: JournalWriter(identifier: identifier))
        case .console: ConsoleAlertSink()
        case .json: JSONLinesAlertSink()
        }
    }
}
