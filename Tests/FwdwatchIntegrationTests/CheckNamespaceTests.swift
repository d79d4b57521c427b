import Foundation
import Testing

/// `fwdwatch check` and `fwdwatch snapshot` on the real kernel: the incident reproduced in namespaces
/// must be critical with the right interface and fix, and healing it must give exit 0.
@Suite(.enabled(if: isRoot, rootRequired))
struct CheckNamespaceTests {
    func check(_ topology: IncidentTopology, sample: String = "0") throws -> (status: Int32, findings: [[String: Any]]) {
        let result = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", sample, "--config", "/dev/null"], check: false)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(document?["status"] as? String == ["ok", "warning", "critical", "unknown"][Int(result.status)])
        return (result.status, document?["findings"] as? [[String: Any]] ?? [])
    }

    @Test func incidentIsCriticalAndHealingGivesExitZero() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        let healthy = try check(topology)
        #expect(healthy.status == 0, "\(healthy.findings)")
        #expect(healthy.findings.isEmpty)

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try topology.host.sysctl("net.ipv4.ip_forward") == "1")
        // The client keeps sending to the container while check samples the drop counter.
        let sender = Thread {
            _ = try? topology.client.exec([
                "python3", "-c",
                "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor _ in range(40):\n s.sendto(b'x',('172.17.0.2',9)); time.sleep(0.05)",
            ])
        }
        sender.start()
        let broken = try check(topology, sample: "1")
        #expect(broken.status == 2)
        let finding = broken.findings.first { $0["rule"] as? String == "interface-forwarding-disabled" }
        #expect(finding?["subject"] as? String == "eth0")
        #expect(finding?["interface"] as? String == "eth0")
        #expect(finding?["severity"] as? String == "critical")
        #expect(finding?["fix"] as? String == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
        let evidence = finding?["evidence"] as? [[String: String]] ?? []
        #expect(evidence.contains { $0["name"] == "in_addr_errors" && (Int($0["value"] ?? "") ?? 0) > 0 }, "\(evidence)")
        // Nothing else is wrong on this host.
        #expect(broken.findings.count == 1, "\(broken.findings)")

        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        let healed = try check(topology)
        #expect(healed.status == 0, "\(healed.findings)")
    }

    @Test func allForwardingOffIsReportedOnceForTheHost() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.setSysctl("net.ipv4.conf.all.forwarding", "0")
        let result = try check(topology)
        #expect(result.status == 2)
        #expect(result.findings.map { $0["rule"] as? String } == ["ip-forwarding-disabled"])
        // Writing 1 to `all` copies it to every interface: the host is healthy again.
        try topology.host.setSysctl("net.ipv4.conf.all.forwarding", "1")
        #expect(try check(topology).status == 0)
    }

    @Test func snapshotDescribesTheNamespace() throws {
        let topology = try IncidentTopology()
        defer { topology.delete() }
        try topology.host.ip(["route", "add", "198.51.100.0/24", "via", "192.0.2.1", "metric", "50"])
        let result = try topology.host.exec([fwdwatchBinary(), "snapshot"])
        let snapshot = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(snapshot?["format"] as? Int == 1)
        let links = snapshot?["links"] as? [[String: Any]] ?? []
        let byName = Dictionary(uniqueKeysWithValues: links.map { ($0["name"] as? String ?? "", $0) })
        #expect(Set(byName.keys) == Set(topology.hostInterfaces))
        let bridge = byName["docker0"]
        #expect(bridge?["kind"] as? String == "bridge")
        let port = byName[topology.bridgePort]
        #expect(port?["master"] as? Int == bridge?["index"] as? Int)
        #expect(port?["bridgePortState"] as? String == "forwarding")
        let routes = snapshot?["routes"] as? [[String: Any]] ?? []
        #expect(routes.contains { $0["destination"] as? String == "198.51.100.0/24" && $0["gateway"] as? String == "192.0.2.1" && $0["metric"] as? Int == 50 })
        #expect(routes.contains { $0["destination"] as? String == "0.0.0.0/0" })
        let conf = snapshot?["ipv4Conf"] as? [String: [String: Any]] ?? [:]
        #expect(Set(conf.keys) == Set(topology.hostInterfaces + ["all", "default"]))
        #expect(conf["eth0"]?["forwarding"] as? Int == 1)
        let counters = snapshot?["ipCounters"] as? [String: Any] ?? [:]
        #expect(counters["InAddrErrors"] != nil)
    }
}
