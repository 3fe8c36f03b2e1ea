import Alerts
import AlertsStore
import Foundation
import Logging
import PostgresNIO

/// The dispute store on PostgreSQL, behind the pipeline's store interface
/// (`PipelineStore`): the same tables, keys and change log as the SQLite
/// store (`PostgresMigrations`), written by `PostgresBatch`.
///
/// One connection (postgres-nio's `PostgresConnection`); batches take turns on it.
///
/// **Blocking.** `PipelineStore` is synchronous because the pipeline runs on a
/// dedicated thread of its own. This store bridges to postgres-nio by waiting
/// on each query's `EventLoopFuture` (`wait()`), which blocks the calling
/// thread: call it only from a dedicated thread (the pipeline's, a test's
/// `Thread`), never from an event loop (a precondition stops that: it would
/// deadlock) nor from Swift concurrency's cooperative pool (it would hold a
/// pool thread while waiting).
///
/// The password is given to postgres-nio only: it is not kept, logged or put in an error.
public final class PostgresStore: PipelineStore, Sendable {
    /// One batch's transaction on this store.
    public typealias Batch = PostgresBatch

    /// The environment variable holding the store's password.
    public static let passwordVariable = "PATROLHUB_STORE_PASSWORD"

    /// Where the store is.
    public let url: PostgresStoreURL
    let connection: PostgresConnection
    let logger: Logger
    /// Batches (and migrations) take turns on the one connection.
    let turn = NSLock()

    /// Connects to the store at `url` and brings its schema up to date (`PostgresMigrations`).
    ///
    /// - Parameters:
    ///   - url: `postgres://user@host:port/database[?sslmode=…&sslrootcert=…]`, without a password (`PostgresStoreURL`).
    ///   - password: the role's password, nil for none (trust or peer authentication).
    ///   - logger: postgres-nio's and the store's logger.
    /// - Throws: `HubError` `.postgresStore` when the URL or its `sslrootcert` is bad, the server cannot be reached,
    ///   fails the TLS handshake or refuses the login, or a migration fails.
    public init(url: String, password: String?, logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        Self.preconditionNotOnEventLoop()
        let parsed = try PostgresStoreURL(parsing: url)
        self.url = parsed
        self.logger = logger
        let configuration = try parsed.connectionConfiguration(password: password)
        do {
            connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                        id: 1, logger: logger).wait()
        } catch {
            throw Self.storeError(error, "cannot connect to \(parsed)")
        }
        do {
            try migrate()
        } catch {
            close()
            throw error
        }
    }

    /// Connects with the password of `passwordFile`, or else of `PATROLHUB_STORE_PASSWORD` in `environment` (none when neither is set).
    public convenience init(url: String, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        try self.init(url: url, password: Self.password(environment: environment, file: passwordFile), logger: logger)
    }

    /// The store's password: the first line of `file` when given (an unreadable file is an
    /// error), else `PATROLHUB_STORE_PASSWORD` from `environment`, else nil.
    public static func password(environment: [String: String], file: String?) throws(HubError) -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw HubError(.postgresStore, "cannot read the store's password file \(file)")
            }
            let text = String(decoding: data, as: UTF8.self)
            return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        }
        return environment[passwordVariable]
    }

    /// Closes the connection (waits for it). The store is unusable afterwards.
    public func close() {
        try? connection.close().wait()
    }

    /// Runs `body` in one transaction (BEGIN … COMMIT on the store's connection): everything it
    /// writes commits together, or nothing (ROLLBACK) when it throws. Blocks the calling thread
    /// (see the type's note): call it from the pipeline's dedicated thread. `body` must not call
    /// the store itself (only the batch it is given): the store's turn is held while it runs.
    public func batch<T>(outputPrefix: String, _ body: (PostgresBatch) throws -> T) throws -> T {
        try turn.withLock {
            try execute("BEGIN")
            do {
                let result = try body(PostgresBatch(store: self, outputPrefix: outputPrefix))
                try execute("COMMIT")
                return result
            } catch {
                // A lost connection rolls back on the server by itself.
                try? execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The tables `rowCount(_:)` counts: those the pipeline's commit writes.
    package static let countedTables: Set<String> = [
        "events", "event_batches", "risk_items", "slips", "slip_items", "cases", "case_items", "case_transitions", "audit_log",
        "outbox", "dead_letters", "counters", "unmapped_inputs", "patrol_slots", "patrol_records", "patrol_scheduler", "changes",
    ]

    /// The rows of one of `countedTables` (for tests comparing the two stores).
    package func rowCount(_ table: String) throws -> Int {
        precondition(Self.countedTables.contains(table), "not a counted table: \(table)")
        return try turn.withLock {
            try query(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table)")).rows.first?.decode(Int.self) ?? 0
        }
    }

    /// The value of a `counters` row, 0 when it has none (for tests comparing the two stores).
    package func counter(_ name: String) throws -> Int {
        try turn.withLock {
            try query("SELECT value FROM counters WHERE name = \(name)").rows.first?.decode(Int.self) ?? 0
        }
    }

    // MARK: - Migrations

    /// Applies the migrations `schema_migrations` does not list, each in its own transaction,
    /// under an advisory lock (hubs starting together migrate once).
    func migrate() throws {
        try turn.withLock {
            try execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            for migration in PostgresMigrations.all {
                try execute("BEGIN")
                do {
                    try query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))")
                    let done = try query("SELECT 1 FROM schema_migrations WHERE version = \(migration.version)").rows.isEmpty == false
                    if !done {
                        for statement in migration.statements { try execute(statement) }
                        try query("INSERT INTO schema_migrations(version, applied_at) VALUES (\(migration.version), \(Date().timeIntervalSince1970))")
                        logger.info("store migrated", metadata: ["version": "\(migration.version)", "store": "\(url)"])
                    }
                    try execute("COMMIT")
                } catch {
                    try? execute("ROLLBACK")
                    throw HubError(.postgresStore, "migration \(migration.version) of \(url) failed: \(error)")
                }
            }
        }
    }

    /// The versions applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try turn.withLock {
            try query("SELECT version FROM schema_migrations ORDER BY version").rows.map { try $0.decode(String.self) }
        }
    }

    // MARK: - Blocking on postgres-nio

    /// Runs one statement and waits for all its rows (the calling thread blocks; never an event loop's).
    @discardableResult
    func query(_ q: PostgresQuery) throws -> PostgresQueryResult {
        Self.preconditionNotOnEventLoop()
        do {
            return try connection.query(q, logger: logger).wait()
        } catch {
            throw Self.storeError(error, "query failed")
        }
    }

    /// Runs a statement without parameters.
    func execute(_ sql: String) throws {
        try query(PostgresQuery(unsafeSQL: sql))
    }

    static func preconditionNotOnEventLoop() {
        precondition(MultiThreadedEventLoopGroup.currentEventLoop == nil,
                     "PostgresStore blocks its caller: call it from a dedicated thread, never from an event loop")
    }

    /// A `HubError` for a postgres-nio error: the server's message and SQLSTATE, or the
    /// connection's failure (postgres-nio's own description hides them on purpose).
    static func storeError(_ error: any Error, _ what: String) -> HubError {
        if let e = error as? HubError { return e }
        guard let p = error as? PSQLError else { return HubError(.postgresStore, "PostgreSQL: \(what): \(error)") }
        var text = "PostgreSQL: \(what): "
        if let message = p.serverInfo?[.message] {
            text += message
            if let state = p.serverInfo?[.sqlState] { text += " (SQLSTATE \(state))" }
            if let detail = p.serverInfo?[.detail] { text += "; \(detail)" }
        } else if let tls = PostgresStoreURL.tlsFailure(p) {
            text += tls
        } else {
            text += "\(p.code)"
            if let underlying = p.underlying { text += ": \(underlying)" }
        }
        return HubError(.postgresStore, text)
    }
}
