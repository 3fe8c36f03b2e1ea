import Alerts
import Foundation
import Logging
import PostgresNIO
import Synchronization

extension HubError.Code {
    /// The leader lease's connection or query failed (`LeaderLease`).
    public static let leaderLease = Self("leader_lease")
    /// A batch of a group's pipeline refused: another hub has taken the lead since (`PostgresStore.takeLead`).
    public static let pipelineLeadLost = Self("pipeline_lead_lost")
}

/// Which hub does the leader-only work — deadline supervision, the patrol
/// scheduler, report generation, outbox publication — when several hubs share
/// one PostgreSQL store: the holder of a PostgreSQL session-level advisory lock
/// (`pg_try_advisory_lock(key)`) on a connection of the lease's own.
///
/// **Use.** Each hub makes one lease (same `key` everywhere) and runs
/// `run(onGain:onLoss:)` as a task for its lifetime (e.g. in a service's
/// `run()`): `onGain` starts the leader-only services, `onLoss` stops them and
/// returns once they have stopped; cancelling the task stops leader work
/// (`onLoss`), then releases the lock. Leader-only work may also check
/// `isLeader` (cheap, from any thread) before each step. `tryAcquire()`,
/// `ping()` and `release()` are the same steps, for callers that poll on their own.
///
/// **Losing it.** PostgreSQL releases a session's advisory locks when its
/// backend ends: the leader's process exits or is killed (the kernel closes
/// its socket, the server sees it at once), its connection is terminated
/// (`pg_terminate_backend`), or the server stops hearing from the leader's
/// host (TCP keepalives, set on the lease's session: `tcp_keepalives_idle`,
/// `…_interval`, `…_count`, and `tcp_user_timeout` for unacknowledged data).
/// The leader notices by its ping (`SELECT 1` every `interval`, at most
/// `pingTimeout` each): a failed or late ping makes `isLeader` false at once,
/// closes the connection (so the server ends the session and its lock) and
/// calls `onLoss`. The session turns off `statement_timeout`,
/// `idle_session_timeout` and `idle_in_transaction_session_timeout`, so a
/// server default cannot end the lease's idle session.
///
/// **Takeover bound** (defaults in brackets): a killed leader process or
/// terminated session is replaced within one `interval` [2 s] (the next try
/// of another hub). A dead host or a cut network is noticed by the server
/// after `keepalivesIdle + keepalivesInterval × keepalivesCount` [5 + 2 × 3 =
/// 11 s], so takeover within that plus one `interval` [13 s]
/// (`Settings.takeoverBound`). The old leader stops its leader work after at
/// most `interval + pingTimeout` [4 s], before the server frees the lock
/// (`Settings` refuses values where it would not), so two hubs do not lead at
/// once — unless the old leader's process is frozen (a stopped process, a
/// swapped-out machine) between a ping and its work: leader-only writes must
/// still be idempotent. A frozen but connected leader keeps the lock (the
/// kernel answers keepalives): no takeover until it resumes or dies.
public actor LeaderLease {
    /// Timing of the lease (see the type's note for the bound it gives).
    public struct Settings: Sendable, Hashable {
        /// Between two tries (a standby) or two pings (the leader).
        public var interval: Duration = .seconds(2)
        /// A ping or try without an answer in this time counts as a lost connection.
        public var pingTimeout: Duration = .seconds(2)
        /// Seconds of silence before the server's first keepalive probe.
        public var keepalivesIdle = 5
        /// Seconds between the server's keepalive probes.
        public var keepalivesInterval = 2
        /// Unanswered probes after which the server drops the connection.
        public var keepalivesCount = 3

        /// Defaults: 2 s interval and ping timeout, keepalives 5 s + 3 × 2 s.
        public init() {}

        /// When the server gives up on a silent leader's host: idle + interval × count.
        public var serverDetection: Duration { .seconds(keepalivesIdle + keepalivesInterval * keepalivesCount) }

        /// The longest a dead leader's host keeps the lease from the others: the server's
        /// detection plus one `interval` (a killed process: one `interval`).
        public var takeoverBound: Duration { serverDetection + interval }
    }

    /// The advisory lock key of the hubs' leader lease (an arbitrary constant of PatrolHub).
    public static let defaultKey: Int64 = 0x5041_5452_4F4C_0002

    /// The lock's key: every hub of one deployment uses the same.
    public nonisolated let key: Int64
    /// The lease's timing.
    public nonisolated let settings: Settings
    /// Where the lock is held (the URL never holds the password).
    public nonisolated let url: PostgresStoreURL
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    /// The server process of the current connection (`pg_backend_pid()`), nil without one.
    package private(set) var backendPID: Int32?
    private let leader = Mutex(false)

    /// A lease on `key` at `url` (`postgres://user@host:port/database[?sslmode=…&sslrootcert=…]`,
    /// without a password; `PostgresStoreURL`). Reads `sslrootcert` now; connects only at the
    /// first `tryAcquire()`, with the TLS the URL asks for.
    ///
    /// - Throws: `HubError` `.postgresStore` for a bad URL or `sslrootcert`, `.leaderLease` for settings whose
    ///   ping (`interval + pingTimeout`) would not notice a loss before the server frees the lock.
    public init(url: String, password: String?, key: Int64 = LeaderLease.defaultKey, settings: Settings = Settings(),
                logger: Logger = Logger(label: "patrolhub.leader")) throws(HubError) {
        let parsed = try PostgresStoreURL(parsing: url)
        guard settings.interval + settings.pingTimeout < settings.serverDetection else {
            throw HubError(.leaderLease, "leader lease: interval + ping timeout must be shorter than the keepalive detection (idle + interval × count)")
        }
        self.url = parsed
        self.key = key
        self.settings = settings
        self.logger = logger
        var configuration = try parsed.connectionConfiguration(password: password)
        configuration.options.additionalStartupParameters = [
            ("application_name", "patrolhub-leader-lease"),
            ("tcp_keepalives_idle", "\(settings.keepalivesIdle)"),
            ("tcp_keepalives_interval", "\(settings.keepalivesInterval)"),
            ("tcp_keepalives_count", "\(settings.keepalivesCount)"),
            ("tcp_user_timeout", "\(settings.serverDetection.components.seconds * 1000)"),
            ("statement_timeout", "0"),
            ("idle_session_timeout", "0"),
            ("idle_in_transaction_session_timeout", "0"),
        ]
        self.configuration = configuration
    }

    /// Whether this lease holds the lock, as of the last try or ping. Cheap, from any thread:
    /// leader-only work checks it before each step. False at once when a ping fails.
    public nonisolated var isLeader: Bool { leader.withLock { $0 } }

    /// Tries to take the lock once (connecting first when needed); true when this lease holds
    /// it now. When already the leader, pings instead (true while the connection lives).
    ///
    /// - Throws: `HubError` `.leaderLease` when the server cannot be reached or the query fails
    ///   (the connection is then dropped; the next try connects again).
    public func tryAcquire() async throws -> Bool {
        if isLeader { return await ping() }
        let connection = try await connected()
        do {
            let key = self.key
            let logger = self.logger
            let got = try await answer(within: settings.pingTimeout, on: connection) {
                try await Self.single(Bool.self, connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger))
            }
            leader.withLock { $0 = got }
            if got { logger.notice("leader lease acquired", metadata: ["key": "\(key)", "store": "\(url)"]) }
            return got
        } catch {
            await drop()
            throw Self.leaseError(error, "trying the leader lock")
        }
    }

    /// Checks the lease's connection (`SELECT 1`, at most `pingTimeout`). When it fails,
    /// `isLeader` turns false, the connection is closed (the server then frees the lock if it
    /// still held it) and the result is false.
    ///
    /// - Returns: whether this lease is (still) the leader.
    @discardableResult
    public func ping() async -> Bool {
        guard let connection else {
            leader.withLock { $0 = false }
            return false
        }
        do {
            let logger = self.logger
            _ = try await answer(within: settings.pingTimeout, on: connection) {
                try await Self.single(Int.self, connection.query("SELECT 1", logger: logger))
            }
            return isLeader
        } catch {
            let was = isLeader
            leader.withLock { $0 = false }
            if was {
                logger.warning("leader lease lost: its connection failed", metadata: ["store": "\(url)", "error": "\(Self.leaseError(error, "ping"))"])
            }
            await drop()
            return false
        }
    }

    /// Gives the lock up (`pg_advisory_unlock`), keeping the connection for a later try. When
    /// that fails, the connection is closed instead, which frees the lock just as well.
    public func release() async {
        guard isLeader, let connection else { return }
        leader.withLock { $0 = false }
        do {
            let key = self.key
            let logger = self.logger
            _ = try await answer(within: settings.pingTimeout, on: connection) {
                try await Self.single(Bool.self, connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger))
            }
            logger.notice("leader lease released", metadata: ["key": "\(key)", "store": "\(url)"])
        } catch {
            await drop()
        }
    }

    /// Closes the connection (the server frees the lock with the session). The lease can
    /// connect again by `tryAcquire()`.
    public func close() async {
        leader.withLock { $0 = false }
        await drop()
    }

    /// Holds the lease for the lifetime of the calling task: a standby tries every `interval`,
    /// the leader pings every `interval`. Calls `onGain` when this hub becomes the leader and
    /// `onLoss` when it stops being it (its ping failed, or the task is cancelled: then
    /// `onLoss` runs before the lock is released). Errors (an unreachable server) are logged
    /// and retried. Returns when the task is cancelled, with the lock released and the
    /// connection closed.
    public func run(onGain: @Sendable () async -> Void, onLoss: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            let was = isLeader
            let now: Bool
            if was {
                now = await ping()
            } else {
                do {
                    now = try await tryAcquire()
                } catch {
                    logger.warning("leader lease: \(error)")
                    now = false
                }
            }
            if now, !was { await onGain() }
            if was, !now { await onLoss() }
            try? await Task.sleep(for: settings.interval)
        }
        if isLeader { await onLoss() }
        await release()
        await close()
    }

    // MARK: - The connection

    private func connected() async throws -> PostgresConnection {
        if let connection { return connection }
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: logger)
            self.connection = connection
            let logger = self.logger
            backendPID = try await answer(within: settings.pingTimeout, on: connection) {
                try await Self.single(Int32.self, connection.query("SELECT pg_backend_pid()", logger: logger))
            }
            return connection
        } catch {
            await drop()
            throw Self.leaseError(error, "cannot connect to \(url)")
        }
    }

    private func drop() async {
        let old = connection
        connection = nil
        backendPID = nil
        try? await old?.close()
    }

    /// `body`'s result, or an error after `timeout`; on a timeout the connection is closed. The
    /// caller does not wait for `body` to return: postgres-nio never completes a query written
    /// to a connection the server already closed, so a structured wait (a task group) could hang.
    private func answer<T: Sendable>(within timeout: Duration, on connection: PostgresConnection,
                                     _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard !connection.isClosed else { throw HubError(.leaderLease, "the connection is closed") }
        let pending = PendingAnswer<T>()
        let finish = pending.finish
        return try await withCheckedThrowingContinuation { continuation in
            pending.start(continuation)
            let work = Task {
                do { _ = finish(.success(try await body())) } catch { _ = finish(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: timeout)
                if finish(.failure(HubError(.leaderLease, "no answer from the server within \(timeout)"))) {
                    work.cancel()
                    try? await connection.close()
                }
            }
        }
    }

    private static func single<T: PostgresDecodable & Sendable>(_ type: T.Type, _ rows: PostgresRowSequence) async throws -> T {
        for try await value in rows.decode(T.self) { return value }
        throw HubError(.leaderLease, "the server returned no row")
    }

    private static func leaseError(_ error: any Error, _ what: String) -> HubError {
        if let e = error as? HubError, e.code == .leaderLease { return e }
        let described = PostgresStore.storeError(error, what).description
        return HubError(.leaderLease, "leader lease: \(described)")
    }
}

/// The one continuation of `LeaderLease.answer`: resumed once, by the answer or the timeout, whichever comes first.
private final class PendingAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func start(_ c: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = c } }

    /// Resumes the continuation with `result` unless it was resumed already; true when this call did.
    @Sendable func finish(_ result: Result<T, any Error>) -> Bool {
        guard let c = continuation.withLock({ p -> CheckedContinuation<T, any Error>? in defer { p = nil }; return p }) else { return false }
        c.resume(with: result)
        return true
    }
}
