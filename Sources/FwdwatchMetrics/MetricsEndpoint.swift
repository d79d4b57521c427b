import FwdwatchConfig
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP endpoint Prometheus scrapes: `GET /metrics` answers the metrics in the text format 0.0.4,
/// any other path 404, any other method 405. One event loop thread serves it.
public final class MetricsEndpoint: Sendable {
    /// The address it listens on (the configured one).
    public let address: MetricsListenAddress
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(address: MetricsListenAddress, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.address = address
        self.group = group
        self.channel = channel
    }

    /// Binds `address` and starts serving `metrics`. A bind failure (port in use, address not on this
    /// host) throws an error naming the address.
    public static func start(listen address: MetricsListenAddress, metrics: DaemonMetrics)
        async throws(MetricsEndpointError) -> MetricsEndpoint
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(metrics: metrics))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
            return MetricsEndpoint(address: address, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsEndpointError(address: address, reason: Self.reason(error))
        }
    }

    /// The TCP port actually bound (differs from `address.port` only when that is 0, as in tests).
    public var boundPort: Int? { channel.localAddress?.port }

    /// Stops listening, closes open connections and ends the event loop thread.
    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// The system's words for a bind failure ("Address already in use"), else the error's own.
    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}

/// The endpoint could not listen.
public struct MetricsEndpointError: Error, Sendable, CustomStringConvertible {
    public var address: MetricsListenAddress
    public var reason: String

    public var description: String {
        "metrics.listen: cannot listen on \(address): \(reason)"
    }
}

/// Answers one HTTP request at a time on a connection (the pipeline handler orders pipelined requests).
final class MetricsRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let metrics: DaemonMetrics
    private var request: HTTPRequestHead?

    init(metrics: DaemonMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let response = Self.response(method: head.method, path: String(path), metrics: metrics)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.utf8.count))
        if response.status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.utf8.count)
            buffer.writeString(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [context] _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// The status, content type and body for a request.
    static func response(method: HTTPMethod, path: String, metrics: DaemonMetrics) -> (
        status: HTTPResponseStatus, contentType: String, body: String
    ) {
        guard path == "/metrics" else {
            return (.notFound, "text/plain; charset=utf-8", "Not found: fwdwatch serves its metrics at /metrics.\n")
        }
        guard method == .GET || method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "Method not allowed: use GET.\n")
        }
        return (.ok, contentType, metrics.exposition())
    }
}
