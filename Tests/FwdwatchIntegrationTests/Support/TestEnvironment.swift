import Foundation
import Testing

/// Whether the tests run as root (needed to create network namespaces, start journald, boot containers).
let isRoot: Bool = geteuid() == 0

/// The same check as a function, for guards inside tests.
func requireRoot() -> Bool { isRoot }

/// The message for `.enabled(if: isRoot, rootRequired)` traits.
let rootRequired: Comment = "needs root: creates network namespaces"

/// The package root, found from this file's location (Tests/FwdwatchIntegrationTests/Support/...).
func packageRoot() -> String {
    // #filePath inside the body is this file's path; as a default argument it would be the caller's.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}

/// The built `fwdwatch` executable: `$FWDWATCH_BIN` when set, else `<package>/.build/debug/fwdwatch`.
func fwdwatchBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["FWDWATCH_BIN"], !path.isEmpty { return path }
    return packageRoot() + "/.build/debug/fwdwatch"
}

/// Waits until `condition` holds, polling every `interval`, for at most `timeout`; returns whether it held.
func waitUntil(
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
func randomSuffix(length: Int = 8) -> String {
    let digits = Array("0123456789abcdef")
    return String((0..<length).map { _ in digits[Int.random(in: 0..<digits.count)] })
}
