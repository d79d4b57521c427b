import Foundation
import FwdwatchTestFixtures
import Testing

/// `fwdwatch check --proc-root ROOT` reads the sysctl.d and .network files below the same root as /proc:
/// on the incident reproduced in namespaces, with a tree whose `proc` is the real one (a link to /proc,
/// which shows the namespace of the reading thread) and whose `etc` holds the file that writes the 0,
/// the finding names that file and line.
@Suite(.enabled(if: isRoot, rootRequired))
struct PersistentSourceCheckTests {
    let tree: ScratchTree
    var root: String { tree.root }

    init() throws { tree = try ScratchTree(prefix: "fwt-persist") }

    func write(_ path: String, _ text: String) throws { try tree.write(path, text) }

    func check(_ topology: IncidentTopology) throws -> (status: Int32, finding: [String: Any]?) {
        let result = try topology.host.exec(
            [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null", "--proc-root", root],
            check: false)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let findings = document?["findings"] as? [[String: Any]] ?? []
        return (result.status, findings.first { $0["rule"] as? String == "interface-forwarding-disabled" })
    }

    @Test func checkNamesTheSysctlLineTheZeroComesBackFrom() throws {
        let topology = try IncidentTopology(prefix: "fwt-ps")
        defer { topology.delete() }
        try FileManager.default.createSymbolicLink(atPath: root + "/proc", withDestinationPath: "/proc")
        try write("/etc/sysctl.conf", "net.ipv4.ip_forward = 1\n")
        try write("/etc/sysctl.d/60-uplink.conf", "# written by an old hardening role\nnet.ipv4.conf.eth0.forwarding = 0\n")
        try topology.host.setSysctl("net.ipv4.conf.eth0.forwarding", "0")

        let broken = try check(topology)
        #expect(broken.status == 2)
        let evidence = broken.finding?["evidence"] as? [[String: String]] ?? []
        #expect(evidence.contains { $0["name"] == "source" && $0["value"] == "/etc/sysctl.d/60-uplink.conf:2" }, "\(evidence)")
        let message = broken.finding?["message"] as? String ?? ""
        #expect(message.contains("It is set again by /etc/sysctl.d/60-uplink.conf line 2 (net.ipv4.conf.eth0.forwarding = 0)"))
        let fix = broken.finding?["fix"] as? String ?? ""
        #expect(fix.hasPrefix("sysctl -w net.ipv4.conf.eth0.forwarding=1; to make it last, in /etc/sysctl.d/60-uplink.conf"))

        // The admin takes the line out: the finding stays (the value is still 0) but names no file.
        try write("/etc/sysctl.d/60-uplink.conf", "# written by an old hardening role\n")
        let unnamed = try check(topology)
        #expect(unnamed.status == 2)
        #expect((unnamed.finding?["evidence"] as? [[String: String]] ?? []).allSatisfy { $0["name"] != "source" })
        #expect(unnamed.finding?["fix"] as? String == "sysctl -w net.ipv4.conf.eth0.forwarding=1")
    }
}
