import FwdwatchConfig
import FwdwatchCore
import Testing

/// Inputs the fuzz targets (Fuzz/) found crashing fwdwatch, kept so they never crash it again.
@Suite struct FuzzRegressionTests {
    /// toml++ (inside TOMLKit) aborted the process with an assertion (`parse_key(): Assertion
    /// 'is_bare_key_character(*cp) || is_string_delimiter(*cp)' failed`) on a table header whose name
    /// starts with a character no key can start with. Found by Fuzz/Targets/ConfigFuzzTarget.swift with
    /// `[\u{FFFD}lu]es`; `fwdwatch check --config` and a SIGHUP reload died on it.
    @Test(arguments: [
        ("[\u{FFFD}lu]es\ndisabel = [\"x\"]\n", 1, "'\u{FFFD}' (U+FFFD)"),
        ("[=]\n", 1, "'='"),
        ("[#]\n", 1, "'#'"),
        ("[ ,]\n", 1, "','"),
        ("[[{]]\n", 1, "'{'"),
        ("[[[a]]]\n", 1, "'['"),
        ("[\n", 1, "the end of the line"),
        ("[ \r\n", 1, "the end of the line"),
        ("[\u{0B}]\n", 1, "U+000B"),
        ("[é]\n", 1, "'é' (U+00E9)"),
        ("\u{FEFF}[=]\n", 1, "'='"),
        ("# fine so far\n[rules]\ndisable = []\n\n  [=]\n", 5, "'='"),
    ])
    func tableHeaderThatAbortedTOMLKitIsAnError(text: String, line: Int, saw: String) {
        #expect {
            try ConfigurationParser.parse(text, path: "/etc/fwdwatch/fwdwatch.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == line && error.reason.hasPrefix("not valid TOML: expected a table name after '['")
                && error.reason.hasSuffix("saw \(saw)")
                && error.description.hasPrefix("/etc/fwdwatch/fwdwatch.toml:\(line): ")
        }
    }

    /// toml++ aborted (`parse_value(): Assertion '!is_value_terminator(*cp)' failed`) on `}` or a Unicode
    /// line separator where an array expects a value. Found by the same target with
    /// `ignore = ["\u{9B}...\\u00e9*",} """mu...`.
    @Test(arguments: [
        ("[interfaces]\nignore = [\"\u{FFFD}\\u00e9*\",} \"\"\"mu\u{FFFD}i\nline\"\"\"]\n", 2, "expected a value, ',' or ']' in the array, saw '}'"),
        ("a = [}]\n", 1, "expected a value, ',' or ']' in the array, saw '}'"),
        ("a = [ # comment\n }]\n", 2, "expected a value, ',' or ']' in the array, saw '}'"),
        ("a = {b = [[1], }]}\n", 1, "expected a value, ',' or ']' in the array, saw '}'"),
        ("a = [\u{2028}]\n", 1, "'\u{2028}' (U+2028) outside a string or comment (TOML allows only ASCII there)"),
        ("a = [\u{85}]\n", 1, "U+0085 outside a string or comment (TOML allows only ASCII there)"),
        ("[rules]\ndisable = [\"bridge-down\",\u{2029}]\n", 2, "'\u{2029}' (U+2029) outside a string or comment"),
    ])
    func arrayShapesThatAbortedTOMLKitAreErrors(text: String, line: Int, reason: String) {
        #expect {
            try ConfigurationParser.parse(text, path: "/etc/fwdwatch/fwdwatch.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == line && error.reason.hasPrefix("not valid TOML: \(reason)")
        }
    }

    /// toml++ aborted (`parse_time(): Assertion 'is_decimal_digit(*cp)' failed`) on a date-time without a
    /// digit after its `T`. Found by the same target with `x = 1979-05-27TO07:32:00Z`.
    @Test(arguments: [
        ("[[rules]]\nx = 1979-05-27TO07:32:00Z\n[a.b.c]\n\"quoted key\" = 0h10\n", 2, "'O'"),
        ("x = 1979-05-27t:07:32\n", 1, "':'"),
        ("x = 1979-05-27T.07:32\n", 1, "'.'"),
        ("x = [\n  1979-05-27T07:32:00Z,\n  1979-05-27TO07:32:00Z]\n", 3, "'O'"),
        ("x = {a = 1979-05-27T\u{FFFD}07:32}\n", 1, "'\u{FFFD}' (U+FFFD)"),
    ])
    func dateTimeThatAbortedTOMLKitIsAnError(text: String, line: Int, saw: String) {
        #expect {
            try ConfigurationParser.parse(text, path: "/etc/fwdwatch/fwdwatch.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == line && error.reason.hasPrefix("not valid TOML: expected the time (HH:MM:SS) after")
                && error.reason.hasSuffix("saw \(saw)")
        }
    }

    /// A bare key shaped like a date-time is a key, not a value: left to TOMLKit (no abort there).
    @Test func dateTimeShapedKeyIsNotMistakenForAValue() {
        #expect {
            try ConfigurationParser.parse("[daemon]\n1979-05-27Tx = 1\n", path: "x.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == 2 && error.key == "daemon.1979-05-27Tx"
        }
    }

    /// The check looks only at real headers: brackets in values, strings and comments are left to TOMLKit.
    @Test func bracketsOutsideHeadersAreNotMistakenForHeaders() throws {
        let text = """
            # [=] in a comment, with é and \u{2028} and }
            [interfaces]
            ignore = [
              "tun*",
              "[=]x", # ,}
              'é\u{2028}',
            ]
            [bridges]
            watch = ['''
            [=]''', \"\"\"
            [#]\"\"\"]
            [ "rules" ]
            disable = [  ]
            """
        let configuration = try ConfigurationParser.parse(text, path: "ok.toml")
        #expect(configuration.settings.ignoredInterfaces.map(\.pattern) == ["tun*", "[=]x", "é\u{2028}"])
        #expect(configuration.settings.watchedBridges.map(\.pattern) == ["[=]", "[#]"])
    }

    /// Malformed headers, arrays and inline tables TOMLKit reports by itself keep its message.
    @Test(arguments: ["[]\n", "[\t]\n", "[ [a]]\n", "[a.=]\n", "a = {b = 1, }\n", "a = [\u{0B}]\n"])
    func shapesTOMLKitReportsKeepItsMessage(text: String) {
        #expect {
            try ConfigurationParser.parse(text, path: "x.toml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.line == 1 && error.reason.hasPrefix("not valid TOML: Error while parsing")
        }
    }
}
