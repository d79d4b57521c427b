import Foundation
import FwdwatchConfig
import FwdwatchCore
import FwdwatchTestSupport
import Testing

/// Inputs the fuzz targets (Fuzz/) found crashing fwdwatch, kept so they never crash it again.
///
/// All of these made toml++ (inside TOMLKit, the TOML library fwdwatch used before its own `TOMLReader`) fail an
/// `assert` and abort the process: `fwdwatch check --config` and a SIGHUP reload died on them. The reader that
/// replaced it must report each as a syntax error with the file, line and column.
@Suite struct FuzzRegressionTests {
    static func syntaxError(_ text: String) -> ConfigurationError? {
        do {
            _ = try ConfigurationParser.parse(text, path: "/etc/fwdwatch/fwdwatch.toml")
            return nil
        } catch {
            return error
        }
    }

    /// toml++ asserted (`parse_key(): Assertion 'is_bare_key_character(*cp) || is_string_delimiter(*cp)'`) on a
    /// table header whose name starts with a character no key can start with. Found by
    /// Fuzz/Targets/ConfigFuzzTarget.swift with `[\u{FFFD}lu]es`.
    @Test(arguments: [
        ("[\u{FFFD}lu]es\ndisabel = [\"x\"]\n", 1, 2, "'\u{FFFD}' (U+FFFD) (only ASCII is allowed outside strings and comments)"),
        ("[=]\n", 1, 2, "'='"),
        ("[#]\n", 1, 2, "'#'"),
        ("[ ,]\n", 1, 3, "','"),
        ("[\n", 1, 2, "the end of the line"),
        ("[ \r\n", 1, 3, "the end of the line"),
        ("[\u{0B}]\n", 1, 2, "U+000B (only ASCII is allowed outside strings and comments)"),
        ("[é]\n", 1, 2, "'é' (U+00E9) (only ASCII is allowed outside strings and comments)"),
        ("\u{FEFF}[=]\n", 1, 2, "'='"),
        ("# fine so far\n[rules]\ndisable = []\n\n  [=]\n", 5, 4, "'='"),
        ("[]\n", 1, 2, "']'"),
        ("[ [a]]\n", 1, 3, "'['"),
    ])
    func badTableHeaderIsAnError(text: String, line: Int, column: Int, saw: String) throws {
        let error = try #require(Self.syntaxError(text))
        #expect(error.line == line && error.column == column, "\(error)")
        #expect(error.reason == "not valid TOML: expected a table name after '[', saw \(saw)", "\(error)")
        #expect(error.description.hasPrefix("/etc/fwdwatch/fwdwatch.toml:\(line):\(column): not valid TOML: "))
    }

    /// `[[a]]` opens an array of tables, which fwdwatch.toml never uses (toml++ asserted on `[[{]]` and `[[[a]]]`).
    @Test(arguments: ["[[{]]\n", "[[[a]]]\n", "[[rules]]\n"])
    func arrayOfTablesIsAnError(text: String) throws {
        let error = try #require(Self.syntaxError(text))
        #expect(error.line == 1 && error.column == 1)
        #expect(error.reason == "not valid TOML: arrays of tables ([[...]]) are not supported in fwdwatch.toml")
    }

    /// toml++ asserted (`parse_value(): Assertion '!is_value_terminator(*cp)'`) on `}` or a Unicode line separator
    /// where an array expects a value. Found with `ignore = ["\u{9B}...\\u00e9*",} """mu...`.
    @Test(arguments: [
        ("[interfaces]\nignore = [\"\u{FFFD}\\u00e9*\",} \"\"\"mu\u{FFFD}i\nline\"\"\"]\n", 2, 22, "'}'"),
        ("a = [}]\n", 1, 6, "'}'"),
        ("a = [ # comment\n }]\n", 2, 2, "'}'"),
        ("a = {b = [[1], }]}\n", 1, 16, "'}'"),
        ("a = [\u{2028}]\n", 1, 6, "'\u{2028}' (U+2028) (only ASCII is allowed outside strings and comments)"),
        ("a = [\u{85}]\n", 1, 6, "U+0085 (only ASCII is allowed outside strings and comments)"),
        ("[rules]\ndisable = [\"bridge-down\",\u{2029}]\n", 2, 26, "'\u{2029}' (U+2029) (only ASCII is allowed outside strings and comments)"),
        ("a = [\u{0B}]\n", 1, 6, "U+000B (only ASCII is allowed outside strings and comments)"),
    ])
    func badArrayIsAnError(text: String, line: Int, column: Int, saw: String) throws {
        let error = try #require(Self.syntaxError(text))
        #expect(error.line == line && error.column == column, "\(error)")
        #expect(
            error.reason
                == "not valid TOML: expected a value (a string, number, true, false, array or inline table), saw \(saw)",
            "\(error)")
    }

    /// toml++ asserted (`parse_time(): Assertion 'is_decimal_digit(*cp)'`) on a date-time without a digit after
    /// its `T`. Found with `x = 1979-05-27TO07:32:00Z`. fwdwatch.toml takes no dates: every one is an error.
    @Test(arguments: [
        ("[rules]\nx = 1979-05-27TO07:32:00Z\n[a.b.c]\n\"quoted key\" = 0h10\n", 2, 5),
        ("x = 1979-05-27t:07:32\n", 1, 5),
        ("x = 1979-05-27T.07:32\n", 1, 5),
        ("x = [\n  1979-05-27T07:32:00Z,\n  1979-05-27TO07:32:00Z]\n", 2, 3),
        ("x = {a = 1979-05-27T\u{FFFD}07:32}\n", 1, 10),
        ("x = 1979-05-27 07:32:00\n", 1, 5),
        ("x = 07:32:00\n", 1, 5),
    ])
    func dateTimeIsAnError(text: String, line: Int, column: Int) throws {
        let error = try #require(Self.syntaxError(text))
        #expect(error.line == line && error.column == column, "\(error)")
        #expect(error.reason == "not valid TOML: dates and times are not supported in fwdwatch.toml")
    }

    /// A bare key shaped like a date-time is a key, not a value.
    @Test func dateTimeShapedKeyIsNotMistakenForAValue() {
        #expect {
            try ConfigurationParser.parse("[daemon]\n1979-05-27Tx = 1\n", path: "x.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == 2 && error.key == "daemon.1979-05-27Tx"
        }
    }

    /// Brackets, braces, non-ASCII and line separators inside strings and comments are text, not structure.
    @Test func bracketsInStringsAndCommentsAreText() throws {
        let text = """
            # [=] in a comment, with é and \u{2028} and }
            [interfaces]
            ignore = [
              "tun*",
              "[=]x", # ,}
              'é\u{2028}',
            ]
            [bridges]
            watch = ['[=]', "[#]\\u2028"]
            [ "rules" ]
            disable = [  ]
            """
        let configuration = try ConfigurationParser.parse(text, path: "ok.toml")
        #expect(configuration.settings.ignoredInterfaces.map(\.pattern) == ["tun*", "[=]x", "é\u{2028}"])
        #expect(configuration.settings.watchedBridges.map(\.pattern) == ["[=]", "[#]\u{2028}"])
    }

    /// The committed crash inputs (Fuzz/corpus/config/crash-*) are errors, not crashes.
    @Test func committedCrashInputsAreErrors() throws {
        let corpus = packageRoot() + "/Fuzz/corpus/config"
        for name in [
            "crash-array-closing-brace.toml", "crash-array-line-separator.toml", "crash-date-time-without-time.toml",
            "crash-table-header-equals.toml", "crash-table-header-invalid-utf8.toml",
        ] {
            // The fuzz target repairs invalid UTF-8 the same way (String(decoding:as:)).
            let bytes = try #require(FileManager.default.contents(atPath: corpus + "/" + name), "\(name)")
            let error = try #require(Self.syntaxError(String(decoding: bytes, as: UTF8.self)), "\(name)")
            #expect(error.line != nil && error.column != nil && error.reason.hasPrefix("not valid TOML: "), "\(name)")
        }
    }
}
