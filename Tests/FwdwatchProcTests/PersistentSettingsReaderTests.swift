import Foundation
import FwdwatchCore
import FwdwatchTestFixtures
import Testing

@testable import FwdwatchProc

@Suite("Persistent settings: sysctl.d text")
struct SysctlSettingsTextTests {
    @Test("dot and slash keys, comments, the '-' prefix and spaces around '='")
    func syntax() {
        let text = """
            # hardening
            ; also a comment
            net.ipv4.conf.eth0.forwarding = 0
            -net.ipv4.conf.eth1.rp_filter=1
            net/ipv4/conf/eth2/forwarding	=	1
            net.ipv4.conf.all.accept_redirects = 0
            net.ipv6.conf.eth0.forwarding = 0
            kernel.pid_max = 4194304
            """
        let found = PersistentSettingsText.sysctlSettings(text, file: "/etc/sysctl.d/50-x.conf")
        #expect(found.map(\.line) == [3, 4, 5])
        #expect(found.map(\.interfaces) == [["eth0"], ["eth1"], ["eth2"]])
        #expect(found.map(\.setting) == ["forwarding", "rp_filter", "forwarding"])
        #expect(found.map(\.value) == [0, 1, 1])
        #expect(found[1].text == "-net.ipv4.conf.eth1.rp_filter=1")
        #expect(found.allSatisfy { $0.origin == .sysctl && $0.file == "/etc/sysctl.d/50-x.conf" })
        #expect(found[0].location == "/etc/sysctl.d/50-x.conf:3")
    }

    @Test("a VLAN's name: a slash in the dotted form, a dot in the slashed form")
    func vlanNames() {
        let text = "net.ipv4.conf.eth0/100.forwarding = 0\nnet/ipv4/conf/eth0.200/rp_filter = 1\n"
        let found = PersistentSettingsText.sysctlSettings(text, file: "/etc/sysctl.conf")
        #expect(found.map(\.interfaces) == [["eth0.100"], ["eth0.200"]])
    }

    @Test("ip_forward is 'all' forwarding; globs stay patterns; a glob setting part gives one entry per setting")
    func ipForwardAndGlobs() {
        let text = """
            net.ipv4.ip_forward = 0
            net/ipv4/ip_forward=1
            net.ipv4.conf.*.rp_filter = 2
            net.ipv4.conf.eth*.forwarding = 0
            net.ipv4.conf.eth0.* = 1
            """
        let found = PersistentSettingsText.sysctlSettings(text, file: "/etc/sysctl.d/x.conf")
        #expect(found.map { "\($0.line) \($0.interfaces[0]) \($0.setting)=\($0.value)" } == [
            "1 all forwarding=0", "2 all forwarding=1", "3 * rp_filter=2", "4 eth* forwarding=0",
            "5 eth0 forwarding=1", "5 eth0 rp_filter=1",
        ])
    }

    @Test(
        "lines the kernel would reject, or that are not assignments, are left out",
        arguments: [
            "net.ipv4.conf.eth0.forwarding", "net.ipv4.conf.eth0.forwarding = yes", "net.ipv4.conf.eth0.forwarding =",
            "net.ipv4.conf.forwarding = 0", "net.ipv4.conf.eth0.forwarding.x = 0", "= 0", "",
        ])
    func rejected(_ line: String) {
        #expect(PersistentSettingsText.sysctlSettings(line, file: "/etc/sysctl.conf").isEmpty)
    }

    @Test("keys normalize as systemd's sysctl_normalize does")
    func normalize() {
        #expect(PersistentSettingsText.normalizedSysctlPath("net.ipv4.conf.eth0/1.forwarding") == "net/ipv4/conf/eth0.1/forwarding")
        #expect(PersistentSettingsText.normalizedSysctlPath("net/ipv4/conf/eth0.1/forwarding") == "net/ipv4/conf/eth0.1/forwarding")
    }
}

@Suite("Persistent settings: .network text")
struct NetworkSettingsTextTests {
    @Test("IPv4Forwarding= in [Network] carries the [Match] Name= patterns of the file")
    func ipv4Forwarding() {
        let text = """
            [Match]
            Name=eth0 en*
            Name="wan1"

            [Network]
            DHCP=yes
            IPv4Forwarding=no
            """
        let found = PersistentSettingsText.networkSettings(text, file: "/etc/systemd/network/10-uplink.network")
        #expect(found == [
            PersistentSetting(
                origin: .networkd, file: "/etc/systemd/network/10-uplink.network", line: 7, setting: "forwarding",
                interfaces: ["eth0", "en*", "wan1"], value: 0, text: "IPv4Forwarding=no")
        ])
    }

    @Test(
        "IPForward= values",
        arguments: [("yes", 1), ("true", 1), ("1", 1), ("ipv4", 1), ("no", 0), ("false", 0), ("0", 0), ("ipv6", 0)])
    func ipForward(_ value: String, _ expected: Int) {
        let found = PersistentSettingsText.networkSettings("[Network]\nIPForward=\(value)\n", file: "/x.network")
        #expect(found.map(\.value) == [expected])
    }

    @Test("IPForward=kernel, unknown values, other sections and keys give nothing")
    func nothing() {
        let text = """
            [Network]
            IPForward=kernel
            IPv4Forwarding=maybe
            # IPv4Forwarding=no
            [Link]
            IPv4Forwarding=no
            [Match]
            IPv4Forwarding=no
            """
        #expect(PersistentSettingsText.networkSettings(text, file: "/x.network").isEmpty)
    }

    @Test("an empty Name= resets the list; '!' inverts it; no Name= means no patterns")
    func matchLists() {
        let reset = PersistentSettingsText.networkSettings(
            "[Match]\nName=eth0\nName=\nName=eth1\n[Network]\nIPv4Forwarding=no\n", file: "/x.network")
        #expect(reset.map(\.interfaces) == [["eth1"]])
        let inverted = PersistentSettingsText.networkSettings(
            "[Match]\nName=!docker* veth*\n[Network]\nIPv4Forwarding=no\n", file: "/x.network")
        #expect(inverted.map(\.interfaces) == [["!docker*", "veth*"]])
        let byType = PersistentSettingsText.networkSettings(
            "[Network]\nIPv4Forwarding=0\n[Match]\nType=ether\n", file: "/x.network")
        #expect(byType.map(\.interfaces) == [[]])
        #expect(byType.map(\.value) == [0])
    }
}

@Suite("Persistent settings: which files count")
struct EffectiveFilesTests {
    @Test("a name in /etc hides the same name in /run and /usr/lib; files in name order; other suffixes ignored")
    func precedence() {
        let files = PersistentSettingsText.effectiveFiles(
            [
                ("/etc/sysctl.d", ["99-local.conf", "50-default.conf", "README.sysctl", ".conf"]),
                ("/run/sysctl.d", ["10-run.conf", "50-default.conf"]),
                ("/usr/lib/sysctl.d", ["50-default.conf", "50-pid-max.conf", "99-protect-links.conf"]),
                ("/lib/sysctl.d", ["50-default.conf", "01-early.conf"]),
            ], suffix: ".conf")
        #expect(files == [
            "/lib/sysctl.d/01-early.conf", "/run/sysctl.d/10-run.conf", "/etc/sysctl.d/50-default.conf",
            "/usr/lib/sysctl.d/50-pid-max.conf", "/etc/sysctl.d/99-local.conf",
            "/usr/lib/sysctl.d/99-protect-links.conf",
        ])
    }

    @Test("link targets resolve lexically")
    func resolve() {
        #expect(PersistentSettingsReader.resolve("../sysctl.conf", from: "/etc/sysctl.d/99-sysctl.conf") == "/etc/sysctl.conf")
        #expect(PersistentSettingsReader.resolve("/etc/sysctl.conf", from: "/etc/sysctl.d/x.conf") == "/etc/sysctl.conf")
        #expect(PersistentSettingsReader.resolve("./other.conf", from: "/etc/sysctl.d/x.conf") == "/etc/sysctl.d/other.conf")
    }
}

@Suite("Persistent settings: the reader on a tree")
struct PersistentSettingsReaderTests {
    let tree: ScratchTree
    var root: String { tree.root }

    init() throws { tree = try ScratchTree(prefix: "fwt-persist") }

    func write(_ path: String, _ text: String) throws { try tree.write(path, text) }

    @Test("reads every directory below the root, with overrides, sysctl.conf last and networkd files")
    func readsTree() throws {
        try write("/usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.*.rp_filter = 2\n")
        try write("/etc/sysctl.d/50-default.conf", "# emptied by the admin\n")
        try write("/run/sysctl.d/60-run.conf", "net.ipv4.conf.eth0.forwarding = 0\n")
        try write("/usr/local/lib/sysctl.d/70-local.conf", "net.ipv4.conf.default.forwarding=0\n")
        try write("/etc/sysctl.conf", "net.ipv4.ip_forward=1\n")
        // Debian's link to sysctl.conf: read once, last.
        try FileManager.default.createSymbolicLink(
            atPath: root + "/etc/sysctl.d/99-sysctl.conf", withDestinationPath: "../sysctl.conf")
        try write("/usr/lib/systemd/network/10-uplink.network", "[Match]\nName=eth0\n[Network]\nIPv4Forwarding=no\n")
        try write("/etc/systemd/network/10-uplink.network", "[Match]\nName=eth0\n[Network]\nIPv4Forwarding=yes\n")
        try write("/etc/systemd/network/README", "IPv4Forwarding=no\n")
        let found = PersistentSettingsReader(root: root + "/").read()
        #expect(found.map(\.location) == [
            "/run/sysctl.d/60-run.conf:1", "/usr/local/lib/sysctl.d/70-local.conf:1", "/etc/sysctl.conf:1",
            "/etc/systemd/network/10-uplink.network:4",
        ])
        #expect(found.last?.value == 1)
    }

    @Test("missing directories give nothing; an unreadable file or a directory in its place is skipped")
    func missingAndUnreadable() throws {
        #expect(PersistentSettingsReader(root: root).read().isEmpty)
        try write("/etc/sysctl.d/10-a.conf", "net.ipv4.conf.eth0.forwarding = 0\n")
        try FileManager.default.createDirectory(atPath: root + "/etc/sysctl.d/20-dir.conf", withIntermediateDirectories: true)
        try write("/etc/sysctl.d/30-b.conf", "net.ipv4.conf.eth1.forwarding = 0\n")
        // A dangling link reads as missing.
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/sysctl.d/40-gone.conf", withDestinationPath: "nowhere")
        #expect(PersistentSettingsReader(root: root).read().map(\.location) == [
            "/etc/sysctl.d/10-a.conf:1", "/etc/sysctl.d/30-b.conf:1",
        ])
    }

    @Test("every sysctl.d file and .network file this machine has parses without trapping")
    func machineFiles() {
        let found = PersistentSettingsReader().read()
        #expect(found.allSatisfy { $0.line > 0 && !$0.file.isEmpty && ["forwarding", "rp_filter"].contains($0.setting) })
    }
}
