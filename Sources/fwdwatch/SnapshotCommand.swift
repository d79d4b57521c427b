import ArgumentParser
import FwdwatchCore
import FwdwatchDaemon

extension Fwdwatch {
    struct SnapshotCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Write the live host's state as JSON, for bug reports and test fixtures.")

        @Option(name: .long, help: ArgumentHelp("Read /proc below this directory instead of /.", valueName: "dir"))
        var procRoot: String = "/"

        @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
        var output: String?

        @Option(help: ArgumentHelp("Seconds to sample the drop counters; 0 = no sample.", valueName: "seconds"))
        var sample: Double = 0

        func validate() throws {
            guard sample >= 0, sample <= 60 else { throw ValidationError("--sample must be between 0 and 60 seconds") }
        }

        func run() async throws {
            do {
                let taken = try await HostReader(procRoot: procRoot).read(sampleInterval: .milliseconds(Int(sample * 1000)))
                let json = try SnapshotFile.encode(taken)
                if let output {
                    try CommandSupport.write(json, to: output)
                } else {
                    print(json, terminator: "")
                }
            } catch {
                CommandSupport.fail("\(error)")
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
        }
    }
}
