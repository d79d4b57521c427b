/// A client a published port must serve on one ingress interface: an address the path walk asks the
/// kernel about (`ip route get TARGET from CLIENT iif INGRESS`), and where it was taken from.
struct RepresentativeClient: Sendable {
    enum Kind: Sendable { case subnet, route, overlap, defaultRoute, namedByRule }

    var address: IPv4Address
    var kind: Kind
    /// "192.0.2.0/24 on eth0", "203.0.113.0/24 (via eth1)", "the default route".
    var origin: String
    /// `address` as text, as the route questions carry it.
    var text: String

    init(address: IPv4Address, kind: Kind, origin: String) {
        self.address = address
        self.kind = kind
        self.origin = origin
        self.text = address.description
    }
}

/// The kernel's answers for one path, summarised.
struct KernelVerdict {
    /// How many questions had answers.
    var asked: Int
    /// The interface the kernel forwards the clients' packets out of, when they agree on one.
    var egress: String?
    /// The first refusal, forward or reply, with the hop its errno points at.
    var failure: (detail: String, fix: String, hop: PathHop.Name)?
    /// One question and answer, for the explanation.
    var example: String
}

extension HostView {
    /// The clients a published port must serve on `ingress`: one in each of its subnets, one behind each
    /// route through it, one in each more specific route that overlaps those (a VPN or a second uplink
    /// that carves a piece out), and one behind the default route. At most eight, in that order.
    func clients(of ingress: Link) -> [RepresentativeClient] {
        if let known = clientsByIngress[ingress.index] { return known }
        return findClients(of: ingress)
    }

    /// `clients(of:)` computed (once per view for the ingress interfaces, in `init`).
    func findClients(of ingress: Link) -> [RepresentativeClient] {
        var result: [RepresentativeClient] = []
        var seen: Set<UInt32> = []
        func add(_ prefix: IPv4Prefix, _ kind: RepresentativeClient.Kind, _ origin: String) {
            guard result.count < 8, let address = clientAddress(in: prefix), seen.insert(address.value).inserted else { return }
            result.append(RepresentativeClient(address: address, kind: kind, origin: origin))
        }
        let subnets = ipv4(of: ingress).map(\.prefix).filter { $0.length < 31 }
        for subnet in subnets { add(subnet, .subnet, "\(subnet) on \(ingress.name)") }
        for (prefix, route) in mainRoutes where route.type == "unicast" && prefix.length > 0 {
            if route.outputInterface == ingress.index, !subnets.contains(prefix) {
                add(prefix, .route, "\(prefix) (via \(ingress.name))")
            } else if route.outputInterface != ingress.index, subnets.contains(where: { $0.contains(prefix) && $0 != prefix }) {
                add(prefix, .overlap, "\(prefix) (routed via \(name(of: route.outputInterface) ?? "elsewhere"))")
            }
        }
        if !defaultRoutes.isEmpty {
            // An address no more specific route covers: a client somewhere on the internet.
            for text in ["203.0.113.45", "198.51.100.45", "192.0.2.245", "100.64.7.45", "8.8.8.8"] {
                guard let address = IPv4Address(text), let entry = routeEntry(to: address),
                    entry.prefix.length == 0, !localAddresses.contains(address.value)
                else { continue }
                if seen.insert(address.value).inserted, result.count < 8 {
                    result.append(RepresentativeClient(address: address, kind: .defaultRoute, origin: "clients behind the default route"))
                }
                break
            }
        }
        return result
    }

    /// Clients of the source prefixes the forward rules name, that could arrive on `ingress`: not inside
    /// a subnet of another of the host's interfaces (a container network's own addresses never come in
    /// from outside), not already among `known`.
    func ruleNamedClients(arrivingOn ingress: Link, besides known: [RepresentativeClient]) -> [RepresentativeClient] {
        guard let ruleIndex else { return [] }
        var result: [RepresentativeClient] = []
        for prefix in ruleIndex.forwardSourcePrefixes {
            if let home = homeInterface(of: prefix.network), home.link.index != ingress.index { continue }
            if known.contains(where: { prefix.contains($0.address) }) { continue }
            guard let address = clientAddress(in: prefix) else { continue }
            result.append(RepresentativeClient(address: address, kind: .namedByRule, origin: "\(prefix) (named by a forward rule)"))
        }
        return result
    }

    /// An address in `prefix` that the host does not hold (a client, not the host itself).
    func clientAddress(in prefix: IPv4Prefix) -> IPv4Address? {
        let size = prefix.length >= 31 ? UInt32(1) << UInt32(32 - prefix.length) : (UInt32(1) << UInt32(32 - prefix.length)) - 2
        let first = prefix.length >= 31 ? prefix.network.value : prefix.network.value + 1
        var candidate = first
        for _ in 0..<min(size, 8) {
            // Prefer a high host number: low ones are often the host's own or the gateway's.
            let high = first + size - 1 - (candidate - first)
            if !localAddresses.contains(high) { return IPv4Address(high) }
            candidate += 1
        }
        return nil
    }

    /// What the path walk asks the kernel: for every published port and ingress, each representative
    /// client's packet to the target (forward direction) and the target's reply to the client (from
    /// the egress the model expects), plus, for every bridge with ports, its containers' traffic to the
    /// same clients (where masquerading must happen). Duplicates removed.
    public func routeQuestions() -> [RouteQuestion] {
        var questions: [RouteQuestion] = []
        var seen: Set<RouteQuestion> = []
        func ask(_ question: RouteQuestion) {
            if seen.insert(question).inserted { questions.append(question) }
        }
        var clientsByIngress: [Int32: [RepresentativeClient]] = [:]
        func clientsOf(_ link: Link) -> [RepresentativeClient] {
            if let known = clientsByIngress[link.index] { return known }
            let found = clients(of: link)
            clientsByIngress[link.index] = found
            return found
        }
        for (port, ingresses) in zip(publishedPorts, portIngresses) {
            guard let target = port.targetAddress else { continue }
            if !ingresses.isEmpty { ask(.output(to: port.target)) }
            for ingress in ingresses {
                let egress = modelEgress(of: target, from: ingress)
                for client in clientsOf(ingress) {
                    ask(RouteQuestion(inputInterface: ingress.name, source: client.text, destination: port.target))
                    if let egress {
                        ask(RouteQuestion(inputInterface: egress.name, source: port.target, destination: client.text))
                    }
                }
            }
        }
        for sample in containerSamples() {
            for ingress in ingressInterfaces where !isContainerBridge(ingress) {
                for client in clientsOf(ingress) where client.kind == .subnet || client.kind == .defaultRoute {
                    ask(RouteQuestion(inputInterface: sample.bridge.name, source: "\(sample.address)", destination: client.text))
                }
            }
        }
        return questions
    }

    /// One container address per subnet of each bridge with ports: a neighbour the bridge has seen,
    /// else an address in the subnet the host does not hold.
    func containerSamples() -> [(bridge: Link, subnet: IPv4Prefix, address: IPv4Address)] {
        upBridgeSubnets.filter { isContainerBridge($0.bridge) }.compactMap { bridge, _, subnet in
            let seen = snapshot.neighbours?.first { entry in
                entry.interfaceIndex == bridge.index && IPv4Address(entry.address).map { subnet.contains($0) } == true
            }
            if let seen, let address = IPv4Address(seen.address) { return (bridge, subnet, address) }
            guard let address = clientAddress(in: subnet) else { return nil }
            return (bridge, subnet, address)
        }
    }

    /// Where the model routes `target` from `ingress`, ignoring the kernel.
    private func modelEgress(of target: IPv4Address, from ingress: Link) -> Link? {
        if let route = route(to: target), route.type == "unicast", let index = route.outputInterface,
            index != ingress.index, let link = linksByIndex[index]
        {
            return link
        }
        return homeInterface(of: target)?.link
    }

    /// The kernel's answers for `port` from `ingress`, summarised; nil when it was not asked.
    func kernelVerdict(port: PublishedPort, target: IPv4Address, ingress: Link) -> KernelVerdict? {
        guard !routeAnswers.isEmpty else { return nil }
        var asked = 0
        var egresses: [String] = []
        var failure: (detail: String, fix: String, hop: PathHop.Name)?
        var example = ""
        let clients = clients(of: ingress)
        for client in clients {
            let forward = RouteQuestion(inputInterface: ingress.name, source: client.text, destination: port.target)
            guard let answer = routeAnswers[forward] else { continue }
            asked += 1
            if example.isEmpty { example = "\(forward): \(answer.summary)" }
            switch answer {
            case .route(let type, let out, _) where type == "unicast":
                if let out, !egresses.contains(out) { egresses.append(out) }
                if let out, failure == nil,
                    let reply = routeAnswers[RouteQuestion(inputInterface: out, source: port.target, destination: client.text)],
                    let refusal = reply.refusal
                {
                    let question = RouteQuestion(inputInterface: out, source: port.target, destination: client.text)
                    failure = (
                        "the replies to \(client.origin) are refused: \(question): \(refusal)",
                        replyFix(reply, egress: out, client: client), reply.hop(reply: true))
                }
            default:
                if failure == nil {
                    // EHOSTUNREACH is both "forwarding is off on the input interface" and an unreachable
                    // route: the host's own lookup of the target tells them apart.
                    var hop = answer.hop(reply: false)
                    var summary = answer.summary
                    if case .error(let errno, _) = answer, errno == "EHOSTUNREACH",
                        let output = routeAnswers[.output(to: port.target)], output.refusal != nil
                    {
                        hop = .route
                        summary = "EHOSTUNREACH (\(RouteQuestion.output(to: port.target)): \(output.summary))"
                    }
                    failure = (
                        "\(client.origin) are refused: \(forward): \(summary)",
                        hop == .route
                            ? "ip route get \(port.target)  # and ip rule show: a route or policy rule refuses it"
                            : forwardFix(answer, ingress: ingress, client: client, target: target),
                        hop)
                }
            }
        }
        guard asked > 0 else { return nil }
        return KernelVerdict(asked: asked, egress: egresses.count == 1 ? egresses[0] : nil, failure: failure, example: example)
    }

    private func forwardFix(_ answer: RouteAnswer, ingress: Link, client: RepresentativeClient, target: IPv4Address) -> String {
        switch answer {
        case .error(let errno, _) where errno == "EHOSTUNREACH":
            return "sysctl -w \(HostView.sysctlKey(ingress.name, "forwarding"))=1  # and net.ipv4.conf.all.forwarding; "
                + "if both read 1, a policy rule for traffic from \(ingress.name) refuses it: ip rule show"
        case .error(let errno, _) where errno == "EINVAL":
            return "sysctl -w \(HostView.sysctlKey(ingress.name, "rp_filter"))=2  # strict reverse-path filtering drops \(client.origin); or route them back by \(ingress.name)"
        case .error(let errno, _) where errno == "ENETUNREACH":
            return "ip route get \(target)  # restore the route to the container's network"
        default:
            return "ip route get \(target) from \(client.address) iif \(ingress.name)  # and ip rule show: a policy rule or route type refuses it"
        }
    }

    private func replyFix(_ answer: RouteAnswer, egress: String, client: RepresentativeClient) -> String {
        switch answer {
        case .error(let errno, _) where errno == "EHOSTUNREACH":
            return "sysctl -w \(HostView.sysctlKey(egress, "forwarding"))=1"
        case .error(let errno, _) where errno == "EINVAL":
            return "sysctl -w \(HostView.sysctlKey(egress, "rp_filter"))=2"
        default:
            return "ip route get \(client.address)  # the host needs a route back to \(client.origin)"
        }
    }
}

extension RouteAnswer {
    /// "dev docker0", "EHOSTUNREACH (forwarding is off on the input interface)".
    var summary: String {
        switch self {
        case .route(let type, let out, let gateway):
            return (type == "unicast" ? "" : "\(type) ") + (gateway.map { "via \($0) " } ?? "") + (out.map { "dev \($0)" } ?? "")
        case .error(let errno, _):
            return errno + (RouteAnswer.meaning[errno].map { " (\($0))" } ?? "")
        }
    }

    /// The hop a refusal points at: forwarding off (EHOSTUNREACH) on the input interface, the reverse-path
    /// filter (EINVAL), no route (ENETUNREACH); anything else stays the kernel's own verdict.
    func hop(reply: Bool) -> PathHop.Name {
        switch self {
        case .error(let errno, _) where errno == "EHOSTUNREACH": reply ? .egressForwarding : .ingressForwarding
        case .error(let errno, _) where errno == "EINVAL": .reversePathFilter
        case .error(let errno, _) where errno == "ENETUNREACH": .route
        default: .kernelRoute
        }
    }

    /// The refusal, when the answer is not a forwarding route.
    var refusal: String? {
        if case .route(let type, _, _) = self, type == "unicast" { return nil }
        return summary
    }

    static let meaning: [String: String] = [
        "EHOSTUNREACH": "forwarding is off on the input interface, or a route or policy rule for it refuses the packet",
        "EINVAL": "the source fails the reverse-path filter, or is a martian",
        "ENETUNREACH": "no route",
        "EACCES": "a prohibit route or rule",
    ]
}
