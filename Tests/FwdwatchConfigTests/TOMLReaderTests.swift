import Foundation
import FwdwatchConfig
import FwdwatchCore
import FwdwatchTestSupport
import Testing

/// `TOMLReader`: the TOML subset fwdwatch.toml needs, read with TOML 1.0 semantics; everything else is an error
/// with its line and column.
@Suite struct TOMLReaderTests {
    static func read(_ text: String) throws -> TOMLTable { try TOMLReader.parse(text) }

    static func entry(_ table: TOMLTable, _ path: String...) -> TOMLEntry? {
        var table = table
        for key in path.dropLast() {
            guard let next = table[key]?.table else { return nil }
            table = next
        }
        return table.entries.first { $0.key == path.last }
    }

    // MARK: Accepted

    @Test func everyAcceptedConstruct() throws {
        let text = """
            # a comment line
            top = "level"   # a comment after a value
            [a]
            bare-key_1 = true
            "quoted key" = false
            'literal key' = 1
            "" = 'empty key'
            [a . "b.c" . 'd']   # quoted and spaced header parts
            int = +1_000
            negative = -42
            zero = 0
            float = 0.90
            exponent = 5e+2
            both = -1.5E-3
            under = 1_0.0_1
            infinity = -inf
            [x.y]
            [x]
            z = 1
            """
        let root = try Self.read(text)
        #expect(root.entries.map(\.key) == ["top", "a", "x"])
        #expect(Self.entry(root, "top") == TOMLEntry(key: "top", value: .string("level"), line: 2))
        #expect(Self.entry(root, "a", "bare-key_1")?.value == .boolean(true))
        #expect(Self.entry(root, "a", "quoted key")?.value == .boolean(false))
        #expect(Self.entry(root, "a", "literal key")?.value == .integer(1))
        #expect(Self.entry(root, "a", "")?.value == .string("empty key"))
        let d = try #require(Self.entry(root, "a", "b.c", "d"))
        #expect(d.line == 8)
        let values = try #require(d.value.table).entries.map(\.value)
        #expect(values.prefix(6) == [.integer(1000), .integer(-42), .integer(0), .float(0.9), .float(500), .float(-0.0015)])
        #expect(values[6] == .float(10.01) && values[7] == .float(-.infinity))
        // [x] after [x.y] defines the implicit table; the entry moves to the header's line.
        #expect(Self.entry(root, "x")?.line == 18)
        #expect(Self.entry(root, "x", "z") == TOMLEntry(key: "z", value: .integer(1), line: 19))
        #expect(Self.entry(root, "x", "y")?.value == .table(TOMLTable()))
    }

    @Test func strings() throws {
        let root = try Self.read(
            #"""
            basic = "tab\there \"quoted\" back\\slash \b\f\n\r \u00e9 \U0001F600 é"
            literal = 'C:\path\n "as is"'
            empty = ""
            emptyLiteral = ''
            tab = "a	b"
            hash = "# not a comment" # a comment
            """#)
        #expect(root["basic"] == .string("tab\there \"quoted\" back\\slash \u{8}\u{C}\n\r é 😀 é"))
        #expect(root["literal"] == .string(#"C:\path\n "as is""#))
        #expect(root["empty"] == .string("") && root["emptyLiteral"] == .string(""))
        #expect(root["tab"] == .string("a\tb"))
        #expect(root["hash"] == .string("# not a comment"))
    }

    @Test func integerLimits() throws {
        #expect(try Self.read("a = 9_223_372_036_854_775_807")["a"] == .integer(Int.max))
        #expect(try Self.read("a = -9223372036854775808")["a"] == .integer(Int.min))
        #expect(try Self.read("a = +nan")["a"]?.double?.isNaN == true)
    }

    @Test func arraysAndInlineTables() throws {
        let root = try Self.read(
            """
            empty = [ ]
            multi = [
              "a",   # first
              'b',
              # a comment line inside
              3, 4.5, true,  # mixed types are TOML 1.0
            ]
            nested = [[1, 2], ["x"], []]
            inline = { a = 1, "b c" = ["x", "y"], t = { u = false } }
            none = {}
            crlf = [1,\r\n2]
            """)
        #expect(root["empty"] == .array([]))
        #expect(root["multi"] == .array([.string("a"), .string("b"), .integer(3), .float(4.5), .boolean(true)]))
        #expect(root["nested"] == .array([.array([.integer(1), .integer(2)]), .array([.string("x")]), .array([])]))
        let inline = try #require(root["inline"]?.table)
        #expect(inline.entries.map(\.key) == ["a", "b c", "t"])
        #expect(inline["t"] == .table(TOMLTable(entries: [TOMLEntry(key: "u", value: .boolean(false), line: 9)])))
        #expect(root["none"] == .table(TOMLTable()))
        #expect(root["crlf"] == .array([.integer(1), .integer(2)]))
        #expect(Self.entry(root, "crlf")?.line == 11)
    }

    @Test func lineEndingsByteOrderMarkAndEndOfFile() throws {
        #expect(try Self.read("").entries.isEmpty)
        #expect(try Self.read("\n\n   \t\n# only a comment").entries.isEmpty)
        let crlf = try Self.read("\u{FEFF}[t]\r\n# c\r\nk = 1 # c\r\nl = 'x'")
        #expect(Self.entry(crlf, "t", "k")?.line == 3 && Self.entry(crlf, "t", "l")?.line == 4)
    }

    // MARK: Rejected

    /// Every construct outside the subset, and every TOML error, names its line and column.
    @Test(arguments: [
        // Outside the subset fwdwatch.toml needs.
        ("a.b = 1", 1, 2, "dotted keys (a.b = ...) are not supported"),
        ("[t]\nx = { a.b = 1 }", 2, 8, "dotted keys"),
        ("[[t]]", 1, 1, "arrays of tables ([[...]]) are not supported"),
        ("a = \"\"\"\nx\"\"\"", 1, 5, "multi-line strings (\"\"\"...\"\"\") are not supported"),
        ("a = '''x'''", 1, 5, "multi-line strings ('''...''') are not supported"),
        ("a = 1979-05-27", 1, 5, "dates and times are not supported"),
        ("a = 1979-05-27T07:32:00Z", 1, 5, "dates and times are not supported"),
        ("a = 07:32:00", 1, 5, "dates and times are not supported"),
        ("\n a = 0x1F", 2, 6, "hexadecimal, octal and binary integers are not supported"),
        ("a = 0o17", 1, 5, "hexadecimal, octal and binary"),
        ("a = 0b1", 1, 5, "hexadecimal, octal and binary"),
        // Tables and keys defined twice.
        ("a = 1\na = 2", 2, 1, "duplicate key \"a\" (first on line 1)"),
        ("a = 1\n\"a\" = 2", 2, 1, "duplicate key \"a\""),
        ("[t]\n[t]", 2, 1, "table [t] is defined twice (first on line 1)"),
        ("[t.u]\n[t]\n[t.u]", 3, 1, "table [t.u] is defined twice (first on line 1)"),
        ("[t]\nu = 1\n[t.u]", 3, 1, "t.u is already a value (line 2), not a table"),
        ("[t]\nu = 1\n[t.u.v]", 3, 1, "t.u is already a value (line 2), not a table"),
        ("t = {}\n[t]", 2, 1, "t is an inline table (line 1): it cannot be extended by a header"),
        ("[r]\ns = { a = 1 }\n[r.s]", 3, 1, "r.s is an inline table (line 2)"),
        ("a = { b = 1, b = 2 }", 1, 14, "duplicate key \"b\" (first on line 1)"),
        // Keys and headers.
        ("= 1", 1, 1, "expected a key, saw '='"),
        ("a 1", 1, 3, "expected '=' after the key, saw '1'"),
        ("a", 1, 2, "expected '=' after the key, saw the end of the file"),
        ("a b = 1", 1, 3, "expected '=' after the key, saw 'b'"),
        ("[a b]", 1, 4, "expected '.' or ']' in the table header, saw 'b'"),
        ("[a.]", 1, 4, "expected a key, saw ']'"),
        ("[a", 1, 3, "expected '.' or ']' in the table header, saw the end of the file"),
        ("[a] b = 1", 1, 5, "expected the end of the line, saw 'b'"),
        ("é = 1", 1, 1, "expected a key, saw 'é' (U+00E9) (only ASCII is allowed outside strings and comments)"),
        // Values.
        ("a =", 1, 4, "expected a value, saw the end of the file"),
        ("a = \n", 1, 5, "expected a value (a string, number, true, false, array or inline table), saw the end of the line"),
        ("a = journal", 1, 5, "'journal' is not a value: strings are written in quotes (\"journal\")"),
        ("a = True", 1, 5, "'True' is not a value"),
        ("a = 1 2", 1, 7, "expected the end of the line, saw '2'"),
        ("a = \"x\" \"y\"", 1, 9, "expected the end of the line, saw '\"'"),
        ("a = 01", 1, 5, "'01': leading zeros are not allowed"),
        ("a = 1__0", 1, 5, "'1__0' is not a number"),
        ("a = 1_", 1, 5, "'1_' is not a number"),
        ("a = _1", 1, 5, "'_1' is not a number"),
        ("a = 1.", 1, 5, "'1.' is not a number (a digit must follow the '.')"),
        ("a = .5", 1, 5, "'.5' is not a number"),
        ("a = 1e", 1, 5, "'1e' is not a number (digits must follow the exponent)"),
        ("a = 1.5.5", 1, 5, "'1.5.5' is not a number"),
        ("a = +", 1, 5, "'+' is not a number"),
        ("a = 5abc", 1, 5, "'5abc' is not a number"),
        ("a = 9223372036854775808", 1, 5, "out of the range of a 64-bit integer"),
        ("a = 1e400", 1, 5, "out of the range of a float"),
        ("a = -0x1", 1, 5, "'-0x1' is not a number"),
        // Strings.
        ("a = \"open", 1, 5, "the string is not closed on its line"),
        ("a = \"open\nb = 1\"", 1, 5, "the string is not closed on its line"),
        ("a = 'open", 1, 5, "the string is not closed on its line"),
        ("a = \"\\x\"", 1, 6, "unknown escape sequence '\\x' in a string"),
        ("a = \"\\u00\"", 1, 6, "\\u takes 4 hexadecimal digits"),
        ("a = \"\\uD800\"", 1, 6, "\\u names no Unicode scalar value"),
        ("a = \"\\U00110000\"", 1, 6, "\\U names no Unicode scalar value"),
        ("a = \"\u{1}\"", 1, 6, "U+0001 is not allowed in a string"),
        ("a = 'x\u{7F}'", 1, 7, "U+007F is not allowed in a literal string"),
        ("a = \"\u{0}\"", 1, 6, "U+0000 is not allowed in a string"),
        // Arrays and inline tables.
        ("a = [1,,2]", 1, 8, "expected a value (a string, number, true, false, array or inline table), saw ','"),
        ("a = [,]", 1, 6, "saw ','"),
        ("a = [1 2]", 1, 8, "expected ',' or ']' in the array, saw '2'"),
        ("a = [1,\n2", 2, 2, "the array is not closed: expected ',' or ']'"),
        ("a = [", 1, 6, "the array is not closed: expected a value or ']'"),
        ("a = {b = 1,}", 1, 12, "a trailing comma is not allowed in an inline table"),
        ("a = {b = 1\n}", 1, 11, "an inline table must be written on one line"),
        ("a = {\nb = 1}", 1, 6, "an inline table must be written on one line"),
        ("a = {b = 1", 1, 11, "the inline table is not closed: expected '}'"),
        ("a = {b = 1 c = 2}", 1, 12, "expected ',' or '}' in the inline table, saw 'c'"),
        ("a = {b}", 1, 7, "expected '=' after the key, saw '}'"),
        // Comments, control characters and line endings.
        ("# bell \u{7}", 1, 8, "U+0007 is not allowed in a comment"),
        ("a = 1\rb = 2", 1, 6, "a carriage return must be followed by a line feed"),
        ("a = 1 \u{0}", 1, 7, "expected the end of the line, saw U+0000"),
        ("a = [1, \u{2028}]", 1, 9, "saw '\u{2028}' (U+2028)"),
    ])
    func rejected(text: String, line: Int, column: Int, reason: String) {
        do {
            let table = try TOMLReader.parse(text)
            Issue.record("accepted \(text.debugDescription): \(table)")
        } catch {
            #expect(error.line == line && error.column == column, "\(text.debugDescription): \(error)")
            #expect(error.reason.contains(reason), "\(text.debugDescription): \(error)")
        }
    }

    @Test func nestingIsBounded() throws {
        let depth = TOMLReader.maxDepth
        #expect(try Self.read("a = " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))["a"] != nil)
        let deep = "a = " + String(repeating: "[", count: 100_000)
        #expect(throws: TOMLError(line: 1, column: 5 + depth, reason: "arrays and inline tables nested more than \(depth) deep")) {
            try Self.read(deep)
        }
        let braces = "a = " + String(repeating: "{b = ", count: 1000)
        #expect(throws: TOMLError.self) { try Self.read(braces) }
        let parts = Array(repeating: "a", count: depth)
        #expect(try Self.read("[" + parts.joined(separator: ".") + "]").entries.count == 1)
        #expect(throws: TOMLError(line: 1, column: 1, reason: "a table header with more than \(depth) parts")) {
            try Self.read("[" + (parts + ["a"]).joined(separator: ".") + "]")
        }
    }

    /// Errors about a key name it in the key field, with the line of the second definition.
    @Test func duplicateKeyErrorNamesTheKey() {
        let text = "[rules]\ndisable = []\ndisable = [\"bridge-down\"]\n"
        #expect(
            throws: ConfigurationError(
                path: "f.toml", line: 3, column: 1, key: "rules.disable",
                reason: "not valid TOML: duplicate key \"disable\" (first on line 2)")
        ) { try ConfigurationParser.parse(text, path: "f.toml") }
        let description = "f.toml:3:1: rules.disable: not valid TOML: duplicate key \"disable\" (first on line 2)"
        #expect((try? ConfigurationParser.parse(text, path: "f.toml")) == nil)
        do {
            _ = try ConfigurationParser.parse(text, path: "f.toml")
        } catch {
            #expect(error.description == description)
        }
    }

    // MARK: The files fwdwatch ships and documents

    static let root = packageRoot()

    /// packaging/fwdwatch.toml, the man page's EXAMPLES and README's Configuration example all parse.
    @Test func shippedAndDocumentedFilesParse() throws {
        let shipped = try String(contentsOfFile: Self.root + "/packaging/fwdwatch.toml", encoding: .utf8)
        #expect(try Self.read(shipped).entries.map(\.key) == [
            "rules", "interfaces", "bridges", "conntrack", "daemon", "metrics", "repair", "drops",
        ])

        let page = try String(contentsOfFile: Self.root + "/packaging/man/fwdwatch.toml.5", encoding: .utf8)
        let example = try #require(Self.manPageExample(page))
        let fromPage = try ConfigurationParser.parse(example, path: "fwdwatch.toml.5")
        #expect(fromPage.settings.disabledRules == ["bridge-nf-call-disabled"])
        #expect(fromPage.settings.severityOverrides == ["default-route-missing": .info])
        #expect(fromPage.settings.watchedBridges.map(\.pattern) == ["docker0", "br-*"])
        #expect(fromPage.metrics.listen?.description == "127.0.0.1:10039" && fromPage.repair.maxPerHour == 3)

        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "```toml\n").dropFirst().first?.components(separatedBy: "```").first)
        let fromReadme = try ConfigurationParser.parse(block, path: "README.md")
        #expect(fromReadme.settings.ignoredInterfaces.map(\.pattern) == ["tun*", "wg*"])
        #expect(fromReadme.metrics.textfileDirectory == "/var/lib/prometheus/node-exporter")
    }

    /// The man page says `[rules.severity]` may also be written inline under `[rules]`.
    @Test func severityInlineUnderRules() throws {
        let configuration = try ConfigurationParser.parse(
            "[rules]\nseverity = { default-route-missing = \"info\" }\n", path: "i.toml")
        #expect(configuration.settings.severityOverrides == ["default-route-missing": .info])
        #expect(throws: ConfigurationError(path: "i.toml", line: 3, column: 1, key: "rules.severity",
            reason: "not valid TOML: rules.severity is an inline table (line 2): it cannot be extended by a header")) {
            try ConfigurationParser.parse(
                "[rules]\nseverity = { default-route-missing = \"info\" }\n[rules.severity]\n", path: "i.toml")
        }
    }

    /// Every seed of the config fuzz target is read without crashing; the valid ones are accepted.
    @Test func fuzzSeedsNeverCrash() throws {
        let corpus = Self.root + "/Fuzz/corpus/config"
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus).sorted()
        #expect(names.count >= 10)
        var accepted: [String] = []
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: corpus + "/" + name))
            if (try? TOMLReader.parse(String(decoding: bytes, as: UTF8.self))) != nil { accepted.append(name) }
        }
        #expect(accepted == [
            "bad-severity.toml", "empty.toml", "every-key.toml", "inline-table.toml", "inverted-fill.toml",
            "packaged-default.toml", "reader-crlf.toml", "reader-subset.toml", "unknown-key.toml", "unknown-table.toml",
        ])
        // The seeds written for the reader are whole configurations.
        let subset = try ConfigurationParser.parse(
            try String(contentsOfFile: corpus + "/reader-subset.toml", encoding: .utf8), path: "s.toml")
        #expect(subset.settings.severityOverrides == ["default-route-missing": .info, "bridge-down": .warning])
        #expect(subset.settings.ignoredInterfaces.map(\.pattern) == ["tun*", "wg\t?", "[!e]th*"])
        #expect(subset.daemon.sweepInterval == .seconds(1.05) && subset.daemon.coalescingWindow == .milliseconds(20))
        let crlf = try ConfigurationParser.parse(
            try String(contentsOfFile: corpus + "/reader-crlf.toml", encoding: .utf8), path: "c.toml")
        #expect(crlf.settings.conntrackWarningRatio == 0.5 && crlf.repair == RepairPolicy(forwarding: true, maxPerHour: 1000))
        #expect(throws: ConfigurationError(path: "r.toml", line: 3, column: 1, key: "rules.disable",
            reason: "not valid TOML: duplicate key \"disable\" (first on line 2)")) {
            try ConfigurationParser.parse(
                try String(contentsOfFile: corpus + "/reader-rejected.toml", encoding: .utf8), path: "r.toml")
        }
    }

    /// The lines of the EXAMPLES section's first `.nf` block, with groff's escapes undone.
    static func manPageExample(_ page: String) -> String? {
        guard let section = page.components(separatedBy: ".SH EXAMPLES\n").dropFirst().first,
            let block = section.components(separatedBy: ".nf\n").dropFirst().first?.components(separatedBy: ".fi\n").first
        else { return nil }
        return block.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\(dq", with: "\"")
    }
}
