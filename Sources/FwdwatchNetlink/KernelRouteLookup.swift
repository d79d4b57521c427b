import CNetlink
import FwdwatchCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Puts `RouteQuestion`s to the kernel's own input route lookup and returns its `RouteDecision`s.
///
/// Each question becomes the very message `ip route get DST from SRC iif DEV` sends (iproute2 6.1,
/// compared byte for byte under strace): `RTM_GETROUTE`, `NLM_F_REQUEST` only, an `rtmsg` with
/// `AF_INET`, `rtm_dst_len = rtm_src_len = 32`, `RTM_F_LOOKUP_TABLE`, then `RTA_DST`, `RTA_SRC`, `RTA_IIF`.
/// Without `NLM_F_ACK` the kernel answers each request with exactly one message: `RTM_NEWROUTE`, or
/// `NLMSG_ERROR` carrying the lookup's errno.
///
/// A plain `AF_NETLINK` socket rather than libnl: libnl's `nl_send_auto` costs one `sendmsg` per message,
/// while here a whole window of requests (`window`, 128) goes out in one datagram, each with its own
/// sequence number. The kernel handles `RTM_GETROUTE` without the RTNL lock and synchronously inside
/// `sendmsg`, so when the call returns every reply of the window is queued (or was lost to a full
/// receive buffer: then the unanswered requests are sent again, at most `attempts` times).
///
/// Measured in the incident's namespaces (KernelRouteLookupTests): healthy -> `unicast` via the bridge;
/// forwarding off on the input interface -> EHOSTUNREACH; strict rp_filter failing -> EINVAL; no route at
/// all -> ENETUNREACH (a deleted bridge route on a host with a default route is no error: the packet is
/// routed back out of the default route's interface, `unicast` via its gateway). An input lookup that meets a `blackhole` / `unreachable` / `prohibit` route comes
/// back as the error the kernel gives such packets (EINVAL / EHOSTUNREACH / EACCES), not as a route.
public enum KernelRouteLookup {
    /// Requests in flight at once (one datagram).
    public static let window = 128
    /// How often a request whose reply was lost (receive-buffer overrun) is sent before giving up.
    static let attempts = 3
    /// How long to wait for a reply before counting it as lost; the kernel answers within the send, so
    /// this only bounds a pathological case.
    static let replyTimeoutMilliseconds: Int32 = 2000

    /// Asks every distinct question once and returns one decision per distinct question, in the order
    /// the questions first appear.
    ///
    /// - A question whose input interface does not exist is answered `ENODEV` without asking.
    /// - A question whose addresses are not IPv4 text cannot be put to the kernel and gets no decision
    ///   (the path walk then falls back to its own model for it).
    /// - Parameter namespacePath: a network namespace to ask in (e.g. `/run/netns/NAME`); the lookups then
    ///   run on a short-lived thread that enters it. Nil asks the caller's namespace on the caller's
    ///   thread (it blocks for the few milliseconds the lookups take).
    /// - Throws: `NetlinkError` when the socket cannot be opened, sending or receiving fails, or replies
    ///   stay lost after `attempts` sends.
    public static func ask(_ questions: [RouteQuestion], namespacePath: String? = nil) throws -> [RouteDecision] {
        guard !questions.isEmpty else { return [] }
        guard let namespacePath else { return try askHere(questions) }
        return try DedicatedThread.run(name: "route-lookup") {
            try enterNetworkNamespace(namespacePath)
            return try askHere(questions)
        }
    }

    /// `ask` on a dedicated thread, awaited without holding a thread of Swift's cooperative pool: for the
    /// daemon's event loop.
    public static func askOffPool(_ questions: [RouteQuestion], namespacePath: String? = nil) async throws
        -> [RouteDecision]
    {
        guard !questions.isEmpty else { return [] }
        return try await DedicatedThread.awaitResult(name: "route-lookup") {
            if let namespacePath { try enterNetworkNamespace(namespacePath) }
            return try askHere(questions)
        }
    }

    private static func askHere(_ questions: [RouteQuestion]) throws -> [RouteDecision] {
        var distinct: [RouteQuestion] = []
        var seen = Set<RouteQuestion>()
        for question in questions where seen.insert(question).inserted { distinct.append(question) }

        var answers = [RouteAnswer?](repeating: nil, count: distinct.count)
        var requests: [RouteLookupRequest] = []
        var interfaceIndexes: [String: UInt32] = [:]
        for (position, question) in distinct.enumerated() {
            // An output lookup (`ip route get DST`) has neither input interface nor source.
            let output = question.inputInterface.isEmpty && question.source.isEmpty
            guard let source = output ? 0 : ipv4Value(question.source), let destination = ipv4Value(question.destination)
            else { continue }
            let index =
                output
                ? 0
                : interfaceIndexes[question.inputInterface]
                    ?? {
                        let index = question.inputInterface.isEmpty ? 0 : if_nametoindex(question.inputInterface)
                        interfaceIndexes[question.inputInterface] = index
                        return index
                    }()
            guard index != 0 || output else {
                answers[position] = .error(errno: "ENODEV", code: ENODEV)
                continue
            }
            requests.append(
                RouteLookupRequest(
                    tag: position, inputInterfaceIndex: index, source: source, destination: destination))
        }

        if !requests.isEmpty {
            let socket = try RouteLookupSocket()
            var interfaceNames: [UInt32: String] = [:]
            func name(of index: UInt32) -> String {
                if let name = interfaceNames[index] { return name }
                var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
                let name = if_indextoname(index, &buffer) != nil ? String(cString: buffer) : "if\(index)"
                interfaceNames[index] = name
                return name
            }
            var start = 0
            while start < requests.count {
                let end = min(start + window, requests.count)
                for (tag, reply) in try socket.exchange(Array(requests[start..<end])) {
                    answers[tag] = reply.answer(interfaceName: name(of:))
                }
                start = end
            }
        }
        return zip(distinct, answers).compactMap { question, answer in
            answer.map { RouteDecision(question: question, answer: $0) }
        }
    }

    /// Dotted-quad text as a host-order value (`IPv4Address.value`); nil for anything else.
    /// inet_pton rather than `IPv4Address(_:)`, which splits strings: it runs twice per question.
    static func ipv4Value(_ text: String) -> UInt32? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return UInt32(bigEndian: address.s_addr)
    }
}

/// One `RTM_GETROUTE` to send; `tag` says which question it answers.
struct RouteLookupRequest: Sendable, Equatable {
    var tag: Int
    var inputInterfaceIndex: UInt32
    /// Host-order IPv4 values (`IPv4Address.value`).
    var source: UInt32
    var destination: UInt32
}

/// The kernel's reply to one request.
enum RouteLookupReply: Sendable, Equatable {
    /// RTM_NEWROUTE: `type` is rtm_type (RTN_*), the rest from RTA_OIF and RTA_GATEWAY / RTA_VIA.
    case route(type: UInt8, outputInterfaceIndex: UInt32?, gateway: String?)
    /// NLMSG_ERROR with a non-zero error: the positive errno.
    case error(Int32)

    /// The core's form. Only a forwarding (`unicast`) answer names an output interface and gateway:
    /// `local` and `broadcast` answers say `lo`, which is noise.
    func answer(interfaceName: (UInt32) -> String) -> RouteAnswer {
        switch self {
        case .route(let type, let index, let gateway):
            let forwarded = type == UInt8(RTN_UNICAST)
            return .route(
                type: RouteLookupMessages.routeTypeName(type),
                outputInterface: forwarded ? index.map(interfaceName) : nil,
                gateway: forwarded ? gateway : nil)
        case .error(let code):
            return .error(errno: RouteLookupMessages.errnoName(code), code: code)
        }
    }
}

/// Encoding of the requests and decoding of the replies: pure, tested against the bytes iproute2 sends.
enum RouteLookupMessages {
    static let headerLength = 16  // struct nlmsghdr
    static let rtmsgLength = 12  // struct rtmsg
    static let requestLength = headerLength + rtmsgLength + 3 * 8

    /// Appends one request, exactly as `ip route get` builds it, with sequence number `sequence`.
    static func append(_ request: RouteLookupRequest, sequence: UInt32, to bytes: inout [UInt8]) {
        func u16(_ value: UInt16) { withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) } }
        func u32(_ value: UInt32) { withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) } }
        func attribute(_ type: Int32, _ payload: UInt32, networkOrder: Bool) {
            u16(8)
            u16(UInt16(type))
            if networkOrder {
                withUnsafeBytes(of: payload.bigEndian) { bytes.append(contentsOf: $0) }
            } else {
                u32(payload)
            }
        }
        // nlmsghdr and rtmsg in host order (netlink's), the addresses in network order.
        let output = request.inputInterfaceIndex == 0
        u32(UInt32(output ? headerLength + rtmsgLength + 8 : requestLength))
        u16(UInt16(RTM_GETROUTE))
        u16(UInt16(NLM_F_REQUEST))
        u32(sequence)
        u32(0)
        // rtmsg
        bytes.append(contentsOf: [UInt8(AF_INET), 32, output ? 0 : 32, 0, 0, 0, 0, 0])
        u32(UInt32(RTM_F_LOOKUP_TABLE))
        attribute(Int32(RTA_DST.rawValue), request.destination, networkOrder: true)
        if !output {
            attribute(Int32(RTA_SRC.rawValue), request.source, networkOrder: true)
            attribute(Int32(RTA_IIF.rawValue), request.inputInterfaceIndex, networkOrder: false)
        }
    }

    /// Decodes every message of one received datagram into (sequence, reply). Messages that are not
    /// answers (NLMSG_DONE, NOOP, an ACK) and truncated ones are skipped.
    static func replies(in datagram: UnsafeRawBufferPointer) -> [(sequence: UInt32, reply: RouteLookupReply)] {
        var result: [(UInt32, RouteLookupReply)] = []
        var offset = 0
        while offset + headerLength <= datagram.count {
            let length = Int(datagram.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard length >= headerLength, offset + length <= datagram.count else { break }
            let type = datagram.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
            let sequence = datagram.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let body = UnsafeRawBufferPointer(rebasing: datagram[(offset + headerLength)..<(offset + length)])
            if Int32(type) == NLMSG_ERROR, body.count >= 4 {
                let error = body.loadUnaligned(as: Int32.self)
                if error != 0 { result.append((sequence, .error(-error))) }
            } else if Int32(type) == RTM_NEWROUTE, body.count >= rtmsgLength {
                result.append((sequence, route(body)))
            }
            offset += (length + 3) & ~3
        }
        return result
    }

    private static func route(_ body: UnsafeRawBufferPointer) -> RouteLookupReply {
        let type = body[7]
        var outputInterface: UInt32?
        var gateway: String?
        var offset = rtmsgLength
        while offset + 4 <= body.count {
            let length = Int(body.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let attributeType = Int32(body.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff)
            guard length >= 4, offset + length <= body.count else { break }
            let payload = UnsafeRawBufferPointer(rebasing: body[(offset + 4)..<(offset + length)])
            switch attributeType {
            case Int32(RTA_OIF.rawValue) where payload.count >= 4:
                outputInterface = payload.loadUnaligned(as: UInt32.self)
            case Int32(RTA_GATEWAY.rawValue) where payload.count == 4:
                gateway = addressText(family: AF_INET, payload)
            case Int32(RTA_VIA.rawValue) where payload.count >= 2:
                // struct rtvia: an IPv4 route through an IPv6 next hop.
                let family = Int32(payload.loadUnaligned(as: UInt16.self))
                gateway = addressText(family: family, UnsafeRawBufferPointer(rebasing: payload[2...]))
            default:
                break
            }
            offset += (length + 3) & ~3
        }
        return .route(type: type, outputInterfaceIndex: outputInterface, gateway: gateway)
    }

    private static func addressText(family: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
        guard (family == AF_INET && bytes.count == 4) || (family == AF_INET6 && bytes.count == 16) else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, bytes.baseAddress, &text, socklen_t(text.count)) != nil else { return nil }
        return String(cString: text)
    }

    /// RTN_* as `ip route` prints it: "unicast", "local", "broadcast", "blackhole", "unreachable", ...
    static func routeTypeName(_ type: UInt8) -> String { LibnlObjects.routeType(type) }

    /// "EHOSTUNREACH" for 113 (glibc's strerrorname_np), "E<n>" when glibc has no name.
    static func errnoName(_ code: Int32) -> String {
        guard let name = strerrorname_np(code) else { return "E\(code)" }
        return String(cString: name)
    }
}

/// A NETLINK_ROUTE socket for the lookups, closed on deinit.
final class RouteLookupSocket {
    private let descriptor: Int32
    private var nextSequence: UInt32
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// - Parameter receiveBufferBytes: SO_RCVBUF(FORCE) to ask for; tests make it tiny to force overruns.
    init(receiveBufferBytes: Int32 = 1 << 20) throws {
        let descriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard descriptor >= 0 else {
            throw NetlinkError(operation: "opening a route lookup socket", reason: String(cString: strerror(errno)))
        }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw NetlinkError(operation: "binding the route lookup socket", reason: reason)
        }
        // Room for a window of replies (each a separate skb of about 1 KiB truesize) with a wide margin.
        var requested = receiveBufferBytes
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &requested, size) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &requested, size)
        }
        self.descriptor = descriptor
        nextSequence = UInt32.random(in: 1...(UInt32.max / 2))
    }

    deinit { close(descriptor) }

    /// Sends `requests` in one datagram and collects their replies, by tag. Requests whose reply was
    /// lost are sent again; throws when some stay unanswered after `attempts` sends.
    func exchange(_ requests: [RouteLookupRequest], attempts: Int = KernelRouteLookup.attempts) throws
        -> [(tag: Int, reply: RouteLookupReply)]
    {
        var replies: [(Int, RouteLookupReply)] = []
        replies.reserveCapacity(requests.count)
        var unanswered = requests
        for _ in 0..<attempts where !unanswered.isEmpty {
            // The requests of this datagram carry consecutive sequence numbers from `first`.
            let first = nextSequence
            var outstanding: [RouteLookupRequest?] = unanswered
            var remaining = unanswered.count
            var datagram: [UInt8] = []
            datagram.reserveCapacity(unanswered.count * RouteLookupMessages.requestLength)
            for request in unanswered {
                RouteLookupMessages.append(request, sequence: nextSequence, to: &datagram)
                nextSequence &+= 1
            }
            try send(datagram)
            var overrun = false
            while remaining > 0 {
                // After an overrun everything still coming is already queued: do not wait for the lost.
                guard let received = try receive(timeoutMilliseconds: overrun ? 0 : KernelRouteLookup.replyTimeoutMilliseconds)
                else { break }
                switch received {
                case .overrun:
                    overrun = true
                case .datagram(let count):
                    let decoded = buffer.withUnsafeBytes {
                        RouteLookupMessages.replies(in: UnsafeRawBufferPointer(rebasing: $0[..<count]))
                    }
                    for (sequence, reply) in decoded {
                        // A reply to an earlier attempt's request (answered late) or to nothing of ours: skip.
                        let slot = Int(sequence &- first)
                        guard slot < outstanding.count, let request = outstanding[slot] else { continue }
                        outstanding[slot] = nil
                        remaining -= 1
                        replies.append((request.tag, reply))
                    }
                }
            }
            unanswered = outstanding.compactMap { $0 }
        }
        guard unanswered.isEmpty else {
            throw NetlinkError(
                operation: "asking the kernel's route lookup",
                reason: "\(unanswered.count) of \(requests.count) questions got no answer after \(attempts) attempts "
                    + "(lost to a full receive buffer, or never answered)")
        }
        return replies
    }

    private func send(_ datagram: [UInt8]) throws {
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        while true {
            let sent = datagram.withUnsafeBytes { bytes in
                withUnsafePointer(to: &kernel) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                    }
                }
            }
            if sent == datagram.count { return }
            if sent < 0 && errno == EINTR { continue }
            let reason = sent < 0 ? String(cString: strerror(errno)) : "sent \(sent) of \(datagram.count) bytes"
            throw NetlinkError(operation: "sending route lookup requests", reason: reason)
        }
    }

    private enum Received {
        case datagram(Int)
        /// ENOBUFS: replies were dropped because the receive buffer was full.
        case overrun
    }

    /// The next queued datagram, waiting up to `timeoutMilliseconds` when none is queued; nil when none
    /// came. Replies are normally queued before `send` returns, so poll runs only when the queue is empty.
    private func receive(timeoutMilliseconds: Int32) throws -> Received? {
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count >= 0 { return .datagram(count) }
            switch errno {
            case EINTR: continue
            case ENOBUFS: return .overrun
            case EAGAIN: break
            default:
                throw NetlinkError(operation: "receiving route lookup replies", reason: String(cString: strerror(errno)))
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, timeoutMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw NetlinkError(operation: "waiting for route lookup replies", reason: String(cString: strerror(errno)))
            }
            if ready == 0 { return nil }
        }
    }
}
