import ArgumentParser
import FwdwatchConfig
import FwdwatchCore
import FwdwatchDaemon
import FwdwatchJournal
import FwdwatchMetrics
import Logging
import ServiceLifecycle

extension Fwdwatch {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon: watch the host, log each problem when it appears and when it clears.",
            discussion: """
                Signals: SIGHUP re-reads the configuration (a bad file is logged and the old one stays), \
                SIGTERM and SIGINT stop cleanly. Under systemd (Type=notify) it sends READY=1 after the first \
                evaluation, a STATUS= line, and WATCHDOG=1 from its event loop.
                """)

        @OptionGroup var host: HostOptions

        @Option(
            help: ArgumentHelp(
                "Where alerts go: journal, console or json (one JSON object per line on stdout). "
                    + "Default: the configuration's log-target, else journal when journald listens, else console.",
                valueName: "target"))
        var logTarget: LogTarget?

        @Option(
            help: ArgumentHelp(
                "Netlink receive buffer in bytes (tests use a tiny one to force overruns).", valueName: "bytes",
                visibility: .hidden))
        var netlinkReceiveBuffer: Int = 4 << 20

        func validate() throws {
            guard netlinkReceiveBuffer >= 1024 else { throw ValidationError("--netlink-receive-buffer must be at least 1024") }
        }

        func run() async throws {
            let configuration: Configuration
            do {
                configuration = try ConfigurationFile.load(path: host.config)
            } catch {
                CommandSupport.fail("\(error)")
                throw ExitCode(CheckStatus.unknown.exitCode)
            }
            let target =
                logTarget ?? configuration.daemon.logTarget.flatMap(LogTarget.init(rawValue:)) ?? LogTarget.automatic()
            let sink = target.makeSink()
            let logger = target.makeLogger()
            var options = Daemon.Options(configPath: host.config, procRoot: host.procRoot)
            // Metrics exist when a way out is configured; the endpoint listens before the daemon starts,
            // so a port in use stops it at once, with the address in the message.
            var endpoint: MetricsEndpoint?
            if configuration.metrics.listen != nil || configuration.metrics.textfileDirectory != nil {
                let metrics = DaemonMetrics(version: Fwdwatch.version)
                options.metrics = metrics
                if let listen = configuration.metrics.listen {
                    do {
                        endpoint = try await MetricsEndpoint.start(listen: listen, metrics: metrics)
                    } catch {
                        CommandSupport.fail("\(configuration.path ?? "configuration"): \(error)")
                        throw ExitCode.failure
                    }
                }
            }
            // The services feed one input stream, which only the daemon's loop reads. The group starts them
            // in this order and stops them in reverse: the daemon first (STOPPING=1, its last notice), the
            // endpoint last.
            let inputs = DaemonInputs()
            let firewall = FirewallReaderService(inputs: inputs)
            let nftables = NftablesMonitorService(inputs: inputs)
            let watcher = NetlinkWatcherService(
                receiveBufferBytes: netlinkReceiveBuffer, coalescingWindow: configuration.daemon.coalescingWindow,
                inputs: inputs)
            let daemon = Daemon(
                options: options, configuration: configuration, sink: sink, notifier: SystemdNotifier(),
                logger: logger, inputs: inputs, watcher: watcher, firewall: firewall)
            let services: [any Service] = (endpoint.map { [MetricsEndpointService($0)] } ?? []) + [
                firewall, nftables, watcher, daemon,
            ]
            let group = ServiceGroup(
                configuration: .init(
                    services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            do {
                try await group.run()
            } catch {
                CommandSupport.fail("\(error)")
                throw ExitCode.failure
            }
        }
    }
}

extension LogTarget: ExpressibleByArgument {}

extension LogTarget {
    /// The daemon's own log lines (not alerts) go where the alerts go: journald, or standard error.
    func makeLogger() -> Logger {
        switch self {
        case .journal: Logger(label: "fwdwatch") { JournalLogHandler(label: $0) }
        case .console, .json: Logger(label: "fwdwatch") { StreamLogHandler.standardError(label: $0) }
        }
    }
}
