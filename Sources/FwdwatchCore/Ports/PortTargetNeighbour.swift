/// The last hop of a published port's path, `target-neighbour`: does the DNAT target answer ARP on the
/// interface the host reaches it by. The path walk ends with it; `DnatTargetNotAnswering` reports the port when
/// it does not, with the same words (its `Message`).
extension HostView {
    /// The interface on which the host resolves a published port's target itself: the route's, or when
    /// there is no usable route, the interface whose own subnet holds the target. Nil for a target
    /// behind a gateway (the host asks for the gateway's address, not the target's).
    func targetInterface(of port: PublishedPort) -> Link? {
        guard let target = port.targetAddress else { return nil }
        if let route = route(to: target), route.type == "unicast", let index = route.outputInterface,
            let link = linksByIndex[index]
        {
            return route.gateway == nil ? link : nil
        }
        return homeInterface(of: target)?.link
    }

    /// The last hop of a published port's path: whether its target answers ARP on `egress`. Nil when
    /// the neighbour table was not read, or when the target is behind a gateway.
    func targetNeighbourHop(_ port: PublishedPort, on egress: Link) -> PathHop? {
        guard snapshot.neighbours != nil, let target = port.targetAddress, route(to: target)?.gateway == nil
        else { return nil }
        typealias Message = DnatTargetNotAnswering.Message
        guard let entry = neighbour(port.target, on: egress), let answers = entry.state.answers else {
            let state = neighbour(port.target, on: egress)?.state
            return PathHop(
                name: .targetNeighbour, passes: nil, detail: Message.undecided(port.target, egress.name, state))
        }
        return PathHop(
            name: .targetNeighbour, passes: answers,
            detail: answers
                ? Message.answers(port.target, egress.name, entry)
                : Message.doesNotAnswer(port.target, egress.name, entry.state),
            fix: answers ? nil : Message.fix(port))
    }
}
