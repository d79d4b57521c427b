import FwdwatchConfig
import FwdwatchCore
import FwdwatchDrops

/// The drop probe around a command's sampling interval: loaded before the host is read, read after, so the
/// snapshot carries what the kernel dropped meanwhile. Off unless `[drops] enabled = true`; a probe that
/// cannot load is said once on stderr and the command runs on without it.
struct DropSampling {
    private var probe: DropProbe?

    init(configuration: Configuration, seconds: Double) {
        guard configuration.drops.enabled, seconds > 0 else { return }
        do {
            probe = try DropProbe.load()
        } catch {
            CommandSupport.fail("drop attribution is off: \(error)")
        }
    }

    /// Puts what was dropped since `init` into `snapshot` and detaches the probe.
    mutating func finish(into snapshot: inout Snapshot) {
        guard let probe else { return }
        snapshot.drops = probe.read()
        probe.close()
        self.probe = nil
    }
}
