import Foundation
import FwdwatchProc
import Testing

/// Tests of the shared test harness itself.
@Suite("Test harness: Shell")
struct ShellTests {
    @Test("captures status, stdout and stderr")
    func capturesOutput() throws {
        let result = try Shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check: false)
        #expect(result.status == 3)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(!result.succeeded)
    }

    @Test("throws a descriptive error on a non-zero exit when checking")
    func throwsOnFailure() throws {
        let error = try #require(throws: ShellError.self) {
            try Shell.run(["sh", "-c", "echo broken >&2; exit 2"])
        }
        #expect(error.description.contains("`sh -c echo broken >&2; exit 2` exited with status 2"))
        #expect(error.description.contains("stderr: broken"))
    }

    @Test("kills a command that runs past its timeout")
    func timesOut() throws {
        let started = ContinuousClock.now
        let error = try #require(throws: ShellError.self) {
            try Shell.run(["sleep", "30"], timeout: .milliseconds(300))
        }
        guard case .timedOut = error.reason else {
            Issue.record("expected a timeout, got \(error)")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("feeds input to stdin and does not wait for background children")
    func inputAndBackgroundChild() throws {
        #expect(try Shell.run(["cat"], input: "hello").stdout == "hello")
        let started = ContinuousClock.now
        try Shell.run(["sh", "-c", "sleep 5 & echo started"])
        #expect(ContinuousClock.now - started < .seconds(4))
    }

    @Test("reports a program that does not exist")
    func missingProgram() throws {
        #expect(throws: ShellError.self) { try Shell.run(["fwt-no-such-program-\(randomSuffix())"]) }
    }

    @Test("fwdwatchBinary points into the package's .build unless FWDWATCH_BIN is set")
    func binaryPath() {
        let expected = ProcessInfo.processInfo.environment["FWDWATCH_BIN"] ?? packageRoot() + "/.build/debug/fwdwatch"
        #expect(fwdwatchBinary() == expected)
        #expect(FileManager.default.fileExists(atPath: packageRoot() + "/Package.swift"))
    }
}

@Suite("Test harness: namespaces", .enabled(if: isRoot, rootRequired))
struct NetworkNamespaceHarnessTests {
    @Test("a namespace exists until deleted, has lo up and IPv6 off; delete is idempotent")
    func lifecycle() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-h")
        #expect(namespace.name.hasPrefix("fwt-h-"))
        #expect(FileManager.default.fileExists(atPath: namespace.path))
        #expect(try namespace.ip(["-o", "link", "show", "lo"]).stdout.contains("UP"))
        #expect(try namespace.sysctl("net.ipv6.conf.all.disable_ipv6") == "1")
        namespace.delete()
        namespace.delete()
        #expect(!FileManager.default.fileExists(atPath: namespace.path))
    }

    @Test("a namespace dropped without delete() is removed by deinit")
    func deinitDeletes() throws {
        var path = ""
        do {
            let namespace = try NetworkNamespace(prefix: "fwt-h")
            path = namespace.path
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a thread inside sees the namespace's interfaces; the test process does not")
    func threadInside() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-h")
        defer { namespace.delete() }
        let port = "fwtp" + randomSuffix(length: 6)
        try namespace.addBridge(name: "br-fwt")
        try namespace.addVethPair(port, port + "b")
        try namespace.attach(port: port, to: "br-fwt")
        let inside = try namespace.onThreadInside { try ProcReader().read().ipv4Conf.keys.sorted() }
        #expect(Set(inside) == ["all", "default", "lo", "br-fwt", port, port + "b"])
        #expect(try namespace.ip(["-o", "link", "show", port]).stdout.contains("master br-fwt"))
        #expect(!FileManager.default.fileExists(atPath: "/proc/sys/net/ipv4/conf/\(port)"))
    }

    @Test("joining a namespace that does not exist fails with the path")
    func joinMissing() throws {
        let namespace = try NetworkNamespace(prefix: "fwt-h")
        namespace.delete()
        let error = try #require(throws: NamespaceError.self) { try namespace.onThreadInside { 1 } }
        #expect(error.description.contains(namespace.path))
    }

    @Test("the incident topology forwards from the client to the container")
    func incidentTopology() throws {
        let topology = try IncidentTopology(prefix: "fwt-h")
        let namespaces = [topology.host.path, topology.client.path, topology.container.path]
        let host = topology.host
        #expect(try host.ip(["-o", "link", "show", topology.bridgePort]).stdout.contains("master docker0"))
        #expect(try host.ip(["route", "show", "default"]).stdout.contains("via 192.0.2.1 dev eth0"))
        #expect(try host.ip(["-o", "link", "show", "docker0"]).stdout.contains("state UP"))
        for interface in ["all", "default"] + topology.hostInterfaces {
            #expect(try host.sysctl("net.ipv4.conf.\(interface).forwarding") == "1", "\(interface)")
        }
        func forwarded() throws -> UInt64 {
            try host.onThreadInside { try ProcReader().readIPCounters() }["ForwDatagrams"] ?? 0
        }
        let before = try forwarded()
        try topology.client.exec(["bash", "-c", "echo probe > /dev/udp/\(IncidentTopology.containerAddress)/9"])
        #expect(try waitUntil(timeout: .seconds(5)) { try forwarded() > before }, "no datagram was forwarded")

        topology.delete()
        for path in namespaces { #expect(!FileManager.default.fileExists(atPath: path)) }
    }
}

@Suite("Test harness: journald", .enabled(if: isRoot, "needs root: starts systemd-journald"), .serialized)
struct JournaldFixtureTests {
    @Test("a journald is available while acquired and stores what is sent")
    func roundTrip() throws {
        let journald = try JournaldFixture.acquire()
        defer { journald.release() }
        #expect(JournaldFixture.isAnswering())
        let tag = "fwt-harness-\(randomSuffix())"
        try Shell.run(["systemd-cat", "-t", tag], input: "hello from the harness\n")
        let found = try waitUntil(timeout: .seconds(5)) {
            try Shell.run(["journalctl", "-q", "-o", "cat", "-t", tag], check: false).stdout
                .contains("hello from the harness")
        }
        #expect(found)
    }

    @Test("a journald the tests started stops when the last user releases it")
    func stopsWhenReleased() throws {
        let first = try JournaldFixture.acquire()
        let second = try JournaldFixture.acquire()
        let ours = JournaldFixture.startedByTests
        first.release()
        first.release()
        #expect(JournaldFixture.isAnswering())
        second.release()
        if ours {
            #expect(try waitUntil(timeout: .seconds(5)) { !JournaldFixture.isAnswering() })
        } else {
            #expect(JournaldFixture.isAnswering(), "a journald that was already running must be left alone")
        }
    }
}
