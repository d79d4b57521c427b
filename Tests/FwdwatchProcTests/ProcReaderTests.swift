import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchProc

/// The recorded proc tree of the incident's Docker host (see Tests/Fixtures/proc-docker-host/record.sh).
private let dockerHostFixture = RecordedFixture.path("proc-docker-host")

/// A scratch copy of the fixture that a test may damage; removed on deinit.
private final class ScratchProcTree {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-proc-\(UUID().uuidString)").path
        // Copy file by file: the real tree, never a symlink to it (the tests damage the copy), and without
        // the owner (copyItem would try to chown, which fails for a non-root user).
        let files = FileManager.default
        let source = URL(fileURLWithPath: dockerHostFixture).resolvingSymlinksInPath().path
        try files.createDirectory(atPath: root, withIntermediateDirectories: false)
        guard let walk = files.enumerator(atPath: source) else { throw CocoaError(.fileReadUnknown) }
        for case let relative as String in walk {
            var isDirectory: ObjCBool = false
            _ = files.fileExists(atPath: source + "/" + relative, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                try files.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
            } else {
                let data = try Data(contentsOf: URL(fileURLWithPath: source + "/" + relative))
                try data.write(to: URL(fileURLWithPath: root + "/" + relative))
            }
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ relativePath: String, _ text: String) throws {
        try text.write(toFile: root + "/proc/" + relativePath, atomically: false, encoding: .utf8)
    }

    func remove(_ relativePath: String) throws {
        try FileManager.default.removeItem(atPath: root + "/proc/" + relativePath)
    }
}

@Suite("ProcReader on recorded proc trees")
struct ProcReaderFixtureTests {
    private static let forwardingHost = InterfaceConf(
        forwarding: 1, rpFilter: 0, routeLocalnet: 0, bcForwarding: 0, proxyArp: 0, acceptLocal: 0)

    @Test("reads the Docker host fixture: the uplink has forwarding=0 while all=1")
    func readsDockerHost() throws {
        let state = try ProcReader(root: dockerHostFixture).read()

        var expectedConf: [String: InterfaceConf] = [
            "default": Self.forwardingHost, "lo": Self.forwardingHost, "veth0ee43ed": Self.forwardingHost,
        ]
        expectedConf["all"] = InterfaceConf(
            forwarding: 1, rpFilter: 2, routeLocalnet: 0, bcForwarding: 0, proxyArp: 0, acceptLocal: 0)
        expectedConf["eth0"] = InterfaceConf(
            forwarding: 0, rpFilter: 0, routeLocalnet: 0, bcForwarding: 0, proxyArp: 0, acceptLocal: 0)
        expectedConf["docker0"] = InterfaceConf(
            forwarding: 1, rpFilter: 0, routeLocalnet: 1, bcForwarding: 0, proxyArp: 0, acceptLocal: 0)
        #expect(state.ipv4Conf == expectedConf)

        let ipv6Names = ["all", "default", "lo", "eth0", "docker0", "veth0ee43ed"]
        #expect(state.ipv6Forwarding == Dictionary(uniqueKeysWithValues: ipv6Names.map { ($0, 0) }))
        #expect(state.bridgeNetfilter == BridgeNetfilter(callIptables: 1, callIp6tables: 1, callArptables: 1))
        #expect(state.conntrack == Conntrack(count: 0, max: 262_144))
        #expect(state.hostname == "docker-host")

        #expect(state.ipCounters.count == 20)
        #expect(state.ipCounters["Forwarding"] == 1)
        #expect(state.ipCounters["DefaultTTL"] == 64)
        #expect(state.ipCounters["InReceives"] == 3)
        #expect(state.ipCounters["InAddrErrors"] == 3)
        #expect(state.ipCounters["ForwDatagrams"] == 0)
    }

    @Test("readIPCounters alone gives the same counters as read()")
    func readsCountersAlone() throws {
        let reader = ProcReader(root: dockerHostFixture)
        #expect(try reader.readIPCounters() == reader.read().ipCounters)
    }

    @Test("a trailing slash on the root makes no difference", arguments: ["/", "//"])
    func trailingSlash(_ slash: String) throws {
        let plain = ProcReader(root: dockerHostFixture)
        let slashed = ProcReader(root: dockerHostFixture + slash)
        #expect(slashed.procPath == dockerHostFixture + "/proc")
        #expect(try slashed.read() == plain.read())
    }

    @Test("root \"/\" reads /proc")
    func defaultRoot() {
        #expect(ProcReader().procPath == "/proc")
        #expect(ProcReader(root: "/").procPath == "/proc")
        #expect(ProcReader(root: "/tmp/x").procPath == "/tmp/x/proc")
    }

    @Test("a root without proc/sys/net/ipv4/conf fails with a message naming the path")
    func missingRoot() throws {
        let root = "/nonexistent/fwdwatch-\(UUID().uuidString)"
        let error = try #require(throws: ProcError.self) { try ProcReader(root: root).read() }
        #expect(error == .rootMissing(root: root, path: root + "/proc/sys/net/ipv4/conf"))
        #expect(error.description.contains(root + "/proc/sys/net/ipv4/conf"))
        #expect(error.description.contains("does not exist"))
    }

    @Test("a tree with proc/ but no ipv4 conf directory is a missing root too")
    func partialRoot() throws {
        let scratch = try ScratchProcTree()
        try scratch.remove("sys/net/ipv4")
        #expect(throws: ProcError.rootMissing(root: scratch.root, path: scratch.root + "/proc/sys/net/ipv4/conf")) {
            try ProcReader(root: scratch.root).read()
        }
    }

    @Test("a truncated snmp file is reported with its path and line")
    func truncatedSNMP() throws {
        let scratch = try ScratchProcTree()
        try scratch.write("net/snmp", "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors\nIp: 1 64 3")
        let path = scratch.root + "/proc/net/snmp"
        let error = try #require(throws: ProcError.self) { try ProcReader(root: scratch.root).read() }
        #expect(error == .malformed(path: path, line: 2, reason: "5 counter names but 3 values (file truncated?)"))
        #expect(error.description.hasPrefix("malformed \(path):2: "))
        #expect(throws: error) { try ProcReader(root: scratch.root).readIPCounters() }
    }

    @Test("a missing snmp file is an unreadable error")
    func missingSNMP() throws {
        let scratch = try ScratchProcTree()
        try scratch.remove("net/snmp")
        #expect(throws: ProcError.unreadable(path: scratch.root + "/proc/net/snmp", errno: ENOENT)) {
            try ProcReader(root: scratch.root).readIPCounters()
        }
    }

    @Test("garbage values become nil without touching their neighbours")
    func garbageValues() throws {
        let scratch = try ScratchProcTree()
        try scratch.write("sys/net/ipv4/conf/eth0/forwarding", "yes\n")
        try scratch.write("sys/net/ipv4/conf/docker0/rp_filter", "")
        try scratch.write("sys/net/ipv6/conf/eth0/forwarding", "\u{0}\u{1}")
        try scratch.write("sys/net/bridge/bridge-nf-call-iptables", "1 1\n")
        try scratch.write("sys/net/netfilter/nf_conntrack_max", "-5\n")
        try scratch.write("sys/kernel/hostname", "\n")

        let state = try ProcReader(root: scratch.root).read()
        #expect(state.ipv4Conf["eth0"]?.forwarding == nil)
        #expect(state.ipv4Conf["eth0"]?.rpFilter == 0)
        #expect(state.ipv4Conf["docker0"]?.rpFilter == nil)
        #expect(state.ipv4Conf["docker0"]?.routeLocalnet == 1)
        #expect(state.ipv6Forwarding["eth0"] == nil)
        #expect(state.ipv6Forwarding["docker0"] == 0)
        #expect(state.bridgeNetfilter == BridgeNetfilter(callIptables: nil, callIp6tables: 1, callArptables: 1))
        #expect(state.conntrack == nil)
        #expect(state.hostname == nil)
    }

    @Test("an interface without some files (older kernel) keeps its entry with nil values")
    func missingFiles() throws {
        let scratch = try ScratchProcTree()
        try scratch.remove("sys/net/ipv4/conf/eth0/bc_forwarding")
        try scratch.remove("sys/net/ipv4/conf/eth0/accept_local")
        let conf = try #require(try ProcReader(root: scratch.root).read().ipv4Conf["eth0"])
        #expect(
            conf == InterfaceConf(
                forwarding: 0, rpFilter: 0, routeLocalnet: 0, bcForwarding: nil, proxyArp: 0, acceptLocal: nil))
    }

    @Test("an interface directory without forwarding is taken as vanishing and left out")
    func missingForwarding() throws {
        let scratch = try ScratchProcTree()
        try scratch.remove("sys/net/ipv4/conf/veth0ee43ed/forwarding")
        let state = try ProcReader(root: scratch.root).read()
        #expect(state.ipv4Conf["veth0ee43ed"] == nil)
        #expect(state.ipv4Conf.count == 5)
    }

    @Test("absent optional parts: no bridge, no conntrack, no IPv6, no hostname")
    func absentParts() throws {
        let scratch = try ScratchProcTree()
        try scratch.remove("sys/net/bridge")
        try scratch.remove("sys/net/netfilter/nf_conntrack_count")
        try scratch.remove("sys/net/ipv6")
        try scratch.remove("sys/kernel/hostname")
        let state = try ProcReader(root: scratch.root).read()
        #expect(state.bridgeNetfilter == nil)
        #expect(state.conntrack == nil)
        #expect(state.ipv6Forwarding.isEmpty)
        #expect(state.hostname == nil)
        #expect(state.ipv4Conf.count == 6)
    }

    @Test("a stray file in the conf directory is not taken for an interface")
    func strayFile() throws {
        let scratch = try ScratchProcTree()
        try scratch.write("sys/net/ipv4/conf/README", "not an interface\n")
        let state = try ProcReader(root: scratch.root).read()
        #expect(state.ipv4Conf["README"] == nil)
        #expect(state.ipv4Conf.count == 6)
    }
}

@Suite("ProcText parsers")
struct ProcTextTests {
    @Test(
        "sysctlInt accepts one decimal integer",
        arguments: [("1\n", 1), ("0", 0), (" 2 \n", 2), ("-1\n", -1), ("\t65535\r\n", 65535)] as [(String, Int)])
    func sysctlIntValid(_ text: String, _ value: Int) {
        #expect(ProcText.sysctlInt(text) == value)
    }

    @Test(
        "sysctlInt rejects everything else",
        arguments: [
            "", "\n", "   ", "yes", "1 2", "1\t0\n", "0x1", "+1", "1.0", "--1", "1-", "\u{FF11}", "99999999999999999999",
            "1\n2\n",
        ])
    func sysctlIntInvalid(_ text: String) {
        #expect(ProcText.sysctlInt(text) == nil)
    }

    @Test("sysctlUInt64 takes non-negative integers only")
    func sysctlUInt64() {
        #expect(ProcText.sysctlUInt64("262144\n") == 262_144)
        #expect(ProcText.sysctlUInt64("18446744073709551615") == UInt64.max)
        #expect(ProcText.sysctlUInt64("18446744073709551616") == nil)
        #expect(ProcText.sysctlUInt64("-1") == nil)
        #expect(ProcText.sysctlUInt64("") == nil)
        #expect(ProcText.sysctlUInt64("12k") == nil)
    }

    @Test("sysctlLine trims one line and rejects empty or multi-line text")
    func sysctlLine() {
        #expect(ProcText.sysctlLine("docker-host\n") == "docker-host")
        #expect(ProcText.sysctlLine("\n") == nil)
        #expect(ProcText.sysctlLine("") == nil)
        #expect(ProcText.sysctlLine("a\nb\n") == nil)
    }

    private static let path = "/proc/net/snmp"
    private static let realSNMP = """
        Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards \
        InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails \
        FragCreates OutTransmits
        Ip: 1 64 123456 0 42 98765 0 0 24691 30000 0 2 0 0 0 0 0 0 0 18446744073709551615
        Icmp: InMsgs InErrors InCsumErrors InDestUnreachs
        Icmp: 5 0 0 5
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn
        Tcp: 1 200 120000 -1

        """

    @Test("parses the Ip: lines of a real snmp file and ignores the other protocols")
    func snmpReal() throws {
        let counters = try ProcText.ipCounters(fromSNMP: Self.realSNMP, path: Self.path)
        #expect(counters.count == 20)
        #expect(counters["Forwarding"] == 1)
        #expect(counters["InAddrErrors"] == 42)
        #expect(counters["ForwDatagrams"] == 98765)
        #expect(counters["OutNoRoutes"] == 2)
        #expect(counters["OutTransmits"] == UInt64.max)
        #expect(counters["InMsgs"] == nil)
        #expect(counters["MaxConn"] == nil)
    }

    @Test("Ip: lines after other protocols are found too")
    func snmpIpNotFirst() throws {
        let text = "Icmp: InMsgs\nIcmp: 1\nIp: Forwarding InAddrErrors\nIp: 2 7\n"
        #expect(try ProcText.ipCounters(fromSNMP: text, path: Self.path) == ["Forwarding": 2, "InAddrErrors": 7])
    }

    @Test(
        "malformed snmp text names the line and the reason",
        arguments: [
            ("", 0, "no 'Ip:' header line"),
            ("Icmp: InMsgs\nIcmp: 1\n", 0, "no 'Ip:' header line"),
            ("Ip: Forwarding InAddrErrors", 2, "the 'Ip:' header is not followed by a value line (file truncated?)"),
            ("Ip: Forwarding InAddrErrors\n", 2, "the 'Ip:' header is not followed by a value line (file truncated?)"),
            ("Ip: Forwarding InAddrErrors\nIcmp: 1 2\n", 2,
                "the 'Ip:' header is not followed by a value line (file truncated?)"),
            ("Ip:\nIp:\n", 1, "'Ip:' header names no counters"),
            ("Ip: Forwarding InAddrErrors\nIp: 1\n", 2, "2 counter names but 1 values (file truncated?)"),
            ("Ip: Forwarding InAddrErrors\nIp: 1 2 3\n", 2, "2 counter names but 3 values (file truncated?)"),
            ("Ip: Forwarding InAddrErrors\nIp: 1 x\n", 2, "value 'x' of InAddrErrors is not a non-negative integer"),
            ("Ip: Forwarding InAddrErrors\nIp: 1 -3\n", 2, "value '-3' of InAddrErrors is not a non-negative integer"),
            ("Ip: Forwarding InAddrErrors\nIp: 1 99999999999999999999\n", 2,
                "value '99999999999999999999' of InAddrErrors is not a non-negative integer"),
            ("Tcp: A\nTcp: 1\nIp: Forward-ing\nIp: 1\n", 3, "'Forward-ing' is not a counter name"),
        ] as [(String, Int, String)])
    func snmpMalformed(_ text: String, _ line: Int, _ reason: String) {
        #expect(throws: ProcError.malformed(path: Self.path, line: line, reason: reason)) {
            try ProcText.ipCounters(fromSNMP: text, path: Self.path)
        }
    }

    @Test("a real snmp file cut at every byte either parses completely or is reported, never crashes")
    func snmpCutEverywhere() {
        let bytes = Array(Self.realSNMP.utf8)
        var parsed = 0
        for end in 0...bytes.count {
            let text = String(decoding: bytes[0..<end], as: UTF8.self)
            do {
                let counters = try ProcText.ipCounters(fromSNMP: text, path: Self.path)
                #expect(counters.count == 20)
                parsed += 1
            } catch {
                guard case .malformed(let path, _, _) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(path == Self.path)
            }
        }
        // Cuts inside the last value make it a smaller number that still parses; all longer prefixes parse too.
        #expect(parsed > 0)
        #expect(parsed < bytes.count)
    }
}
