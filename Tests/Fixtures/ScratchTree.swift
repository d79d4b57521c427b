import Foundation

/// A directory of the test's own under the temporary directory, removed with the value: a fake root (for
/// `--proc-root`, the persistent settings reader) that a test writes files into by their absolute path.
package final class ScratchTree: @unchecked Sendable {
    package let root: String

    package init(prefix: String = "fwt-tree") throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Writes `text` to `path` below the root ("/etc/sysctl.conf"), creating the directories on the way.
    package func write(_ path: String, _ text: String) throws {
        let full = root + path
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }
}
