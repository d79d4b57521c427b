/// One-shot read of links (with bridge port states), addresses, IPv4 routes, IPv4/IPv6 netconf and
/// the IPv4 neighbour table, for `fwdwatch check` and `fwdwatch snapshot`.
public enum NetlinkDump {
    /// Opens a socket, dumps everything, closes. Dumps interrupted by a concurrent change
    /// (NLM_F_DUMP_INTR) are retried a few times.
    ///
    /// - Parameter namespacePath: a network namespace to read (e.g. `/run/netns/NAME`); the read then
    ///   runs on a short-lived thread that enters it. Nil reads the caller's namespace, on the caller's
    ///   thread (it blocks for the few milliseconds of the dump).
    public static func read(namespacePath: String? = nil) throws -> NetlinkState {
        guard let namespacePath else { return try readHere() }
        return try DedicatedThread.run(name: "netlink-dump") {
            try enterNetworkNamespace(namespacePath)
            return try readHere()
        }
    }

    private static func readHere() throws -> NetlinkState {
        let socket = try RtnetlinkSocket(purpose: "dumping")
        let caches = try RtnetlinkCaches()
        try caches.refillAll(using: socket.handle)
        return caches.state()
    }
}
