/// The human-readable report of `fwdwatch check`: problems first, worst first, each with its fix.
public enum Report {
    public static func text(_ evaluation: Evaluation, color: Bool = false) -> String {
        var out = ""
        let critical = evaluation.count(.critical)
        let warnings = evaluation.count(.warning)
        let infos = evaluation.count(.info)
        let status = evaluation.status.rawValue.uppercased()
        out += "fwdwatch: \(paint(status, evaluation.worst, color)): "
        if evaluation.findings.isEmpty {
            out += "no problems"
        } else {
            out += [
                plural(critical, "critical", "critical"), plural(warnings, "warning", "warnings"),
                plural(infos, "note", "notes"),
            ].compactMap { $0 }.joined(separator: ", ")
        }
        out += " (\(plural(evaluation.bridges, "bridge", "bridges") ?? "no bridges"), "
        out += "\(plural(evaluation.ports, "port", "ports") ?? "no ports") watched)\n"
        if let reason = evaluation.firewallUnavailable {
            out += "published-port checks are off: \(reason)\n"
        }
        if let first = evaluation.firewallProblems.first {
            let more = evaluation.firewallProblems.count > 1 ? " (and \(evaluation.firewallProblems.count - 1) more)" : ""
            out += "some rules could not be read, ports behind them may be missing: \(first)\(more)\n"
        }

        if !evaluation.publishedPorts.isEmpty {
            out += "\npublished ports:\n"
            for status in evaluation.publishedPorts {
                let port = status.port
                let paths = status.paths.map { path -> String in
                    guard let hop = path.firstBroken else {
                        let undecided = path.hops.filter { $0.passes == nil && $0.name != .targetNeighbour }.map(\.name.rawValue)
                        return "\(path.ingress) ok" + (undecided.isEmpty ? "" : " (undecided: \(undecided.joined(separator: ", ")))")
                    }
                    return "\(path.ingress) \(paint("BROKEN", .critical, color)) at \(hop.name.rawValue) (\(hop.detail))"
                }
                let from = paths.isEmpty ? "no ingress interface" : paths.joined(separator: ", ")
                out += "  \(port.subject) -> \(port.destination): \(from)\n"
            }
        }

        for finding in evaluation.findings {
            out += "\n"
            out += "\(paint(finding.severity.rawValue.uppercased(), finding.severity, color))  "
            out += "\(finding.rule)  \(finding.subject)\n"
            out += "  \(finding.message)\n"
            out += "  fix: \(finding.fix)\n"
            if !finding.evidence.isEmpty {
                out += "  evidence: " + finding.evidence.map { "\($0.name)=\($0.value)" }.joined(separator: " ") + "\n"
            }
        }
        return out
    }

    /// `fwdwatch explain`: each hop of each path with what it read, the way the incident's admin
    /// walked it by hand.
    public static func explain(_ statuses: [PublishedPortStatus]) -> String {
        var out = ""
        for status in statuses {
            let port = status.port
            out += "\(port.subject) -> \(port.destination) (DNAT \(port.rule)"
            if let packets = port.translatedPackets { out += ", \(packets) packets translated" }
            out += ")\n"
            if status.paths.isEmpty { out += "  no up interface with an address that this DNAT applies to\n" }
            for path in status.paths {
                let undecided = path.hops.contains { $0.passes == nil && $0.name != .targetNeighbour }
                let verdict = path.isBroken ? "BROKEN" : undecided ? "ok as far as fwdwatch can decide" : "ok"
                out += "\n  from \(path.ingress)\(path.egress.map { " to \($0)" } ?? ""): \(verdict)\n"
                for hop in path.hops {
                    let mark = hop.passes == true ? "ok " : hop.passes == false ? "BROKEN" : "?  "
                    out += "    \(mark.padded(to: 6)) \(hop.name.rawValue.padded(to: 18)) \(hop.detail)\n"
                    if let fix = hop.fix { out += "           fix: \(fix)\n" }
                }
            }
        }
        return out
    }

    /// The output of a Nagios/Icinga/Sensu plugin: one status line naming the worst problem, then
    /// performance data after `|` (plugin guidelines: `'label'=value;warn;crit;min`).
    public static func nagios(_ evaluation: Evaluation) -> String {
        let status = evaluation.status.rawValue.uppercased()
        var text = "FWDWATCH \(status) - "
        if let worst = evaluation.findings.first {
            text += "\(worst.rule) \(worst.subject): \(worst.message) Fix: \(worst.fix)"
            let others = evaluation.findings.count - 1
            if others > 0 { text += " (+\(others) more)" }
        } else {
            text += "no problems"
        }
        // A status line is one line; `|` would start the performance data early.
        text = String(text.map { $0 == "\n" ? " " : $0 == "|" ? "/" : $0 })
        let perf = [
            "problems=\(evaluation.findings.count);;;0",
            "critical=\(evaluation.count(.critical));;1;0",
            "warning=\(evaluation.count(.warning));1;;0",
            "info=\(evaluation.count(.info));;;0",
            "bridges=\(evaluation.bridges);;;0",
            "ports=\(evaluation.ports);;;0",
        ]
        return text + " | " + perf.joined(separator: " ") + "\n"
    }

    /// One line for systemd's STATUS=: "2 critical: eth0 forwarding disabled; ..." or "healthy: ...". It stays
    /// beside `text` and `nagios` because it is one more pure rendering of an `Evaluation` (sd_notify only carries it).
    public static func statusLine(_ evaluation: Evaluation) -> String {
        let watched = "\(evaluation.bridges) bridge\(evaluation.bridges == 1 ? "" : "s"), "
            + "\(evaluation.ports) port\(evaluation.ports == 1 ? "" : "s") watched"
        guard let worst = evaluation.findings.first, worst.severity > .info else {
            return "healthy: \(watched)"
        }
        let count = evaluation.count(worst.severity)
        let label = worst.severity == .critical ? "critical" : (count == 1 ? "warning" : "warnings")
        let subjects = evaluation.findings.filter { $0.severity == worst.severity }.prefix(3)
            .map { "\($0.rule) \($0.subject)" }.joined(separator: "; ")
        let more = count > 3 ? "; ..." : ""
        return "\(count) \(label): \(subjects)\(more) (\(watched))"
    }

    private static func plural(_ count: Int, _ one: String, _ many: String) -> String? {
        guard count > 0 else { return nil }
        return "\(count) \(count == 1 ? one : many)"
    }

    private static func paint(_ text: String, _ severity: Severity?, _ color: Bool) -> String {
        guard color else { return text }
        let code: String
        switch severity {
        case .critical: code = "1;31"
        case .warning: code = "1;33"
        case .info: code = "1;34"
        case nil: code = "1;32"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
}

extension String {
    fileprivate func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
