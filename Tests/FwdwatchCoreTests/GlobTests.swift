import Testing

@testable import FwdwatchCore

@Suite("Glob")
struct GlobTests {
    @Test("patterns match as fnmatch(3) does", arguments: [
        // pattern, name, matches
        ("eth0", "eth0", true), ("eth0", "eth01", false), ("eth0", "eth", false),
        ("veth*", "veth1a2b3c", true), ("veth*", "veth", true), ("veth*", "eth0", false),
        ("*", "", true), ("*", "docker0", true), ("", "", true), ("", "x", false),
        ("br-*-x", "br-1234-x", true), ("br-*-x", "br-1234-y", false), ("*0", "docker0", true),
        ("**", "abc", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false),
        ("eth?", "eth1", true), ("eth?", "eth", false), ("eth?", "eth10", false),
        ("eth[01]", "eth1", true), ("eth[01]", "eth2", false), ("eth[0-3]", "eth3", true), ("eth[0-3]", "eth4", false),
        ("eth[!0]", "eth1", true), ("eth[!0]", "eth0", false), ("eth[^0]", "eth0", false), ("eth[^0]", "ethx", true),
        ("x[]]", "x]", true), ("x[!]]", "x]", false), ("x[!]]", "xa", true),
        ("x[a-]", "x-", true), ("x[a-]", "xb", false),
        ("eth0.*", "eth0.100", true), ("eth0.*", "eth0100", false),
        ("tun[", "tun[", true), ("tun[", "tun0", false),
    ])
    func matches(pattern: String, name: String, expected: Bool) {
        #expect(Glob(pattern).matches(name) == expected, "\(pattern) ~ \(name)")
    }

    @Test("a well-formed pattern has no problem")
    func noProblem() {
        for pattern in ["eth0", "veth*", "eth[0-9]", "x[]]", "x[!]]", "", "*?"] {
            #expect(Glob(pattern).problem == nil, "\(pattern)")
        }
    }

    @Test("an unclosed class is a problem, with its position")
    func unclosed() {
        #expect(Glob("tun[").problem == "unclosed '[' at position 4")
        #expect(Glob("[").problem == "unclosed '[' at position 1")
        #expect(Glob("a[b]c[d").problem == "unclosed '[' at position 6")
        #expect(Glob("x[]").problem != nil)
    }

    @Test("the pattern is its description")
    func description() {
        #expect(Glob("br-*").description == "br-*")
        #expect(Glob("br-*") == Glob("br-*"))
    }
}
