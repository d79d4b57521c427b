import Foundation

/// A network namespace made for one test (`ip netns add <prefix>-<random>`), deleted by `delete()` or on deinit.
///
/// New namespaces have `lo` up and, unless asked otherwise, IPv6 disabled (attaching many bridge ports is
/// far slower with IPv6 on).
package final class NetworkNamespace: @unchecked Sendable {
    /// The name under /run/netns.
    package let name: String
    private let lock = NSLock()
    private var deleted = false

    /// The bind-mounted namespace file, for `setns` or `nsenter --net=`.
    package var path: String { "/run/netns/\(name)" }

    package init(prefix: String = "fwt", disableIPv6: Bool = true) throws {
        var candidate = "\(prefix)-\(randomSuffix())"
        while FileManager.default.fileExists(atPath: "/run/netns/\(candidate)") {
            candidate = "\(prefix)-\(randomSuffix())"
        }
        name = candidate
        try Shell.run(["ip", "netns", "add", name])
        do {
            try ip(["link", "set", "lo", "up"])
            if disableIPv6 {
                try setSysctl("net.ipv6.conf.all.disable_ipv6", "1")
                try setSysctl("net.ipv6.conf.default.disable_ipv6", "1")
            }
        } catch {
            delete()
            throw error
        }
    }

    deinit { delete() }

    /// Deletes the namespace; safe to call more than once. Links inside go with it (a veth takes its peer along).
    package func delete() {
        lock.lock()
        defer { lock.unlock() }
        guard !deleted else { return }
        deleted = true
        _ = try? Shell.run(["ip", "netns", "delete", name], timeout: .seconds(30), check: false)
    }

    /// Runs a command inside the namespace (`ip netns exec NAME ...`).
    @discardableResult
    package func exec(_ args: [String], timeout: Duration = .seconds(60), check: Bool = true, input: String? = nil)
        throws -> ShellResult
    {
        try Shell.run(["ip", "netns", "exec", name] + args, timeout: timeout, check: check, input: input)
    }

    /// Runs `ip -n NAME ...`.
    @discardableResult
    package func ip(_ args: [String], check: Bool = true) throws -> ShellResult {
        try Shell.run(["ip", "-n", name] + args, check: check)
    }

    /// Writes a sysctl inside the namespace, e.g. `setSysctl("net.ipv4.conf.eth0.forwarding", "0")`.
    package func setSysctl(_ key: String, _ value: String) throws {
        try exec(["sysctl", "-q", "-w", "\(key)=\(value)"])
    }

    /// Reads a sysctl inside the namespace (`sysctl -n`), trimmed.
    package func sysctl(_ key: String) throws -> String {
        try exec(["sysctl", "-n", key]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates a bridge, optionally with an address, and brings it up.
    package func addBridge(name bridge: String, address: String? = "172.17.0.1/16", up: Bool = true) throws {
        try ip(["link", "add", bridge, "type", "bridge"])
        if let address { try addAddress(address, to: bridge) }
        if up { try setLink(bridge, up: true) }
    }

    /// Creates a veth pair `first`/`second`; `second` goes into `peerNamespace` when given. Both ends come up.
    package func addVethPair(_ first: String, _ second: String, peerNamespace: NetworkNamespace? = nil, up: Bool = true)
        throws
    {
        var args = ["link", "add", first, "type", "veth", "peer", "name", second]
        if let peerNamespace { args += ["netns", peerNamespace.name] }
        try ip(args)
        if up {
            try setLink(first, up: true)
            try (peerNamespace ?? self).setLink(second, up: true)
        }
    }

    /// Enslaves `port` to `bridge`.
    package func attach(port: String, to bridge: String) throws {
        try ip(["link", "set", port, "master", bridge])
    }

    package func addAddress(_ cidr: String, to interface: String) throws {
        try ip(["address", "add", cidr, "dev", interface])
    }

    package func setLink(_ interface: String, up: Bool) throws {
        try ip(["link", "set", interface, up ? "up" : "down"])
    }

    package func deleteLink(_ interface: String) throws {
        try ip(["link", "delete", interface])
    }

    /// Runs `body` on a fresh thread that has joined this namespace (`setns(CLONE_NEWNET)`), and waits for it.
    ///
    /// `/proc/sys/net` and sockets created there belong to the namespace of the thread that opens them,
    /// so a reader called in `body` sees this namespace. Do not start processes from `body`.
    package func onThreadInside<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try onThreadInsideInBackground(body).wait()
    }

    /// Starts `body` on a fresh thread that has joined this namespace and returns at once; `wait()` on the
    /// result gives what `body` returned or threw.
    package func onThreadInsideInBackground<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> NamespaceThread<T> {
        let worker = NamespaceThread<T>()
        let path = self.path
        let thread = Thread {
            let outcome: Result<T, any Error>
            do {
                try NetworkNamespace.join(path)
                outcome = .success(try body())
            } catch {
                outcome = .failure(error)
            }
            worker.finish(outcome)
        }
        thread.start()
        return worker
    }

    /// Moves the calling thread into the network namespace at `path`.
    package static func join(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NamespaceError(path: path, call: "open", errno: errno) }
        defer { close(fd) }
        guard let setns = systemSetns else { throw NamespaceError(path: path, call: "dlsym(setns)", errno: 0) }
        guard setns(fd, cloneNewNet) == 0 else { throw NamespaceError(path: path, call: "setns", errno: errno) }
    }

    /// `CLONE_NEWNET` from <sched.h>; Swift's Glibc module does not export it, nor `setns`.
    private static let cloneNewNet: Int32 = 0x4000_0000
    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
    private static let systemSetns: SetnsFunction? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return nil }
        return unsafeBitCast(symbol, to: SetnsFunction.self)
    }()
}

/// A failed system call while joining a namespace.
package struct NamespaceError: Error, CustomStringConvertible {
    package var path: String
    package var call: String
    package var errno: Int32

    package var description: String { "\(call) for \(path) failed: \(String(cString: strerror(errno)))" }
}

/// A thread running inside a namespace; `wait()` blocks until it is done.
package final class NamespaceThread<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    fileprivate func finish(_ outcome: Result<T, any Error>) {
        lock.lock()
        result = outcome
        lock.unlock()
        finished.signal()
    }

    /// Waits for the thread and returns its result (or rethrows its error).
    package func wait() throws -> T {
        finished.wait()
        finished.signal()
        lock.lock()
        defer { lock.unlock() }
        guard let result else { throw CancellationError() }
        return try result.get()
    }
}
