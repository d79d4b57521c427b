/// What the operator allowed fwdwatch to repair by itself (the `[repair]` table). Off by default.
public struct RepairPolicy: Sendable, Equatable {
    /// Restore `net.ipv4.conf.<iface>.forwarding=1` on interfaces `interface-forwarding-disabled` reports.
    public var forwarding: Bool
    /// Repairs allowed per interface within any sliding hour (`max-per-hour`, 1...1000).
    public var maxPerHour: Int

    public init(forwarding: Bool = false, maxPerHour: Int = 3) {
        self.forwarding = forwarding
        self.maxPerHour = maxPerHour
    }

    public static let defaults = RepairPolicy()
    /// The range `max-per-hour` accepts.
    public static let maxPerHourRange = 1...1000
}

/// One write to make now: `net.ipv4.conf.<interface>.forwarding` back to 1.
public struct ForwardingRepair: Sendable, Equatable {
    /// The interface, as the kernel names it (also its directory under `/proc/sys/net/ipv4/conf/`).
    public var interface: String
    /// The sysctl key, as sysctl(8) spells it (`net.ipv4.conf.eth0/100.forwarding` for a VLAN `eth0.100`).
    public var sysctlKey: String
    /// The value the evaluation saw (normally 0).
    public var observedValue: Int?
    /// Repairs of this interface within the last hour, this one included, if it is made.
    public var repairsThisHour: Int

    public init(interface: String, sysctlKey: String, observedValue: Int?, repairsThisHour: Int) {
        self.interface = interface
        self.sysctlKey = sysctlKey
        self.observedValue = observedValue
        self.repairsThisHour = repairsThisHour
    }
}

/// An interface that needs a repair but has used up its repairs for the hour: something keeps writing 0.
public struct RepairLimitReached: Sendable, Equatable {
    public var interface: String
    public var sysctlKey: String
    /// Repairs made within the last hour (the limit).
    public var repairsThisHour: Int
    /// Seconds until the oldest of those repairs leaves the hour and a repair is allowed again.
    public var secondsUntilNextRepair: Double

    public init(interface: String, sysctlKey: String, repairsThisHour: Int, secondsUntilNextRepair: Double) {
        self.interface = interface
        self.sysctlKey = sysctlKey
        self.repairsThisHour = repairsThisHour
        self.secondsUntilNextRepair = secondsUntilNextRepair
    }
}

/// What one evaluation calls for.
public struct RepairPlan: Sendable, Equatable {
    /// Writes to make now, by interface name.
    public var repairs: [ForwardingRepair]
    /// Interfaces whose limit was just reached: each is reported once per exhausted hour.
    public var limitsReached: [RepairLimitReached]

    public init(repairs: [ForwardingRepair] = [], limitsReached: [RepairLimitReached] = []) {
        self.repairs = repairs
        self.limitsReached = limitsReached
    }

    public var isEmpty: Bool { repairs.isEmpty && limitsReached.isEmpty }
}

/// Decides which interfaces get `forwarding` written back to 1, and keeps the per-interface rate limit.
///
/// Pure: the caller passes the findings, the value of `net.ipv4.conf.all.forwarding`, the policy, the
/// settings and the time (monotonic seconds, like `AlertTracker`). The caller performs the writes and
/// calls `recordRepair` for each that changed the value, so a failed write (no permission) does not use
/// up the hour's repairs, and a write that found the value already 1 (an evaluation that ran before the
/// repair's own netconf event arrived) is not counted twice.
///
/// An interface is repaired only when all of these hold:
/// - the policy enables forwarding repair;
/// - `all.forwarding` is 1 (with `all` at 0 the host is not meant to forward; writing `all` is not ours);
/// - `interface-forwarding-disabled` reports the interface (so it is an ingress interface of a host with
///   bridge ports, not ignored, and the rule is not disabled);
/// - the interface does not match the ignore list (checked again here);
/// - fewer than `maxPerHour` repairs of it were made within the last hour.
public struct RepairPlanner: Sendable {
    /// The sliding window the limit counts in.
    public static let windowSeconds: Double = 3600
    /// The rule whose findings are repaired.
    public static let rule = InterfaceForwardingDisabled().id

    /// Times of the repairs made within the window, oldest first, by interface.
    private var history: [String: [Double]] = [:]
    /// Interfaces whose exhausted limit was reported; cleared once a repair is allowed again.
    private var limitReported: Set<String> = []

    public init() {}

    /// The repairs to make now and the limits just reached. Refused repairs are not remembered: the next
    /// evaluation asks again.
    public mutating func plan(
        findings: [Finding], allForwarding: Int?, policy: RepairPolicy, settings: Settings, now: Double
    ) -> RepairPlan {
        prune(now: now)
        guard policy.forwarding, allForwarding == 1 else { return RepairPlan() }
        let limit = max(1, policy.maxPerHour)
        var plan = RepairPlan()
        var seen = Set<String>()
        for finding in findings where finding.rule == Self.rule {
            guard let interface = finding.interface, !settings.isIgnored(interface), seen.insert(interface).inserted
            else { continue }
            let key = finding.evidence("sysctl") ?? HostView.sysctlKey(interface, "forwarding")
            let made = history[interface] ?? []
            if made.count < limit {
                limitReported.remove(interface)
                plan.repairs.append(
                    ForwardingRepair(
                        interface: interface, sysctlKey: key, observedValue: finding.evidence("value").flatMap { Int($0) },
                        repairsThisHour: made.count + 1))
            } else if limitReported.insert(interface).inserted {
                let oldest = made[made.count - limit]
                plan.limitsReached.append(
                    RepairLimitReached(
                        interface: interface, sysctlKey: key, repairsThisHour: made.count,
                        secondsUntilNextRepair: max(0, oldest + Self.windowSeconds - now)))
            }
        }
        plan.repairs.sort { $0.interface < $1.interface }
        plan.limitsReached.sort { $0.interface < $1.interface }
        return plan
    }

    /// Records a repair that was made (the write changed the value) at `now`; returns the repairs of that
    /// interface within the last hour, this one included.
    @discardableResult
    public mutating func recordRepair(of interface: String, at now: Double) -> Int {
        history[interface, default: []].append(now)
        return history[interface]?.count ?? 0
    }

    /// Repairs of `interface` made within the hour before `now`.
    public func repairs(of interface: String, now: Double) -> Int {
        (history[interface] ?? []).count { now - $0 < Self.windowSeconds }
    }

    /// Forgets repairs that left the window.
    private mutating func prune(now: Double) {
        for (interface, times) in history {
            let kept = times.filter { now - $0 < Self.windowSeconds }
            history[interface] = kept.isEmpty ? nil : kept
        }
    }
}
