#if canImport(Glibc)
    import Glibc
#endif

/// The `[metrics]` table: where Prometheus metrics go. Both ways out are off by default.
public struct MetricsOptions: Sendable, Equatable {
    /// Where the HTTP endpoint (`GET /metrics`) listens; nil = no endpoint.
    public var listen: MetricsListenAddress?
    /// The directory node_exporter's textfile collector reads; `fwdwatch.prom` is written there after
    /// evaluations. nil = no textfile.
    public var textfileDirectory: String?

    public init(listen: MetricsListenAddress? = nil, textfileDirectory: String? = nil) {
        self.listen = listen
        self.textfileDirectory = textfileDirectory
    }
}

/// An IP address and TCP port to listen on: `127.0.0.1:10039`, `[::1]:10039`, `0.0.0.0:10039`, or a bare
/// port (`10039`), which means the loopback address 127.0.0.1.
public struct MetricsListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A numeric IPv4 or IPv6 address, without brackets.
    public var host: String
    public var port: Int

    /// The default port, chosen clear of the exporters listed in Prometheus' default port allocations.
    public static let defaultPort = 10039
    /// A bare port listens here: metrics are for local scrapers unless configured otherwise.
    public static let defaultHost = "127.0.0.1"

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `ADDRESS:PORT`, `[IPV6]:PORT` or `PORT`; a failure says why the text is none of them.
    public static func parse(_ text: String) -> Result<MetricsListenAddress, ListenAddressError> {
        let host: Substring
        let portText: Substring
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            host = Substring(defaultHost)
            portText = Substring(text)
        } else if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(.shape)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard isNumeric(host, family: AF_INET6) else { return .failure(.address(String(host))) }
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                return .failure(.shape)
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard isNumeric(host, family: AF_INET) else { return .failure(.address(String(host))) }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), (1...65535).contains(port)
        else { return .failure(.port(String(portText))) }
        return .success(MetricsListenAddress(host: String(host), port: port))
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func isNumeric(_ host: Substring, family: Int32) -> Bool {
        guard !host.isEmpty, host.utf8.count < 64 else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, String(host), &buffer) == 1
    }
}

/// Why a `listen` value is not an address to listen on.
public enum ListenAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither `ADDRESS:PORT`, `[IPV6]:PORT` nor `PORT`.
    case shape
    /// Not a numeric IPv4 address (or, in brackets, IPv6 address).
    case address(String)
    /// Not a port from 1 to 65535.
    case port(String)

    public var description: String {
        switch self {
        case .shape:
            "expected \"ADDRESS:PORT\", \"[IPV6-ADDRESS]:PORT\" or a port such as "
                + "\"\(MetricsListenAddress.defaultPort)\""
        case .address(let host): "\"\(host)\" is not a numeric IP address (host names are not looked up)"
        case .port(let port): "\"\(port)\" is not a port from 1 to 65535"
        }
    }
}
