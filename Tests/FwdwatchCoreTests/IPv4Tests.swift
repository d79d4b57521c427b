import Testing

@testable import FwdwatchCore

@Suite("IPv4")
struct IPv4Tests {
    @Test("dotted quads parse to their 32-bit value and print back", arguments: [
        ("0.0.0.0", UInt32(0)), ("255.255.255.255", UInt32.max), ("172.17.0.1", 0xAC11_0001),
        ("192.0.2.10", 0xC000_020A), ("10.0.0.255", 0x0A00_00FF),
    ])
    func parse(text: String, value: UInt32) throws {
        let address = try #require(IPv4Address(text))
        #expect(address.value == value)
        #expect(address.description == text)
    }

    @Test("malformed addresses are rejected", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.300", "1..2.3", ".1.2.3", "1.2.3.", "a.b.c.d",
        " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/24", "0001.2.3.4", "1.2.3.0x1", "::1", "1,2,3,4",
    ])
    func malformed(text: String) {
        #expect(IPv4Address(text) == nil, "\(text)")
    }

    @Test("signed octets are rejected", arguments: ["+1.2.3.4", "-0.1.2.3", "1.2.3.+4"])
    func signedOctets(text: String) {
        #expect(IPv4Address(text) == nil, "\(text)")
        #expect(IPv4Prefix("10.0.0.0/+8") == nil)
    }

    @Test("leading zeros within three digits are read as decimal")
    func leadingZeros() {
        #expect(IPv4Address("010.001.000.007")?.description == "10.1.0.7")
    }

    @Test("addresses order by value")
    func ordering() {
        let sorted = ["10.0.0.2", "9.255.255.255", "10.0.0.10"].compactMap { IPv4Address($0) }.sorted()
        #expect(sorted.map(\.description) == ["9.255.255.255", "10.0.0.2", "10.0.0.10"])
    }

    @Test("prefixes parse and normalise their network", arguments: [
        ("172.17.0.0/16", "172.17.0.0/16", 16), ("172.17.0.1/16", "172.17.0.0/16", 16),
        ("10.1.2.3", "10.1.2.3/32", 32), ("default", "0.0.0.0/0", 0), ("0.0.0.0/0", "0.0.0.0/0", 0),
        ("192.0.2.77/0", "0.0.0.0/0", 0), ("192.0.2.77/31", "192.0.2.76/31", 31),
    ])
    func prefix(text: String, normalised: String, length: Int) throws {
        let prefix = try #require(IPv4Prefix(text))
        #expect(prefix.description == normalised)
        #expect(prefix.length == length)
    }

    @Test("malformed prefixes are rejected", arguments: [
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/x", "10.0.0.0/8/8", "10.0.0/8",
        "Default", "10.0.0.0 /8",
    ])
    func malformedPrefix(text: String) {
        #expect(IPv4Prefix(text) == nil, "\(text)")
    }

    @Test("masks")
    func masks() throws {
        #expect(try #require(IPv4Prefix("0.0.0.0/0")).mask == 0)
        #expect(try #require(IPv4Prefix("10.0.0.0/8")).mask == 0xFF00_0000)
        #expect(try #require(IPv4Prefix("10.0.0.0/32")).mask == UInt32.max)
    }

    @Test("a prefix contains the addresses from its network to its broadcast, and no others")
    func containsAddress() throws {
        func a(_ text: String) throws -> IPv4Address { try #require(IPv4Address(text)) }
        let docker = try #require(IPv4Prefix("172.17.0.0/16"))
        for inside in ["172.17.0.0", "172.17.0.2", "172.17.255.255"] {
            #expect(try docker.contains(a(inside)), "\(inside)")
        }
        for outside in ["172.16.255.255", "172.18.0.0", "10.0.0.1"] {
            #expect(try !docker.contains(a(outside)), "\(outside)")
        }
        let everything = try #require(IPv4Prefix("default"))
        #expect(try everything.contains(a("255.255.255.255")))
        let host = try #require(IPv4Prefix("192.0.2.10/32"))
        #expect(try host.contains(a("192.0.2.10")))
        #expect(try !host.contains(a("192.0.2.11")))
    }

    @Test("prefix containment and overlap")
    func containsPrefix() throws {
        func p(_ text: String) throws -> IPv4Prefix { try #require(IPv4Prefix(text)) }
        #expect(try p("172.17.0.0/16").contains(p("172.17.5.0/24")))
        #expect(try p("172.17.0.0/16").contains(p("172.17.0.0/16")))
        #expect(try !p("172.17.5.0/24").contains(p("172.17.0.0/16")))
        #expect(try !p("172.17.0.0/16").contains(p("172.18.0.0/24")))
        #expect(try p("default").contains(p("172.17.0.0/16")))

        #expect(try p("172.17.0.0/16").overlaps(p("172.17.5.0/24")))
        #expect(try p("172.17.5.0/24").overlaps(p("172.17.0.0/16")))
        #expect(try p("172.16.0.0/12").overlaps(p("172.17.0.0/16")))
        #expect(try !p("172.17.0.0/16").overlaps(p("172.18.0.0/16")))
        #expect(try !p("192.0.2.0/25").overlaps(p("192.0.2.128/25")))
    }
}
