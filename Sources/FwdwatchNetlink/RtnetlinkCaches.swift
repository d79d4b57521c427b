import CNetlink
import FwdwatchCore

/// The kernel's tables as libnl caches: one `RtnetlinkObjectKind` per kind of object, and the dispatch
/// of each notification to its kind by message type and family. The same kinds serve the initial dump,
/// live events and resyncs (see `Kinds/`).
///
/// Not thread-safe (libnl caches are not): owned by one thread.
final class RtnetlinkCaches {
    typealias EventOutcome = RtnetlinkEventOutcome

    private let routes: RouteKind
    /// Every kind, in the order their parts of the state are written: links first (bridge ports
    /// complete them, netconf takes its names from them).
    private let kinds: [any RtnetlinkObjectKind]
    /// The kinds that take each message type; several when they split it by family (links).
    private let kindsByType: [Int32: [any RtnetlinkObjectKind]]

    init() throws {
        routes = try RouteKind()
        kinds = [
            try LinkKind(), try BridgePortKind(), try AddressKind(), routes, try NetconfKind(), try NeighbourKind(),
        ]
        var kindsByType: [Int32: [any RtnetlinkObjectKind]] = [:]
        for kind in kinds {
            for type in kind.messageTypes { kindsByType[type, default: []].append(kind) }
        }
        self.kindsByType = kindsByType
    }

    // MARK: Dumps

    /// Replaces every cache's content with a fresh dump read through `socket`.
    func refillAll(using socket: OpaquePointer) throws {
        for kind in kinds { try kind.refill(using: socket) }
    }

    /// Re-dumps the IPv4 routes: the kernel removes the routes of a link that goes down without
    /// sending RTM_DELROUTE.
    func refillRoutes(using socket: OpaquePointer) throws {
        try routes.refill(using: socket)
    }

    // MARK: Events

    /// Applies one RTM_* notification to the kind it belongs to. A message libnl cannot parse is
    /// reported `.malformed` and skipped; it never stops the caller.
    func apply(_ message: OpaquePointer) -> EventOutcome {
        guard let header = nlmsg_hdr(message) else { return .malformed(-NLE_MSG_TOOSHORT) }
        guard let candidates = kindsByType[Int32(header.pointee.nlmsg_type)] else { return .ignored }
        let kind: any RtnetlinkObjectKind
        if candidates.count == 1, candidates[0].family == nil {
            kind = candidates[0]  // every family: libnl parses (or rejects) the message as it is
        } else {
            guard let family = Self.leadingFamily(header) else { return .malformed(-NLE_MSG_TOOSHORT) }
            // e.g. AF_INET6 link objects (they duplicate AF_UNSPEC ones), IPv6 routes and neighbours
            guard let match = candidates.first(where: { $0.family == nil || $0.family == family }) else {
                return .ignored
            }
            kind = match
        }
        var parse = ParseContext(kind: kind)
        let result = withUnsafeMutablePointer(to: &parse) { context in
            nl_msg_parse(message, { object, argument in
                guard let object, let argument else { return }
                let context = argument.assumingMemoryBound(to: ParseContext.self)
                context.pointee.outcome = context.pointee.kind.include(object)
            }, context)
        }
        if result < 0 { return .malformed(result) }
        return parse.outcome
    }

    private struct ParseContext {
        let kind: any RtnetlinkObjectKind
        var outcome: EventOutcome = .ignored
    }

    /// The family byte that starts ifinfomsg, rtmsg and ndmsg; nil for a truncated message.
    private static func leadingFamily(_ header: UnsafeMutablePointer<nlmsghdr>) -> Int32? {
        guard nlmsg_datalen(header) >= 1, let data = nlmsg_data(header) else { return nil }
        return Int32(data.load(as: UInt8.self))
    }

    // MARK: State

    /// The caches' content as model values, in canonical order.
    func state() -> NetlinkState {
        var state = NetlinkState()
        for kind in kinds { kind.contribute(to: &state) }
        return state
    }
}
