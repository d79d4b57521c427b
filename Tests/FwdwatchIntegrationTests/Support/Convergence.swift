import Foundation
import Testing

/// Waits until the daemon logged nothing new for `quiet`, then compares its active alerts with a fresh
/// check (twice, a moment apart, in case the check itself raced a late kernel change). `checkKeys` and
/// `waitForQuiet` are in FwdwatchTestSupport.
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
