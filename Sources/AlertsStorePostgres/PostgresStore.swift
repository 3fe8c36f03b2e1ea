import Alerts
import AlertsStore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

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
    /// The inbox whose pipeline this store serves (`DisputeStore.inboxID`): the cursor and the
    /// in-progress mark read and written are that inbox's rows (`pipeline_cursor`,
    /// `pipeline_inflight`, keyed by `inbox_id`), so hubs sharing the store keep their own
    /// positions. Nil for a store opened without an inbox (`store migrate`, reads): then those
    /// calls and a batch's commit throw.
    public let inboxID: String?
    let connection: PostgresConnection
    let logger: Logger
    /// Batches (and migrations) take turns on the one connection.
    let turn = NSLock()
    /// The leader epoch this store's pipeline took (`takeLead`); nil for a store that is not a
    /// group's pipeline. Set, every batch first checks that it is still the store's epoch.
    let lead = Mutex<(epoch: Int64, holder: String)?>(nil)

    /// Connects to the store at `url` and brings its schema up to date (`PostgresMigrations`).
    ///
    /// - Parameters:
    ///   - url: `postgres://user@host:port/database[?sslmode=…&sslrootcert=…]`, without a password (`PostgresStoreURL`).
    ///   - password: the role's password, nil for none (trust or peer authentication).
    ///   - inboxID: the hub's inbox (`DisputeStore.inboxID`) whose cursor and in-progress mark this store
    ///     keeps; nil when the store is not used by a pipeline. When the inbox has no position yet and
    ///     the store has one not yet keyed (from before `v2-inbox-keyed`), it adopts that one.
    ///   - logger: postgres-nio's and the store's logger.
    /// - Throws: `HubError` `.postgresStore` when the URL or its `sslrootcert` is bad, `inboxID` is empty, the
    ///   server cannot be reached, fails the TLS handshake or refuses the login, or a migration fails.
    public convenience init(url: String, password: String?, inboxID: String? = nil, logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        try self.init(url: try PostgresStoreURL(parsing: url), password: password, inboxID: inboxID, logger: logger)
    }

    /// Connects to the store at a URL already parsed (the config's `store.url`), as `init(url:password:inboxID:logger:)`.
    public init(url parsed: PostgresStoreURL, password: String?, inboxID: String? = nil, logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        Self.preconditionNotOnEventLoop()
        if inboxID?.isEmpty == true { throw HubError(.postgresStore, "the inbox id must not be empty") }
        self.url = parsed
        self.inboxID = inboxID
        self.logger = logger
        var configuration = try parsed.connectionConfiguration(password: password)
        configuration.options.additionalStartupParameters = Self.sessionSettings
        do {
            connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                        id: 1, logger: logger).wait()
        } catch {
            throw Self.storeError(error, "cannot connect to \(parsed)")
        }
        do {
            try migrate()
            try adoptUnkeyedPosition()
        } catch {
            close()
            throw error
        }
    }

    /// The store session's settings. A hub whose host dies or whose network is cut must not keep its
    /// locks (a forward's on its `shared_inbox_forward` row, a leader's on its epoch) until the
    /// kernel's default keepalive gives up after about two hours: the server probes a silent client
    /// after 5 s, gives up after 3 probes 2 s apart (and `tcp_user_timeout` on unacknowledged data
    /// after 11 s), and ends a session idle inside a transaction for 60 s (no batch idles that long
    /// between its statements).
    static let sessionSettings: [(String, String)] = [
        ("application_name", "patrolhub-store"),
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "2"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "11000"),
        ("idle_in_transaction_session_timeout", "60000"),
    ]

    /// Connects with the password of `passwordFile`, or else of `PATROLHUB_STORE_PASSWORD` in `environment` (none when neither is set).
    public convenience init(url: String, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            inboxID: String? = nil, logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        try self.init(url: url, password: Self.password(environment: environment, file: passwordFile), inboxID: inboxID, logger: logger)
    }

    /// Connects to a parsed URL with the password of `passwordFile`, or else of `PATROLHUB_STORE_PASSWORD`.
    public convenience init(url: PostgresStoreURL, passwordFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            inboxID: String? = nil, logger: Logger = Logger(label: "patrolhub.store.postgres")) throws {
        try self.init(url: url, password: Self.password(environment: environment, file: passwordFile), inboxID: inboxID, logger: logger)
    }

    /// The inbox id the cursor and mark rows are keyed by; throws for a store opened without one.
    func requireInboxID() throws -> String {
        guard let inboxID else {
            throw HubError(.postgresStore, "\(url) was opened without an inbox id: the pipeline's cursor and mark need one (PostgresStore(…, inboxID:))")
        }
        return inboxID
    }

    /// Gives this store's inbox the position kept from before `v2-inbox-keyed` (the row keyed
    /// `''`), when the inbox has no row of its own yet: the first inbox opened on an upgraded
    /// store takes it, in one transaction; a hub opening at the same moment finds it taken
    /// (the `UPDATE` re-reads the row after the other's commit) and starts at 0.
    func adoptUnkeyedPosition() throws {
        // A group's pipeline is no inbox's: the old position belongs to the hub whose inbox it was.
        guard let inboxID, inboxID != PostgresSharedInbox.sharedInboxID else { return }
        try turn.withLock {
            try execute("BEGIN")
            do {
                let adopted = try query("""
                    UPDATE pipeline_cursor SET inbox_id = \(inboxID)
                    WHERE inbox_id = '' AND NOT EXISTS (SELECT 1 FROM pipeline_cursor WHERE inbox_id = \(inboxID))
                    """).metadata.rows ?? 0
                if adopted > 0 {
                    try query("""
                        UPDATE pipeline_inflight SET inbox_id = \(inboxID)
                        WHERE inbox_id = '' AND NOT EXISTS (SELECT 1 FROM pipeline_inflight WHERE inbox_id = \(inboxID))
                        """)
                    logger.notice("inbox adopted the store's position from before inbox ids", metadata: ["inbox": "\(inboxID)", "store": "\(url)"])
                }
                try execute("COMMIT")
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
        }
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
        try transaction(begin: "BEGIN", fenced: true, outputPrefix: outputPrefix, body)
    }

    /// Runs `body` in one repeatable-read, read-only transaction: one snapshot of the database
    /// for all its reads. Not checked against a group's lead: it writes nothing.
    func snapshot<T>(_ body: (PostgresBatch) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", fenced: false, outputPrefix: "", body)
    }

    /// Runs `body` in one transaction that no batch of any hub interleaves with: it first takes the
    /// leader row (`pipeline_leader`) FOR UPDATE, which waits for the batches in flight (each holds
    /// the row FOR SHARE from its start, `checkLead`) and holds back the next until it commits. What
    /// an operator's action writes is therefore seen whole by the next batch, and the change log's
    /// numbers are given in commit order (a stream reading `seq > n` never skips a row that
    /// commits later with a smaller number).
    ///
    /// It waits at most `actionLockTimeout` in all — for the actions before it on this connection,
    /// then for the batches in flight — and then throws `.storeBusy`.
    func exclusive<T>(_ body: (PostgresBatch) throws -> T) throws -> T {
        let wait = actionWaitMilliseconds.load(ordering: .relaxed)
        let deadline = Date().addingTimeInterval(Double(wait) / 1000)
        let busy = HubError(.storeBusy, "the store is busy with the pipeline's batches (waited \(Double(wait) / 1000) s); try again")
        return try transaction(begin: "BEGIN", fenced: false, outputPrefix: "", turnBefore: deadline, busy: busy) { b in
            let left = max(1, Int(deadline.timeIntervalSinceNow * 1000))
            try b.run(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(left)"))
            do {
                try b.run("SELECT 1 FROM pipeline_leader WHERE id = 1 FOR UPDATE")
            } catch let error as HubError where error.context.values[Self.sqlStateKey] == "55P03" {
                throw busy
            }
            try b.run("SET LOCAL lock_timeout = 0")
            return try body(b)
        }
    }

    /// How long an operator's action waits for the pipeline's batches by default, in seconds.
    public static let actionLockTimeout = 10

    /// How long this connection's actions wait in all (`exclusive`), in milliseconds
    /// (`actionLockTimeout` unless a test shortens it).
    public let actionWaitMilliseconds = Atomic<Int>(PostgresStore.actionLockTimeout * 1000)

    /// Whether the connection has closed (the server or the network ended it, or `close()`).
    public var isClosed: Bool { connection.isClosed }

    /// One transaction on the connection, in its turn; with `turnBefore`, the turn is waited for
    /// until then at most (then `busy` is thrown).
    private func transaction<T>(begin: String, fenced: Bool, outputPrefix: String, turnBefore deadline: Date? = nil, busy: HubError? = nil,
                                _ body: (PostgresBatch) throws -> T) throws -> T {
        if let deadline {
            guard turn.lock(before: deadline) else { throw busy ?? HubError(.storeBusy, "the store is busy") }
        } else {
            turn.lock()
        }
        defer { turn.unlock() }
        try execute(begin)
        do {
            if fenced { try checkLead() }
            let result = try body(PostgresBatch(store: self, outputPrefix: outputPrefix))
            // An aborted transaction answers COMMIT with a ROLLBACK, not an error.
            let done = try query(PostgresQuery(unsafeSQL: "COMMIT")).metadata.command
            guard done == "COMMIT" else { throw HubError(.postgresStore, "PostgreSQL: the transaction was rolled back (\(done))") }
            return result
        } catch {
            // A lost connection rolls back on the server by itself.
            try? execute("ROLLBACK")
            throw error
        }
    }

    // MARK: - The group's pipeline leader

    /// Makes this store's pipeline the group's (`broker.shared_group`): a new leader epoch, which
    /// every later batch of this store checks (`checkLead`). Call it after winning the leader lease
    /// and before reading the engine's state: the update waits for a batch the previous leader
    /// has in flight (its check holds the row), and once it commits, any batch of that leader
    /// fails its check. So two hubs never both commit after reading the same state, whatever
    /// their leases believe (a frozen leader, a lease lost mid-batch). Returns the epoch.
    @discardableResult
    public func takeLead(holder: String, now: Date = Date()) throws -> Int64 {
        let epoch = try turn.withLock {
            try query("UPDATE pipeline_leader SET epoch = epoch + 1, holder = \(holder), since = \(now.timeIntervalSince1970) WHERE id = 1 RETURNING epoch")
                .rows.first?.decode(Int64.self) ?? 0
        }
        lead.withLock { $0 = (epoch, holder) }
        return epoch
    }

    /// Forgets the epoch taken: batches stop checking it (a hub that lost the lead).
    public func dropLead() {
        lead.withLock { $0 = nil }
    }

    /// The hub that took the group's lead last (`pipeline_leader.holder`) and its epoch.
    public func leadHolder() throws -> (holder: String?, epoch: Int64) {
        try turn.withLock {
            try query("SELECT holder, epoch FROM pipeline_leader WHERE id = 1").rows.first?.decode((String?, Int64).self) ?? (nil, 0)
        }
    }

    /// The error of a statement refused because another hub took the lead since this store's `takeLead`.
    func leadLost() -> HubError {
        HubError(.pipelineLeadLost, "another hub took the group's pipeline since this hub's leader epoch \(lead.withLock { $0?.epoch ?? 0 })")
    }

    /// In a transaction: throws `HubError` `.pipelineLeadLost` when another hub took the lead
    /// after this store's `takeLead`. Holds the row (`FOR SHARE`) to the end of the transaction.
    /// Without a lead, holds the row all the same: an operator's action (`exclusive`) takes it
    /// FOR UPDATE, so it never interleaves with a batch (see `exclusive`).
    private func checkLead() throws {
        guard let mine = lead.withLock({ $0?.epoch }) else {
            try query("SELECT 1 FROM pipeline_leader WHERE id = 1 FOR SHARE")
            return
        }
        let current = try query("SELECT epoch FROM pipeline_leader WHERE id = 1 FOR SHARE").rows.first?.decode(Int64.self) ?? 0
        guard current == mine else {
            throw HubError(.pipelineLeadLost, "another hub took the group's pipeline (leader epoch \(current), this hub's \(mine))")
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
            // Under the migrations' lock too: hubs starting together on a new database would race in the
            // catalog (`IF NOT EXISTS` is not safe against a concurrent CREATE: a unique violation on pg_type).
            try execute("BEGIN")
            do {
                try query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))")
                try execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
                try execute("COMMIT")
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
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

    /// The longest one statement may take before the store gives up on its connection.
    public static let queryTimeout: TimeAmount = .seconds(120)

    /// Runs one statement and waits for all its rows (the calling thread blocks; never an event loop's).
    ///
    /// postgres-nio never completes a query written to a connection the server has closed
    /// (a restart, `pg_terminate_backend`, a dropped network path): a closed connection is
    /// refused at once, and a statement without an answer within `queryTimeout` fails and
    /// closes the connection, so the caller gets an error instead of waiting for ever.
    @discardableResult
    func query(_ q: PostgresQuery) throws -> PostgresQueryResult {
        Self.preconditionNotOnEventLoop()
        guard !connection.isClosed else { throw HubError(.postgresStore, "PostgreSQL: the connection to \(url) is closed") }
        let loop = connection.eventLoop
        let answer = loop.makePromise(of: PostgresQueryResult.self)
        let settled = FirstCall() // the first of the answer and the deadline wins
        let connection = self.connection, url = self.url
        let deadline = loop.scheduleTask(in: Self.queryTimeout) {
            guard settled.claim() else { return }
            answer.fail(HubError(.postgresStore, "PostgreSQL: no answer from \(url) within \(Self.queryTimeout.nanoseconds / 1_000_000_000) s; the connection is closed"))
            let _: EventLoopFuture<Void> = connection.close()
        }
        connection.query(q, logger: logger).hop(to: loop).whenComplete { result in
            guard settled.claim() else { return }
            deadline.cancel()
            answer.completeWith(result)
        }
        do {
            return try answer.futureResult.wait()
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

    /// The `HubError.Context.values` key of the server's SQLSTATE (`storeError`).
    public static let sqlStateKey = "sqlstate"
    /// The `HubError.Context.values` key of the constraint the server named (`storeError`).
    public static let constraintKey = "constraint"

    /// A `HubError` for a postgres-nio error: the server's message and SQLSTATE, or the
    /// connection's failure (postgres-nio's own description hides them on purpose). The
    /// SQLSTATE and the constraint's name, when the server gave them, are also the error's
    /// data (`context.values[sqlStateKey]`, `[constraintKey]`), read by `refusal(of:)`; the
    /// postgres-nio error is its `underlying`.
    static func storeError(_ error: any Error, _ what: String) -> HubError {
        if let e = error as? HubError { return e }
        guard let p = error as? PSQLError else { return HubError(.postgresStore, "PostgreSQL: \(what): \(error)") }
        var text = "PostgreSQL: \(what): "
        var values: [String: String] = [:]
        if let message = p.serverInfo?[.message] {
            text += message
            if let state = p.serverInfo?[.sqlState] {
                text += " (SQLSTATE \(state))"
                values[sqlStateKey] = state
            }
            if let detail = p.serverInfo?[.detail] { text += "; \(detail)" }
            if let constraint = p.serverInfo?[.constraintName] { values[constraintKey] = constraint }
        } else if let tls = PostgresStoreURL.tlsFailure(p) {
            text += tls
        } else {
            text += "\(p.code)"
            if let underlying = p.underlying { text += ": \(underlying)" }
        }
        return HubError(.postgresStore, text, context: HubError.Context(values: values), underlying: p)
    }
}

/// True for the first `claim()` only, from any thread.
private final class FirstCall: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}
