import Foundation
import FwdwatchJournal
import Synchronization

// Stand-ins for journald and the console, for tests of the sinks without either.

/// Lines a sink wrote, for assertions.
package final class LineRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    package init() {}

    package var output: LineOutput { LineOutput(isTerminal: false) { [self] line in lines.withLock { $0.append(line) } } }
    package var all: [String] { lines.withLock { $0 } }
}

/// A journal that records entries and can be made to fail like an unreachable journald (ECONNREFUSED).
package final class RecordingJournal: JournalSending {
    package struct Entry: Sendable {
        package var fields: [(String, String)]
        package var location: SourceLocation

        package func value(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
        package func values(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }
    }

    private struct State {
        var entries: [Entry] = []
        var reachable = true
        var attempts = 0
    }

    private let state = Mutex(State())

    package init() {}

    package var entries: [Entry] { state.withLock { $0.entries } }
    package var attempts: Int { state.withLock { $0.attempts } }

    package func setReachable(_ reachable: Bool) { state.withLock { $0.reachable = reachable } }

    package func send(_ fields: [(String, String)], at location: SourceLocation) throws(JournalError) {
        let delivered = state.withLock { state -> Bool in
            state.attempts += 1
            guard state.reachable else { return false }
            state.entries.append(Entry(fields: fields, location: location))
            return true
        }
        if !delivered { throw .sendFailed(errno: ECONNREFUSED) }
    }
}
