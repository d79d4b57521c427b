import FwdwatchCore

/// Parses `nft -j list ruleset` output into firewall tables (native nftables).
///
/// Pure: JSON text in, values out. Only the IPv4-relevant families (`ip`, `inet`) are read. An expression
/// or statement that is not modelled makes its rule a problem (reported with table, chain and handle,
/// then skipped); conditions that are understood but not modelled (`limit`, `meta mark`, ...) become
/// `RuleMatch.otherConditions`.
public enum NftablesRulesetParser {
    /// Parses `json`. Tables named in `excluding` (as `"<family> <name>"`, e.g. `"ip filter"`) are skipped:
    /// the reader passes the tables iptables-nft already listed, which carry `xt` compat expressions.
    /// The (family, name) of every table in `nft -j list tables` output, in order; empty when the output
    /// is not that.
    public static func tableNames(_ json: String) -> [(family: String, name: String)] {
        guard let document = try? JSONValue(parsing: json),
            let items = document["nftables"]?.array
        else { return [] }
        return items.compactMap { item in
            guard let table = item["table"], let family = table["family"]?.string, let name = table["name"]?.string
            else { return nil }
            return (family, name)
        }
    }

    public static func parse(_ json: String, excluding: Set<String> = []) -> FirewallState {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: json)
        } catch {
            return FirewallState(problems: ["nft -j list ruleset: output is not JSON (\(json.count) characters); nothing read"])
        }
        guard let items = document["nftables"]?.array else {
            return FirewallState(problems: ["nft -j list ruleset: no \"nftables\" array in the output; nothing read"])
        }
        var mapper = RulesetMapper(excluding: excluding)
        for item in items { mapper.collectSet(item) }
        for item in items { mapper.add(item) }
        return FirewallState(tables: mapper.tableOrder.compactMap { mapper.tables[$0] }, problems: mapper.problems)
    }
}

/// The state of one mapping pass.
private struct RulesetMapper {
    let excluding: Set<String>
    var tables: [String: FirewallTable] = [:]
    var tableOrder: [String] = []
    /// Elements of named sets, by "<family> <table> <set>".
    var sets: [String: [JSONValue]] = [:]
    var problems: [String] = []

    init(excluding: Set<String>) { self.excluding = excluding }

    static let hooks: [String: NetfilterHook] = [
        "prerouting": .prerouting, "input": .input, "forward": .forward, "output": .output,
        "postrouting": .postrouting,
    ]

    /// The table key and family when the object belongs to a table that is read.
    func readable(_ object: JSONValue, tableField: String) -> (key: String, family: TableFamily, table: String)? {
        guard let familyName = object["family"]?.string, let family = TableFamily(rawValue: familyName),
            let table = object[tableField]?.string
        else { return nil }
        let key = "\(familyName) \(table)"
        return excluding.contains(key) ? nil : (key, family, table)
    }

    mutating func collectSet(_ item: JSONValue) {
        guard let set = item["set"] ?? item["map"], let place = readable(set, tableField: "table"),
            let name = set["name"]?.string
        else { return }
        sets["\(place.key) \(name)"] = set["elem"]?.array ?? []
    }

    mutating func add(_ item: JSONValue) {
        if let table = item["table"] {
            guard let place = readable(table, tableField: "name") else { return }
            ensureTable(place)
        } else if let chain = item["chain"] {
            guard let place = readable(chain, tableField: "table") else { return }
            addChain(chain, place)
        } else if let rule = item["rule"] {
            guard let place = readable(rule, tableField: "table") else { return }
            addRule(rule, place)
        }
    }

    mutating func ensureTable(_ place: (key: String, family: TableFamily, table: String)) {
        guard tables[place.key] == nil else { return }
        tables[place.key] = FirewallTable(backend: .nftables, family: place.family, name: place.table)
        tableOrder.append(place.key)
    }

    mutating func addChain(_ chain: JSONValue, _ place: (key: String, family: TableFamily, table: String)) {
        guard let name = chain["name"]?.string else {
            return problems.append("nftables table \(place.key): chain without a name; skipped")
        }
        ensureTable(place)
        var base: BaseChain?
        if let hookName = chain["hook"]?.string {
            let type = chain["type"]?.string.flatMap(ChainType.init(rawValue:))
            let policy: Verdict? = switch chain["policy"]?.string ?? "accept" {
            case "accept": .accept
            case "drop": .drop
            default: nil
            }
            if let hook = Self.hooks[hookName], let type, let policy {
                base = BaseChain(type: type, hook: hook, priority: chain["prio"]?.int ?? 0, policy: policy)
            } else {
                problems.append(
                    "nftables table \(place.key) chain \(name): base chain \(chain.text) not understood; kept as a user chain")
            }
        }
        let existing = tables[place.key]?.chains[name]?.rules ?? []
        tables[place.key]?.add(FirewallChain(name: name, base: base, rules: existing))
    }

    mutating func addRule(_ rule: JSONValue, _ place: (key: String, family: TableFamily, table: String)) {
        let handle = rule["handle"]?.int
        let chainName = rule["chain"]?.string ?? "?"
        let location = "nftables table \(place.key) chain \(chainName) rule handle \(handle.map(String.init) ?? "?")"
        guard var chain = tables[place.key]?.chains[chainName] else {
            return problems.append("\(location): chain not listed; rule skipped")
        }
        guard let expressions = rule["expr"]?.array else {
            return problems.append("\(location): no expressions; rule skipped")
        }
        var builder = RuleBuilder(setPrefix: place.key, sets: sets)
        do {
            for expression in expressions { try builder.add(expression) }
            for rule in try builder.rules() {
                var rule = rule
                rule.origin.handle = handle
                chain.rules.append(rule)
            }
        } catch {
            return problems.append("\(location): \(RuleSyntaxError.describe(error)); rule skipped")
        }
        tables[place.key]?.chains[chainName] = chain
    }
}

/// Maps the expressions of one rule.
private struct RuleBuilder {
    /// "<family> <table>", to find named sets.
    let setPrefix: String
    let sets: [String: [JSONValue]]
    var match = RuleMatch()
    var target: RuleTarget?
    var counters: Counters?
    /// A verdict map (`iifname vmap { "eth0" : jump x, ... }`): the key and its `[value, verdict]` elements.
    var verdictMap: (key: JSONValue, elements: [JSONValue])?

    init(setPrefix: String, sets: [String: [JSONValue]]) {
        self.setPrefix = setPrefix
        self.sets = sets
    }

    /// The rule, or for a verdict map one rule per element: the conditions so far, plus "key == value",
    /// then that element's verdict. The elements' keys are distinct, so at most one of the rules matches
    /// a packet, as with the map; a packet matching none goes on, as with the map.
    func rules() throws -> [FirewallRule] {
        guard let verdictMap else { return [FirewallRule(match: match, target: target, counters: counters)] }
        return try verdictMap.elements.map { element in
            guard let pair = element.array, pair.count == 2 else {
                throw RuleSyntaxError("verdict map element \(element.text.prefix(160)) is not [key, verdict]")
            }
            var single = RuleBuilder(setPrefix: setPrefix, sets: sets)
            single.match = match
            single.counters = counters
            let selectors = verdictMap.key["concat"]?.array ?? [verdictMap.key]
            let values = pair[0]["concat"]?.array ?? [pair[0]]
            guard selectors.count == values.count else {
                throw RuleSyntaxError("verdict map element \(pair[0].text.prefix(160)) does not fit the key")
            }
            for (selector, value) in zip(selectors, values) {
                try single.addMatch(.object(["op": .string("=="), "left": selector, "right": value]))
            }
            try single.add(pair[1])
            var rule = FirewallRule(match: single.match, target: single.target, counters: counters)
            rule.origin.text = "vmap element \(pair[0].text) : \(pair[1].single?.key ?? pair[1].text)"
            return rule
        }
    }

    /// Statements that change nothing about whether or where a packet goes.
    static let neutralStatements: Set<String> = ["log", "notrack", "mangle", "ct helper", "meta"]

    mutating func add(_ expression: JSONValue) throws {
        guard let (kind, body) = expression.single else {
            throw RuleSyntaxError("expression \(expression.text) is not a tagged object")
        }
        if target != nil || verdictMap != nil { throw RuleSyntaxError("\(kind) after the verdict") }
        switch kind {
        case "vmap":
            guard let key = body["key"], let data = body["data"] else {
                throw RuleSyntaxError("vmap without key/data: \(body.text.prefix(160))")
            }
            if let name = data.string, name.hasPrefix("@") {
                guard let elements = sets["\(setPrefix) \(name.dropFirst())"] else {
                    throw RuleSyntaxError("unknown map \(name)")
                }
                verdictMap = (key, elements)
            } else if let elements = data["set"]?.array {
                verdictMap = (key, elements)
            } else {
                throw RuleSyntaxError("unmodelled vmap data \(data.text.prefix(160))")
            }
        case "match": try addMatch(body)
        case "counter":
            if let packets = body["packets"]?.int, let bytes = body["bytes"]?.int, packets >= 0, bytes >= 0 {
                counters = Counters(packets: UInt64(packets), bytes: UInt64(bytes))
            }
        case "accept": target = .accept
        case "drop": target = .drop
        case "return": target = .return
        case "continue": break
        case "jump", "goto":
            guard let chain = body["target"]?.string else { throw RuleSyntaxError("\(kind) without a target") }
            target = kind == "jump" ? .jump(chain: chain) : .goto(chain: chain)
        case "reject":
            let with = body["expr"]?.string ?? body["type"]?.string
            target = .reject(with: with)
        case "dnat": target = .dnat(to: try natAddress(body, kind))
        case "snat": target = .snat(to: try natAddress(body, kind))
        case "masquerade": target = .masquerade(ports: try body["port"].map { try portRange($0, kind) })
        case "redirect": target = .redirect(ports: try body["port"].map { try portRange($0, kind) })
        case "limit", "quota":
            match.otherConditions.append("\(kind) \(body.text)")
        case "log", "notrack", "mangle":
            break
        default:
            throw RuleSyntaxError("unmodelled expression \(kind) \(body.text.prefix(160))")
        }
    }

    // MARK: matches

    mutating func addMatch(_ body: JSONValue) throws {
        guard let op = body["op"]?.string, let left = body["left"], let right = body["right"] else {
            throw RuleSyntaxError("match without op/left/right: \(body.text)")
        }
        let negated: Bool
        switch op {
        case "==", "in": negated = false
        case "!=": negated = true
        default:
            match.otherConditions.append("\(left.text) \(op) \(right.text)")
            return
        }
        guard let (selector, selectorBody) = left.single else {
            throw RuleSyntaxError("unmodelled match left side \(left.text)")
        }
        switch (selector, selectorBody["key"]?.string ?? selectorBody["field"]?.string ?? "") {
        case ("meta", "iifname"), ("meta", "iif"):
            try setOnce(\.inInterface, InterfaceMatch(try values(right).map(Self.interfaceName), negated: negated), body)
        case ("meta", "oifname"), ("meta", "oif"):
            try setOnce(\.outInterface, InterfaceMatch(try values(right).map(Self.interfaceName), negated: negated), body)
        case ("meta", "l4proto"):
            try setProtocol(right, negated: negated, body)
        case ("meta", "nfproto"):
            if !(try values(right) == ["ipv4"] && !negated) {
                match.otherConditions.append("meta nfproto \(negated ? "!= " : "")\(try values(right).joined(separator: ","))")
            }
        case ("payload", let field):
            try addPayload(protocol: selectorBody["protocol"]?.string ?? "", field: field, right, negated: negated, body)
        case ("ct", "status"):
            // Kept as text the walk understands: "ct status dnat" (firewalld accepts every DNATed connection).
            match.otherConditions.append("ct status \(negated ? "!= " : "")\(try values(right).joined(separator: ","))")
        case ("ct", "state"):
            try setOnce(\.connectionStates, ConnectionStateMatch(try values(right).map { $0.uppercased() }, negated: negated), body)
        case ("fib", _):
            let flags = selectorBody["flags"]?.array?.compactMap(\.string) ?? []
            guard selectorBody["result"]?.string == "type", flags == ["daddr"] || flags == ["saddr"] else {
                match.otherConditions.append("fib \(selectorBody.text) \(op) \(right.text)")
                return
            }
            let types = AddressTypeMatch(try values(right).map { $0.uppercased() }, negated: negated)
            try setOnce(flags == ["daddr"] ? \.destinationAddressType : \.sourceAddressType, types, body)
        default:
            match.otherConditions.append("\(left.text) \(op) \(right.text)")
        }
    }

    mutating func addPayload(protocol proto: String, field: String, _ right: JSONValue, negated: Bool, _ body: JSONValue) throws {
        switch (proto, field) {
        case ("ip", "saddr"):
            try setOnce(\.source, AddressMatch(try values(right).map(Self.prefix), negated: negated), body)
        case ("ip", "daddr"):
            try setOnce(\.destination, AddressMatch(try values(right).map(Self.prefix), negated: negated), body)
        case ("ip", "protocol"):
            try setProtocol(right, negated: negated, body)
        case ("tcp", "dport"), ("udp", "dport"), ("sctp", "dport"), ("th", "dport"),
            ("tcp", "sport"), ("udp", "sport"), ("sctp", "sport"), ("th", "sport"):
            if proto != "th", match.protocolName == nil { match.protocolName = ProtocolMatch(proto) }
            let ports = PortMatch(try portRanges(right), negated: negated)
            try setOnce(field == "dport" ? \.destinationPorts : \.sourcePorts, ports, body)
        default:
            match.otherConditions.append("\(proto) \(field) \(negated ? "!=" : "==") \(right.text)")
        }
    }

    mutating func setProtocol(_ right: JSONValue, negated: Bool, _ body: JSONValue) throws {
        let names = try values(right)
        guard names.count == 1, let name = names.first else {
            match.otherConditions.append("l4proto \(negated ? "!=" : "==") \(right.text)")
            return
        }
        match.protocolName = ProtocolMatch(name.lowercased(), negated: negated)
    }

    /// Sets a match field, or keeps a second condition on the same field as text.
    mutating func setOnce<Value>(_ field: WritableKeyPath<RuleMatch, Value?>, _ value: Value, _ body: JSONValue) throws {
        if match[keyPath: field] == nil {
            match[keyPath: field] = value
        } else {
            match.otherConditions.append(body.text)
        }
    }

    // MARK: values

    /// The right side as a list of strings: a value, an anonymous set, a named set (`@name`), a list,
    /// a prefix (`a.b.c.d/len`) or a range (`a-b`).
    func values(_ right: JSONValue) throws -> [String] {
        switch right {
        case .string(let text):
            if text.hasPrefix("@") {
                guard let elements = sets["\(setPrefix) \(text.dropFirst())"] else {
                    throw RuleSyntaxError("unknown set \(text)")
                }
                return try elements.flatMap { try values($0) }
            }
            return [text]
        case .number:
            guard let value = right.int else { throw RuleSyntaxError("unexpected number \(right.text)") }
            return [String(value)]
        case .array(let elements):
            return try elements.flatMap { try values($0) }
        case .object:
            if let elements = right["set"]?.array { return try elements.flatMap { try values($0) } }
            if let prefix = right["prefix"], let address = prefix["addr"]?.string, let length = prefix["len"]?.int {
                return ["\(address)/\(length)"]
            }
            if let bounds = right["range"]?.array, bounds.count == 2 {
                let low = try values(bounds[0])
                let high = try values(bounds[1])
                guard low.count == 1, high.count == 1 else { throw RuleSyntaxError("malformed range \(right.text)") }
                return ["\(low[0])-\(high[0])"]
            }
            throw RuleSyntaxError("unmodelled value \(right.text.prefix(160))")
        case .null, .bool:
            throw RuleSyntaxError("unexpected value \(right.text)")
        }
    }

    func portRanges(_ right: JSONValue) throws -> [PortRange] {
        try values(right).map { text in
            guard let range = PortText.range(Substring(text), separator: "-") else {
                throw RuleSyntaxError("malformed port \(text)")
            }
            return range
        }
    }

    func portRange(_ value: JSONValue, _ kind: String) throws -> PortRange {
        let ranges = try portRanges(value)
        guard ranges.count == 1, let range = ranges.first else { throw RuleSyntaxError("\(kind) port \(value.text)") }
        return range
    }

    func natAddress(_ body: JSONValue, _ kind: String) throws -> NATAddress {
        var address: String?
        var last: String?
        if let addr = body["addr"] {
            let texts = try values(addr)
            guard texts.count == 1, let text = texts.first else {
                throw RuleSyntaxError("\(kind) to several addresses \(addr.text.prefix(160))")
            }
            let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, bounds.allSatisfy({ IPv4Address($0) != nil }) else {
                throw RuleSyntaxError("\(kind) to \(text), not an IPv4 address")
            }
            address = String(bounds[0])
            last = bounds.count == 2 ? String(bounds[1]) : nil
        }
        let ports = try body["port"].map { try portRange($0, kind) }
        return NATAddress(address: address, lastAddress: last, ports: ports)
    }

    /// nftables writes an interface wildcard as `eth*`; the model uses iptables' `eth+`.
    static func interfaceName(_ name: String) -> String {
        name.hasSuffix("*") && !name.hasSuffix("\\*") ? String(name.dropLast()) + "+" : name
    }

    /// A bare address is a /32.
    static func prefix(_ text: String) -> String {
        text.contains("/") || text.contains("-") ? text : text + "/32"
    }
}
