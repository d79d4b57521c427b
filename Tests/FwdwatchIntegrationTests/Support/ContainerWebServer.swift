import Foundation

/// A small HTTP server (python3 -m http.server) in the incident topology's container namespace, on
/// 172.17.0.2:80: what Docker's published port 10001/tcp leads to. Stopped by PID with SIGKILL, because
/// a child started from a dispatch worker thread inherits its blocked signals and ignores SIGTERM.
final class ContainerWebServer {
    private let process = Process()
    private let log: URL

    init(_ topology: IncidentTopology, address: String = "172.17.0.2") throws {
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", topology.container.name, "python3", "-m", "http.server", "80", "--bind", address]
        log = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-http-\(randomSuffix()).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }

    /// What to print when the client cannot reach it.
    var diagnosis: String {
        "server running: \(process.isRunning), log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")"
    }

    /// Whether the topology's client gets a 200 from the published port 192.0.2.10:10001.
    static func clientReaches(_ topology: IncidentTopology) throws -> Bool {
        let result = try topology.client.exec(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "http://192.0.2.10:10001/"],
            check: false)
        return result.stdout == "200"
    }
}
