import FwdwatchConfig
import FwdwatchCore
import FwdwatchDrops

/// What a sweep read of the drop probe: what was dropped since the last sweep, or why the probe is off.
enum DropProbeState: Sendable, Equatable {
    case reading(DropReading)
    /// The probe could not load (no CAP_BPF/CAP_PERFMON, no BTF, an old kernel); the daemon runs on without it.
    case unavailable(String)
}

/// The drop probe the daemon holds for its life: loaded at start when `[drops] enabled = true`, read on every
/// sweep (on the loop's task: a few map reads), detached when the daemon ends.
final class DropProbeHandle: @unchecked Sendable {
    private let probe: DropProbe?
    private let failure: String?

    private init(probe: DropProbe?, failure: String?) {
        self.probe = probe
        self.failure = failure
    }

    /// Loads the probe when the configuration asks for it; nil when drop attribution is off.
    static func load(_ configuration: Configuration) -> DropProbeHandle? {
        guard configuration.drops.enabled else { return nil }
        do {
            return DropProbeHandle(probe: try DropProbe.load(), failure: nil)
        } catch {
            return DropProbeHandle(probe: nil, failure: error.reason)
        }
    }

    /// What was dropped since the last call, or why there is nothing to read.
    func read() -> DropProbeState {
        guard let probe else { return .unavailable(failure ?? "the drop probe is not loaded") }
        return .reading(probe.read())
    }

    func close() { probe?.close() }
}
