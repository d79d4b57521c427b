/// Shell-style pattern matching for interface names: `*`, `?` and `[abc]`/`[a-z]`/`[!a]` classes,
/// as in fnmatch(3) without flags. Pure Swift so the core needs no libc.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let characters: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.characters = Array(pattern)
    }

    public var description: String { pattern }

    /// Why a pattern is not well formed, or nil when it is.
    public var problem: String? {
        var i = 0
        while i < characters.count {
            if characters[i] == "[" {
                guard let end = classEnd(from: i) else { return "unclosed '[' at position \(i + 1)" }
                i = end
            }
            i += 1
        }
        return nil
    }

    public func matches(_ name: String) -> Bool {
        match(Array(name), 0, 0)
    }

    private func classEnd(from start: Int) -> Int? {
        var j = start + 1
        if j < characters.count, characters[j] == "!" || characters[j] == "^" { j += 1 }
        if j < characters.count, characters[j] == "]" { j += 1 }
        while j < characters.count {
            if characters[j] == "]" { return j }
            j += 1
        }
        return nil
    }

    private func match(_ name: [Character], _ p: Int, _ n: Int) -> Bool {
        var p = p
        var n = n
        while p < characters.count {
            let c = characters[p]
            switch c {
            case "*":
                while p < characters.count, characters[p] == "*" { p += 1 }
                if p == characters.count { return true }
                for start in n...name.count where match(name, p, start) { return true }
                return false
            case "?":
                guard n < name.count else { return false }
            case "[":
                guard let end = classEnd(from: p) else {
                    guard n < name.count, name[n] == "[" else { return false }
                    break
                }
                guard n < name.count, classMatches(name[n], from: p + 1, to: end) else { return false }
                p = end
            default:
                guard n < name.count, name[n] == c else { return false }
            }
            p += 1
            n += 1
        }
        return n == name.count
    }

    private func classMatches(_ ch: Character, from start: Int, to end: Int) -> Bool {
        var i = start
        var negate = false
        if characters[i] == "!" || characters[i] == "^" {
            negate = true
            i += 1
        }
        var found = false
        while i < end {
            let lo = characters[i]
            if i + 2 < end, characters[i + 1] == "-" {
                if lo <= ch && ch <= characters[i + 2] { found = true }
                i += 3
                continue
            }
            if lo == ch { found = true }
            i += 1
        }
        return found != negate
    }
}
