#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FwdwatchCore

/// The outcome of reading the firewall: the rules, or why they cannot be read at all.
public enum FirewallReading: Sendable, Equatable {
    case state(FirewallState)
    /// Nothing could be read (no CAP_NET_ADMIN, no tool installed); the reason is a sentence for the log.
    case unavailable(reason: String)
}

/// Reads the host's netfilter rules by running the tools that own them:
///
/// - `iptables-nft-save -c` (or `iptables-save -c` when `iptables-save -V` says `nf_tables`),
/// - `iptables-legacy-save -c` (or `iptables-save -c` when it says `legacy`), kept only when the legacy
///   tables hold rules (a non-empty chain, a user chain, or a DROP policy),
/// - the kernel's table list (`NFT_MSG_GETTABLE`), then `nft -j list table` for each native `ip`/`inet`
///   table (leaving out the tables iptables-nft listed: reading them again as JSON cost seconds on a
///   kube-proxy node).
///
/// Reading needs CAP_NET_ADMIN. Each tool runs with a time and output bound; the calling thread blocks
/// meanwhile and the tools see the calling thread's network namespace.
public struct FirewallReader: Sendable {
    /// Directories searched for the tools, in order.
    public var toolDirectories: [String]
    public var runner: ToolRunner
    /// How the nf_tables tables are listed before `nft -j list table` reads the native ones.
    public var tableListing: TableListing

    /// `kernel`: an NFT_MSG_GETTABLE dump (fast; needs CAP_NET_ADMIN like nft). `nft`: `nft -j list
    /// tables` through the runner (what tests with stand-in tools use).
    public enum TableListing: Sendable { case kernel, nft }

    public init(
        toolDirectories: [String] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"], runner: ToolRunner = ToolRunner(),
        tableListing: TableListing = .kernel
    ) {
        self.toolDirectories = toolDirectories
        self.runner = runner
        self.tableListing = tableListing
    }

    /// The reason given when the tools are refused for lack of privilege.
    public static let needsCapability = "reading firewall rules needs CAP_NET_ADMIN; NAT checks are off"

    public func read() -> FirewallReading {
        var state = FirewallState()
        var refused: [String] = []
        var anyToolRan = false
        /// Whether some tool printed its rules (possibly none): then the reading stands, even if another
        /// tool was refused (iptables-legacy-save needs root for /proc/net/ip_tables_names, which
        /// CAP_NET_ADMIN alone does not give).
        var anyToolRead = false

        let generic = tool("iptables-save")
        let genericBackend = generic.flatMap(backend(of:))
        let nftSave = tool("iptables-nft-save") ?? (genericBackend == .iptablesNFT ? generic : nil)
        let legacySave = tool("iptables-legacy-save") ?? (genericBackend == .iptablesLegacy ? generic : nil)

        for (path, backend) in [(nftSave, FirewallBackend.iptablesNFT), (legacySave, .iptablesLegacy)] {
            guard let path else { continue }
            anyToolRan = true
            switch run(path, ["-c"]) {
            case .refused(let message): refused.append(message)
            case .failed(let message): state.problems.append(message)
            case .output(let text):
                anyToolRead = true
                let parsed = IptablesSaveParser.parse(text, backend: backend)
                if backend == .iptablesLegacy && !Self.holdsRules(parsed) { continue }
                // A table iptables-nft cannot show holds native nft chains: nft -j lists it below.
                let native = backend == .iptablesNFT ? Self.incompatibleTables(in: text) : []
                state.tables += parsed.tables.filter { !native.contains($0.name) }
                state.problems += parsed.problems
            }
        }
        if nftSave == nil && legacySave == nil {
            state.problems.append("no iptables-save found in \(toolDirectories.joined(separator: ":")): iptables rules not read")
        }

        if let nft = tool("nft") {
            anyToolRan = true
            let iptablesTables = Set(state.tables.filter { $0.backend == .iptablesNFT }.map { "ip \($0.name)" })
            // List the tables first and read only the native ones: on a kube-proxy or big Docker host the
            // iptables-nft tables are most of a many-megabyte `list ruleset`, and they were read above.
            // Ask the kernel which tables exist and run nft only for the native ones: on a kube-proxy or
            // big Docker host the iptables-nft tables are most of a many-megabyte `list ruleset`, they were
            // read above, and even `nft -j list tables` builds nft's whole cache (0.3 s at 2,000 services).
            switch listTables(nft) {
            case .failure(let failure) where failure.refused:
                refused.append(failure.reason)
            case .failure(let failure):
                state.problems.append("\(failure.reason); native tables not read")
            case .success(let tables):
                anyToolRead = true
                for (family, name) in tables {
                    guard ["ip", "inet"].contains(family), !iptablesTables.contains("\(family) \(name)") else { continue }
                    switch run(nft, ["-j", "list", "table", family, name]) {
                    case .refused(let message): refused.append(message)
                    case .failed(let message): state.problems.append(message)
                    case .output(let table):
                        let parsed = NftablesRulesetParser.parse(table, excluding: iptablesTables)
                        state.tables += parsed.tables
                        state.problems += parsed.problems
                    }
                }
            }
        } else {
            state.problems.append("no nft found in \(toolDirectories.joined(separator: ":")): native nftables rules not read")
        }

        guard anyToolRan else {
            return .unavailable(reason: "neither iptables-save nor nft is installed; NAT checks are off")
        }
        if !refused.isEmpty && !anyToolRead {
            return .unavailable(reason: "\(Self.needsCapability) (\(refused[0]))")
        }
        state.problems += refused
        return .state(state)
    }

    /// The tables iptables-nft-save could not show because native nftables chains live in them; it
    /// prints only a comment and the built-in chains for them ("# Table `nat' contains incompatible
    /// base-chains, use 'nft' tool to list them.", or "# Table `nat' is incompatible, ..." in other versions).
    static func incompatibleTables(in text: String) -> Set<String> {
        var names = Set<String>()
        // Only comment lines can say so: skip every other line without splitting the whole text.
        let utf8 = text.utf8
        var rest = utf8[...]
        while let hash = rest.firstIndex(of: UInt8(ascii: "#")) {
            let end = utf8[hash...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            let line = Substring(text[hash..<end])
            rest = utf8[end...]
            guard line.hasPrefix("# Table `"), line.contains("incompatible") else { continue }
            let name = line.dropFirst("# Table `".count).prefix { $0 != "'" }
            if !name.isEmpty { names.insert(String(name)) }
        }
        return names
    }

    /// Whether a legacy reading holds anything: on a host that uses iptables-nft, iptables-legacy-save
    /// prints nothing or empty built-in tables.
    static func holdsRules(_ state: FirewallState) -> Bool {
        state.tables.contains { table in
            table.chains.values.contains { chain in
                !chain.rules.isEmpty || chain.base == nil || chain.base?.policy == .drop
            }
        }
    }

    /// The nf_tables tables, (family, name).
    func listTables(_ nft: String) -> Result<[(family: String, name: String)], NftablesTableList.Failure> {
        switch tableListing {
        case .kernel:
            return NftablesTableList.read().mapError { .init(reason: "nf_tables: \($0.reason)", refused: $0.refused) }
        case .nft:
            switch run(nft, ["-j", "list", "tables"]) {
            case .refused(let message): return .failure(.init(reason: message, refused: true))
            case .failed(let message): return .failure(.init(reason: message, refused: false))
            case .output(let json): return .success(NftablesRulesetParser.tableNames(json))
            }
        }
    }

    /// The first executable `name` in `toolDirectories`.
    func tool(_ name: String) -> String? {
        toolDirectories.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// Which backend a generic `iptables-save` uses, from its `-V` line (`... (nf_tables)` or `(legacy)`).
    func backend(of path: String) -> FirewallBackend? {
        guard case .output(let text) = run(path, ["-V"]) else { return nil }
        if text.contains("(nf_tables)") { return .iptablesNFT }
        if text.contains("(legacy)") { return .iptablesLegacy }
        return nil
    }

    /// What one tool run gave.
    enum ToolResult {
        case output(String)
        /// Refused for lack of privilege; the tool's message.
        case refused(String)
        case failed(String)
    }

    func run(_ path: String, _ arguments: [String]) -> ToolResult {
        let command = ([path] + arguments).joined(separator: " ")
        let output: ToolOutput
        do {
            output = try runner.run(path, arguments)
        } catch {
            return .failed("\(command): \(error)")
        }
        let stderr = output.stderr.split(separator: "\n").prefix(3).joined(separator: " / ")
        if output.timedOut { return .failed("\(command): no answer within \(runner.timeout); not read") }
        if output.truncated { return .failed("\(command): more than \(runner.outputLimit) bytes of output; not read") }
        guard output.status == 0 else {
            let privilege = ["Permission denied", "Operation not permitted", "must be root"]
            if privilege.contains(where: { stderr.contains($0) }) { return .refused("\(command): \(stderr)") }
            return .failed("\(command) exited with status \(output.status): \(stderr)")
        }
        return .output(output.stdout)
    }
}
