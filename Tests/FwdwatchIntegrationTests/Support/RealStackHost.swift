import Foundation
import Testing

/// A host running a real stack (Docker, podman, ufw, firewalld, libvirt, lxc-net) in namespaces a test made:
/// `host` holds the stack, `client` is the other end of the uplink (`makeUplink`: eth0 192.0.2.10/24 on the host,
/// 192.0.2.20/24 on the client). What every such host shares: which Debian packages it needs, how the client
/// tries the host's ports, and what it must leave behind once deleted (nothing).
protocol RealStackHost: AnyObject {
    /// The start of its namespaces' names ("fwt-ufw": fwt-ufw-host-<random>, fwt-ufw-client-<random>).
    static var namespacePrefix: String { get }
    /// The executables it needs, with the Debian package that ships each.
    static var requiredPrograms: [(path: String, package: String)] { get }
    /// What is not installed, as "package (path)"; empty when all is there.
    static var missingPackages: [String] { get }
    /// The packages to name in `apt-get install` when something is missing.
    static var aptPackages: String { get }
    /// How long the client's curl waits for an answer, in seconds.
    static var clientPatience: Int { get }

    var host: NetworkNamespace { get }
    var client: NetworkNamespace { get }
    /// The PIDs of the daemons it started (and of its mount namespace holder): gone after `delete()`.
    var startedProcesses: [pid_t] { get }
    /// Its scratch directories: removed after `delete()`, and nothing runs from them.
    var scratchDirectories: [String] { get }

    /// Stops everything it started and deletes its namespaces and directories; safe to call more than once.
    func delete()
}

extension RealStackHost {
    static var hostAddress: String { uplinkHostAddress }
    static var clientAddress: String { uplinkClientAddress }
    static var missingPackages: [String] { missingPrograms(requiredPrograms) }
    static var clientPatience: Int { 1 }

    /// Throws, naming what to install, when a package it needs is missing.
    static func throwUnlessInstalled() throws {
        let missing = missingPackages
        guard missing.isEmpty else { throw StackError(notInstalledMessage(missing)) }
    }

    static func notInstalledMessage(_ missing: [String]) -> String {
        "not installed: \(missing.joined(separator: ", ")); run scripts/test.sh or apt-get install -y --no-install-recommends \(aptPackages)"
    }

    /// What the client gets from 192.0.2.10:`port`, optionally from another of its addresses: the HTTP status
    /// ("000" when nothing answered within `clientPatience`) and curl's exit status (7: refused, 28: timed out).
    func clientAttempt(port: Int, from source: String? = nil) throws -> (status: String, exit: Int32) {
        try httpAttempt(from: client, "http://\(Self.hostAddress):\(port)/", seconds: Self.clientPatience, interface: source)
    }

    /// The HTTP status the client gets from 192.0.2.10:`port`.
    func clientStatus(port: Int, from source: String? = nil) throws -> String {
        try clientAttempt(port: port, from: source).status
    }

    func clientReaches(port: Int, from source: String? = nil) throws -> Bool {
        try clientStatus(port: port, from: source) == "200"
    }

    /// Waits up to `timeout` for the client to get a 200 from `port`.
    func waitUntilClientReaches(port: Int, from source: String? = nil, timeout: Duration = .seconds(15)) throws -> Bool {
        try waitUntil(timeout: timeout, interval: .milliseconds(100)) { try clientReaches(port: port, from: source) }
    }
}

/// A real stack isolated from the machine, the ground the ufw, firewalld, libvirt, lxc-net and podman hosts stand
/// on: the uplink's namespaces (`makeUplink`), a private mount namespace in the host namespace
/// (`MountNamespaceHolder`, where the stack's hard-coded paths are covered) and a scratch directory. A subclass
/// starts its stack after `super.init` inside `building`, stops its own daemons in `stopStack()`, and has
/// `deinit { delete() }`; `delete()` then kills by PID what still runs in the holder's mount namespace, the holder,
/// deletes the namespaces and removes the directory.
class IsolatedStackHost: @unchecked Sendable {
    let host: NetworkNamespace
    let client: NetworkNamespace
    let holder: MountNamespaceHolder
    /// The scratch directory: the stack's state and configuration, the copies covering the machine's.
    let directory: String
    /// Namespaces of the subclass's own (a guest's), deleted with the uplink's.
    private let otherNamespaces: [NetworkNamespace]
    private let teardown = OneTimeTeardown()

    /// Makes `<prefix>-host-*` and `<prefix>-client-*` and the holder in the host namespace; nothing is left
    /// (of these nor of `otherNamespaces`) when that fails.
    init(
        prefix: String, directory: String, hostIPv6: Bool = false, holderEntry: MountNamespaceHolder.Entry = .ipNetnsExec,
        otherNamespaces: [NetworkNamespace] = []
    ) throws {
        self.directory = directory
        self.otherNamespaces = otherNamespaces
        let (host, client) = try deletingOnFailure(otherNamespaces) { try makeUplink(prefix: prefix, hostIPv6: hostIPv6) }
        self.host = host
        self.client = client
        holder = try deletingOnFailure([host, client] + otherNamespaces) {
            try MountNamespaceHolder(namespace: host, entry: holderEntry)
        }
    }

    /// The holder; subclasses add their daemons.
    var startedProcesses: [pid_t] { [holder.pid] }
    /// The scratch directory; subclasses add theirs.
    var scratchDirectories: [String] { [directory] }

    /// Runs `build` (the subclass starting its stack); when it throws, deletes everything and rethrows.
    func building(_ build: () throws -> Void) throws {
        do {
            try build()
        } catch {
            delete()
            throw error
        }
    }

    /// Stops the stack's own daemons (by PID), before the holder, the namespaces and the directory go.
    func stopStack() {}

    /// Stops everything and deletes the namespaces and the directory; safe to call more than once.
    final func delete() {
        guard teardown.begin() else { return }
        stopStack()
        holder.stop()
        for namespace in otherNamespaces + [client, host] { namespace.delete() }
        _ = try? Shell.run(["rm", "-rf", "--one-file-system", directory], timeout: .seconds(30), check: false)
    }
}

/// A real Docker 20.10 (`DockerEngine`, in its own mount namespace) behind a distribution's host firewall (ufw,
/// firewalld) that runs isolated in the same host namespace, with one container `web` (`busybox httpd`,
/// `-p 10001:80`): the host the recorded fixtures `ufw-0.36-docker-20.10` and `firewalld-1.3-docker-20.10` came
/// from. The subclass starts its firewall, then `startDocker`; `stopStack` stops the engine first.
class FirewalledDockerHost: IsolatedStackHost, @unchecked Sendable {
    static var port: Int { 10001 }

    /// Set once the firewall runs (nil only while building).
    private(set) var engine: DockerEngine?
    private(set) var webAddress = ""

    override var startedProcesses: [pid_t] { super.startedProcesses + [engine?.pid].compactMap { $0 } }
    override var scratchDirectories: [String] { super.scratchDirectories + [engine?.directory].compactMap { $0 } }

    /// Starts dockerd in the host namespace with `environment` added to its own, and the web container.
    func startDocker(environment: [String: String] = [:]) throws {
        let engine = try DockerEngine(namespace: host, environment: environment)
        self.engine = engine
        webAddress = try engine.startWebContainer(publishing: Self.port)
    }

    override func stopStack() {
        engine?.stop()
    }
}

/// A real-stack host with one published port (one web container behind `-p <port>:80`).
protocol SinglePortStackHost: RealStackHost {
    static var port: Int { get }
}

extension SinglePortStackHost {
    /// The port as fwdwatch names it ("10001/tcp").
    static var subject: String { "\(port)/tcp" }

    func clientStatus() throws -> String { try clientStatus(port: Self.port) }
    func clientReaches() throws -> Bool { try clientReaches(port: Self.port) }
    func waitUntilClientReaches(timeout: Duration = .seconds(15)) throws -> Bool {
        try waitUntilClientReaches(port: Self.port, timeout: timeout)
    }
}

/// A real-stack host with a `guest` namespace standing in for a VM or a container on the stack's bridge; the
/// guest's traffic to the client only comes back masqueraded.
protocol GuestStackHost: RealStackHost {
    var guest: NetworkNamespace { get }
}

extension GuestStackHost {
    /// The HTTP status the guest gets from a server on the client (`http://192.0.2.20:<port>/`, 2 s).
    func guestStatus(port: Int) throws -> String {
        try httpStatus(from: guest, "http://\(Self.clientAddress):\(port)/", seconds: 2)
    }

    func guestReachesClient(port: Int) throws -> Bool { try guestStatus(port: port) == "200" }
}

/// The programs of `required` that are missing, as "package (path)".
func missingPrograms(_ required: [(path: String, package: String)]) -> [String] {
    required.filter { !FileManager.default.isExecutableFile(atPath: $0.path) }.map { "\($0.package) (\($0.path))" }
}

/// busybox-static, when /bin/busybox is missing or not the static build: the images made from it have no libc.
func missingStaticBusybox() -> [String] {
    guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { return ["busybox-static (/bin/busybox)"] }
    let owner = try? Shell.run(["dpkg", "-S", "/bin/busybox"], timeout: .seconds(10), check: false)
    return owner?.stdout.contains("busybox-static") == true ? [] : ["busybox-static (/bin/busybox is not the static build)"]
}

/// A missing package must fail the test, not pass it quietly: scripts/test.sh installs them.
func requireInstalled<Stack: RealStackHost>(_ stack: Stack.Type, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let missing = Stack.missingPackages
    try #require(missing.isEmpty, "\(Stack.notInstalledMessage(missing))", sourceLocation: sourceLocation)
}
