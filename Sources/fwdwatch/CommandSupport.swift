import FwdwatchCore
import FwdwatchDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Small helpers the subcommands share.
enum CommandSupport {
    /// A recorded snapshot when `file` is given, else the live host.
    static func snapshot(file: String?, procRoot: String, sample: Duration) async throws -> Snapshot {
        var memo = EvaluationMemo()
        return try await snapshot(file: file, procRoot: procRoot, sample: sample, settings: .defaults, memo: &memo)
    }

    /// `snapshot(file:procRoot:sample:)`, leaving in `memo` what reading the live host already indexed, for
    /// `evaluate(_:settings:memo:)`.
    static func snapshot(
        file: String?, procRoot: String, sample: Duration, settings: Settings, memo: inout EvaluationMemo
    ) async throws -> Snapshot {
        if let file {
            return try SnapshotFile.decode(try readAll(file), path: file)
        }
        return try await HostReader(procRoot: procRoot).read(sampleInterval: sample, settings: settings, memo: &memo)
    }

    /// Evaluates `snapshot` with what `snapshot(file:procRoot:sample:settings:memo:)` left in `memo`.
    static func evaluate(_ snapshot: Snapshot, settings: Settings, memo: inout EvaluationMemo) -> Evaluation {
        Evaluator(settings: settings).evaluate(snapshot, memo: &memo, rulesVersion: HostReader.rulesVersion)
    }

    static func fail(_ message: String) {
        var line = "fwdwatch: \(message)\n"
        line.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    struct FileError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path): \(reason)" }
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw FileError(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes.append(contentsOf: buffer[0..<count]) }
            if count < buffer.count {
                if ferror(file) != 0 { throw FileError(path: path, reason: String(cString: strerror(errno))) }
                break
            }
        }
        return bytes
    }

    /// Writes through a temporary file and rename, so a reader never sees half a file.
    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "wb") else {
            throw FileError(path: temporary, reason: String(cString: strerror(errno)))
        }
        var text = text
        let written = text.withUTF8 { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == text.utf8.count, closed == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FileError(path: path, reason: reason)
        }
    }
}
