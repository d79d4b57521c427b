import Foundation
import FwdwatchJournal
import Synchronization

/// Lines a sink wrote, for assertions.
final class LineRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    var output: LineOutput { LineOutput(isTerminal: false) { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A journal that records entries and can be made to fail like an unreachable journald (ECONNREFUSED).
final class RecordingJournal: JournalSending {
    struct Entry: Sendable {
        var fields: [(String, String)]
        var location: SourceLocation

        func value(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
        func values(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }
    }

    private struct State {
        var entries: [Entry] = []
        var reachable = true
        var attempts = 0
    }

    private let state = Mutex(State())

    var entries: [Entry] { state.withLock { $0.entries } }
    var attempts: Int { state.withLock { $0.attempts } }

    func setReachable(_ reachable: Bool) { state.withLock { $0.reachable = reachable } }

    func send(_ fields: [(String, String)], at location: SourceLocation) throws(JournalError) {
        let delivered = state.withLock { state -> Bool in
            state.attempts += 1
            guard state.reachable else { return false }
            state.entries.append(Entry(fields: fields, location: location))
            return true
        }
        if !delivered { throw .sendFailed(errno: ECONNREFUSED) }
    }
}
