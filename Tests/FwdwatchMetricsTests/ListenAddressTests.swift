import FwdwatchConfig
import Testing

@Suite struct ListenAddressTests {
    @Test func barePortMeansLoopback() throws {
        let address = try MetricsListenAddress.parse("10039").get()
        #expect(address == MetricsListenAddress(host: "127.0.0.1", port: 10039))
        #expect(address.description == "127.0.0.1:10039")
    }

    @Test func addressAndPort() throws {
        #expect(
            try MetricsListenAddress.parse("0.0.0.0:9100").get() == MetricsListenAddress(host: "0.0.0.0", port: 9100))
        let v6 = try MetricsListenAddress.parse("[::1]:10039").get()
        #expect(v6 == MetricsListenAddress(host: "::1", port: 10039))
        #expect(v6.description == "[::1]:10039")
    }

    @Test(arguments: [
        ("localhost:10039", ListenAddressError.address("localhost")),
        ("127.0.0.1:0", .port("0")),
        ("127.0.0.1:65536", .port("65536")),
        ("127.0.0.1:", .port("")),
        ("127.0.0.1", .shape),
        ("::1:10039", .shape),
        ("[::1]10039", .shape),
        ("[127.0.0.1]:10039", .address("127.0.0.1")),
        ("", .shape),
        ("999999", .port("999999")),
    ])
    func rejected(_ text: String, _ reason: ListenAddressError) {
        #expect(throws: reason) { try MetricsListenAddress.parse(text).get() }
    }
}
