import Foundation

// Whether a running daemon agrees with a fresh `fwdwatch check`: the invariant the daemon, fault and soak
// tests and the churn benchmark all end on.

/// The (rule, subject) pairs `fwdwatch check` finds in the namespace now.
/// - Throws: `CheckError` when check printed no findings document or could not evaluate (status 3, or no
///   findings with a non-zero status).
package func checkKeys(_ namespace: NetworkNamespace, binary: String = fwdwatchBinary()) throws -> Set<String> {
    let result = try namespace.exec(
        [binary, "check", "--json", "--sample", "0", "--config", "/dev/null"], timeout: .seconds(120), check: false)
    let document = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    guard let findings = document?["findings"] as? [[String: Any]] else {
        throw CheckError(description: "check printed no findings (status \(result.status)): \(result.stdout.prefix(500)) \(result.stderr.prefix(500))")
    }
    if result.status == 3 || (findings.isEmpty && result.status != 0) {
        throw CheckError(
            description: "check could not evaluate (status \(result.status)): \(result.stderr) \(result.stdout.prefix(500))")
    }
    return Set(findings.map { "\($0["rule"] as? String ?? "") \($0["subject"] as? String ?? "")" })
}

/// `fwdwatch check` did not give a verdict.
package struct CheckError: Error, CustomStringConvertible {
    package var description: String
}

/// Waits (at most `timeout`) until the daemon logged nothing new for `quiet`.
package func waitForQuiet(_ daemon: DaemonProcess, quiet: Duration, timeout: Duration = .seconds(60)) {
    var count = -1
    var since = ContinuousClock.now
    _ = waitUntil(timeout: timeout, interval: .milliseconds(100)) {
        let now = daemon.all.count
        if now != count {
            count = now
            since = .now
        }
        return ContinuousClock.now - since >= quiet
    }
}
