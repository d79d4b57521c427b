import FwdwatchMetrics
import ServiceLifecycle

/// The `/metrics` endpoint as a service. It is started (bound) before the group runs, so a port in use
/// stops the daemon at once with the address in the message; the service serves it until shutdown.
public struct MetricsEndpointService: Service {
    let endpoint: MetricsEndpoint

    public init(_ endpoint: MetricsEndpoint) {
        self.endpoint = endpoint
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await endpoint.shutdown()
    }
}
