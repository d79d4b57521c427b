import ArgumentParser

/// The `fwdwatch` command: parses and delegates; the work lives in the library modules.
@main
struct Fwdwatch: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "fwdwatch",
        abstract: "Watches a host's IPv4 forwarding path and says what breaks it and how to fix it.",
        discussion: """
            Exit codes of `check`: 0 ok, 1 warning, 2 critical, 3 could not evaluate.
            """,
        version: version,
        subcommands: [Check.self, Explain.self, SnapshotCommand.self, Rules.self, Run.self]
    )
}

/// Options every subcommand that reads the host or the configuration shares.
struct HostOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file.", valueName: "file"))
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Read /proc below this directory instead of /, e.g. a recorded tree.", valueName: "dir"))
    var procRoot: String = "/"
}
