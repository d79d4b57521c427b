import Foundation
import FwdwatchConfig
import FwdwatchMetrics
import Testing

struct ConnectionRefused: Error {
    var reason: String
}

/// The HTTP endpoint on an ephemeral loopback port (a socket only: no network state changes).
@Suite struct EndpointTests {
    /// Sends one raw HTTP/1.1 request with `Connection: close` and returns the whole response.
    func request(_ method: String, _ path: String, port: Int) throws -> (status: Int, headers: String, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw ConnectionRefused(reason: String(cString: strerror(errno))) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let whole = String(decoding: response, as: UTF8.self)
        let parts = whole.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? -1
        return (status, head, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func servesMetricsAndRefusesTheRest() async throws {
        let metrics = DaemonMetrics(version: "4.5.6")
        let endpoint = try await MetricsEndpoint.start(
            listen: MetricsListenAddress(host: "127.0.0.1", port: 0), metrics: metrics)
        let port = try #require(endpoint.boundPort)

        let ok = try request("GET", "/metrics", port: port)
        #expect(ok.status == 200)
        #expect(ok.headers.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
        #expect(ok.body.contains(#"fwdwatch_build_info{version="4.5.6"} 1"#))
        #expect(ok.body.contains(#"fwdwatch_problems{severity="critical"} 0"#))

        metrics.recordNetlinkEvents(5)
        #expect(try request("GET", "/metrics?x=1", port: port).body.contains("fwdwatch_netlink_events_total 5"))
        #expect(try request("GET", "/", port: port).status == 404)
        #expect(try request("GET", "/metricsx", port: port).status == 404)
        let post = try request("POST", "/metrics", port: port)
        #expect(post.status == 405)
        #expect(post.headers.contains("Allow: GET, HEAD"))
        let head = try request("HEAD", "/metrics", port: port)
        #expect(head.status == 200 && head.body.isEmpty)

        await endpoint.shutdown()
        // Nothing of ours listens after shutdown. The unit tests run in parallel, so another test may already have
        // been given the freed ephemeral port: what answers then must not be this endpoint.
        let after = Result { try request("GET", "/metrics", port: port) }
        if case .success(let answer) = after {
            #expect(!answer.body.contains(#"fwdwatch_build_info{version="4.5.6"}"#), "the endpoint still serves")
        } else {
            #expect(throws: ConnectionRefused.self) { try after.get() }
        }
    }

    @Test func aPortInUseIsAnErrorNamingTheAddress() async throws {
        let metrics = DaemonMetrics(version: "1")
        let first = try await MetricsEndpoint.start(
            listen: MetricsListenAddress(host: "127.0.0.1", port: 0), metrics: metrics)
        let port = try #require(first.boundPort)
        do {
            let second = try await MetricsEndpoint.start(
                listen: MetricsListenAddress(host: "127.0.0.1", port: port), metrics: metrics)
            await second.shutdown()
            Issue.record("a second endpoint bound the same port")
        } catch {
            #expect(error.description == "metrics.listen: cannot listen on 127.0.0.1:\(port): Address already in use")
        }
        await first.shutdown()
    }

    @Test func anAddressNotOnThisHostIsAnError() async throws {
        do {
            let endpoint = try await MetricsEndpoint.start(
                listen: MetricsListenAddress(host: "192.0.2.123", port: 10039), metrics: DaemonMetrics(version: "1"))
            await endpoint.shutdown()
            Issue.record("bound an address this host does not have")
        } catch {
            #expect(error.description.hasPrefix("metrics.listen: cannot listen on 192.0.2.123:10039: "))
            #expect(error.description.contains("Cannot assign requested address"), "\(error)")
        }
    }
}
