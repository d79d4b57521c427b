import FwdwatchCore
import FwdwatchFirewall
import FwdwatchNetlink
import FwdwatchProc

/// What the next evaluation reads, and what must be forgotten before it.
struct HostModel {
    var netlink: NetlinkState?
    var proc = ProcState()
    var lastCounters: (counters: [String: UInt64], at: ContinuousClock.Instant)?
    var dropSample: DropSample?
    /// The netfilter rules, as last read.
    var firewall: FirewallReading?
    /// The sysctl.d / .network lines bad values come back from, re-read on every sweep and on SIGHUP.
    var persistentSettings: [PersistentSetting]?
    /// Whether the kernel has iptables-legacy tables (nil: cannot tell).
    var legacyTablesInKernel: Bool?
    /// Bumped whenever the rules (or the settings) change: the evaluation memo is kept while it holds.
    var rulesVersion = 0
    /// What of the kernel's cached route answers the next evaluation must drop.
    var routeAnswers = RouteAnswersValidity.keep
    /// The drop probe's readings of the last minute (the snapshot's `drops`: a finding keeps its drops between
    /// two retransmitted SYNs), and those no evaluation has seen yet (for the notices and the metrics).
    var dropWindow = DropWindow(length: 60)
    var newDrops: DropReading?
    private var dropClock: ContinuousClock.Instant?
    /// When the last reading was added, in seconds since the first.
    private var lastDropTime = 0.0

    mutating func netlinkChanged(_ state: NetlinkState) {
        netlink = state
        routeAnswers = max(routeAnswers, .checkNetlink)
    }

    /// Takes a sweep's reading; a failed /proc read keeps the last values and returns why it failed.
    mutating func apply(_ files: HostFiles, at now: ContinuousClock.Instant) -> String? {
        // ip rules and sysctls without events (route_localnet, accept_local) change route answers silently.
        routeAnswers = .dropAll
        persistentSettings = files.persistentSettings
        legacyTablesInKernel = files.legacyTables
        if case .reading(let reading)? = files.drops {
            let origin = dropClock ?? now
            dropClock = origin
            lastDropTime = (now - origin).seconds
            dropWindow.add(reading, at: lastDropTime)
            if !reading.counts.isEmpty {
                var pending = newDrops ?? DropReading(seconds: 0)
                pending.seconds += reading.seconds
                pending.counts += reading.counts
                pending.uncounted += reading.uncounted
                newDrops = pending
            }
        }
        switch files.proc {
        case .failed(let reason):
            return reason
        case .read(let fresh):
            proc = fresh
            if let last = lastCounters {
                dropSample = DropSample(from: last.counters, to: fresh.ipCounters, seconds: (now - last.at).seconds)
            }
            lastCounters = (fresh.ipCounters, now)
            return nil
        }
    }

    /// Takes a rules reading; returns whether it differs from the last one.
    mutating func firewallChanged(_ reading: FirewallReading) -> Bool {
        guard reading != firewall else { return false }
        firewall = reading
        rulesVersion += 1
        routeAnswers = .dropAll
        return true
    }

    func evaluationRequest(settings: Settings) -> EvaluationRequest? {
        guard let netlink else { return nil }
        return EvaluationRequest(
            netlink: netlink, proc: proc, dropSample: dropSample, firewall: firewall,
            persistentSettings: persistentSettings, settings: settings, rulesVersion: rulesVersion,
            routeAnswers: routeAnswers, drops: dropWindow.reading(at: lastDropTime),
            newDrops: newDrops)
    }
}

extension FirewallReading {
    /// Whether the reading holds iptables-legacy tables (FirewallReader keeps them only when they hold rules).
    var holdsLegacyTables: Bool {
        state?.tables.contains { $0.backend == .iptablesLegacy } ?? false
    }
}
