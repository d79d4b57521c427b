#if canImport(Glibc)
    import Glibc
#endif

/// Writes the metrics to `<directory>/fwdwatch.prom` for node_exporter's textfile collector.
///
/// The file is replaced atomically (a temporary file in the same directory, fsync, rename), so the
/// collector never reads half of it. It is written after an evaluation at most once per
/// `minimumInterval`, and always when the problem state changed. A failed write is reported once (the
/// caller logs the returned error) and retried at the next evaluation; when a write succeeds again,
/// that is reported once too.
public struct MetricsTextfile: Sendable {
    public static let fileName = "fwdwatch.prom"

    public let directory: String
    public let minimumInterval: Duration
    private var lastWrite: ContinuousClock.Instant?
    private var failing = false

    public init(directory: String, minimumInterval: Duration = .seconds(1)) {
        self.directory = directory
        self.minimumInterval = minimumInterval
    }

    /// The file node_exporter reads.
    public var path: String {
        directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
    }

    /// What one `update` did, for the caller to log.
    public enum Outcome: Sendable, Equatable {
        /// Written (or skipped within the interval) as usual: nothing to log.
        case quiet
        /// A write failed for the first time since the last success: log this once.
        case failed(String)
        /// A write succeeded after failures.
        case recovered
    }

    /// Whether an evaluation at `now` should write the file.
    public func isDue(now: ContinuousClock.Instant, problemStateChanged: Bool) -> Bool {
        guard let lastWrite, !problemStateChanged, !failing else { return true }
        return now - lastWrite >= minimumInterval
    }

    /// Called after each evaluation: writes `text()` when it is due.
    public mutating func update(
        now: ContinuousClock.Instant, problemStateChanged: Bool, text: () -> String
    ) -> Outcome {
        guard isDue(now: now, problemStateChanged: problemStateChanged) else { return .quiet }
        switch Self.writeAtomically(text(), to: path) {
        case .success:
            lastWrite = now
            defer { failing = false }
            return failing ? .recovered : .quiet
        case .failure(let error):
            defer { failing = true }
            return failing ? .quiet : .failed(error.description)
        }
    }

    /// Why a write failed: the call and path, with the system's reason.
    public struct WriteError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Writes `text` to a temporary file beside `path`, fsyncs it and renames it over `path`.
    public static func writeAtomically(_ text: String, to path: String) -> Result<Void, WriteError> {
        let temporary = path + ".tmp-\(getpid())"
        func failure(_ call: String, _ target: String) -> Result<Void, WriteError> {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return .failure(WriteError(description: "\(call) \(target): \(reason)"))
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return failure("cannot create", temporary) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress.map { $0 + written }, buffer.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                let result = failure("cannot write", temporary)
                close(fd)
                return result
            }
            written += count
        }
        // node_exporter reads the file as its own user; the daemon's UMask must not hide it.
        fchmod(fd, 0o644)
        guard fsync(fd) == 0 else {
            let result = failure("cannot fsync", temporary)
            close(fd)
            return result
        }
        guard close(fd) == 0 else { return failure("cannot close", temporary) }
        guard rename(temporary, path) == 0 else { return failure("cannot rename to", path) }
        return .success(())
    }
}
