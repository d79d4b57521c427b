#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FwdwatchCore
import FwdwatchProc

/// A sweep's reading of what emits no event.
struct HostFiles: Sendable {
    enum Proc: Sendable {
        case read(ProcState)
        /// The read failed; the last values stay.
        case failed(String)
    }

    var proc: Proc
    var persistentSettings: [PersistentSetting]?
    /// Whether the kernel has iptables-legacy (x_tables) tables; nil when that cannot be told.
    var legacyTables: Bool?
    var duration: Duration
    /// The drop probe's reading since the last sweep; nil when drop attribution is off.
    var drops: DropProbeState? = nil
}

/// Reads, on the loop's task (small files only): /proc, the sysctl.d and .network files, and whether
/// iptables-legacy tables exist, all below the configured root.
struct HostFileReader: Sendable {
    let procReader: ProcReader
    let persistentSettingsReader: PersistentSettingsReader
    /// The drop probe, when `[drops] enabled = true` (loaded or not).
    let drops: DropProbeHandle?

    init(root: String, drops: DropProbeHandle? = nil) {
        procReader = ProcReader(root: root)
        persistentSettingsReader = PersistentSettingsReader(root: root)
        self.drops = drops
    }

    func read() -> HostFiles {
        let started = ContinuousClock.now
        let proc: HostFiles.Proc
        do {
            proc = .read(try procReader.read())
        } catch {
            proc = .failed("\(error)")
        }
        return HostFiles(
            proc: proc, persistentSettings: persistentSettingsReader.read(), legacyTables: legacyTables(),
            duration: .now - started, drops: drops?.read())
    }

    /// Reads `proc/net/ip_tables_names`: the x_tables tables of this network namespace, which only
    /// iptables-legacy makes (iptables-nft keeps its tables in nf_tables). Missing (no ip_tables module):
    /// none. Unreadable (it is root-only): nil.
    func legacyTables() -> Bool? {
        for path in [procReader.procPath + "/thread-self/net/ip_tables_names", procReader.procPath + "/net/ip_tables_names"] {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                if errno == ENOENT || errno == ENOTDIR { continue }
                return nil
            }
            defer { close(descriptor) }
            var byte: UInt8 = 0
            let count = Glibc.read(descriptor, &byte, 1)
            return count < 0 ? nil : count > 0
        }
        return false
    }
}
