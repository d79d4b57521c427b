import FwdwatchCore

/// Fuzzes `fwdwatch check --snapshot FILE`: a recorded snapshot is decoded, evaluated by every rule,
/// and reported as text, as a Nagios status line and as JSON.
///
/// `SnapshotFile` (Sources/FwdwatchDaemon/SnapshotFile.swift) is compiled into this binary by scripts/fuzz.sh
/// rather than imported, so that the fuzz build does not need the daemon's netlink and journald modules.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(FuzzInput.bytes(data, size))
    do {
        let snapshot = try SnapshotFile.decode(bytes, path: "/fuzz/snapshot.json")
        let evaluation = Evaluator().evaluate(snapshot)
        _ = Report.text(evaluation)
        _ = Report.nagios(evaluation)
        _ = try? SnapshotFile.encode(evaluation)
        // What was decoded encodes and decodes to the same value.
        if let again = try? SnapshotFile.encode(snapshot) {
            let decoded = try? SnapshotFile.decode(Array(again.utf8), path: "/fuzz/again.json")
            precondition(decoded == snapshot || snapshot.hasNaN, "snapshot does not survive a round trip")
        }
    } catch {
        precondition(error.description.hasPrefix("/fuzz/snapshot.json: "), "error without the path: \(error)")
    }
    return 0
}

extension Snapshot {
    /// NaN never equals itself, so a snapshot holding one cannot compare equal after a round trip.
    fileprivate var hasNaN: Bool { dropSample?.seconds.isNaN == true }
}
