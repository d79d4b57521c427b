import Foundation
import Testing

@testable import FwdwatchJournal

/// Sets environment variables for the duration of `body` and restores them afterwards.
private func withEnvironment<T>(_ values: [String: String?], _ body: () throws -> T) rethrows -> T {
    let saved = values.keys.map { ($0, getenv($0).map { String(cString: $0) }) }
    for (name, value) in values {
        if let value { setenv(name, value, 1) } else { unsetenv(name) }
    }
    defer {
        for (name, value) in saved {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
    }
    return try body()
}

/// Receives one datagram, waiting at most `timeout`.
private func receiveDatagram(_ fd: Int32, timeoutMilliseconds: Int32 = 5000) -> String? {
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = recv(fd, &buffer, buffer.count, 0)
    guard count >= 0 else { return nil }
    return String(decoding: buffer[0..<count], as: UTF8.self)
}

@Suite("SystemdNotifier", .serialized)
struct SystemdNotifierTests {
    @Test("READY, STATUS, WATCHDOG, RELOADING and STOPPING reach NOTIFY_SOCKET")
    func datagrams() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fwt-notify-\(UUID().uuidString.prefix(8))").path
        let fd = try bindDatagramSocket(at: path)
        defer {
            close(fd)
            unlink(path)
        }
        try withEnvironment(["NOTIFY_SOCKET": path]) {
            let notifier = SystemdNotifier()
            #expect(notifier.isUnderSystemd)

            #expect(notifier.ready(status: "watching 2 bridges\nand 5 ports") == .sent)
            #expect(receiveDatagram(fd) == "READY=1\nSTATUS=watching 2 bridges and 5 ports")

            #expect(notifier.status("line one\r\nline two\n") == .sent)
            #expect(receiveDatagram(fd) == "STATUS=line one line two")

            #expect(notifier.watchdog() == .sent)
            #expect(receiveDatagram(fd) == "WATCHDOG=1")

            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let before = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
            #expect(notifier.reloading() == .sent)
            let reloading = try #require(receiveDatagram(fd))
            let lines = reloading.split(separator: "\n")
            #expect(lines.first == "RELOADING=1")
            let stamp = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
            #expect(lines.last?.hasPrefix("MONOTONIC_USEC=") == true)
            #expect(stamp >= before && stamp < before + 5_000_000)

            #expect(notifier.stopping() == .sent)
            #expect(receiveDatagram(fd) == "STOPPING=1")
            // The variable is still set: the notifier never unsets the environment.
            #expect(getenv("NOTIFY_SOCKET") != nil)
        }
    }

    @Test("outside systemd every call is a harmless no-op; a dead socket is reported")
    func outsideSystemd() {
        withEnvironment(["NOTIFY_SOCKET": nil]) {
            let notifier = SystemdNotifier()
            #expect(!notifier.isUnderSystemd)
            #expect(notifier.ready() == .notUnderSystemd)
            #expect(notifier.watchdog() == .notUnderSystemd)
        }
        withEnvironment(["NOTIFY_SOCKET": "/nonexistent/fwdwatch-notify"]) {
            #expect(SystemdNotifier().ready() == .failed(errno: ENOENT))
        }
    }

    @Test("the watchdog interval is half of WatchdogSec, and nil when off or for another process")
    func watchdogInterval() {
        let notifier = SystemdNotifier()
        withEnvironment(["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": String(getpid())]) {
            #expect(notifier.watchdogInterval == .milliseconds(1500))
        }
        withEnvironment(["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"]) {
            #expect(notifier.watchdogInterval == nil)
        }
        withEnvironment(["WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
            #expect(notifier.watchdogInterval == nil)
        }
        withEnvironment(["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": nil]) {
            #expect(notifier.watchdogInterval == .milliseconds(1500))
            // sd_watchdog_enabled was called with unset_environment=0.
            #expect(getenv("WATCHDOG_USEC") != nil)
        }
    }
}
