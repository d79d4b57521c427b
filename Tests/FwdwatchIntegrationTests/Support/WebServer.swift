import Foundation

/// A small HTTP server in any namespace, answering GET with a listing of an empty directory: the
/// container's service behind the published port, or a server on the client for the container's own
/// outbound traffic. Stopped by PID with SIGKILL: a child
/// started from a dispatch worker thread inherits its blocked signals and would ignore SIGTERM.
///
/// It uses `socketserver.TCPServer` rather than `python3 -m http.server`: http.server's `server_bind`
/// calls `socket.getfqdn()` before it listens, and with an unreachable DNS server that costs about
/// 10 s per start on this machine.
final class NamespaceWebServer {
    private let process = Process()
    private let log: URL
    private let root: URL

    init(_ namespace: NetworkNamespace, address: String, port: Int) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-www-\(randomSuffix())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let program = """
            import http.server, socketserver
            socketserver.TCPServer.allow_reuse_address = True
            socketserver.TCPServer((\"\(address)\", \(port)), http.server.SimpleHTTPRequestHandler).serve_forever()
            """
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace.name, "python3", "-c", program]
        process.currentDirectoryURL = root
        log = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-http-\(randomSuffix()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: log)
        try? FileManager.default.removeItem(at: root)
    }

    /// What to print when it cannot be reached.
    var diagnosis: String {
        "server running: \(process.isRunning), log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")"
    }
}

/// Whether the incident topology's client gets a 200 from the published port 192.0.2.10:10001.
func clientReaches(_ topology: IncidentTopology) throws -> Bool {
    let result = try topology.client.exec(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "http://192.0.2.10:10001/"],
        check: false)
    return result.stdout == "200"
}
