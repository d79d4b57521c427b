import ArgumentParser
import FwdwatchConfig
import FwdwatchCore
import FwdwatchDaemon

#if canImport(Glibc)
import Glibc
#endif

extension Fwdwatch {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate the host once, print the problems and exit 0/1/2 (3: could not evaluate).")

        @OptionGroup var host: HostOptions

        @Option(help: "Output: text (for people), json, or nagios (a monitoring plugin's status line and performance data).")
        var format: OutputFormat = .text

        @Flag(help: "Same as --format json.")
        var json = false

        @Option(help: ArgumentHelp("Evaluate a recorded snapshot (JSON) instead of the live host.", valueName: "file"))
        var snapshot: String?

        @Option(
            help: ArgumentHelp(
                "Seconds to sample the drop counter (Ip: InAddrErrors), and the drop probe when [drops] is enabled, for evidence of silent drops; 0 = no sample.",
                valueName: "seconds"))
        var sample: Double = 1

        func validate() throws {
            guard sample >= 0, sample <= 60 else { throw ValidationError("--sample must be between 0 and 60 seconds") }
        }

        func run() async throws {
            let evaluation: Evaluation
            var taken: Snapshot
            do {
                let configuration = try ConfigurationFile.load(path: host.config)
                // With [drops] enabled, the drop probe watches the same interval as Ip: InAddrErrors.
                var drops = DropSampling(configuration: configuration, seconds: snapshot == nil ? sample : 0)
                var memo = EvaluationMemo()
                taken = try await CommandSupport.snapshot(
                    file: snapshot, procRoot: host.procRoot, sample: .milliseconds(Int(sample * 1000)),
                    settings: configuration.settings, memo: &memo)
                drops.finish(into: &taken)
                evaluation = CommandSupport.evaluate(taken, settings: configuration.settings, memo: &memo)
            } catch {
                // A plugin's output is read from stdout: it gets the UNKNOWN line there too.
                if (json ? .json : format) == .nagios {
                    print("FWDWATCH UNKNOWN - " + String("\(error)".map { $0 == "\n" || $0 == "|" ? " " : $0 }))
                }
                CommandSupport.fail("\(error)")
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
            switch json ? .json : format {
            case .json:
                var result = CheckResult(evaluation)
                if let drops = taken.drops {
                    result.drops = drops
                    result.dropObservations = DropAttribution.observations(HostView(taken))
                }
                print(try SnapshotFile.encode(result), terminator: "")
            case .nagios:
                print(Report.nagios(evaluation), terminator: "")
            case .text:
                print(Report.text(evaluation, color: isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil), terminator: "")
            }
            throw ExitCode(evaluation.status.exitCode)
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, nagios
}

/// The JSON document of `fwdwatch check --json`.
struct CheckResult: Encodable {
    var status: CheckStatus
    var findings: [Finding]
    var bridges: Int
    var ports: Int
    var publishedPorts: [PublishedPortStatus]
    /// Why the published-port rules did not run (the firewall rules could not be read); absent when they ran.
    var firewallUnavailable: String?
    /// What the drop probe counted over the sample (`[drops] enabled`), every flow; absent when not observed.
    var drops: DropReading?
    /// Those drops that hit published ports, by port, ingress and reason; absent when not observed.
    var dropObservations: [DropObservation]?

    init(_ evaluation: Evaluation) {
        status = evaluation.status
        findings = evaluation.findings
        bridges = evaluation.bridges
        ports = evaluation.ports
        publishedPorts = evaluation.publishedPorts
        firewallUnavailable = evaluation.firewallUnavailable
    }
}
