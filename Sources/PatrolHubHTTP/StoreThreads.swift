import NIOPosix

/// A few threads of the HTTP service's own for the store's synchronous
/// calls (GRDB reads and writes that wait for a connection, a lock or the
/// disk).
///
/// Routes and the change feed run on the server's event loops and the
/// Swift cooperative pool, which has one thread per core: a call that
/// blocks there (waiting for one of the store's reader connections, or for
/// the writer the pipeline holds) stops every other request, the stream
/// pumps, the health check and even signal handling. Every store call the
/// HTTP side makes goes through `offload` instead, so waiting for the
/// database only ever blocks these threads: a flood of requests queues here
/// and the rest of the hub goes on. Fewer threads than GRDB's reader
/// connections (5), so these can never hold all of them.
public final class StoreThreads: Sendable {
    private let pool: NIOThreadPool

    /// Starts `threads` threads.
    public init(threads: Int = 4) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Runs `body` on one of the threads and returns its result (or rethrows its error).
    public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Stops the threads once the work queued so far is done.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
