import Foundation

/// A temporary directory, removed with everything below it by `remove()`.
struct ScratchDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fwdwatch-daemon-tests-\(UUID().uuidString)"
        ).path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` to `relative` (directories made as needed), with `permissions`.
    func write(_ relative: String, _ text: String, permissions: Int = 0o644) {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: false, encoding: .utf8)
        try! FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: full)
    }

    func read(_ relative: String) -> String? {
        try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The smallest proc tree `ProcReader` reads: the conf directories and `net/snmp`.
func writeProcTree(_ scratch: ScratchDirectory, forwarding: [String: Int], inAddrErrors: UInt64 = 0) {
    for (name, value) in forwarding {
        scratch.write("proc/sys/net/ipv4/conf/\(name)/forwarding", "\(value)\n")
    }
    scratch.write(
        "proc/net/snmp",
        "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams\n"
            + "Ip: 1 64 100 0 \(inAddrErrors) 7\n")
}
