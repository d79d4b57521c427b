import FwdwatchCore

/// MESSAGE_IDs of the daemon's own journal entries (not rule alerts; those use each rule's `messageID`
/// and `RuleRegistry.resolvedMessageID`). 32 lower-case hex digits, fixed forever, each with an entry in
/// `packaging/catalog/fwdwatch.catalog`.
public enum JournalMessageID {
    /// The daemon started watching (after the first full dump and evaluation).
    public static let started = "870b1250c76d435da97f94f8a498e25c"
    /// The daemon is stopping (SIGTERM or SIGINT).
    public static let stopping = "c1c65c27d42e4268a0a2ed3c2856362d"
    /// The configuration was reloaded (SIGHUP).
    public static let reloaded = "a8b0fecf57c74af88b7a47046bdf3488"
    /// Reloading the configuration failed; the previous configuration stays in force.
    public static let reloadFailed = "e9d1c853a32f4df2a74a29176a11b11c"
    /// The netlink socket overran (ENOBUFS) and the daemon re-read the whole state.
    public static let resynced = "1cb4f5d7122b41289ad9ca9e1ea462ce"
    /// The daemon hit an error it reports and continues from (a source it cannot read, for example).
    public static let error = "020d59ec9ad04ee6abb067950796873a"
    /// Alerts that could not reach journald were delivered late, after journald came back.
    public static let backlogDelivered = "25bb1c0eeff54e97a8f334b5f58e215d"
    /// More alerts failed to reach journald than the backlog holds: the oldest were only written to stderr.
    public static let backlogOverflow = "4c3e87e6ce454ca8957a141bec7ee7d7"
    /// Opt-in repair wrote `net.ipv4.conf.<iface>.forwarding=1`.
    public static let repaired = "fe8084ed519c45e2821817ff6e7f1d61"
    /// An interface used up its repairs for the hour: something keeps writing 0; it is no longer repaired.
    public static let repairLimitReached = "5e0d161c830c4b83be71b7bafabbf320"
    /// A repair could not be written (read-only /proc/sys, no CAP_NET_ADMIN, ...).
    public static let repairFailed = "27d481fbe89949469987b1e23bd9e9f6"

    /// fwdwatch's model of the forwarding path and the kernel's own route lookup disagreed; the kernel
    /// decided. Each distinct disagreement is logged once: it is a bug report in waiting.
    public static let modelDisagreement = "9c29dd336e5f4847ba7576ca491be9d1"

    /// Drop attribution is enabled but its BPF probe cannot load (no CAP_BPF/CAP_PERFMON, no BTF, an old
    /// kernel): logged once; the daemon runs on without it.
    public static let dropsUnavailable = "d9e3a47e4a0c47318b05e656f29ffaad"
    /// The kernel dropped packets to a published port: the clients, the port, the ingress and the reason
    /// (at most once a minute for each port, ingress and reason).
    public static let dropsObserved = "b5bccef21c674e12bc2b7f7a0bc437cd"

    /// Every notice id with a short name, for the catalog test and `fwdwatch` documentation.
    public static let all: [(name: String, id: String)] = [
        ("started", started),
        ("stopping", stopping),
        ("reloaded", reloaded),
        ("reloadFailed", reloadFailed),
        ("resynced", resynced),
        ("error", error),
        ("backlogDelivered", backlogDelivered),
        ("backlogOverflow", backlogOverflow),
        ("repaired", repaired),
        ("repairLimitReached", repairLimitReached),
        ("repairFailed", repairFailed),
        ("modelDisagreement", modelDisagreement),
        ("dropsUnavailable", dropsUnavailable),
        ("dropsObserved", dropsObserved),
    ]

    /// The MESSAGE_ID an alert transition is logged with.
    public static func forTransition(_ transition: AlertTransition) -> String? {
        switch transition.state {
        case .resolved: RuleRegistry.resolvedMessageID
        case .raised, .changed: RuleRegistry.rule(transition.finding.rule)?.messageID
        }
    }
}
