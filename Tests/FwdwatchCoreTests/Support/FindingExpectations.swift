import Testing

@testable import FwdwatchCore

/// The one finding a rule returned; records a test issue (showing what was found) when there is not
/// exactly one.
func onlyFinding(_ findings: [Finding], sourceLocation: SourceLocation = #_sourceLocation) throws -> Finding {
    try #require(
        findings.count == 1, "expected exactly one finding, got \(findings.map(\.key))", sourceLocation: sourceLocation)
    return findings[0]
}

/// The rules whose findings an evaluation holds, with their subjects, in the evaluator's order.
func keys(_ evaluation: Evaluation) -> [String] {
    evaluation.findings.map { "\($0.rule) \($0.subject)" }
}

extension Finding {
    /// The evidence as a dictionary, for compact expectations.
    var evidenceByName: [String: String] {
        Dictionary(evidence.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}
