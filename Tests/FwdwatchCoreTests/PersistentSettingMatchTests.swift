import Foundation
import Testing

@testable import FwdwatchCore
@testable import FwdwatchProc

/// A sysctl.d line, as the reader makes it.
private func sysctl(
    _ file: String, _ line: Int, _ interface: String, _ setting: String = "forwarding", value: Int
) -> PersistentSetting {
    PersistentSetting(
        origin: .sysctl, file: file, line: line, setting: setting, interfaces: [interface], value: value,
        text: "net.ipv4.conf.\(interface).\(setting) = \(value)")
}

/// A `.network` line, as the reader makes it.
private func networkd(_ file: String, _ line: Int, names: [String], _ value: Int, key: String = "IPv4Forwarding")
    -> PersistentSetting
{
    PersistentSetting(
        origin: .networkd, file: file, line: line, setting: "forwarding", interfaces: names, value: value,
        text: "\(key)=\(value == 1 ? "yes" : "no")")
}

@Suite("Persistent settings: which line wins")
struct PersistentSettingMatchTests {
    @Test("later files and later lines win; sysctl.conf comes after every sysctl.d file")
    func order() {
        let settings = [
            sysctl("/etc/sysctl.conf", 1, "eth0", value: 1),
            sysctl("/etc/sysctl.d/90-b.conf", 2, "eth0", value: 0),
            sysctl("/usr/lib/sysctl.d/10-a.conf", 5, "eth0", value: 1),
            sysctl("/etc/sysctl.d/90-b.conf", 1, "eth0", value: 1),
        ]
        let lines = PersistentSettingMatch.lines(of: "forwarding", on: "eth0", in: settings)
        #expect(lines.map(\.location) == [
            "/usr/lib/sysctl.d/10-a.conf:5", "/etc/sysctl.d/90-b.conf:1", "/etc/sysctl.d/90-b.conf:2",
            "/etc/sysctl.conf:1",
        ])
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: settings)?.location == "/etc/sysctl.conf:1")
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: Array(settings.dropFirst()))?.location
            == "/etc/sysctl.d/90-b.conf:2")
    }

    @Test("an explicit key beats a glob even when the glob comes later")
    func explicitBeatsGlob() {
        let settings = [
            sysctl("/etc/sysctl.d/10-a.conf", 1, "eth0", "rp_filter", value: 2),
            sysctl("/etc/sysctl.d/99-z.conf", 1, "*", "rp_filter", value: 1),
        ]
        #expect(PersistentSettingMatch.winner(of: "rp_filter", on: "eth0", in: settings)?.value == 2)
        #expect(PersistentSettingMatch.winner(of: "rp_filter", on: "eth1", in: settings)?.location == "/etc/sysctl.d/99-z.conf:1")
        // The glob hits all and default too.
        #expect(PersistentSettingMatch.winner(of: "rp_filter", on: "all", in: settings)?.value == 1)
        #expect(PersistentSettingMatch.winner(of: "rp_filter", on: "default", in: settings)?.value == 1)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth1", in: settings) == nil)
    }

    @Test("default is where a link's value comes back from only when no line writes the link")
    func defaultInherited() {
        let settings = [sysctl("/etc/sysctl.d/10-a.conf", 3, "default", value: 0)]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: settings)?.location == "/etc/sysctl.d/10-a.conf:3")
        let overridden = settings + [sysctl("/etc/sysctl.d/05-b.conf", 1, "eth0", value: 1)]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: overridden)?.value == 1)
        // Neither all nor default inherits from default.
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "all", in: settings) == nil)
    }

    @Test("ip_forward and all count for all only: an ip_forward=1 line repairs no per-interface 0")
    func allDoesNotRepair() {
        let settings = [
            sysctl("/etc/sysctl.d/10-a.conf", 1, "eth0", value: 0),
            sysctl("/etc/sysctl.conf", 1, "all", value: 1),
        ]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: settings)?.value == 0)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "all", in: settings)?.value == 1)
    }

    @Test("names with dots match literally and by glob")
    func vlan() {
        let settings = [sysctl("/etc/sysctl.d/10-a.conf", 1, "eth0.*", value: 0)]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0.100", in: settings) != nil)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: settings) == nil)
    }

    @Test("networkd: the first matching .network file configures the link, and beats sysctl files")
    func networkdFirstFile() {
        let settings = [
            sysctl("/etc/sysctl.d/90-fwd.conf", 1, "eth0", value: 1),
            networkd("/etc/systemd/network/20-b.network", 4, names: ["eth*"], 1),
            networkd("/usr/lib/systemd/network/10-a.network", 7, names: ["en*", "eth0"], 0),
        ]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: settings)?.location
            == "/usr/lib/systemd/network/10-a.network:7")
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth1", in: settings)?.value == 1)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "wlan0", in: settings) == nil)
        // networkd files are for links: never all or default.
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "all", in: settings) == nil)
    }

    @Test("networkd: an inverted list, no Name= at all, and IPv4Forwarding= over IPForward= in one file")
    func networkdMatching() {
        let inverted = [networkd("/etc/systemd/network/10-a.network", 3, names: ["!docker*", "veth*"], 0)]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: inverted) != nil)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "docker0", in: inverted) == nil)
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "veth1", in: inverted) == nil)
        let anyLink = [networkd("/etc/systemd/network/10-a.network", 3, names: [], 0)]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: anyLink) != nil)
        let both = [
            networkd("/etc/systemd/network/10-a.network", 3, names: ["eth0"], 0),
            networkd("/etc/systemd/network/10-a.network", 9, names: ["eth0"], 1, key: "IPForward"),
        ]
        #expect(PersistentSettingMatch.winner(of: "forwarding", on: "eth0", in: both)?.line == 3)
    }

    @Test("the sentences name file, line and text, and how to make the fix last")
    func sentences() {
        let explicit = sysctl("/etc/sysctl.d/50-x.conf", 3, "eth0", value: 0)
        #expect(explicit.comesBackSentence(on: "eth0")
            == "It is set again by /etc/sysctl.d/50-x.conf line 3 (net.ipv4.conf.eth0.forwarding = 0) at boot and "
            + "whenever eth0 appears (udev runs systemd-sysctl for every new interface).")
        #expect(explicit.lastingFix(good: 1)
            == "to make it last, in /etc/sysctl.d/50-x.conf write 1 instead of 0 on line 3 "
            + "(net.ipv4.conf.eth0.forwarding = 0) or delete that line")
        let vendor = sysctl("/usr/lib/sysctl.d/50-default.conf", 2, "*", "rp_filter", value: 1)
        #expect(vendor.lastingFix(good: 2).hasPrefix(
            "to make it last, copy /usr/lib/sysctl.d/50-default.conf to /etc/sysctl.d/50-default.conf"))
        let inherited = sysctl("/etc/sysctl.d/50-x.conf", 4, "default", value: 0)
        #expect(inherited.comesBackSentence(on: "eth0").contains("eth0 inherits net.ipv4.conf.default.forwarding"))
        let network = networkd("/etc/systemd/network/10-uplink.network", 7, names: ["eth0"], 0)
        #expect(network.comesBackSentence(on: "eth0").hasSuffix("systemd-networkd writes it whenever it configures eth0."))
        #expect(network.lastingFix(good: 1)
            == "to make it last, in /etc/systemd/network/10-uplink.network replace line 7 (IPv4Forwarding=no) "
            + "with IPv4Forwarding=yes, then run networkctl reload")
    }
}
