import Foundation
import Testing

// Whether a running daemon agrees with a fresh `fwdwatch check`: the invariant the daemon, fault and soak
// tests all end on.

/// The (rule, subject) pairs `fwdwatch check` finds in the namespace now.
func checkKeys(_ namespace: NetworkNamespace) throws -> Set<String> {
    let result = try namespace.exec(
        [fwdwatchBinary(), "check", "--json", "--sample", "0", "--config", "/dev/null"], check: false)
    let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    let findings = try #require(document?["findings"] as? [[String: Any]], "check printed: \(result.stdout)")
    if result.status == 3 || (findings.isEmpty && result.status != 0) {
        Issue.record("check could not evaluate (status \(result.status)): \(result.stderr) \(result.stdout.prefix(500))")
    }
    return Set(findings.map { "\($0["rule"] as? String ?? "") \($0["subject"] as? String ?? "")" })
}

/// Waits until the daemon logged nothing new for `quiet`, then compares its active alerts with a fresh
/// check (twice, a moment apart, in case the check itself raced a late kernel change).
///
/// The quiet period outlasts the longest settle time of the rules (`bridge-port-not-forwarding`,
/// `bridge-no-carrier` and `veth-detached` raise a finding only once it persisted 5 s).
func expectConverged(
    _ daemon: DaemonProcess, _ namespace: NetworkNamespace, quiet: Duration = .seconds(6),
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    waitForQuiet(daemon, quiet: quiet)
    var truth = try checkKeys(namespace)
    if daemon.activeKeys != truth {
        waitForQuiet(daemon, quiet: quiet)
        truth = try checkKeys(namespace)
    }
    #expect(daemon.activeKeys == truth, comment, sourceLocation: sourceLocation)
}

func waitForQuiet(_ daemon: DaemonProcess, quiet: Duration) {
    var count = -1
    var since = ContinuousClock.now
    _ = waitUntil(timeout: .seconds(60), interval: .milliseconds(100)) {
        let now = daemon.all.count
        if now != count {
            count = now
            since = .now
        }
        return ContinuousClock.now - since >= quiet
    }
}
