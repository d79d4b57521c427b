/// A small, strict TOML reader for exactly what `fwdwatch.toml` needs; it replaced TOMLKit (toml++), which
/// brought full Foundation and ICU into the binary and aborted the process on some malformed input.
///
/// Accepted, with TOML 1.0 semantics:
/// - comments; bare keys (`A-Z a-z 0-9 _ -`) and quoted keys (`"..."`, `'...'`);
/// - table headers `[table]` and `[a.b]` (parts may be quoted, spaces around the dots);
/// - basic strings with the standard escapes (`\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX`) and literal strings;
/// - decimal integers (`+`/`-`, `_` between digits, 64-bit), floats (fraction and/or exponent, `inf`, `nan`),
///   `true` and `false`;
/// - arrays (over several lines, with comments, a trailing comma, mixed types) and inline tables (one line).
///
/// Rejected with the line and column: dotted keys (`a.b = 1`), arrays of tables (`[[a]]`), multi-line strings,
/// dates and times, hexadecimal/octal/binary integers, duplicate keys, a table defined twice (also by a header
/// after an inline table), nesting deeper than `maxDepth`, and everything that is not
/// TOML: non-ASCII outside strings and comments, control characters, a lone carriage return, ...
///
/// Works on the UTF-8 bytes of a `String` (hence valid UTF-8); no Foundation.
package enum TOMLReader {
    /// Arrays and inline tables nested deeper than this, and headers with more parts, are errors (the reader and
    /// the tree it builds are recursive).
    package static let maxDepth = 32

    package static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.document()
    }
}

/// A syntax error: 1-based line and column (in characters), what is wrong, and the key concerned if any.
package struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    package var line: Int
    package var column: Int
    package var reason: String
    /// The dotted key or table the error is about (a duplicate key, a table defined twice).
    package var key: String?

    package init(line: Int, column: Int, reason: String, key: String? = nil) {
        self.line = line
        self.column = column
        self.reason = reason
        self.key = key
    }

    package var description: String { "\(line):\(column): " + (key.map { "\($0): " } ?? "") + reason }
}

package enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    package var string: String? { if case .string(let value) = self { value } else { nil } }
    package var int: Int? { if case .integer(let value) = self { value } else { nil } }
    package var double: Double? { if case .float(let value) = self { value } else { nil } }
    package var bool: Bool? { if case .boolean(let value) = self { value } else { nil } }
    package var array: [TOMLValue]? { if case .array(let value) = self { value } else { nil } }
    package var table: TOMLTable? { if case .table(let value) = self { value } else { nil } }

    /// "a string", "an integer", ...: for messages such as "found an integer".
    package var kind: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .boolean: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// One key of a table, with the line it is on (for a table made by a header, the header's line).
package struct TOMLEntry: Sendable, Equatable {
    package var key: String
    package var value: TOMLValue
    package var line: Int

    package init(key: String, value: TOMLValue, line: Int) {
        self.key = key
        self.value = value
        self.line = line
    }
}

/// A table: its entries in the order of the file.
package struct TOMLTable: Sendable, Equatable {
    package var entries: [TOMLEntry]

    package init(entries: [TOMLEntry] = []) { self.entries = entries }

    package subscript(key: String) -> TOMLValue? { entries.first { $0.key == key }?.value }
}

extension TOMLReader {
    /// The tree while it is being built: tables are shared so that a header can reopen a table made earlier.
    fileprivate final class Node {
        enum Origin {
            /// Made on the way to a deeper header (`a` of `[a.b]`); a later `[a]` may still define it.
            case implicit
            /// Defined by its own header (or the root).
            case header
            /// An inline table: complete as written.
            case inline
        }

        var origin: Origin
        var line: Int
        /// The dotted name (empty for the root), for messages.
        let name: String
        var keys: [String] = []
        var values: [String: (value: Value, line: Int)] = [:]

        init(origin: Origin, line: Int, name: String) {
            self.origin = origin
            self.line = line
            self.name = name
        }

        func name(of key: String) -> String { name.isEmpty ? key : name + "." + key }

        enum Value {
            case scalar(TOMLValue)
            case table(Node)
        }

        func insert(_ key: String, _ value: Value, line: Int) {
            keys.append(key)
            values[key] = (value, line)
        }

        func frozen() -> TOMLTable {
            TOMLTable(
                entries: keys.map { key in
                    let (value, line) = values[key]!
                    switch value {
                    case .scalar(let scalar): return TOMLEntry(key: key, value: scalar, line: line)
                    case .table(let node): return TOMLEntry(key: key, value: .table(node.frozen()), line: line)
                    }
                })
        }
    }

    fileprivate struct Parser {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        var lineStart = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            // A UTF-8 byte order mark at the start is skipped, as most TOML readers do.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                position = 3
                lineStart = 3
            }
        }

        // MARK: Document

        mutating func document() throws(TOMLError) -> TOMLTable {
            let root = Node(origin: .header, line: 1, name: "")
            var current = root
            while position < bytes.count {
                skipSpace()
                guard let c = peek() else { break }
                switch c {
                case UInt8(ascii: "#"):
                    try comment()
                case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    break
                case UInt8(ascii: "["):
                    current = try header(root)
                default:
                    try keyValue(into: current)
                }
                try endOfLine()
            }
            return root.frozen()
        }

        /// After an expression: spaces, an optional comment, then a newline or the end of the file.
        mutating func endOfLine() throws(TOMLError) {
            skipSpace()
            if peek() == UInt8(ascii: "#") { try comment() }
            guard let c = peek() else { return }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                try newline()
                return
            }
            throw error("expected the end of the line, saw \(describe())")
        }

        /// `[a.b]`: finds or makes the table and returns it.
        mutating func header(_ root: Node) throws(TOMLError) -> Node {
            let headerLine = line
            let open = position
            position += 1
            if peek() == UInt8(ascii: "[") {
                throw error("arrays of tables ([[...]]) are not supported in fwdwatch.toml", at: open)
            }
            skipSpace()
            guard let c = peek(), isBareKeyByte(c) || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") else {
                throw error("expected a table name after '[', saw \(describe())")
            }
            let path = try dottedKey()
            // The tree is built and freed recursively: its depth stays bounded.
            guard path.count <= TOMLReader.maxDepth else {
                throw error("a table header with more than \(TOMLReader.maxDepth) parts", at: open)
            }
            guard peek() == UInt8(ascii: "]") else {
                throw error("expected '.' or ']' in the table header, saw \(describe())")
            }
            position += 1
            var table = root
            for (index, part) in path.enumerated() {
                let name = path[...index].joined(separator: ".")
                let last = index == path.count - 1
                guard let existing = table.values[part] else {
                    let node = Node(origin: last ? .header : .implicit, line: headerLine, name: name)
                    table.insert(part, .table(node), line: headerLine)
                    table = node
                    continue
                }
                guard case .table(let node) = existing.value else {
                    throw error(
                        "\(name) is already a value (line \(existing.line)), not a table", at: open, key: name)
                }
                if node.origin == .inline {
                    throw error(
                        "\(name) is an inline table (line \(existing.line)): it cannot be extended by a header",
                        at: open, key: name)
                }
                if last {
                    guard node.origin == .implicit else {
                        throw error(
                            "table [\(name)] is defined twice (first on line \(node.line))", at: open, key: name)
                    }
                    node.origin = .header
                    node.line = headerLine
                    table.values[part]?.line = headerLine
                }
                table = node
            }
            return table
        }

        /// `key = value` into `table`.
        mutating func keyValue(into table: Node) throws(TOMLError) {
            let keyLine = line
            let start = position
            let key = try simpleKey(dotted: false)
            if let first = table.values[key] {
                throw error(
                    "duplicate key \"\(key)\" (first on line \(first.line))", at: start, key: table.name(of: key))
            }
            skipSpace()
            guard peek() == UInt8(ascii: "=") else {
                throw error("expected '=' after the key, saw \(describe())")
            }
            position += 1
            skipSpace()
            table.insert(key, try value(depth: 0, name: table.name(of: key)), line: keyLine)
        }

        // MARK: Keys

        /// One or more simple keys separated by dots (headers only).
        mutating func dottedKey() throws(TOMLError) -> [String] {
            var parts = [try simpleKey(dotted: true)]
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: ".") else { return parts }
                position += 1
                skipSpace()
                parts.append(try simpleKey(dotted: true))
            }
        }

        /// A bare or quoted key. Where a dotted key is not supported (`a.b = 1`), a dot after it is an error.
        mutating func simpleKey(dotted: Bool) throws(TOMLError) -> String {
            let key: String
            switch peek() {
            case UInt8(ascii: "\""):
                key = try basicString()
            case UInt8(ascii: "'"):
                key = try literalString()
            case let c? where isBareKeyByte(c):
                let start = position
                while let c = peek(), isBareKeyByte(c) { position += 1 }
                key = String(decoding: bytes[start..<position], as: UTF8.self)
            default:
                throw error("expected a key, saw \(describe())")
            }
            if !dotted {
                let afterKey = position
                skipSpace()
                if peek() == UInt8(ascii: ".") {
                    throw error(
                        "dotted keys (a.b = ...) are not supported in fwdwatch.toml: use a [table] header"
                            + " or an inline table", at: position)
                }
                position = afterKey
            }
            return key
        }

        // MARK: Values

        /// `name`: the dotted key the value belongs to (for an inline table's messages).
        mutating func value(depth: Int, name: String) throws(TOMLError) -> Node.Value {
            guard depth < TOMLReader.maxDepth else {
                throw error("arrays and inline tables nested more than \(TOMLReader.maxDepth) deep")
            }
            guard let c = peek() else { throw error("expected a value, saw the end of the file") }
            switch c {
            case UInt8(ascii: "\""):
                return .scalar(.string(try basicString()))
            case UInt8(ascii: "'"):
                return .scalar(.string(try literalString()))
            case UInt8(ascii: "["):
                return .scalar(.array(try array(depth: depth, name: name)))
            case UInt8(ascii: "{"):
                return .table(try inlineTable(depth: depth, name: name))
            case _ where isTokenByte(c):
                // Booleans and numbers; a bare word is reported as such (a string without its quotes).
                return .scalar(try scalarToken())
            default:
                throw error(
                    "expected a value (a string, number, true, false, array or inline table), saw \(describe())")
            }
        }

        /// `true`, `false`, an integer or a float: the run of characters up to the next delimiter.
        mutating func scalarToken() throws(TOMLError) -> TOMLValue {
            let start = position
            while let c = peek(), isTokenByte(c) { position += 1 }
            let token = Array(bytes[start..<position])
            let text = String(decoding: token, as: UTF8.self)
            func fail(_ reason: String) -> TOMLError { error(reason, at: start) }
            if text == "true" { return .boolean(true) }
            if text == "false" { return .boolean(false) }
            if looksLikeDateOrTime(token) {
                throw fail("dates and times are not supported in fwdwatch.toml")
            }
            if let first = token.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20),
                !["inf", "nan"].contains(text)
            {
                throw fail(
                    "'\(text)' is not a value: strings are written in quotes (\"\(text)\"), booleans as true or false")
            }
            var digits = token[...]
            var negative = false
            if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                negative = sign == UInt8(ascii: "-")
                digits = digits.dropFirst()
            }
            switch String(decoding: digits, as: UTF8.self) {
            case "inf": return .float(negative ? -.infinity : .infinity)
            case "nan": return .float(.nan)
            default: break
            }
            if digits.count > 1, digits.first == UInt8(ascii: "0"),
                let base = digits.dropFirst().first,
                base == UInt8(ascii: "x") || base == UInt8(ascii: "o") || base == UInt8(ascii: "b")
            {
                if token.first == UInt8(ascii: "+") || token.first == UInt8(ascii: "-") {
                    throw fail("'\(text)' is not a number")
                }
                throw fail(
                    "hexadecimal, octal and binary integers are not supported in fwdwatch.toml: write '\(text)' in decimal")
            }
            // Integer part, then an optional fraction and exponent; `_` only between two digits.
            var index = digits.startIndex
            func runOfDigits() -> Bool {
                let begin = index
                while index < digits.endIndex {
                    let c = digits[index]
                    if isDigit(c) {
                        index += 1
                    } else if c == UInt8(ascii: "_"), index > begin, isDigit(digits[index - 1]),
                        index + 1 < digits.endIndex, isDigit(digits[index + 1])
                    {
                        index += 1
                    } else {
                        break
                    }
                }
                return index > begin
            }
            let integerStart = index
            guard runOfDigits() else { throw fail("'\(text)' is not a number") }
            let integerPart = digits[integerStart..<index]
            if integerPart.count > 1, integerPart.first == UInt8(ascii: "0") {
                throw fail("'\(text)': leading zeros are not allowed in TOML numbers")
            }
            var isFloat = false
            if index < digits.endIndex, digits[index] == UInt8(ascii: ".") {
                index += 1
                guard runOfDigits() else { throw fail("'\(text)' is not a number (a digit must follow the '.')") }
                isFloat = true
            }
            if index < digits.endIndex, digits[index] == UInt8(ascii: "e") || digits[index] == UInt8(ascii: "E") {
                index += 1
                if index < digits.endIndex, digits[index] == UInt8(ascii: "+") || digits[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard runOfDigits() else { throw fail("'\(text)' is not a number (digits must follow the exponent)") }
                isFloat = true
            }
            guard index == digits.endIndex else { throw fail("'\(text)' is not a number") }
            let plain = String(decoding: token.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
            if isFloat {
                guard let number = Double(plain), number.isFinite else {
                    throw fail("'\(text)' is out of the range of a float")
                }
                return .float(number)
            }
            guard let number = Int(plain) else { throw fail("'\(text)' is out of the range of a 64-bit integer") }
            return .integer(number)
        }

        /// `1979-05-27...` or `07:32:00`: a date or time, which fwdwatch.toml never takes.
        func looksLikeDateOrTime(_ token: [UInt8]) -> Bool {
            if token.count >= 5, token[0..<4].allSatisfy(isDigit), token[4] == UInt8(ascii: "-") { return true }
            if token.count >= 3, token[0..<2].allSatisfy(isDigit), token[2] == UInt8(ascii: ":") { return true }
            return false
        }

        mutating func array(depth: Int, name: String) throws(TOMLError) -> [TOMLValue] {
            position += 1  // [
            var values: [TOMLValue] = []
            while true {
                try skipSpaceNewlinesAndComments()
                if peek() == UInt8(ascii: "]") {
                    position += 1
                    return values
                }
                guard peek() != nil else { throw error("the array is not closed: expected a value or ']'") }
                switch try value(depth: depth + 1, name: name) {
                case .scalar(let value): values.append(value)
                case .table(let node): values.append(.table(node.frozen()))
                }
                try skipSpaceNewlinesAndComments()
                switch peek() {
                case UInt8(ascii: ","):
                    position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return values
                case nil:
                    throw error("the array is not closed: expected ',' or ']'")
                default:
                    throw error("expected ',' or ']' in the array, saw \(describe())")
                }
            }
        }

        mutating func inlineTable(depth: Int, name: String) throws(TOMLError) -> Node {
            let node = Node(origin: .inline, line: line, name: name)
            position += 1  // {
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                position += 1
                return node
            }
            while true {
                skipSpace()
                if peek() == UInt8(ascii: "}") {
                    throw error("a trailing comma is not allowed in an inline table")
                }
                try inlineLine()
                let start = position
                let keyLine = line
                let key = try simpleKey(dotted: false)
                if let first = node.values[key] {
                    throw error(
                        "duplicate key \"\(key)\" (first on line \(first.line))", at: start, key: node.name(of: key))
                }
                skipSpace()
                guard peek() == UInt8(ascii: "=") else { throw error("expected '=' after the key, saw \(describe())") }
                position += 1
                skipSpace()
                try inlineLine()
                node.insert(key, try value(depth: depth + 1, name: node.name(of: key)), line: keyLine)
                skipSpace()
                switch peek() {
                case UInt8(ascii: ","):
                    position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return node
                default:
                    try inlineLine()
                    throw error("expected ',' or '}' in the inline table, saw \(describe())")
                }
            }
        }

        /// Inline tables stay on one line (TOML 1.0).
        func inlineLine() throws(TOMLError) {
            switch peek() {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "#"):
                throw error("an inline table must be written on one line; use a [table] header for more")
            case nil:
                throw error("the inline table is not closed: expected '}'")
            default:
                return
            }
        }

        // MARK: Strings

        mutating func basicString() throws(TOMLError) -> String {
            let open = position
            if bytes[position...].starts(with: [0x22, 0x22, 0x22]) {
                throw error("multi-line strings (\"\"\"...\"\"\") are not supported in fwdwatch.toml", at: open)
            }
            position += 1
            var result: [UInt8] = []
            while true {
                guard let c = peek() else { throw error("the string is not closed on its line", at: open) }
                switch c {
                case UInt8(ascii: "\""):
                    position += 1
                    return String(decoding: result, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    try escape(into: &result)
                case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    throw error("the string is not closed on its line", at: open)
                case _ where isControl(c):
                    throw error(
                        "\(describe(outside: false)) is not allowed in a string (write it as an escape such as \\t or \\u0000)")
                default:
                    result.append(c)
                    position += 1
                }
            }
        }

        mutating func escape(into result: inout [UInt8]) throws(TOMLError) {
            let start = position
            position += 1  // backslash
            guard let c = peek() else { throw error("the string is not closed on its line") }
            position += 1
            switch c {
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "\""): result.append(0x22)
            case UInt8(ascii: "\\"): result.append(0x5C)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = c == UInt8(ascii: "u") ? 4 : 8
                var value: UInt32 = 0
                for _ in 0..<count {
                    guard let digit = peek().flatMap(hexValue) else {
                        throw error("\\\(Character(Unicode.Scalar(c))) takes \(count) hexadecimal digits", at: start)
                    }
                    value = value << 4 | UInt32(digit)
                    position += 1
                }
                guard let scalar = Unicode.Scalar(value) else {
                    throw error("\\\(Character(Unicode.Scalar(c))) names no Unicode scalar value", at: start)
                }
                result.append(contentsOf: String(Character(scalar)).utf8)
            default:
                position -= 1
                throw error("unknown escape sequence '\\\(describeText())' in a string", at: start)
            }
        }

        mutating func literalString() throws(TOMLError) -> String {
            let open = position
            if bytes[position...].starts(with: [0x27, 0x27, 0x27]) {
                throw error("multi-line strings ('''...''') are not supported in fwdwatch.toml", at: open)
            }
            position += 1
            let start = position
            while true {
                guard let c = peek() else { throw error("the string is not closed on its line", at: open) }
                switch c {
                case UInt8(ascii: "'"):
                    let text = String(decoding: bytes[start..<position], as: UTF8.self)
                    position += 1
                    return text
                case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    throw error("the string is not closed on its line", at: open)
                case _ where isControl(c):
                    throw error("\(describe(outside: false)) is not allowed in a literal string")
                default:
                    position += 1
                }
            }
        }

        // MARK: Space, comments, newlines

        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { position += 1 }
        }

        /// `# ...` up to (not including) the end of the line; control characters other than tab are errors.
        mutating func comment() throws(TOMLError) {
            position += 1
            while let c = peek(), c != UInt8(ascii: "\n") {
                if c == UInt8(ascii: "\r"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "\n") {
                    return
                }
                if isControl(c) { throw error("\(describe(outside: false)) is not allowed in a comment") }
                position += 1
            }
        }

        /// `\n` or `\r\n`.
        mutating func newline() throws(TOMLError) {
            if peek() == UInt8(ascii: "\r") {
                guard position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "\n") else {
                    throw error("a carriage return must be followed by a line feed")
                }
                position += 1
            }
            position += 1
            line += 1
            lineStart = position
        }

        /// Inside arrays: spaces, newlines and comments.
        mutating func skipSpaceNewlinesAndComments() throws(TOMLError) {
            while let c = peek() {
                switch c {
                case UInt8(ascii: " "), UInt8(ascii: "\t"): position += 1
                case UInt8(ascii: "\n"), UInt8(ascii: "\r"): try newline()
                case UInt8(ascii: "#"): try comment()
                default: return
                }
            }
        }

        // MARK: Characters and errors

        func isBareKeyByte(_ c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }

        /// What a number, boolean or date may be made of; it ends at anything else.
        func isTokenByte(_ c: UInt8) -> Bool {
            isBareKeyByte(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        /// U+0000-U+0008, U+000A-U+001F and U+007F: not allowed in strings and comments (tab is).
        func isControl(_ c: UInt8) -> Bool { (c < 0x20 && c != 0x09) || c == 0x7F }

        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        /// The character at the position.
        func scalar(at index: Int) -> Unicode.Scalar? {
            guard index < bytes.count else { return nil }
            var iterator = bytes[index...].makeIterator()
            var decoder = UTF8()
            if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
            return nil
        }

        /// The character at the position, for messages: `'='`, `'é' (U+00E9)`, `U+0000`, "the end of the line".
        /// Outside strings and comments (`outside`), a character that is not printable ASCII gets a note that
        /// only ASCII is allowed there.
        func describe(outside: Bool = true) -> String {
            guard position < bytes.count, let c = scalar(at: position) else { return "the end of the file" }
            let hex = String(c.value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            let note = outside ? " (only ASCII is allowed outside strings and comments)" : ""
            switch c {
            case "\n", "\r": return "the end of the line"
            case " "..."~": return "'\(Character(c))'"
            case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}": return code + note
            default: return "'\(Character(c))' (\(code))" + note
            }
        }

        /// The character at the position as text (in an escape sequence).
        func describeText() -> String {
            guard let c = scalar(at: position) else { return "" }
            if c.value >= 0x20 && c.value < 0x7F { return String(Character(c)) }
            return "U+\(String(c.value, radix: 16, uppercase: true))"
        }

        /// An error at `index` (default: the position), on the current line.
        func error(_ reason: String, at index: Int? = nil, key: String? = nil) -> TOMLError {
            let at = min(index ?? position, bytes.count)
            let start = min(lineStart, at)
            // Column in characters: count the bytes that start a UTF-8 sequence.
            let column = bytes[start..<at].count { $0 & 0xC0 != 0x80 } + 1
            return TOMLError(line: line, column: column, reason: reason, key: key)
        }
    }
}
