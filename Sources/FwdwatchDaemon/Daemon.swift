import FwdwatchConfig
import FwdwatchJournal
import FwdwatchMetrics
import FwdwatchProc
import Logging
import ServiceLifecycle
import UnixSignals

/// `fwdwatch run`: keeps a live model of the forwarding path, re-evaluates the rules whenever anything
/// changes and logs each problem once when it appears and once when it clears.
///
/// One loop owns the state: it takes each input (from the netlink watcher, the nftables monitor and the
/// firewall reader, which are services of their own, from SIGHUP and from the timers) to the
/// `DaemonStateMachine`, and the `DaemonDriver` carries out what it decides.
public struct Daemon: Service {
    public struct Options: Sendable {
        /// The configuration file SIGHUP re-reads; nil = the default path, missing = defaults.
        public var configPath: String?
        public var procRoot: String
        /// Prometheus metrics to keep up to date (and, with `[metrics] textfile-directory`, to write out);
        /// nil = no metrics.
        public var metrics: DaemonMetrics?

        public init(configPath: String? = nil, procRoot: String = "/") {
            self.configPath = configPath
            self.procRoot = procRoot
        }
    }

    let options: Options
    let configuration: Configuration
    let notifier: SystemdNotifier
    let logger: Logger
    let inputs: DaemonInputs
    let watcher: NetlinkWatcherService
    let firewall: FirewallReaderService
    let outputs: [any DaemonOutput]

    public init(
        options: Options, configuration: Configuration, sink: any AlertSink, notifier: SystemdNotifier,
        logger: Logger, inputs: DaemonInputs, watcher: NetlinkWatcherService, firewall: FirewallReaderService
    ) {
        self.options = options
        self.configuration = configuration
        self.notifier = notifier
        self.logger = logger
        self.inputs = inputs
        self.watcher = watcher
        self.firewall = firewall
        var outputs: [any DaemonOutput] = [AlertSinkOutput(sink: sink), SystemdOutput(notifier: notifier)]
        if let metrics = options.metrics {
            let textfile = configuration.metrics.textfileDirectory.map { MetricsTextfile(directory: $0) }
            outputs.append(MetricsOutput(metrics: metrics, textfile: textfile))
        }
        self.outputs = outputs
    }

    public func run() async throws {
        var machine = DaemonStateMachine(
            configuration: configuration, start: .now, watchdogInterval: notifier.watchdogInterval)
        // Drop attribution ([drops] enabled): the BPF probe lives as long as the loop; a change needs a restart.
        let drops = DropProbeHandle.load(configuration)
        defer { drops?.close() }
        var driver = DaemonDriver(
            outputs: outputs, repairer: ForwardingRepairer(writer: ProcWriter(root: options.procRoot)),
            hostFiles: HostFileReader(root: options.procRoot, drops: drops), firewall: firewall, watcher: watcher,
            timers: DaemonTimers(inputs: inputs), logger: logger)
        let inputs = self.inputs
        let reloads = Task { [options] in
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                inputs.yield(.reload(Self.readForReload(options)))
            }
        }
        await withGracefulShutdownHandler {
            guard await !driver.carryOut(machine.handle(.start, now: .now), on: &machine) else { return }
            for await input in inputs.stream {
                if await driver.carryOut(machine.handle(input, now: .now), on: &machine) { break }
            }
        } onGracefulShutdown: {
            inputs.yield(.shutdown)
        }
        reloads.cancel()
        inputs.finish()
    }

    /// What SIGHUP re-reads: the configuration file and the sysctl.d / .network files.
    static func readForReload(_ options: Options) -> ReloadReading {
        ReloadReading(
            configuration: Result { () throws(ConfigurationError) in try ConfigurationFile.load(path: options.configPath) },
            persistentSettings: PersistentSettingsReader(root: options.procRoot).read())
    }
}
