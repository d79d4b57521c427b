/// A published port's DNAT target does not answer ARP on the interface the host routes it to: the
/// kernel's neighbour entry for it is FAILED (no answer to any probe) or INCOMPLETE (no answer yet).
/// The host's path is fine as far as it goes, but the container (or VM) behind the address is stopped,
/// hung, or has its interface down, so every connection to the port times out.
///
/// The entry reflects the last time the host tried to reach the target; the kernel probes again only
/// when traffic arrives, so after the container comes back the finding clears with the next connection.
/// That is why it is a warning, not critical: the evidence may be up to one idle period old. Reported
/// per port, whatever the state of the host's hops (those are `published-port-unreachable`'s).
public struct DnatTargetNotAnswering: Rule {
    public init() {}
    public let id: RuleID = "dnat-target-not-answering"
    public let defaultSeverity = Severity.warning
    public let title = "A published port's DNAT target does not answer ARP"
    public let messageID = "ff2b14d63ecb49838b84580729e5f579"
    /// The kernel resolves a new entry within mcast_solicit x retrans_time (3 x 1 s by default): a
    /// container start, or a first connection, passes through INCOMPLETE for up to that long.
    public let settleSeconds = 5.0

    public func evaluate(_ host: HostView) -> [Finding] {
        guard host.snapshot.neighbours != nil else { return [] }
        return host.publishedPorts.compactMap { port in
            guard let interface = host.targetInterface(of: port),
                let entry = host.neighbour(port.target, on: interface), entry.state.answers == false
            else { return nil }
            let sameTarget = host.ports(to: port.target)
            return finding(
                subject: host.subject(of: port),
                message: Message.notAnswering(port, interface: interface.name, state: entry.state),
                fix: Message.fix(port),
                interface: interface.name,
                evidence: [
                    Evidence("target", port.destination),
                    Evidence("neighbour_state", entry.state.rawValue),
                    Evidence("iface", interface.name),
                    Evidence("ports", sameTarget),
                ])
        }
    }

    enum Message {
        static func notAnswering(_ port: PublishedPort, interface: String, state: NeighbourState) -> String {
            "Published port \(port.subject) -> \(port.destination): \(doesNotAnswer(port.target, interface, state)); "
                + "the container or VM behind it is stopped, hung or has its interface down, and connections to "
                + "the port time out."
        }

        /// "172.17.0.2 on docker0 does not answer ARP (FAILED)": the path hop's detail, too.
        static func doesNotAnswer(_ target: String, _ interface: String, _ state: NeighbourState) -> String {
            "\(target) on \(interface) does not answer ARP (\(state.rawValue.uppercased()))"
        }

        static func answers(_ target: String, _ interface: String, _ entry: Neighbour) -> String {
            "\(target) on \(interface) answers ARP (\(entry.state.rawValue.uppercased())"
                + "\(entry.linkAddress.map { ", \($0)" } ?? ""))"
        }

        static func undecided(_ target: String, _ interface: String, _ state: NeighbourState?) -> String {
            guard let state else { return "no ARP entry for \(target) on \(interface) (nothing was sent to it yet)" }
            return "ARP says nothing about \(target) on \(interface) (\(state.rawValue.uppercased()))"
        }

        static func fix(_ port: PublishedPort) -> String {
            "\((port.owner ?? .other).findWorkload(port: port))  # check the container behind \(port.target) is "
                + "running and its interface is up"
        }
    }
}
