import FwdwatchJournal
import Logging

/// Carries out the state machine's actions: publishes events to every output, reads the host files,
/// evaluates, repairs, asks the firewall reader and the netlink watcher, sets timers. Actions that produce
/// a result hand it straight back to the machine, whose answer is carried out in turn.
struct DaemonDriver {
    var outputs: [any DaemonOutput]
    var evaluation = EvaluationSession()
    var repairer: ForwardingRepairer
    let hostFiles: HostFileReader
    let firewall: FirewallReaderService
    let watcher: NetlinkWatcherService
    var timers: DaemonTimers
    let logger: Logger

    /// Returns true when the machine said `.finish`.
    mutating func carryOut(_ actions: [DaemonStateMachine.Action], on machine: inout DaemonStateMachine) async -> Bool {
        for action in actions {
            let answer: DaemonStateMachine.Input
            switch action {
            case .publish(let event):
                publish(event)
                continue
            case .log(let line):
                logger.log(level: line.level, "\(line.message)", metadata: line.metadata.mapValues { .string($0) })
                continue
            case .startFirewallRead:
                firewall.requestRead()
                continue
            case .schedule(let timer, let delay):
                timers.schedule(timer, after: delay)
                continue
            case .restartWatcher(let window):
                watcher.restart(coalescingWindow: window)
                continue
            case .finish:
                timers.cancelAll()
                return true
            case .readHostFiles:
                answer = .hostFilesRead(hostFiles.read())
            case .evaluate(let request):
                answer = .evaluated(await evaluation.evaluate(request))
            case .writeRepairs(let request):
                answer = .repaired(repairer.repair(request))
            }
            if await carryOut(machine.handle(answer, now: .now), on: &machine) { return true }
        }
        return false
    }

    /// Hands `event` to every output, then what the outputs had to say about themselves.
    mutating func publish(_ event: DaemonEvent) {
        var notices: [DaemonNotice] = []
        for index in outputs.indices { notices += outputs[index].deliver(event) }
        for notice in notices { publish(.notice(notice)) }
    }
}
