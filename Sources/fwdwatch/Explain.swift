import ArgumentParser
import FwdwatchConfig
import FwdwatchCore
import FwdwatchDaemon

extension Fwdwatch {
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk a published port's path hop by hop from each ingress interface, with what each hop read.",
            discussion: "Exit status: 0 reachable from every ingress, 2 broken somewhere, 3 port not found or could not read.")

        @OptionGroup var host: HostOptions

        @Argument(help: ArgumentHelp("The published port, as PORT/PROTOCOL (10001/tcp) or PORT.", valueName: "port"))
        var port: String

        @Option(help: ArgumentHelp("Explain from a recorded snapshot (JSON) instead of the live host.", valueName: "file"))
        var snapshot: String?

        @Option(
            help: ArgumentHelp(
                "Seconds to watch the kernel's drops of the port first, when [drops] is enabled (default 2; 0 = do not).",
                valueName: "seconds"))
        var sample: Double?

        func validate() throws {
            guard (sample ?? 0) >= 0, (sample ?? 0) <= 60 else {
                throw ValidationError("--sample must be between 0 and 60 seconds")
            }
        }

        func run() async throws {
            let evaluation: Evaluation
            var snapshotTaken: Snapshot
            do {
                let configuration = try ConfigurationFile.load(path: host.config)
                // With [drops] enabled, watch the drops first: the clients being dropped, and why.
                let seconds = snapshot == nil && configuration.drops.enabled ? sample ?? 2 : 0
                var drops = DropSampling(configuration: configuration, seconds: seconds)
                if seconds > 0 { try await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
                var memo = EvaluationMemo()
                snapshotTaken = try await CommandSupport.snapshot(
                    file: snapshot, procRoot: host.procRoot, sample: .zero, settings: configuration.settings, memo: &memo)
                drops.finish(into: &snapshotTaken)
                evaluation = CommandSupport.evaluate(snapshotTaken, settings: configuration.settings, memo: &memo)
            } catch {
                CommandSupport.fail("\(error)")
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
            let wanted = port.contains("/") ? port : "\(port)/tcp"
            let matching = evaluation.publishedPorts.filter { $0.port.subject == wanted }
            guard !matching.isEmpty else {
                if let reason = snapshotTaken.firewallUnavailable {
                    CommandSupport.fail("cannot read the firewall rules: \(reason)")
                } else {
                    let known = evaluation.publishedPorts.map(\.port.subject)
                    CommandSupport.fail(
                        "no DNAT rule publishes \(wanted)"
                            + (known.isEmpty ? " (no published ports found)" : "; published: \(known.joined(separator: ", "))"))
                }
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
            print(Report.explain(matching), terminator: "")
            if let drops = snapshotTaken.drops {
                let observations = DropAttribution.observations(HostView(snapshotTaken)).filter { $0.port == wanted }
                print(DropReport.text(observations, seconds: drops.seconds), terminator: "")
            }
            throw ExitCode(matching.allSatisfy(\.reachable) ? 0 : 2)
        }
    }
}
