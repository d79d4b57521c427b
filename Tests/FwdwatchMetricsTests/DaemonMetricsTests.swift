import Foundation
import FwdwatchCore
import FwdwatchMetrics
import Testing

/// The exposition of known evaluations: series appear with a raised alert and disappear with its resolution.
@Suite struct DaemonMetricsTests {
    static let forwardingOff = Finding(
        rule: "interface-forwarding-disabled", subject: "eth0", severity: .critical,
        message: "eth0 does not forward", fix: "sysctl -w net.ipv4.conf.eth0.forwarding=1", interface: "eth0")
    static let noDefaultRoute = Finding(
        rule: "default-route-missing", subject: "default", severity: .warning, message: "no default route", fix: "")
    static let active =
        #"fwdwatch_problem_active{rule="interface-forwarding-disabled",subject="eth0",severity="critical"}"#

    /// A tracker without hold times, so a finding is raised and resolved at once.
    func evaluate(
        _ findings: [Finding], tracker: inout AlertTracker, metrics: DaemonMetrics, at time: Double,
        ports: [PublishedPortStatus] = []
    ) -> Bool {
        let transitions = tracker.update(findings, now: time)
        return metrics.recordEvaluation(
            Evaluation(findings: findings, publishedPorts: ports), alerts: tracker.active + tracker.clearing,
            transitions: transitions, duration: .microseconds(300), at: 1_800_000_000 + time)
    }

    @Test func startsWithEveryFixedSeriesAtZero() {
        let metrics = DaemonMetrics(version: "9.8.7", rules: ["interface-forwarding-disabled"])
        let text = Exposition(metrics.exposition())
        #expect(text[#"fwdwatch_build_info{version="9.8.7"}"#] == 1)
        for severity in ["critical", "warning", "info"] {
            #expect(text[#"fwdwatch_problems{severity="\#(severity)"}"#] == 0)
        }
        #expect(text[#"fwdwatch_alerts_raised_total{rule="interface-forwarding-disabled"}"#] == 0)
        #expect(text[#"fwdwatch_alerts_resolved_total{rule="interface-forwarding-disabled"}"#] == 0)
        #expect(text.series("fwdwatch_problem_active").isEmpty)
        #expect(text["fwdwatch_evaluations_total"] == 0)
        #expect(text["fwdwatch_model_disagreements_total"] == 0)
        #expect(text[#"fwdwatch_published_ports{status="reachable"}"#] == 0)
        #expect(text[#"fwdwatch_published_ports{status="unreachable"}"#] == 0)
        let expectedTypes = [
            "fwdwatch_problems": "gauge", "fwdwatch_alerts_raised_total": "counter",
            "fwdwatch_alerts_resolved_total": "counter", "fwdwatch_netlink_events_total": "counter",
            "fwdwatch_netlink_resyncs_total": "counter", "fwdwatch_evaluations_total": "counter",
            "fwdwatch_model_disagreements_total": "counter",
            "fwdwatch_evaluation_duration_seconds": "histogram", "fwdwatch_sweep_duration_seconds": "histogram",
            "fwdwatch_last_event_timestamp_seconds": "gauge", "fwdwatch_last_evaluation_timestamp_seconds": "gauge",
            "fwdwatch_inaddrerrors_per_second": "gauge", "fwdwatch_ip_inaddrerrors_total": "counter",
            "fwdwatch_published_ports": "gauge", "fwdwatch_firewall_rules_readable": "gauge",
            "fwdwatch_build_info": "gauge",
        ]
        #expect(text.types == expectedTypes)
        #expect(Set(text.help.keys) == Set(expectedTypes.keys), "every metric has a HELP line")
    }

    @Test func modelDisagreementsAreCounted() {
        let metrics = DaemonMetrics(version: "1")
        metrics.recordModelDisagreements(2)
        metrics.recordModelDisagreements(0)
        metrics.recordModelDisagreements(1)
        #expect(Exposition(metrics.exposition())["fwdwatch_model_disagreements_total"] == 3)
    }

    @Test func problemActiveAppearsAndDisappearsWithTheAlert() {
        let metrics = DaemonMetrics(version: "1")
        var tracker = AlertTracker()

        #expect(!evaluate([], tracker: &tracker, metrics: metrics, at: 0), "nothing changed")
        #expect(evaluate([Self.forwardingOff, Self.noDefaultRoute], tracker: &tracker, metrics: metrics, at: 1))
        var text = Exposition(metrics.exposition())
        #expect(text[Self.active] == 1)
        #expect(
            text[#"fwdwatch_problem_active{rule="default-route-missing",subject="default",severity="warning"}"#] == 1)
        #expect(text[#"fwdwatch_problems{severity="critical"}"#] == 1)
        #expect(text[#"fwdwatch_problems{severity="warning"}"#] == 1)
        #expect(text[#"fwdwatch_alerts_raised_total{rule="interface-forwarding-disabled"}"#] == 1)
        #expect(text[#"fwdwatch_alerts_resolved_total{rule="interface-forwarding-disabled"}"#] == 0)
        #expect(text["fwdwatch_evaluations_total"] == 2)
        #expect(text["fwdwatch_last_evaluation_timestamp_seconds"] == 1_800_000_001)

        #expect(!evaluate([Self.forwardingOff, Self.noDefaultRoute], tracker: &tracker, metrics: metrics, at: 2))
        #expect(evaluate([Self.noDefaultRoute], tracker: &tracker, metrics: metrics, at: 3))
        text = Exposition(metrics.exposition())
        #expect(text[Self.active] == nil, "the series is gone once the alert resolved")
        #expect(text.series("fwdwatch_problem_active").count == 1)
        #expect(text[#"fwdwatch_problems{severity="critical"}"#] == 0)
        #expect(text[#"fwdwatch_alerts_raised_total{rule="interface-forwarding-disabled"}"#] == 1)
        #expect(text[#"fwdwatch_alerts_resolved_total{rule="interface-forwarding-disabled"}"#] == 1)

        #expect(evaluate([], tracker: &tracker, metrics: metrics, at: 4))
        text = Exposition(metrics.exposition())
        #expect(text.series("fwdwatch_problem_active").isEmpty)
        #expect(!metrics.exposition().contains("fwdwatch_problem_active"), "no empty family left behind")
        #expect(text["fwdwatch_evaluation_duration_seconds_count"] == 5)
        #expect(text[#"fwdwatch_evaluation_duration_seconds_bucket{le="0.00025"}"#] == 0)
        #expect(text[#"fwdwatch_evaluation_duration_seconds_bucket{le="0.0005"}"#] == 5)
    }

    /// During the flap hold the alert is still raised in the journal: the series stays until it resolves.
    @Test func problemStaysActiveWhileItsResolutionIsHeldBack() {
        let metrics = DaemonMetrics(version: "1")
        var tracker = AlertTracker(flapHoldSeconds: 10)
        _ = evaluate([Self.forwardingOff], tracker: &tracker, metrics: metrics, at: 0)
        #expect(!evaluate([], tracker: &tracker, metrics: metrics, at: 1))
        #expect(Exposition(metrics.exposition())[Self.active] == 1)
        #expect(evaluate([], tracker: &tracker, metrics: metrics, at: 11))
        #expect(Exposition(metrics.exposition())[Self.active] == nil)
    }

    @Test func severityChangeMovesTheSeries() {
        let metrics = DaemonMetrics(version: "1")
        var tracker = AlertTracker()
        _ = evaluate([Self.forwardingOff], tracker: &tracker, metrics: metrics, at: 0)
        var warning = Self.forwardingOff
        warning.severity = .warning
        #expect(evaluate([warning], tracker: &tracker, metrics: metrics, at: 1))
        let text = Exposition(metrics.exposition())
        #expect(text[Self.active] == nil)
        #expect(
            text[#"fwdwatch_problem_active{rule="interface-forwarding-disabled",subject="eth0",severity="warning"}"#]
                == 1)
        #expect(
            text[#"fwdwatch_alerts_raised_total{rule="interface-forwarding-disabled"}"#] == 1, "a change is no raise")
    }

    @Test func labelValuesAreEscaped() {
        let metrics = DaemonMetrics(version: "1")
        var tracker = AlertTracker()
        let odd = Finding(rule: "bridge-down", subject: #"br"0\x"#, severity: .critical, message: "", fix: "")
        _ = evaluate([odd], tracker: &tracker, metrics: metrics, at: 0)
        #expect(metrics.exposition().contains(#"subject="br\"0\\x""#))
    }

    /// A published port whose path from eth0 has one hop, passing or not (decoded: the Core types have no
    /// public memberwise initialisers).
    static func portStatus(passes: Bool) throws -> PublishedPortStatus {
        let port =
            #"{"transport":"tcp","hostPorts":{"first":10001,"last":10001},"target":"172.17.0.2","targetPort":80,"#
            + #""rule":"nat DOCKER #1"}"#
        let json = """
            {"port":\(port),"paths":[{"port":\(port),"ingress":"eth0","hops":[
            {"name":"ingress-forwarding","passes":\(passes),"detail":"net.ipv4.conf.eth0.forwarding"}]}]}
            """
        return try JSONDecoder().decode(PublishedPortStatus.self, from: Data(json.utf8))
    }

    @Test func publishedPortsByStatus() throws {
        let metrics = DaemonMetrics(version: "1")
        var tracker = AlertTracker()
        let ports = [
            try Self.portStatus(passes: false), try Self.portStatus(passes: true), try Self.portStatus(passes: true),
        ]
        #expect(ports.map(\.reachable) == [false, true, true])
        _ = evaluate([], tracker: &tracker, metrics: metrics, at: 0, ports: ports)
        let text = Exposition(metrics.exposition())
        #expect(text[#"fwdwatch_published_ports{status="reachable"}"#] == 2)
        #expect(text[#"fwdwatch_published_ports{status="unreachable"}"#] == 1)
    }

    @Test func netlinkAndSweepValues() {
        let metrics = DaemonMetrics(version: "1")
        metrics.recordNetlinkEvents(3, at: 1_800_000_010)
        metrics.recordNetlinkEvents(0, at: 1_800_000_099)
        metrics.recordResync(at: 1_800_000_020)
        metrics.recordSweep(
            duration: .milliseconds(20), dropSample: DropSample(seconds: 5, inAddrErrors: 50, forwDatagrams: 0),
            inAddrErrors: 1234, firewallRulesReadable: false)
        var text = Exposition(metrics.exposition())
        #expect(text["fwdwatch_netlink_events_total"] == 3)
        #expect(text["fwdwatch_netlink_resyncs_total"] == 1)
        #expect(text["fwdwatch_last_event_timestamp_seconds"] == 1_800_000_020)
        #expect(text["fwdwatch_inaddrerrors_per_second"] == 10)
        #expect(text["fwdwatch_ip_inaddrerrors_total"] == 1234)
        #expect(text["fwdwatch_firewall_rules_readable"] == 0)
        #expect(text[#"fwdwatch_sweep_duration_seconds_bucket{le="0.025"}"#] == 1)
        #expect(text[#"fwdwatch_sweep_duration_seconds_bucket{le="0.01"}"#] == 0)

        metrics.recordSweep(duration: .zero, dropSample: nil, inAddrErrors: 1300, firewallRulesReadable: true)
        text = Exposition(metrics.exposition())
        #expect(text["fwdwatch_ip_inaddrerrors_total"] == 1300)
        #expect(text["fwdwatch_inaddrerrors_per_second"] == 10, "no sample keeps the last rate")
        #expect(text["fwdwatch_firewall_rules_readable"] == 1)
        // The kernel's counters went back (another namespace, a reset): the counter follows.
        metrics.recordSweep(duration: .zero, dropSample: nil, inAddrErrors: 7, firewallRulesReadable: true)
        #expect(Exposition(metrics.exposition())["fwdwatch_ip_inaddrerrors_total"] == 7)
    }

    @Test func unixNowIsTheWallClock() {
        let now = DaemonMetrics.unixNow()
        #expect(now > 1_700_000_000 && now < 4_000_000_000)
    }
}
