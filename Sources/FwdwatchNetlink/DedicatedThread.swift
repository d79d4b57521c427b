import CNetlink

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain POSIX thread for blocking work (libnl, the rule tools), kept off Swift's small cooperative pool.
public enum DedicatedThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread. Returns the thread, to be joined or detached.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
        let threadName = String(name.prefix(15))
        let box = Unmanaged.passRetained(Body {
            fwdwatch_set_thread_name(threadName)
            body()
        })
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let body = Unmanaged<Body>.fromOpaque(argument).takeRetainedValue()
            body.run()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw NetlinkError(operation: "starting the \(name) thread", reason: String(cString: strerror(result)))
        }
        return thread
    }

    /// Runs `body` on a new thread and waits for its result: used to enter another network namespace
    /// without moving the caller's thread.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = ResultBox<T>()
        let thread = try start(name: name) { outcome.result = Result { try body() } }
        pthread_join(thread, nil)
        guard let result = outcome.result else {
            throw NetlinkError(operation: "running the \(name) thread", reason: "no result")
        }
        return try result.get()
    }

    /// Runs `body` on a new, detached thread and suspends until it is done: the awaiting task holds no
    /// thread of the cooperative pool while `body` blocks.
    static func awaitResult<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            do {
                let thread = try start(name: name) { continuation.resume(with: Result { try body() }) }
                pthread_detach(thread)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Written by the worker thread before it exits, read after `pthread_join`, which orders the two.
    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }
}

/// Moves the calling thread into the network namespace at `path` (e.g. /run/netns/NAME). Netlink
/// sockets belong to the namespace of the thread that creates them.
func enterNetworkNamespace(_ path: String) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw NetlinkError(operation: "opening network namespace \(path)", reason: String(cString: strerror(errno)))
    }
    defer { close(descriptor) }
    guard fwdwatch_enter_network_namespace(descriptor) == 0 else {
        throw NetlinkError(operation: "entering network namespace \(path)", reason: String(cString: strerror(errno)))
    }
}
