import Foundation

/// A `NOTIFY_SOCKET` of our own, as systemd gives a Type=notify service: counts the READY=1, STATUS=,
/// WATCHDOG=1 datagrams a daemon sends. A thread drains it at once, like PID 1 does: the queue holds only
/// net.unix.max_dgram_qlen datagrams and the sender's sd_notify() blocks when it is full.
///
///     let notify = try NotifySocket()
///     defer { notify.close() }
///     let daemon = try DaemonProcess(namespace: ns, environment: ["NOTIFY_SOCKET": notify.path])
package final class NotifySocket: @unchecked Sendable {
    package struct Counts: Sendable, Equatable {
        package var ready = 0
        package var status = 0
        package var watchdog = 0
        package var other = 0
        package var lastStatus = ""
    }

    /// The socket's path (a path, not an abstract name: those belong to a network namespace).
    package let path: String
    private let fd: Int32
    private let condition = NSCondition()
    private var counts = Counts()
    private var closing = false
    private var drained = false

    package init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-notify-\(getpid())-\(randomSuffix()).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StackError("socket(AF_UNIX): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw StackError("bind(\(path)): \(reason)")
        }
        let thread = Thread { [self] in drain() }
        thread.name = "notify-socket"
        thread.start()
    }

    deinit { close() }

    package var current: Counts { condition.withLock { counts } }

    /// Waits until READY=1 came, at most `timeout`; returns whether it did.
    package func waitForReady(timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout.timeInterval)
        return condition.withLock {
            while counts.ready == 0 {
                if !condition.wait(until: deadline) { break }
            }
            return counts.ready > 0
        }
    }

    /// Stops the reader, closes and removes the socket; safe to call twice.
    package func close() {
        let first = condition.withLock {
            defer { closing = true }
            return !closing
        }
        guard first else { return }
        condition.withLock {
            while !drained { condition.wait() }
        }
        Glibc.close(fd)
        unlink(path)
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !condition.withLock({ closing }) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            condition.withLock {
                for line in text.split(separator: "\n") {
                    if line == "READY=1" {
                        counts.ready += 1
                    } else if line.hasPrefix("STATUS=") {
                        counts.status += 1
                        counts.lastStatus = String(line.dropFirst(7))
                    } else if line == "WATCHDOG=1" {
                        counts.watchdog += 1
                    } else {
                        counts.other += 1
                    }
                }
                condition.broadcast()
            }
        }
        condition.withLock {
            drained = true
            condition.broadcast()
        }
    }
}
