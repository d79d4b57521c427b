import Foundation
import Testing

/// fwdwatch on Debian 12's REAL libvirt 9.0 with its default NAT network (see `LibvirtHost`): libvirtd's network
/// driver in namespaces, virbr0 192.168.122.1/24 with libvirt's dnsmasq and LIBVIRT_* chains, a "guest"
/// namespace 192.168.122.50 on vnet0, a client on the uplink. The host the recorded fixture `libvirt-9.0-nat`
/// came from, now with traffic.
///
/// What is proved, in order, on one host:
/// 1. libvirt acts in the test's namespace only (virbr0, LIBVIRT_* chains, dnsmasq; nothing in the machine's).
/// 2. Healthy: the guest reaches the client through libvirt's MASQUERADE; `check` exits 0 with no warning or
///    critical finding and lists no published port (libvirt publishes none; LIBVIRT_FWI rejecting new inbound
///    connections to virbr0 is by design, not an alarm); a daemon raises nothing.
/// 3. Uplink forwarding 0: the client's replies to the guest are dropped on eth0 (the guest gets nothing);
///    named interface-forwarding-disabled eth0 with the sysctl fix.
/// 4. A DNAT from eth0 into libvirt's network by hand (`iptables -t nat -I PREROUTING -i eth0 -p tcp --dport
///    10005 -j DNAT --to 192.168.122.50:80`) without opening libvirt's forward chain: the client is refused
///    (LIBVIRT_FWI's REJECT); named published-port-unreachable 10005/tcp at forward-chain from eth0 with
///    libvirt's reject quoted, and forward-chain-blocks-bridge virbr0: a real finding (an outside client sent
///    into libvirt's network). Its fix, applied as printed, opens the port.
@Suite(.serialized, .enabled(if: isRoot, rootRequired))
struct RealLibvirtTests {
    static let subject = "10005/tcp"

    @Test func healthyNatNetworkIsCleanAndAHandMadeDnatIntoItIsNamed() throws {
        try requireInstalled(LibvirtHost.self)
        try expectLeavesNothing(machineBridge: LibvirtHost.bridge, ruleWord: "LIBVIRT", LibvirtHost.init, story)
    }

    func story(_ libvirt: LibvirtHost) throws {
        let host = libvirt.host
        let target = "\(LibvirtHost.guestAddress):80"

        // 1. Where libvirt acted.
        let list = try libvirt.virsh(["net-list"]).stdout
        #expect(list.contains("default") && list.contains("active"), "\(list)")
        let bridge = try host.ip(["-4", "-o", "address", "show", "dev", LibvirtHost.bridge]).stdout
        #expect(bridge.contains("192.168.122.1/24"), "\(bridge)")
        let rules = try host.exec(["iptables-save"]).stdout
        #expect(rules.contains("-A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with icmp-port-unreachable"), "\(rules)")
        #expect(rules.contains("-A LIBVIRT_PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -j MASQUERADE"), "\(rules)")
        #expect(libvirt.dnsmasqPID.map(processIsAlive) == true, "libvirt's dnsmasq runs: \(libvirt.libvirtdLog.suffix(1500))")
        #expect(try host.sysctl("net.ipv4.ip_forward") == "1", "libvirt turns forwarding on")

        // 2. Healthy.
        let server = try NamespaceWebServer(libvirt.client, address: LibvirtHost.clientAddress, port: 8080)
        defer { server.stop() }
        let reached = try waitUntil(timeout: .seconds(20), interval: .milliseconds(200)) { try libvirt.guestStatus(port: 8080) == "200" }
        #expect(reached, "the guest reaches the client through libvirt's MASQUERADE: \(server.diagnosis)")
        let check = try expectCheckClean(host, "healthy libvirt NAT network")
        #expect(check.publishedPorts.isEmpty, "libvirt publishes no ports: \(check.stdout.prefix(1000))")

        let daemon = try startDaemon(in: host)
        defer { daemon.stop() }
        expectDaemonQuiet(daemon, "libvirt host")

        // 3. Uplink forwarding 0: the replies to the guest arrive on eth0.
        var count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")
        #expect(try libvirt.guestStatus(port: 8080) != "200", "uplink forwarding 0: the breakage must be real")
        let off = try CheckOutput(host)
        #expect(off.status == 2, "\(stackCheckText(host))")
        let uplink = off.finding("interface-forwarding-disabled", subject: "eth0")
        #expect(uplink?.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1", "\(off.keys)")
        #expect(off.keys == ["interface-forwarding-disabled eth0"], "\(off.keys)")
        #expect(daemon.waitForAlert(from: count, "raised", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
        try expectConverged(daemon, host, quiet: .seconds(1), "uplink forwarding 0: the daemon and check agree")
        count = daemon.all.count
        try host.setSysctl("net.ipv4.conf.eth0.forwarding", "1")
        #expect(try waitUntil(timeout: .seconds(10), interval: .milliseconds(200)) { try libvirt.guestStatus(port: 8080) == "200" })
        #expect(daemon.waitForAlert(from: count, "resolved", rule: "interface-forwarding-disabled", subject: "eth0") != nil)
        try expectCheckClean(host, "uplink forwarding healed")

        // 4. A DNAT by hand from eth0 into libvirt's network, its forward chain left as libvirt wrote it.
        let guestSide = try httpStatus(from: libvirt.guest, "http://\(LibvirtHost.guestAddress):80/")
        #expect(guestSide == "200", "the guest's own server answers")
        let dnat = ["PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "10005", "-j", "DNAT", "--to", target]
        count = daemon.all.count
        try host.exec(["iptables", "-t", "nat", "-I"] + dnat)
        let refused = try libvirt.clientAttempt(port: 10005)
        #expect(refused.status != "200", "libvirt's reject: the port does not answer")
        #expect(refused.exit == 7, "LIBVIRT_FWI rejects: the client is refused (curl exit 7), not left to time out: \(refused)")
        let libvirtReject = "-A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with icmp-port-unreachable"
        let (dnatCheck, port) = try expectForwardChainDropNamed(
            host, daemon, since: count, subject: Self.subject, target: target, bridge: LibvirtHost.bridge,
            rule: libvirtReject, "DNAT into libvirt's network")
        // fwdwatch at the time of writing: "... is unreachable from eth0 because dropped by ... LIBVIRT_FWI #2
        // (... -j REJECT ...): clients there time out." A REJECT refuses them at once (curl exit 7 above).
        #expect(!port.message.contains("time out"), "a REJECT refuses clients, it does not leave them to time out: \(port.message)")
        let blocks = dnatCheck.finding("forward-chain-blocks-bridge", subject: LibvirtHost.bridge)
        #expect(blocks?.evidence["dropped_by"]?.contains(libvirtReject) == true, "\(blocks?.evidence ?? [:])")
        #expect(blocks?.evidence["ports"] == Self.subject, "\(blocks?.evidence ?? [:])")
        #expect(publishedPortTable(dnatCheck)[Self.subject]?.ingresses == ["eth0"], "\(dnatCheck.stdout.prefix(1500))")

        // The fix, applied as printed, opens the port (checked by hand: libvirt 9.0 keeps a rule inserted ahead
        // of its LIBVIRT_FW* jumps across a libvirtd restart).
        let fix = port.fix ?? ""
        print("RealLibvirtTests: fwdwatch's fix for the DNAT into libvirt's network: \(fix)")
        print("RealLibvirtTests: its message: \(port.message)")
        let command = fixCommand(fix)
        #expect(command.hasPrefix("iptables -I FORWARD "), "not DOCKER-USER: there is no Docker here: \(fix)")
        if let undo = iptablesDeletion(of: command) {
            try expectFixOpensPort(
                command, apply: { try host.exec(["sh", "-c", $0], check: false) },
                reaches: { try libvirt.clientReaches(port: 10005) })
            try host.exec(["sh", "-c", undo])
        }

        // Healed: the DNAT goes; the host is as healthy as at the start.
        count = daemon.all.count
        try host.exec(["iptables", "-t", "nat", "-D"] + dnat)
        try expectCheckClean(host, "DNAT removed")
        #expect(try CheckOutput(host).publishedPorts.isEmpty)
        expectResolvedIfHeld(daemon, from: count, rule: "published-port-unreachable", subject: Self.subject)
        try expectDaemonSettled(daemon, host, "healed")
        #expect(try libvirt.guestStatus(port: 8080) == "200", "the guest still reaches the client")
    }
}
