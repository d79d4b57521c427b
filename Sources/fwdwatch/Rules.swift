import ArgumentParser
import FwdwatchCore

extension Fwdwatch {
    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every rule: id, default severity, title.")

        func run() {
            let width = RuleRegistry.all.map(\.id.rawValue.count).max() ?? 0
            for rule in RuleRegistry.all {
                let id = rule.id.rawValue.padding(to: width)
                let severity = rule.defaultSeverity.rawValue.padding(to: 8)
                print("\(id)  \(severity)  \(rule.title)")
            }
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
