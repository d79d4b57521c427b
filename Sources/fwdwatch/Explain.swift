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

        func run() async throws {
            let evaluation: Evaluation
            let snapshotTaken: Snapshot
            do {
                let configuration = try ConfigurationFile.load(path: host.config)
                snapshotTaken = try await CommandSupport.snapshot(file: snapshot, procRoot: host.procRoot, sample: .zero)
                evaluation = Evaluator(settings: configuration.settings).evaluate(snapshotTaken)
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
            throw ExitCode(matching.allSatisfy(\.reachable) ? 0 : 2)
        }
    }
}
