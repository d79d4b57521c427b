import Foundation
import Testing

/// The unit drop-in of drop attribution (packaging/systemd/drops.conf): what it costs in exposure, and that it
/// is what the hardened unit needs to load the BPF probe, under a real systemd.
enum DropsDropIn {
    static var path: String { packageRoot() + "/packaging/systemd/drops.conf" }

    /// `systemd-analyze security --offline=true` of the shipped unit, with `drops.conf` beside it or not.
    static func exposure(withDropIn: Bool) throws -> Double {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-dropsunit-\(randomSuffix())")
        let dropIns = scratch.appendingPathComponent("fwdwatch.service.d")
        try FileManager.default.createDirectory(at: dropIns, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let unit = scratch.appendingPathComponent("fwdwatch.service").path
        try FileManager.default.copyItem(atPath: ShippedUnit.path, toPath: unit)
        if withDropIn {
            try FileManager.default.copyItem(atPath: path, toPath: dropIns.appendingPathComponent("drops.conf").path)
        }
        let result = try Shell.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit])
        let overall = result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
        let score = overall.flatMap { $0.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) } }
        return try #require(score, "no exposure level in:\n\(result.stdout)")
    }
}

@Suite("drops.conf", .enabled(if: ShippedUnit.systemdAnalyze != nil, "systemd-analyze is not installed"))
struct DropsDropInFileTests {
    @Test("it adds CAP_BPF and CAP_PERFMON and the bpf system call, nothing else")
    func onlyWhatTheProbeNeeds() throws {
        let text = try String(contentsOfFile: DropsDropIn.path, encoding: .utf8)
        let assignments = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        #expect(
            assignments == [
                "[Service]", "AmbientCapabilities=CAP_BPF CAP_PERFMON", "CapabilityBoundingSet=CAP_BPF CAP_PERFMON",
                "SystemCallFilter=bpf",
            ])
    }

    @Test("exposure with and without it stays at 2.0 or less")
    func exposure() throws {
        let without = try DropsDropIn.exposure(withDropIn: false)
        let with = try DropsDropIn.exposure(withDropIn: true)
        print("systemd-analyze security --offline=true: fwdwatch.service \(without), with drops.conf \(with)")
        #expect(with >= without)
        #expect(with <= 2.0)
    }
}

@Suite(
    "drops.conf under systemd", .serialized,
    .enabled(if: isRoot, "needs root: boots systemd in a container and creates network namespaces"),
    .enabled(if: SystemdContainer.nspawnPath != nil, "systemd-nspawn is missing (package systemd-container)"))
struct DropsDropInServiceTests {
    static let unit = "fwdwatch.service"

    @Test("the hardened unit cannot load the probe and says so once; with drops.conf it loads and counts")
    func dropInLoadsTheProbe() throws {
        let topology = try IncidentTopology(prefix: "fwt-dd")
        defer { topology.delete() }
        let staging = try ServiceStaging()
        defer { staging.remove() }
        try staging.writeConfig("[drops]\nenabled = true\n")
        // The unit with every protection, running `check` once instead of the daemon.
        try staging.writeDropIn(
            "60-check-once.conf",
            "[Service]\nType=oneshot\nRestart=no\nWatchdogSec=0\nExecStart=\n"
                + "ExecStart=\(ServiceStaging.binaryInContainer) check --json --sample 1\n")
        // systemd-nspawn keeps CAP_BPF and CAP_PERFMON out of the container's bounding set and bpf(2) out of its
        // seccomp filter; a real host's PID 1 has them. Granted here, so only the unit decides.
        let container = try SystemdContainer(
            namespace: topology.host, binds: staging.binds,
            nspawnArguments: ["--capability=CAP_BPF,CAP_PERFMON", "--system-call-filter=bpf perf_event_open"])
        defer { container.powerOff() }

        func messages(after cursor: String) throws -> [String] {
            try container.journalEntries(unit: Self.unit, after: cursor).compactMap { $0["MESSAGE"] as? String }
        }

        let before = try container.journalCursor()
        try container.systemctl(["start", Self.unit], check: false)
        let refused = try messages(after: before)
        let notices = refused.filter { $0.contains("drop attribution is off") }
        #expect(notices.count == 1, "\(refused)")
        #expect(notices.first?.contains("CAP_BPF") == true, "\(refused)")

        try staging.writeDropIn("drops.conf", try String(contentsOfFile: DropsDropIn.path, encoding: .utf8))
        try container.systemctl(["daemon-reload"])
        let cursor = try container.journalCursor()
        try container.systemctl(["start", Self.unit], check: false)
        let loaded = try messages(after: cursor)
        #expect(!loaded.contains { $0.contains("drop attribution is off") }, "\(loaded)")
        #expect(loaded.contains { $0.contains("\"uncounted\"") }, "check --json printed no drop reading: \(loaded)")
        #expect(try container.property(Self.unit, "Result") == "success")
    }
}
