/// A parsed Prometheus text exposition: each sample line as `name{labels}` (labels as printed) → value.
struct Exposition {
    var samples: [String: Double] = [:]
    /// `# TYPE` per metric name.
    var types: [String: String] = [:]
    var help: [String: String] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
            } else if line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                if parts.count == 4 { help[String(parts[2])] = String(parts[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            {
                samples[String(line[..<space])] = value
            }
        }
    }

    subscript(_ series: String) -> Double? { samples[series] }

    /// Every series of metric `name`.
    func series(_ name: String) -> [String: Double] {
        samples.filter { $0.key == name || $0.key.hasPrefix(name + "{") }
    }
}
