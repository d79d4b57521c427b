/// The kernel's own answer to "where would a packet from `source`, arriving on `inputInterface`, for
/// `destination` go?": an `RTM_GETROUTE` request with `RTA_IIF`, `RTA_SRC` and `RTA_DST`, what
/// `ip route get DST from SRC iif DEV` sends. It runs the kernel's input route lookup exactly as a packet
/// meets it, so policy routing, other tables, VRFs, multipath, per-interface forwarding and strict
/// rp_filter all come out right without fwdwatch modelling them.
///
/// The core decides which questions to ask (`HostView.routeQuestions`), the netlink edge asks them and
/// records the answers in `Snapshot.routeDecisions`, and the path walk reads them back. A snapshot
/// without answers (an old recording, a reader without netlink) falls back to the hand model.
public struct RouteQuestion: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The interface the packet arrives on, by name (the edge resolves the ifindex).
    public var inputInterface: String
    /// The client's address (IPv4 text).
    public var source: String
    /// The address the packet is for, after DNAT (IPv4 text).
    public var destination: String

    public init(inputInterface: String, source: String, destination: String) {
        self.inputInterface = inputInterface
        self.source = source
        self.destination = destination
    }

    /// An output lookup: where the host itself would send a packet for `destination` (`ip route get DST`),
    /// which tells a route that refuses it from forwarding that is switched off.
    public static func output(to destination: String) -> RouteQuestion {
        RouteQuestion(inputInterface: "", source: "", destination: destination)
    }

    public var isOutputLookup: Bool { inputInterface.isEmpty && source.isEmpty }

    /// `ip route get 172.17.0.2 from 192.0.2.99 iif eth0`: what an operator types to ask the same.
    public var description: String {
        isOutputLookup ? "ip route get \(destination)" : "ip route get \(destination) from \(source) iif \(inputInterface)"
    }
}

/// What the kernel answered.
public enum RouteAnswer: Codable, Sendable, Equatable {
    /// A route: the packet is forwarded (`unicast`), delivered locally (`local`), or meets a `blackhole`,
    /// `unreachable` or `prohibit` route. `outputInterface` is nil for the non-forwarding types.
    case route(type: String, outputInterface: String?, gateway: String?)
    /// The lookup failed. `errno` is the symbolic name (`EHOSTUNREACH`: forwarding is off on the input
    /// interface; `EINVAL`: the source failed the reverse-path filter, or is a martian; `ENETUNREACH`: no
    /// route), `code` the positive errno value.
    case error(errno: String, code: Int32)
}

/// One question and its answer.
public struct RouteDecision: Codable, Sendable, Equatable {
    public var question: RouteQuestion
    public var answer: RouteAnswer

    public init(question: RouteQuestion, answer: RouteAnswer) {
        self.question = question
        self.answer = answer
    }
}

extension Snapshot {
    /// The kernel's answer to `question`, when it was asked.
    public func routeAnswer(_ question: RouteQuestion) -> RouteAnswer? {
        routeDecisions?.first { $0.question == question }?.answer
    }
}
