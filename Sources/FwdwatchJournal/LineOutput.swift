#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where a sink writes its lines: standard output, standard error, or a recorder in tests.
/// Each line is written with one `write(2)` (no buffering), so it is flushed at once.
public struct LineOutput: Sendable {
    /// Whether the destination is a terminal (colour is used only then).
    public var isTerminal: Bool
    private let writeLine: @Sendable (String) -> Void

    public init(isTerminal: Bool = false, writeLine: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.writeLine = writeLine
    }

    /// Writes `line` followed by a newline.
    public func write(_ line: String) { writeLine(line) }

    public static var standardOutput: LineOutput { fileDescriptor(STDOUT_FILENO) }
    public static var standardError: LineOutput { fileDescriptor(STDERR_FILENO) }

    /// Lines written to an open file descriptor; a failing write (EPIPE, a closed descriptor) is dropped.
    public static func fileDescriptor(_ descriptor: Int32) -> LineOutput {
        LineOutput(isTerminal: isatty(descriptor) == 1) { line in
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.write(descriptor, base + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }
}

/// Wall-clock time, as the sinks print it.
public enum WallClock {
    /// Seconds since the Unix epoch, from CLOCK_REALTIME.
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-27T03:39:00.123Z`.
    public static func rfc3339(_ secondsSinceEpoch: Double) -> String {
        let millis = Int64((secondsSinceEpoch * 1000).rounded(.down))
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(millis % 1000), 3))Z"
    }
}
