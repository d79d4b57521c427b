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

        @Flag(help: "Print the findings as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Evaluate a recorded snapshot (JSON) instead of the live host.", valueName: "file"))
        var snapshot: String?

        @Option(
            help: ArgumentHelp(
                "Seconds to sample the drop counter (Ip: InAddrErrors) for evidence of silent drops; 0 = no sample.",
                valueName: "seconds"))
        var sample: Double = 1

        func validate() throws {
            guard sample >= 0, sample <= 60 else { throw ValidationError("--sample must be between 0 and 60 seconds") }
        }

        func run() async throws {
            let evaluation: Evaluation
            do {
                let configuration = try ConfigurationFile.load(path: host.config)
                let taken = try await CommandSupport.snapshot(
                    file: snapshot, procRoot: host.procRoot, sample: .milliseconds(Int(sample * 1000)))
                evaluation = Evaluator(settings: configuration.settings).evaluate(taken)
            } catch {
                CommandSupport.fail("\(error)")
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
            if json {
                print(try SnapshotFile.encode(CheckResult(evaluation)), terminator: "")
            } else {
                print(Report.text(evaluation, color: isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil), terminator: "")
            }
            throw ExitCode(evaluation.status.exitCode)
        }
    }
}

/// The JSON document of `fwdwatch check --json`.
struct CheckResult: Encodable {
    var status: CheckStatus
    var findings: [Finding]
    var bridges: Int
    var ports: Int

    init(_ evaluation: Evaluation) {
        status = evaluation.status
        findings = evaluation.findings
        bridges = evaluation.bridges
        ports = evaluation.ports
    }
}
