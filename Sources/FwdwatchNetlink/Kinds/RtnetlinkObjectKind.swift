import CNetlink
import FwdwatchCore

/// One kind of rtnetlink object (links, bridge ports, addresses, IPv4 routes, netconf, neighbours):
/// the one place that serves its dump, its events and its part of the state, as systemd-networkd's
/// `manager_rtnl_process_link` serves both `manager_enumerate_internal` and the live messages.
///
/// A kind owns its libnl cache and a Swift mirror of it, so `NetlinkState` is not converted from every
/// libnl object again after each event. Not thread-safe (libnl caches are not): owned by one thread.
protocol RtnetlinkObjectKind: AnyObject {
    /// The RTM_NEW* and RTM_DEL* message types whose objects this kind holds.
    var messageTypes: [Int32] { get }
    /// The family (the leading byte of ifinfomsg, rtmsg, ndmsg) this kind takes; nil takes every
    /// family and leaves the message to libnl as it is.
    var family: Int32? { get }
    /// The kernel's table as libnl caches it.
    var cache: LibnlCache { get }

    /// Reads the mirror again from the cache (after a dump).
    func rebuildMirror()
    /// What applying `object` means, decided before libnl merges it (the cache still holds the old
    /// object). `.applied` unless the kind says otherwise.
    func outcome(ofApplying object: OpaquePointer) -> RtnetlinkEventOutcome
    /// Brings the mirror up to date with `object`, just merged into the cache.
    func mirror(applied object: OpaquePointer)
    /// Writes this kind's part of the state. Kinds contribute in `RtnetlinkCaches`' order: links come
    /// first, so bridge ports and netconf can read them.
    func contribute(to state: inout NetlinkState)
}

extension RtnetlinkObjectKind {
    func outcome(ofApplying object: OpaquePointer) -> RtnetlinkEventOutcome { .applied }

    /// The dump: replaces the cache's content with a fresh dump through `socket`, then the mirror.
    func refill(using socket: OpaquePointer) throws {
        defer { rebuildMirror() }
        try cache.refill(using: socket)
    }

    /// The event: the pre-check, libnl's merge, the mirror update and the outcome for one object parsed
    /// from a notification.
    func include(_ object: OpaquePointer) -> RtnetlinkEventOutcome {
        let outcome = outcome(ofApplying: object)
        let result = cache.include(object)
        guard result >= 0 else { return .malformed(result) }
        mirror(applied: object)
        return outcome
    }
}

/// What applying one event message did.
enum RtnetlinkEventOutcome {
    /// The message is of no interest (another family, a type we do not track).
    case ignored
    /// A cache changed.
    case applied
    /// A cache changed, and a link went down or away: its IPv4 routes vanished silently.
    case appliedRoutesStale
    /// A cache changed in a way no finding depends on (a neighbour's REACHABLE -> STALE): it needs
    /// no update of its own and rides along with the next one.
    case appliedQuietly
    /// libnl could not parse the message; it was skipped.
    case malformed(Int32)
}

/// One libnl cache and the calls made on it. Every object `nl_cache_search` returns is released here
/// (`nl_object_put`), so no kind holds a libnl reference beyond one call.
final class LibnlCache {
    let pointer: OpaquePointer
    /// "links", "bridge ports", ...: names the cache in errors ("dumping links").
    let what: String

    /// A cache of `type` ("route/link") for one family, or (family nil) for every family its type
    /// knows (NL_CACHE_AF_ITER).
    init(_ type: String, family: Int32?, what: String) throws {
        var cache: OpaquePointer?
        let result = nl_cache_alloc_name(type, &cache)
        guard result == 0, let cache else {
            throw NetlinkError(operation: "allocating the \(what) cache", code: result < 0 ? result : -NLE_NOMEM)
        }
        if let family {
            nl_cache_set_arg1(cache, family)
        } else {
            nl_cache_set_flags(cache, UInt32(NL_CACHE_AF_ITER))
        }
        self.pointer = cache
        self.what = what
    }

    deinit { nl_cache_free(pointer) }

    /// A fresh dump; one interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried a few times.
    func refill(using socket: OpaquePointer) throws {
        var result: Int32 = 0
        for _ in 0..<Self.dumpAttempts {
            result = nl_cache_refill(socket, pointer)
            if result >= 0 { return }
            if result != -NLE_DUMP_INTR { break }
        }
        throw NetlinkError(operation: "dumping \(what)", code: result)
    }

    private static let dumpAttempts = 5

    /// Merges one parsed object (libnl's `nl_cache_include`); a negative libnl error when it failed.
    func include(_ object: OpaquePointer) -> Int32 {
        nl_cache_include(pointer, object, nil, nil)
    }

    /// `body` applied to the cached object with the same identity as `object`; nil when there is none.
    /// The cached object is released after `body`: it must not escape.
    func withCached<Result>(matching object: OpaquePointer, _ body: (OpaquePointer) -> Result) -> Result? {
        guard let cached = nl_cache_search(pointer, object) else { return nil }
        defer { nl_object_put(cached) }
        return body(cached)
    }

    func forEach(_ body: (OpaquePointer) -> Void) {
        var object = nl_cache_get_first(pointer)
        while let current = object {
            body(current)
            object = nl_cache_get_next(current)
        }
    }
}
