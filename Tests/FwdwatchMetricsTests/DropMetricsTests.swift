import FwdwatchCore
import FwdwatchMetrics
import Testing

@Suite struct DropMetricsTests {
    static func observation(_ count: UInt64, reason: String = "IP_INADDRERRORS", ingress: String = "eth0") -> DropObservation {
        DropObservation(
            port: "10001/tcp", ingress: ingress, reason: reason, count: count, clients: ["192.0.2.1"],
            targets: ["172.17.0.2:80"], seconds: 5)
    }

    @Test("fwdwatch_dropped_packets_total counts each sweep's drops by port, ingress and reason")
    func droppedPackets() {
        let metrics = DaemonMetrics(version: "1", rules: [])
        #expect(Exposition(metrics.exposition()).series("fwdwatch_dropped_packets_total").isEmpty)
        metrics.recordDrops([Self.observation(2), Self.observation(3, reason: "NETFILTER_DROP", ingress: "eth1")])
        metrics.recordDrops([Self.observation(5)])
        metrics.recordDrops([])
        let text = Exposition(metrics.exposition())
        #expect(text[#"fwdwatch_dropped_packets_total{port="10001/tcp",ingress="eth0",reason="IP_INADDRERRORS"}"#] == 7)
        #expect(text[#"fwdwatch_dropped_packets_total{port="10001/tcp",ingress="eth1",reason="NETFILTER_DROP"}"#] == 3)
        #expect(text.types["fwdwatch_dropped_packets_total"] == "counter")
    }
}
