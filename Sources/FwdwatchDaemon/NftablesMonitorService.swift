import FwdwatchNetlink
import ServiceLifecycle
import Synchronization

/// The nftables monitor as a service: tells the daemon whether nf_tables change notifications can be had,
/// then feeds each change. When they cannot (no CAP_NET_ADMIN, no nf_tables) or the monitor ends by itself,
/// the daemon reads the rules on every sweep instead.
public final class NftablesMonitorService: Service, Sendable {
    private let inputs: DaemonInputs
    private let stopping = Atomic<Bool>(false)

    public init(inputs: DaemonInputs) {
        self.inputs = inputs
    }

    public func run() async throws {
        let monitor = NftablesMonitor()
        let changes: AsyncStream<Void>
        do {
            changes = try monitor.changes()
        } catch {
            inputs.yield(.firewallNotifications(.unavailable(reason: "\(error)")))
            try? await gracefulShutdown()
            return
        }
        inputs.yield(.firewallNotifications(.available))
        await withGracefulShutdownHandler {
            for await _ in changes { inputs.yield(.firewallChanged) }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            monitor.stop()
        }
        guard !stopping.load(ordering: .relaxed) else { return }
        inputs.yield(.firewallNotifications(.unavailable(reason: DaemonNotices.nftablesMonitorEnded)))
        try? await gracefulShutdown()
    }
}
