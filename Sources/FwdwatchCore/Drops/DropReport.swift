/// The drops of a published port as text, for `fwdwatch explain`. Pure.
public enum DropReport {
    /// "  drops in the last 2 s:" then one line per ingress and reason, newest clients listed; "none" when
    /// nothing was dropped.
    public static func text(_ observations: [DropObservation], seconds: Double) -> String {
        var text = "  drops in the last \(formatRate(seconds)) s (drop probe):"
        guard !observations.isEmpty else { return text + " none\n" }
        text += "\n"
        for observation in observations {
            let packets = observation.count == 1 ? "1 packet" : "\(observation.count) packets"
            let clients =
                observation.clients.isEmpty ? "" : " from \(observation.clients.joined(separator: ", "))"
            text += "    \(observation.ingress) \(observation.reason): \(packets)\(clients)"
            if let phrase = DropReasonText.phrase(observation.reason) { text += " (\(phrase))" }
            text += "\n"
        }
        return text
    }
}
