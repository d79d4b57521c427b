import Foundation

// Where the harness runs: root or not, the package and its built binary, waiting and unique names.

/// Whether the process runs as root (needed to create network namespaces, start journald, boot containers).
package let isRoot: Bool = geteuid() == 0

/// The same check as a function, for guards inside tests.
package func requireRoot() -> Bool { isRoot }

/// The package root, found from this file's location (Sources/FwdwatchTestSupport/Environment.swift).
package func packageRoot() -> String {
    // #filePath inside the body is this file's path; as a default argument it would be the caller's.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}

/// The built `fwdwatch` executable: `$FWDWATCH_BIN` when set, else `<package>/.build/debug/fwdwatch`.
package func fwdwatchBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["FWDWATCH_BIN"], !path.isEmpty { return path }
    return packageRoot() + "/.build/debug/fwdwatch"
}

/// Waits until `condition` holds, polling every `interval`, for at most `timeout`; returns whether it held.
package func waitUntil(
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(20), _ condition: () throws -> Bool
) rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return true }
        if clock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: interval.timeInterval)
    }
}

/// Eight random hex digits, for unique namespace and interface names.
package func randomSuffix(length: Int = 8) -> String {
    let digits = Array("0123456789abcdef")
    return String((0..<length).map { _ in digits[Int.random(in: 0..<digits.count)] })
}
