import FwdwatchCore

/// Parses `iptables-save` output (with or without `-c` counters) into firewall tables.
///
/// Pure: text in, values out. A line that cannot be understood is reported in `problems` with its line
/// number and skipped; the rest of the output is still read. Match modules that are not modelled become
/// `RuleMatch.otherConditions`, targets that are not modelled `RuleTarget.other`.
public enum IptablesSaveParser {
    /// Parses `text` as printed by `iptables-save` of `backend` (which only labels the tables and problems).
    public static func parse(_ text: String, backend: FirewallBackend) -> FirewallState {
        var reader = Reader(backend: backend)
        var lineNumber = 0
        // Lines found on the UTF-8 view: splitting on Characters walks grapheme clusters, a tenth of a
        // check's CPU on a kube-proxy node's 20,000-line output.
        let utf8 = text.utf8
        var start = utf8.startIndex
        while start <= utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            lineNumber += 1
            reader.read(line: Substring(text[start..<end]).trimmingWhitespace(), number: lineNumber)
            guard end < utf8.endIndex else { break }
            start = utf8.index(after: end)
        }
        reader.finish()
        return FirewallState(tables: reader.tables, problems: reader.problems)
    }

    /// The base chains of iptables' tables: hook and the fixed priority of the table.
    static func baseChain(table: String, chain: String, policy: Verdict) -> BaseChain? {
        let hooks: [String: NetfilterHook] = [
            "PREROUTING": .prerouting, "INPUT": .input, "FORWARD": .forward, "OUTPUT": .output,
            "POSTROUTING": .postrouting,
        ]
        guard let hook = hooks[chain] else { return nil }
        switch table {
        case "filter":
            guard [.input, .forward, .output].contains(hook) else { return nil }
            return BaseChain(type: .filter, hook: hook, priority: 0, policy: policy)
        case "nat":
            guard hook != .forward else { return nil }
            let priority = (hook == .prerouting || hook == .output) ? -100 : 100
            return BaseChain(type: .nat, hook: hook, priority: priority, policy: policy)
        case "mangle":
            return BaseChain(type: hook == .output ? .route : .filter, hook: hook, priority: -150, policy: policy)
        case "raw":
            guard hook == .prerouting || hook == .output else { return nil }
            return BaseChain(type: .filter, hook: hook, priority: -300, policy: policy)
        case "security":
            guard [.input, .forward, .output].contains(hook) else { return nil }
            return BaseChain(type: .filter, hook: hook, priority: 50, policy: policy)
        default:
            return nil
        }
    }
}

/// Line-by-line state of one parse.
private struct Reader {
    let backend: FirewallBackend
    var tables: [FirewallTable] = []
    var problems: [String] = []
    /// The table between `*name` and `COMMIT`.
    var current: FirewallTable?
    /// The chains declared in `current`, for telling a jump from a target extension.
    var chainNames: Set<String> = []
    var currentStartLine = 0

    init(backend: FirewallBackend) { self.backend = backend }

    mutating func report(_ number: Int, _ message: String) {
        problems.append("\(backend.rawValue) iptables-save line \(number): \(message)")
    }

    mutating func read(line: Substring, number: Int) {
        if line.isEmpty || line.hasPrefix("#") { return }
        if line.hasPrefix("*") {
            if let open = current {
                report(number, "table \(open.name) (line \(currentStartLine)) has no COMMIT; its rules are kept")
                tables.append(open)
            }
            let name = String(line.dropFirst())
            guard !name.isEmpty, !name.contains(" ") else {
                current = nil
                return report(number, "malformed table line \"\(line)\"; table skipped")
            }
            current = FirewallTable(backend: backend, family: .ip, name: name)
            chainNames = []
            currentStartLine = number
            return
        }
        if line == "COMMIT" {
            if let table = current { tables.append(table) } else { report(number, "COMMIT outside a table") }
            current = nil
            return
        }
        guard current != nil else { return report(number, "\"\(line.prefix(80))\" outside a table; skipped") }
        if line.hasPrefix(":") { return readChain(line.dropFirst(), number: number) }
        readRule(line, number: number)
    }

    mutating func finish() {
        if let open = current {
            report(currentStartLine, "table \(open.name) has no COMMIT (output truncated?); its rules are kept")
            tables.append(open)
            current = nil
        }
    }

    /// `:NAME POLICY [packets:bytes]`; POLICY is `-` for a user chain.
    mutating func readChain(_ text: Substring, number: Int) {
        guard let tableName = current?.name else { return }
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let name = fields.first.map(String.init) else {
            return report(number, "malformed chain line \":\(text)\"; skipped")
        }
        var counters: Counters?
        if fields.count >= 3 {
            guard let parsed = Self.bracketCounters(fields[2]) else {
                return report(number, "malformed counters \"\(fields[2])\" of chain \(name); chain skipped")
            }
            counters = parsed
        }
        var base: BaseChain?
        switch fields[1] {
        case "-": base = nil
        case "ACCEPT", "DROP":
            let policy: Verdict = fields[1] == "ACCEPT" ? .accept : .drop
            base = IptablesSaveParser.baseChain(table: tableName, chain: name, policy: policy)
            if base == nil {
                report(number, "chain \(name) has policy \(fields[1]) but is no base chain of table \(tableName)")
            }
        default:
            return report(number, "unknown policy \"\(fields[1])\" of chain \(name); chain skipped")
        }
        let rules = current?.chains[name]?.rules ?? []
        current?.add(FirewallChain(name: name, base: base, rules: rules, counters: counters))  // in place: no copy per chain
        chainNames.insert(name)
    }

    /// `[packets:bytes] -A CHAIN options` (counters only with `iptables-save -c`).
    mutating func readRule(_ line: Substring, number: Int) {
        // The table is changed in place through `current`: a copy here would copy every chain for every rule.
        guard let tableName = current?.name else { return }
        var body = line
        var counters: Counters?
        if line.hasPrefix("[") {
            guard let close = line.firstIndex(of: "]"), let parsed = Self.bracketCounters(line[...close]) else {
                return report(number, "malformed counters in \"\(line.prefix(80))\"; rule skipped")
            }
            counters = parsed
            body = line[line.index(after: close)...].trimmingWhitespace()
        }
        var tokens: [String]
        switch Tokenizer.split(body) {
        case .success(let parsed): tokens = parsed
        case .failure(let error): return report(number, "\(error.message) in \"\(body.prefix(80))\"; rule skipped")
        }
        // iptables-restore also takes the counters as `-c packets bytes` before `-A`.
        if tokens.count >= 3, tokens[0] == "-c" || tokens[0] == "--set-counters" {
            guard let packets = UInt64(tokens[1]), let bytes = UInt64(tokens[2]) else {
                return report(number, "malformed counters in \"\(body.prefix(80))\"; rule skipped")
            }
            counters = Counters(packets: packets, bytes: bytes)
            tokens.removeFirst(3)
        }
        guard tokens.count >= 2, tokens[0] == "-A" || tokens[0] == "--append" else {
            return report(number, "not a rule: \"\(body.prefix(80))\"; skipped")
        }
        let chainName = tokens[1]
        guard current?.chains[chainName] != nil else {
            return report(number, "rule for undeclared chain \(chainName) in table \(tableName); skipped")
        }
        var parser = RuleOptionParser(tokens: Array(tokens.dropFirst(2)), chains: chainNames)
        do {
            var rule = try parser.parse()
            rule.counters = parser.counters ?? counters
            rule.origin = RuleOrigin(line: number, text: String(body))
            current?.chains[chainName]?.rules.append(rule)
        } catch {
            report(number, "\(RuleSyntaxError.describe(error)) in \"\(body.prefix(120))\"; rule skipped")
        }
    }

    /// `[12:3400]`.
    static func bracketCounters(_ text: Substring) -> Counters? {
        guard text.hasPrefix("["), text.hasSuffix("]") else { return nil }
        let inner = text.dropFirst().dropLast().split(separator: ":", omittingEmptySubsequences: false)
        guard inner.count == 2, let packets = UInt64(inner[0]), let bytes = UInt64(inner[1]) else { return nil }
        return Counters(packets: packets, bytes: bytes)
    }
}

/// Why a rule could not be read.
struct RuleSyntaxError: Error {
    var message: String
    init(_ message: String) { self.message = message }

    /// The message of a `RuleSyntaxError`, or the error's own text.
    static func describe(_ error: any Error) -> String { (error as? RuleSyntaxError)?.message ?? "\(error)" }
}

/// Splits a rule into words the way iptables-restore does: spaces separate, double quotes group,
/// backslash escapes the next character inside quotes.
enum Tokenizer {
    /// Splits a rule into words on spaces and tabs; double quotes group, a backslash inside them escapes
    /// the next byte. Works on the UTF-8 bytes: the separators and quotes are ASCII, and a walk over
    /// Characters (grapheme clusters) cost most of the time of reading a kube-proxy rule set.
    static func split(_ text: Substring) -> Result<[String], RuleSyntaxError> {
        var tokens: [String] = []
        var word: [UInt8] = []
        var inWord = false
        var quoted = false
        var escaped = false
        func flush() {
            tokens.append(String(decoding: word, as: UTF8.self))
            word.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            if escaped {
                word.append(byte)
                escaped = false
            } else if quoted {
                switch byte {
                case UInt8(ascii: "\\"): escaped = true
                case UInt8(ascii: "\""): quoted = false
                default: word.append(byte)
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
                inWord = true
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                if inWord { flush() }
                inWord = false
            } else {
                word.append(byte)
                inWord = true
            }
        }
        if quoted || escaped { return .failure(RuleSyntaxError("unterminated quote")) }
        if inWord { flush() }
        return .success(tokens)
    }
}

/// Reads the options of one `-A CHAIN ...` rule.
private struct RuleOptionParser {
    let tokens: [String]
    /// Chains of the table: a `-j NAME` to one of them is a jump.
    let chains: Set<String>
    var index = 0
    var match = RuleMatch()
    var target: RuleTarget?
    /// `-c packets bytes` inside the rule (iptables-restore syntax).
    var counters: Counters?

    init(tokens: [String], chains: Set<String>) {
        self.tokens = tokens
        self.chains = chains
    }

    /// Short options of the rule itself; anything else after a `-m module` belongs to the module.
    static let ruleOptions: Set<String> = [
        "-i", "--in-interface", "-o", "--out-interface", "-s", "--source", "--src", "-d", "--destination", "--dst",
        "-p", "--protocol", "-j", "--jump", "-g", "--goto", "-m", "--match", "-c", "--set-counters", "-f",
        "--fragment", "!",
    ]

    mutating func next(for option: String) throws -> String {
        guard index < tokens.count else { throw RuleSyntaxError("option \(option) needs a value") }
        defer { index += 1 }
        return tokens[index]
    }

    /// The value of `option`, honouring the old `-i ! docker0` negation form.
    mutating func value(for option: String, negated: inout Bool) throws -> String {
        var value = try next(for: option)
        if value == "!" {
            negated.toggle()
            value = try next(for: option)
        }
        return value
    }

    mutating func parse() throws -> FirewallRule {
        var module: ModuleState?
        var negated = false
        while index < tokens.count {
            let option = tokens[index]
            index += 1
            if option == "!" {
                guard !negated else { throw RuleSyntaxError("double negation") }
                negated = true
                continue
            }
            if target != nil, option != "-c", option != "--set-counters" {
                throw RuleSyntaxError("option \(option) after the target's options")
            }
            switch option {
            case "-i", "--in-interface":
                match.inInterface = InterfaceMatch(try value(for: option, negated: &negated), negated: negated)
            case "-o", "--out-interface":
                match.outInterface = InterfaceMatch(try value(for: option, negated: &negated), negated: negated)
            case "-s", "--source", "--src":
                match.source = try addressMatch(try value(for: option, negated: &negated), negated: negated)
            case "-d", "--destination", "--dst":
                match.destination = try addressMatch(try value(for: option, negated: &negated), negated: negated)
            case "-p", "--protocol":
                match.protocolName = ProtocolMatch(try value(for: option, negated: &negated).lowercased(), negated: negated)
            case "-f", "--fragment":
                match.otherConditions.append(negated ? "! -f" : "-f")
            case "-c", "--set-counters":
                let packets = try next(for: option)
                let bytes = try next(for: option)
                guard let p = UInt64(packets), let b = UInt64(bytes) else {
                    throw RuleSyntaxError("malformed counters \(packets) \(bytes)")
                }
                counters = Counters(packets: p, bytes: b)
            case "-m", "--match":
                if negated { throw RuleSyntaxError("negated -m") }
                finish(&module)
                module = ModuleState(name: try next(for: option))
            case "-j", "--jump":
                if negated { throw RuleSyntaxError("negated target") }
                finish(&module)
                target = try readTarget(try next(for: option))
            case "-g", "--goto":
                if negated { throw RuleSyntaxError("negated goto") }
                finish(&module)
                let chain = try next(for: option)
                guard chains.contains(chain) else { throw RuleSyntaxError("goto to unknown chain \(chain)") }
                target = .goto(chain: chain)
            default:
                // `-p tcp --dport 80` loads the protocol's module implicitly.
                let implicit = match.protocolName.flatMap { ["tcp", "udp", "sctp"].contains($0.name) ? $0.name : nil }
                guard option.hasPrefix("-"), var current = module ?? implicit.map({ ModuleState(name: $0) }) else {
                    throw RuleSyntaxError("unknown option \"\(option)\"")
                }
                try readModuleOption(option, negated: negated, module: &current)
                module = current
            }
            negated = false
        }
        if negated { throw RuleSyntaxError("\"!\" without an option") }
        finish(&module)
        return FirewallRule(match: match, target: target)
    }

    /// A module seen with `-m NAME` and the options of it that are not modelled.
    struct ModuleState {
        var name: String
        var unmodelled: [String] = []
    }

    mutating func finish(_ module: inout ModuleState?) {
        if let current = module, !current.unmodelled.isEmpty {
            match.otherConditions.append((["-m", current.name] + current.unmodelled).joined(separator: " "))
        }
        module = nil
    }

    /// Consumes the words after an option up to the next option (for options that are not modelled).
    mutating func rawValues() -> [String] {
        var values: [String] = []
        while index < tokens.count, !tokens[index].hasPrefix("--"), !Self.ruleOptions.contains(tokens[index]) {
            values.append(tokens[index])
            index += 1
        }
        return values
    }

    mutating func readModuleOption(_ option: String, negated: Bool, module: inout ModuleState) throws {
        var negated = negated
        switch (module.name, option) {
        case ("tcp", "--dport"), ("tcp", "--destination-port"), ("udp", "--dport"), ("udp", "--destination-port"),
            ("sctp", "--dport"), ("sctp", "--destination-port"):
            match.destinationPorts = try portMatch(try value(for: option, negated: &negated), negated: negated)
        case ("tcp", "--sport"), ("tcp", "--source-port"), ("udp", "--sport"), ("udp", "--source-port"),
            ("sctp", "--sport"), ("sctp", "--source-port"):
            match.sourcePorts = try portMatch(try value(for: option, negated: &negated), negated: negated)
        case ("multiport", "--dports"), ("multiport", "--destination-ports"):
            match.destinationPorts = try portMatch(try value(for: option, negated: &negated), negated: negated)
        case ("multiport", "--sports"), ("multiport", "--source-ports"):
            match.sourcePorts = try portMatch(try value(for: option, negated: &negated), negated: negated)
        case ("conntrack", "--ctstate"), ("state", "--state"):
            let states = try value(for: option, negated: &negated).split(separator: ",").map { $0.uppercased() }
            match.connectionStates = ConnectionStateMatch(states, negated: negated)
        case ("addrtype", "--dst-type"):
            let types = try value(for: option, negated: &negated).split(separator: ",").map { $0.uppercased() }
            match.destinationAddressType = AddressTypeMatch(types, negated: negated)
        case ("addrtype", "--src-type"):
            let types = try value(for: option, negated: &negated).split(separator: ",").map { $0.uppercased() }
            match.sourceAddressType = AddressTypeMatch(types, negated: negated)
        case ("comment", "--comment"):
            match.comment = try next(for: option)
        default:
            let values = rawValues()
            module.unmodelled.append(((negated ? ["!"] : []) + [option] + values).joined(separator: " "))
        }
    }

    /// `172.17.0.0/16`, `172.17.0.2` (a /32), several comma-separated.
    func addressMatch(_ text: String, negated: Bool) throws -> AddressMatch {
        let prefixes = text.split(separator: ",").map { part in part.contains("/") ? String(part) : part + "/32" }
        guard !prefixes.isEmpty else { throw RuleSyntaxError("empty address") }
        return AddressMatch(prefixes, negated: negated)
    }

    /// `80`, `1000:2000`, `80,443,8000:8080`.
    func portMatch(_ text: String, negated: Bool) throws -> PortMatch {
        var ranges: [PortRange] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let range = PortText.range(part, separator: ":") else {
                throw RuleSyntaxError("malformed port \"\(part)\"")
            }
            ranges.append(range)
        }
        return PortMatch(ranges, negated: negated)
    }

    /// The target and its options (always last in iptables-save output).
    mutating func readTarget(_ name: String) throws -> RuleTarget {
        var options: [String: String] = [:]
        var optionText: [String] = []
        while index < tokens.count {
            let option = tokens[index]
            index += 1
            guard option.hasPrefix("--") else {
                if option == "-c" || option == "--set-counters" {
                    index -= 1
                    break
                }
                throw RuleSyntaxError("unexpected \"\(option)\" among the options of target \(name)")
            }
            let values = rawValues()
            options[option] = values.first ?? ""
            optionText.append(([option] + values).joined(separator: " "))
        }
        if ["ACCEPT", "DROP", "RETURN"].contains(name), !optionText.isEmpty {
            throw RuleSyntaxError("options after target \(name)")
        }
        switch name {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "RETURN": return .return
        case "REJECT": return .reject(with: options["--reject-with"])
        case "DNAT":
            guard let to = options["--to-destination"], !to.isEmpty else {
                throw RuleSyntaxError("DNAT without --to-destination")
            }
            return .dnat(to: try natAddress(to))
        case "SNAT":
            guard let to = options["--to-source"], !to.isEmpty else { throw RuleSyntaxError("SNAT without --to-source") }
            return .snat(to: try natAddress(to))
        case "MASQUERADE": return .masquerade(ports: try options["--to-ports"].map(targetPorts))
        case "REDIRECT": return .redirect(ports: try options["--to-ports"].map(targetPorts))
        default:
            if chains.contains(name) {
                guard optionText.isEmpty else { throw RuleSyntaxError("options after a jump to chain \(name)") }
                return .jump(chain: name)
            }
            return .other(name: name, options: optionText.joined(separator: " "))
        }
    }

    func targetPorts(_ text: String) throws -> PortRange {
        guard let range = PortText.range(Substring(text), separator: "-") else {
            throw RuleSyntaxError("malformed --to-ports \"\(text)\"")
        }
        return range
    }

    /// `172.17.0.2:80`, `10.0.0.1-10.0.0.4`, `10.0.0.1:1000-2000`, `:80`.
    func natAddress(_ text: String) throws -> NATAddress {
        var addressPart = Substring(text)
        var ports: PortRange?
        if let colon = text.lastIndex(of: ":") {
            addressPart = text[..<colon]
            guard let range = PortText.range(text[text.index(after: colon)...], separator: "-") else {
                throw RuleSyntaxError("malformed NAT port in \"\(text)\"")
            }
            ports = range
        }
        if addressPart.isEmpty { return NATAddress(address: nil, ports: ports) }
        let bounds = addressPart.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count <= 2, bounds.allSatisfy({ IPv4Address($0) != nil }) else {
            throw RuleSyntaxError("malformed NAT address \"\(addressPart)\"")
        }
        return NATAddress(
            address: String(bounds[0]), lastAddress: bounds.count == 2 ? String(bounds[1]) : nil, ports: ports)
    }
}

/// Port numbers and ranges as text.
enum PortText {
    /// `80` or `1000<separator>2000`; nil when malformed or out of order.
    static func range(_ text: Substring, separator: Character) -> PortRange? {
        let bounds = text.split(separator: separator, omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2 else { return nil }
        let numbers = bounds.compactMap { UInt16($0) }
        guard numbers.count == bounds.count, let first = numbers.first, let last = numbers.last, first <= last
        else { return nil }
        return PortRange(first, last)
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        func blank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { !blank($0) }) else { return self[endIndex...] }
        let last = bytes.lastIndex(where: { !blank($0) })!
        return self[first...last]
    }
}
