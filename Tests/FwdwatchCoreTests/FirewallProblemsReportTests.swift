import Testing

@testable import FwdwatchCore

/// Rules that could not be read (a tool that failed or printed too much) must not hide behind an OK.
@Suite("Firewall reading problems in the report")
struct FirewallProblemsReportTests {
    @Test("the problems reach the evaluation and the text report")
    func problemsAreShown() {
        var host = DockerHost.withRules()
        host.snapshot.firewall?.problems = ["nft -j list table ip kube-proxy: more than 536870912 bytes of output", "second"]
        let evaluation = host.evaluate()
        #expect(evaluation.firewallProblems.count == 2)
        let text = Report.text(evaluation)
        #expect(text.contains("some rules could not be read, ports behind them may be missing: nft -j list table ip kube-proxy"))
        #expect(text.contains("(and 1 more)"))
    }

    @Test("a clean reading adds no line")
    func cleanReadingIsQuiet() {
        let text = Report.text(DockerHost.withRules().evaluate())
        #expect(!text.contains("could not be read"))
    }
}
