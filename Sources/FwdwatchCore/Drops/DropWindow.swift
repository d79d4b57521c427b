/// The daemon's memory of recent drops: the readings of the last `length` seconds, summed into one
/// `DropReading` for the snapshot, so a finding carries the drops of the last minute (not only of the last
/// sweep) and does not clear between two retransmitted SYNs. Pure: the daemon feeds it readings with their
/// times.
public struct DropWindow: Sendable, Equatable {
    public var length: Double
    private var entries: [(time: Double, reading: DropReading)] = []

    public init(length: Double = 60) {
        self.length = length
    }

    public static func == (a: DropWindow, b: DropWindow) -> Bool {
        a.length == b.length && a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.time == $1.time && $0.reading == $1.reading }
    }

    /// Adds the reading that ended at `time` and forgets those older than the window.
    public mutating func add(_ reading: DropReading, at time: Double) {
        entries.append((time, reading))
        entries.removeAll { $0.time <= time - length }
    }

    /// Whether the newest reading holds drops: a spike the daemon evaluates at once.
    public var newestHasDrops: Bool { (entries.last?.reading.packets ?? 0) > 0 }

    /// Every reading of the window, merged: packets summed per flow, clients joined, the covered time summed.
    /// Nil before the first reading.
    public func reading(at time: Double) -> DropReading? {
        let kept = entries.filter { $0.time > time - length }
        guard !kept.isEmpty else { return entries.isEmpty ? nil : DropReading(seconds: 0) }
        var byFlow: [DropFlow: DropCount] = [:]
        var seconds = 0.0
        var uncounted: UInt64 = 0
        for entry in kept {
            seconds += entry.reading.seconds
            uncounted += entry.reading.uncounted
            for count in entry.reading.counts {
                guard var merged = byFlow[count.flow] else {
                    byFlow[count.flow] = count
                    continue
                }
                merged.packets += count.packets
                for client in count.clients
                where !merged.clients.contains(client) && merged.clients.count < DropCount.maximumClients {
                    merged.clients.append(client)
                }
                merged.clients.sort(by: DropCount.addressOrder)
                if let seen = count.lastSeen { merged.lastSeen = max(merged.lastSeen ?? seen, seen) }
                byFlow[count.flow] = merged
            }
        }
        return DropReading(seconds: seconds, counts: byFlow.values.sorted(), uncounted: uncounted)
    }
}
