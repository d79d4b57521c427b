/// Finds the malformed shapes on which toml++ (inside TOMLKit) aborts the whole process instead of throwing.
///
/// toml++ 3.4 checks some of its parser's expectations with `assert`, which SwiftPM leaves on in release
/// builds too. Fuzzing (Fuzz/README.md) found four shapes that reach them; `fwdwatch check --config` and a
/// SIGHUP reload died on each:
/// - a table header whose name starts with a character no key starts with: `[=]`, `[#]`, `[[[a]]]`, `[`
///   at the end of a line (`parse_key(): Assertion 'is_bare_key_character(*cp) || ...'`);
/// - `}` where an array expects a value: `a = [1, }` (`parse_value(): Assertion '!is_value_terminator(*cp)'`);
/// - a non-ASCII line separator (U+0085, U+2028, U+2029) there, which toml++ counts as whitespace but
///   does not skip;
/// - a value that starts as a date-time but has no digit after the `T`: `x = 1979-05-27TO07:32`
///   (`parse_time(): Assertion 'is_decimal_digit(*cp)'`).
/// All four are invalid TOML. Outside strings and comments TOML allows only ASCII, so any non-ASCII
/// character there is reported too (which covers the third shape and `[é]`).
///
/// A small scanner tracks comments, the four kinds of strings and bracket nesting, so that brackets and
/// characters inside strings and comments are never looked at.
enum TOMLPreflight {
    /// The first such flaw: its 1-based line and what is wrong; nil when there is none.
    static func firstAbortingFlaw(in text: String) -> (line: Int, reason: String)? {
        let scalars = Array(text.unicodeScalars)
        var state = State.structure
        var open: [Bracket] = []
        var line = 1
        var atLineStart = true
        /// After `=`, or after `[` or `,` in an array: the next token is a value.
        var expectingValue = false
        // toml++ skips a byte order mark at the start.
        var i = scalars.first == "\u{FEFF}" ? 1 : 0
        func starts(_ quote: Unicode.Scalar, count: Int, at index: Int) -> Bool {
            index + count <= scalars.count && scalars[index..<index + count].allSatisfy { $0 == quote }
        }
        while i < scalars.count {
            let c = scalars[i]
            if c == "\n" {
                line += 1
                atLineStart = true
                if state == .comment || state == .basic || state == .literal { state = .structure }
                i += 1
                continue
            }
            switch state {
            case .comment:
                break
            case .basic, .multilineBasic:
                if c == "\\" {
                    i += 1
                } else if c == "\"" {
                    if state == .basic {
                        state = .structure
                    } else if starts("\"", count: 3, at: i) {
                        state = .structure
                        i += 2
                    }
                }
            case .literal, .multilineLiteral:
                if c == "'" {
                    if state == .literal {
                        state = .structure
                    } else if starts("'", count: 3, at: i) {
                        state = .structure
                        i += 2
                    }
                }
            case .structure:
                if expectingValue, c != " ", c != "\t", c != "\r", c != "#" {
                    expectingValue = false
                    if let reason = dateTimeFlaw(scalars, at: i) { return (line, reason) }
                }
                switch c {
                case " ", "\t", "\r":
                    i += 1
                    continue
                case "=":
                    expectingValue = true
                case "#":
                    state = .comment
                case "\"":
                    state = starts("\"", count: 3, at: i) ? .multilineBasic : .basic
                    if state == .multilineBasic { i += 2 }
                case "'":
                    state = starts("'", count: 3, at: i) ? .multilineLiteral : .literal
                    if state == .multilineLiteral { i += 2 }
                case "[" where atLineStart && open.isEmpty:
                    if let reason = headerFlaw(scalars, openingAt: i) { return (line, reason) }
                    open.append(.header)
                case "[":
                    open.append(.array)
                    expectingValue = true
                case "," where open.last == .array:
                    expectingValue = true
                case "{":
                    open.append(.inlineTable)
                case "}" where open.last == .array:
                    return (line, "expected a value, ',' or ']' in the array, saw '}'")
                case "]", "}":
                    _ = open.popLast()
                default:
                    if !c.isASCII {
                        return (line, "\(describe(c)) outside a string or comment (TOML allows only ASCII there)")
                    }
                }
            }
            atLineStart = false
            i += 1
        }
        return nil
    }

    private enum State {
        case structure, comment, basic, literal, multilineBasic, multilineLiteral
    }

    private enum Bracket {
        case header, array, inlineTable
    }

    /// What is wrong with the start of the header whose `[` is at `start`, when toml++ would abort on it.
    private static func headerFlaw(_ scalars: [Unicode.Scalar], openingAt start: Int) -> String? {
        var j = skipSpace(scalars, from: start + 1)
        if j < scalars.count, scalars[j] == "[" {
            // `[ [` is an error toml++ reports itself; `[[` opens an array of tables.
            if j > start + 1 { return nil }
            j = skipSpace(scalars, from: j + 1)
        }
        guard j < scalars.count, !canStartKeyOrEnd(scalars[j]) else { return nil }
        return "expected a table name after '[', saw \(describe(scalars[j]))"
    }

    /// A value starting `YYYY-MM-DDT` (or `t`) must go on with a digit: toml++ asserts that it does.
    private static func dateTimeFlaw(_ scalars: [Unicode.Scalar], at start: Int) -> String? {
        let shape = "dddd-dd-ddT"
        guard start + shape.unicodeScalars.count < scalars.count else { return nil }
        for (offset, expected) in shape.unicodeScalars.enumerated() {
            let c = scalars[start + offset]
            switch expected {
            case "d": guard ("0"..."9").contains(c) else { return nil }
            case "T": guard c == "T" || c == "t" else { return nil }
            default: guard c == expected else { return nil }
            }
        }
        let next = scalars[start + shape.unicodeScalars.count]
        guard !("0"..."9").contains(next) else { return nil }
        return "expected the time (HH:MM:SS) after '\(Character(scalars[start + 10]))' in a date-time, saw \(describe(next))"
    }

    private static func skipSpace(_ scalars: [Unicode.Scalar], from start: Int) -> Int {
        var j = start
        while j < scalars.count, scalars[j] == " " || scalars[j] == "\t" { j += 1 }
        return j
    }

    /// A bare key character (A-Z a-z 0-9 _ -), a quote, or `]` (an empty name, which toml++ reports itself).
    private static func canStartKeyOrEnd(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "\"", "'", "]": true
        default: false
        }
    }

    private static func describe(_ c: Unicode.Scalar) -> String {
        let hex = String(c.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        switch c {
        case "\n", "\r": return "the end of the line"
        case " "..."~": return "'\(Character(c))'"
        case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}": return code
        default: return "'\(Character(c))' (\(code))"
        }
    }
}
