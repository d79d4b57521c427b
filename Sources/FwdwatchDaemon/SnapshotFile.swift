import FoundationEssentials
import FwdwatchCore

/// The JSON form of snapshots and check results: sorted keys, stable across runs.
public enum SnapshotFile {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Decodes a recorded snapshot; errors say what is wrong and where in the JSON.
    public static func decode(_ bytes: [UInt8], path: String) throws(SnapshotFileError) -> Snapshot {
        let snapshot: Snapshot
        do {
            snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw SnapshotFileError(path: path, reason: describe(error))
        } catch {
            throw SnapshotFileError(path: path, reason: "\(error)")
        }
        guard snapshot.format == Snapshot.currentFormat else {
            throw SnapshotFileError(
                path: path,
                reason: "snapshot format \(snapshot.format) is not supported (this fwdwatch reads format \(Snapshot.currentFormat))")
        }
        return snapshot
    }

    private static func describe(_ error: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "at the top level" : "at " + path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return "not valid JSON or a bad value \(at(context.codingPath)): \(context.debugDescription)\(underlying)"
        case .keyNotFound(let key, let context):
            return "missing field \"\(key.stringValue)\" \(at(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "expected \(type) \(at(context.codingPath))"
        case .valueNotFound(let type, let context):
            return "expected \(type), found null \(at(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }
}

public struct SnapshotFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
