import Alerts
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// The dispute store: SQLite in WAL mode, versioned migrations, one method
/// per consistent write. Two files: the store proper (`store.path`) and the
/// inbox beside it (`….inbox.sqlite`), each with one writer. The inbox file
/// is written only by the MQTT thread, so ingestion never waits for the
/// pipeline's transactions; the pipeline's position in the inbox is a cursor
/// kept in the store and moved in the same transaction as the outcomes.
public struct DisputeStore: Sendable {
    /// The store file's writer: for this target's code and the package's tests; other
    /// targets go through the store's methods.
    package let writer: any DatabaseWriter
    /// The inbox file's writer (the MQTT thread's); package-only like `writer`.
    package let inboxWriter: any DatabaseWriter
    /// A second connection to the inbox file, for checkpoints off the MQTT thread.
    let inboxCheckpointer: DatabaseQueue?
    /// A connection to the store file for checkpoints off the pipeline's thread (`checkpoint()`).
    let storeCheckpointer: DatabaseQueue?
    /// The WAL length (frames) past which `checkpoint()` has a WAL start over
    /// (`defaultWALRestartFrames`; 0: never). Package-only, for tests.
    package var walRestartFrames = DisputeStore.defaultWALRestartFrames
    /// The inbox file's identity: a random UUID (lowercase text) made once with the file
    /// (`v3-inbox-id`) and kept in it (`inbox_identity`). A store several hubs share keeps each
    /// hub's cursor and in-progress mark under it (`PostgresStore(…, inboxID:)`).
    public let inboxID: String

    /// The store file's path (nil for an in-memory store).
    public var path: String? { (writer as? DatabasePool)?.path }

    /// The inbox file that goes with a store file.
    public static func inboxPath(for path: String) -> String {
        let base = path.hasSuffix(".sqlite") ? String(path.dropLast(".sqlite".count)) : path
        return base + ".inbox.sqlite"
    }

    /// Opens (or creates) the store files, making their folder if needed: the
    /// folder 0700, the files (store, inbox, their -wal and -shm) 0600.
    /// SQLite's page caches, the store file's memory map and the number of
    /// connections follow `memoryMiB` (`store.memory_mib`, `MemoryBudget`).
    public init(path: String, synchronous: HubConfig.Store.Synchronous = .normal,
                memoryMiB: Int = HubConfig.Store.defaultMemoryMiB) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FilePermissions.secureFolder(folder) }
        let files = FilePermissions.sqliteFiles(path) + FilePermissions.sqliteFiles(Self.inboxPath(for: path))
        FilePermissions.createPrivateFile(path)
        FilePermissions.createPrivateFile(Self.inboxPath(for: path))
        FilePermissions.makePrivate(files)
        defer { FilePermissions.makePrivate(files) } // -wal and -shm made while opening
        let c = Self.configurations(synchronous: synchronous, memoryMiB: memoryMiB)
        let inboxPath = Self.inboxPath(for: path)
        let writer = try Self.openPool(path, c.store)
        try self.init(writer: writer,
                      inboxWriter: Self.openPool(inboxPath, c.inbox),
                      inboxCheckpointer: DatabaseQueue(path: inboxPath, configuration: c.checkpointer),
                      storeCheckpointer: DatabaseQueue(path: path, configuration: c.checkpointer))
    }

    /// Opens (or creates) only an inbox file, for a hub whose store is elsewhere
    /// (PostgreSQL): `inboxPath` is the inbox file itself (`inboxPath(for:)` of
    /// the configured `store.path`), made 0600 in a 0700 folder as by `init(path:)`.
    /// No store file is made: the store side is an empty in-memory database that
    /// nothing writes, so what reads the store (`cursor()`, `pending(limit:)`,
    /// `pruneInbox`, `status()`) sees a cursor of 0 and must not be used; the
    /// pipeline reads `pending(after:)`, `inboxRecord(seq:)`, `inboxID` and the
    /// checkpoints (`checkpointInbox()`).
    public static func inboxOnly(path inboxPath: String, synchronous: HubConfig.Store.Synchronous = .normal,
                                 memoryMiB: Int = HubConfig.Store.defaultMemoryMiB) throws -> DisputeStore {
        let folder = (inboxPath as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FilePermissions.secureFolder(folder) }
        let files = FilePermissions.sqliteFiles(inboxPath)
        FilePermissions.createPrivateFile(inboxPath)
        FilePermissions.makePrivate(files)
        defer { FilePermissions.makePrivate(files) }
        let c = Self.configurations(synchronous: synchronous, memoryMiB: memoryMiB)
        return try DisputeStore(writer: DatabaseQueue(), inboxWriter: openPool(inboxPath, c.inbox),
                                inboxCheckpointer: DatabaseQueue(path: inboxPath, configuration: c.checkpointer))
    }

    /// The connections' configurations: the store file's, the inbox file's and the checkpointers'.
    private static func configurations(synchronous: HubConfig.Store.Synchronous, memoryMiB: Int)
        -> (store: Configuration, inbox: Configuration, checkpointer: Configuration) {
        let budget = MemoryBudget(mib: memoryMiB)
        var config = Configuration()
        let sync = synchronous == .full ? "FULL" : "NORMAL"
        config.maximumReaderCount = budget.storeReaders
        config.prepareDatabase { db in
            // Freed pages go back to the file system in steps (Housekeeper). Takes effect only on
            // a file without tables, so before journal_mode = WAL and the first migration; an
            // older store keeps reusing its free pages instead. Only on an empty file: setting it
            // is a write transaction, which a connection opened while the hub writes (a CLI
            // command, a test) can lose with "database is locked" before its busy handler helps.
            if !db.configuration.readonly, try Int.fetchOne(db, sql: "PRAGMA page_count") == 0 {
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            }
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            // The pipeline's writer looks up an event key per event: the hot B-tree pages stay
            // in its cache, and it reads through the map. Readers (the HTTP side) get small caches.
            // (GRDB opens a pool's readers with `readonly` set.)
            if db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -\(budget.storeReaderCacheKiB)")
                try db.execute(sql: "PRAGMA mmap_size = 0")
            } else {
                try db.execute(sql: "PRAGMA cache_size = -\(budget.storeWriterCacheKiB)")
                try db.execute(sql: "PRAGMA mmap_size = \(budget.storeMapBytes)")
            }
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
        }
        config.busyMode = .timeout(Double(Self.busyTimeoutMilliseconds) / 1000)
        // The inbox's writer never checkpoints: that would copy WAL pages into
        // the database file on the MQTT thread, between a commit and its
        // PUBACKs. The pipeline checkpoints it instead, on its own connection.
        // The inbox is appended to and read in order: small caches, no map.
        var inboxConfig = config
        inboxConfig.maximumReaderCount = budget.inboxReaders
        inboxConfig.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA mmap_size = 0")
            try db.execute(sql: "PRAGMA cache_size = -\(db.configuration.readonly ? budget.inboxReaderCacheKiB : budget.inboxWriterCacheKiB)")
        }
        var checkpointerConfig = config
        checkpointerConfig.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            try db.execute(sql: "PRAGMA mmap_size = 0")
            try db.execute(sql: "PRAGMA cache_size = -\(budget.checkpointerCacheKiB)")
        }
        return (config, inboxConfig, checkpointerConfig)
    }

    /// Opens a pool, tolerating another process that opens the same new file
    /// at the same moment: switching a new file to WAL takes a lock that
    /// SQLite refuses at once (SQLITE_BUSY, without its busy handler) while
    /// the other connection switches it. Every other lock waits in SQLite's
    /// busy handler (`busyMode`); this one is retried here, every 20 ms, 50 times at most.
    private static func openPool(_ path: String, _ configuration: Configuration) throws -> DatabasePool {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 50 {
                usleep(20_000)
            }
        }
    }

    /// An in-memory store with the same schema, for tests.
    public static func inMemory() throws -> DisputeStore {
        try DisputeStore(writer: DatabaseQueue(), inboxWriter: DatabaseQueue())
    }

    /// A store over the given connections, migrated here; the checkpointers, when given, run the WAL checkpoints off the writers.
    public init(writer: any DatabaseWriter, inboxWriter: any DatabaseWriter, inboxCheckpointer: DatabaseQueue? = nil,
                storeCheckpointer: DatabaseQueue? = nil) throws {
        self.writer = writer
        self.inboxWriter = inboxWriter
        self.inboxCheckpointer = inboxCheckpointer
        self.storeCheckpointer = storeCheckpointer
        // Both files are checked before either is migrated: a refused inbox leaves its store as it was too.
        try Self.refuseNewer(Migrations.migrator, writer)
        try Self.refuseNewer(Migrations.inboxMigrator, inboxWriter)
        try Self.migrate(Migrations.migrator, writer)
        try Self.migrate(Migrations.inboxMigrator, inboxWriter)
        inboxID = try inboxWriter.read { db in try String.fetchOne(db, sql: "SELECT inbox_id FROM inbox_identity WHERE id = 1") } ?? ""
    }

    /// Refuses a file that a newer PatrolHub migrated (a migration this version does not
    /// know), before anything is written: this version's statements would run against a
    /// schema it was not written for (a binary rolled back over its newer store).
    private static func refuseNewer(_ migrator: DatabaseMigrator, _ writer: any DatabaseWriter) throws {
        // On the writer's connection: a pool's reader opened before the migrations keeps
        // the schema it read first (a query plan named an index the migrations dropped).
        // Another process creating the same new file at this moment can make a read fail
        // (seen as "no such table: grdb_migrations" when its first migration committed
        // between this connection's reads): read again, as `migrate` does, up to 20 times
        // 50 ms apart.
        var unknown: [String] = []
        for attempt in 1... {
            do {
                unknown = try writer.writeWithoutTransaction { db -> [String] in
                    guard try migrator.hasBeenSuperseded(db) else { return [] }
                    let known = Set(migrator.migrations)
                    return try migrator.appliedIdentifiers(db).filter { !known.contains($0) }.sorted()
                }
                break
            } catch is DatabaseError where attempt < 20 {
                usleep(50_000)
            }
        }
        if !unknown.isEmpty {
            throw HubError(.storeTooNew, "\(writer.path) was written by a newer PatrolHub (migrations this version does not know: \(unknown.joined(separator: ", "))): run that version, or restore a backup made by this one")
        }
    }

    /// Migrates, tolerating another process that migrates the same new file at
    /// the same moment (a `patrolhub status` while the hub starts for the first
    /// time): the migrator lists what to apply before its transactions, so the
    /// slower of the two fails on a table or column the other just made.
    /// SQLite's busy handler makes each of its transactions wait for the other's,
    /// not for the other's whole sequence of migrations: the retry pauses 50 ms
    /// for that before it reads the list again.
    private static func migrate(_ migrator: DatabaseMigrator, _ writer: any DatabaseWriter) throws {
        for attempt in 1... {
            do {
                return try migrator.migrate(writer)
            } catch {
                // On the writer's connection too: a pool's reader opened now would keep the schema it reads first.
                if try writer.writeWithoutTransaction({ try migrator.hasCompletedMigrations($0) }) { return }
                if attempt >= 20 { throw error }
                usleep(50_000)
            }
        }
    }

    // MARK: - Inbox

    /// Appends messages to the inbox in one transaction (returns how many).
    /// Called on the MQTT thread before the PUBACKs go out.
    @discardableResult
    public func ingest(_ messages: [InboxMessage]) throws -> Int {
        guard !messages.isEmpty else { return 0 }
        let count = try inboxWriter.write { db in
            // The hot path of ingestion: binds straight to prepared statements, without GRDB's
            // argument boxing or copying payloads into Data, and many rows per statement: each
            // execution of an INSERT pays its own start, and AUTOINCREMENT's read and write of
            // `sqlite_sequence`, once per statement, not per row.
            var inserted = 0
            var start = 0
            while start < messages.count {
                let left = messages.count - start
                let (n, sql) = Self.inboxInserts.first { $0.rows <= left }!
                let stmt = try db.cachedStatement(sql: sql)
                let h = stmt.sqliteStatement
                sqlite3_reset(h)
                // The keys of the statement's rows, big-endian, in one buffer bound without a copy.
                var keys = [UInt64](repeating: 0, count: 2 * n)
                for k in 0..<n {
                    keys[2 * k] = messages[start + k].keyHigh.bigEndian
                    keys[2 * k + 1] = messages[start + k].keyLow.bigEndian
                }
                let rc = keys.withUnsafeBytes { k in
                    Self.bindInboxRows(h, messages, start ..< start + n, from: start, keys: k.baseAddress!)
                }
                guard rc == SQLITE_DONE else {
                    sqlite3_reset(h)
                    // The one-row form in the error (and the log line it ends in), not 100 rows of placeholders.
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                        sql: Self.inboxInserts.last!.sql + (n > 1 ? " (\(n) rows)" : ""))
                }
                inserted += Int(sqlite3_changes(db.sqliteConnection))
                sqlite3_reset(h)
                start += n
            }
            return inserted
        }
        restartInboxWALIfLarge()
        return count
    }

    /// The inbox INSERTs by rows per statement, largest first: a group is written in statements
    /// of 100 rows, then of 10, then one by one (three statements in GRDB's cache, not one per size).
    static let inboxInserts: [(rows: Int, sql: String)] = [100, 10, 1].map { ($0, inboxInsert(rows: $0)) }

    /// The inbox INSERT of `rows` rows (six parameters each).
    static func inboxInsert(rows: Int) -> String {
        "INSERT INTO inbox(key, topic, payload, received_at, size, sha256) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// Binds `messages[rows]` to `h` (row `i` at parameters `6 * (i - first) + 1 ...`), then
    /// steps it. Topics and payloads are bound without a copy (no destructor: SQLITE_STATIC):
    /// each row's buffers are borrowed in a closure that returns only after the step, so the
    /// rows nest one level each (at most `inboxInserts[0].rows`).
    private static func bindInboxRows(_ h: OpaquePointer, _ messages: [InboxMessage], _ rows: Range<Int>, from first: Int,
                                      keys: UnsafeRawPointer) -> Int32 {
        guard let i = rows.first else { return sqlite3_step(h) }
        let m = messages[i]
        let p = Int32(6 * (i - first))
        var topic = m.topic // its UTF-8 in place, not a NUL-terminated copy per row
        return topic.withUTF8 { t in
            m.payload.withUnsafeBytes { b in
                sqlite3_bind_blob(h, p + 1, keys + 16 * (i - first), 16, nil)
                // A length with the pointer: no NUL needed. (An empty text has no buffer; MQTT topics are never empty.)
                if let base = t.baseAddress, !t.isEmpty {
                    sqlite3_bind_text(h, p + 2, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(t.count), nil)
                } else {
                    sqlite3_bind_text(h, p + 2, "", 0, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                }
                sqlite3_bind_blob(h, p + 3, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count), nil)
                sqlite3_bind_double(h, p + 4, m.receivedAt.timeIntervalSince1970)
                if let o = m.oversized {
                    sqlite3_bind_int64(h, p + 5, Int64(o.size))
                    // Bound with a copy (SQLITE_TRANSIENT): the string's buffer is a temporary.
                    sqlite3_bind_text(h, p + 6, o.sha256, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                } else {
                    sqlite3_bind_null(h, p + 5)
                    sqlite3_bind_null(h, p + 6)
                }
                return bindInboxRows(h, messages, rows.dropFirst(), from: first, keys: keys)
            }
        }
    }

    /// Copies the inbox's WAL into its database file without blocking the
    /// MQTT thread's writes (SQLite PASSIVE checkpoint on a connection of its
    /// own), then has the WAL start over once it is longer than
    /// `walRestartFrames` (see `checkpoint(_:)`). A checkpoint the writer is
    /// running at the moment (see `restartInboxWALIfLarge`) makes this one a
    /// no-op, not an error.
    @discardableResult
    public func checkpointInbox() throws -> WALCheckpoint {
        try checkpoint(inboxCheckpointer)
    }

    /// Copies both files' WALs into their database files (PASSIVE checkpoints,
    /// each on a connection of its own): neither the MQTT thread's nor the
    /// pipeline's writes wait for it, and the file system's sync of the copied
    /// pages happens on the caller's thread. The hub runs it on a thread of its
    /// own a moment after the pipeline's commits (`CheckpointService`), so the
    /// writers' own automatic checkpoint (store: past 8 192 pages, a safety
    /// net) does not come due on the pipeline's thread while it keeps up.
    @discardableResult
    public func checkpoint() throws -> (inbox: WALCheckpoint, store: WALCheckpoint) {
        (try checkpointInbox(), try checkpoint(storeCheckpointer))
    }

    /// What a checkpoint found and did in one file's WAL.
    public struct WALCheckpoint: Sendable, Equatable {
        /// The WAL's length in frames (pages) when the passive checkpoint ran (0 when it did not run).
        public var frames = 0
        /// Whether the WAL was then made to start over (`restartWAL`).
        public var restarted = false
    }

    /// The WAL length (frames, i.e. pages) past which a checkpoint has the WAL
    /// start over: 4 096 (16 MiB of 4 KiB pages).
    public static let defaultWALRestartFrames = 4096
    /// The longest a restarting checkpoint waits for the writer's transaction or a reader to end.
    static let walRestartWaitMilliseconds: Int32 = 20
    /// What a passive checkpoint may leave uncopied for the RESTART to follow it: 256 frames
    /// (1 MiB). More means a reader holds an older snapshot (a backup, a long read), which
    /// the RESTART would wait for while holding the writer back, in vain.
    static let walRestartMaxLeftFrames = 256
    /// How long every connection waits for another's lock (GRDB's `busyMode`, SQLite's busy handler).
    static let busyTimeoutMilliseconds: Int32 = 10_000

    /// A PASSIVE checkpoint on `connection`; then, when the WAL is longer than
    /// `walRestartFrames` and the passive one left at most `walRestartMaxLeftFrames`, a
    /// RESTART checkpoint.
    ///
    /// Under steady traffic a passive checkpoint never finds the WAL fully
    /// copied (the writer commits while it copies and syncs), and SQLite starts
    /// a WAL over only after a checkpoint that copied all of it. The WAL then
    /// grows until the writer itself copies all of it on its own thread: the
    /// store's writer at its automatic checkpoint (8 192 pages), the inbox's at
    /// its TRUNCATE past `inboxWALLimitBytes`. At 5 000 messages a second that
    /// is every few seconds, and the inbox's stalls the MQTT thread, and with
    /// it the PUBACKs, for tens of milliseconds (BENCHMARKS.md §7). Right after
    /// the passive checkpoint only the frames of the last moment are left to
    /// copy: the RESTART checkpoint holds the writer back for that copy and
    /// one sync, and the writer's next transaction writes the WAL from its
    /// beginning. It waits at most `walRestartWaitMilliseconds` for the writer
    /// or a reader and otherwise leaves the WAL to the next checkpoint.
    private func checkpoint(_ connection: DatabaseQueue?) throws -> WALCheckpoint {
        guard let connection else { return WALCheckpoint() }
        let limit = walRestartFrames
        do {
            return try connection.writeWithoutTransaction { db in
                let passive = try db.checkpoint(.passive)
                var done = WALCheckpoint(frames: passive.walFrameCount)
                guard limit > 0, passive.walFrameCount > limit,
                      passive.walFrameCount - passive.checkpointedFrameCount <= Self.walRestartMaxLeftFrames else { return done }
                sqlite3_busy_timeout(db.sqliteConnection, Self.walRestartWaitMilliseconds)
                defer { sqlite3_busy_timeout(db.sqliteConnection, Self.busyTimeoutMilliseconds) }
                do {
                    let restart = try db.checkpoint(.restart)
                    done.restarted = restart.checkpointedFrameCount == restart.walFrameCount
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                    // The writer or a reader held on past the wait: the next checkpoint tries again.
                }
                return done
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            return WALCheckpoint()
        }
    }

    /// The inbox WAL's size past which the inbox's writer empties it (64 MiB).
    public static let inboxWALLimitBytes: Int64 = 64 << 20
    /// When the writer last tried to empty the WAL (uptime ns): every 200 ms at most.
    private static let lastWALRestart = Atomic<UInt64>(0)
    /// TRUNCATE checkpoints of an inbox's WAL the writer ran in this process (diagnostics, tests).
    static let inboxWALRestarts = Atomic<Int>(0)

    /// Under steady traffic the passive checkpoints never catch up with the
    /// writer, and SQLite starts a WAL over only after a checkpoint that did: the
    /// file would grow without end (hundreds of MiB within minutes at thousands of
    /// messages a second). Past `inboxWALLimitBytes`, the writer itself (no other
    /// writer to wait for) runs a TRUNCATE checkpoint after its commit: it copies
    /// what is left and empties the file, holding this group's PUBACKs for as long
    /// (milliseconds, once per 64 MiB of messages). It waits at most 250 ms for a
    /// reader, and otherwise tries again 200 ms later.
    private func restartInboxWALIfLarge() {
        guard let pool = inboxWriter as? DatabasePool else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: pool.path + "-wal")[.size] as? NSNumber)?.int64Value ?? 0
        guard size > Self.inboxWALLimitBytes else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let last = Self.lastWALRestart.load(ordering: .relaxed)
        guard now &- last > 200_000_000 || last == 0,
              Self.lastWALRestart.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        let done = try? pool.writeWithoutTransaction { db in
            sqlite3_busy_timeout(db.sqliteConnection, 250)
            defer { sqlite3_busy_timeout(db.sqliteConnection, Self.busyTimeoutMilliseconds) }
            return try db.checkpoint(.truncate)
        }
        if done != nil { Self.inboxWALRestarts.add(1, ordering: .relaxed) } // a busy checkpoint throws
    }

    /// The pipeline's position: the last inbox `seq` whose outcomes are committed.
    public func cursor() throws -> Int64 {
        try writer.read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT inbox_seq FROM pipeline_cursor WHERE id = 1")) ?? 0 }
    }

    /// The inbox's newest `seq` (0 when empty): how far ingestion has committed.
    public func inboxNewestSeq() throws -> Int64 {
        try inboxWriter.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM inbox") ?? 0 }
    }

    /// The pending inbox rows, oldest first: at most `limit` rows, and no more once
    /// their payloads reach `maxBytes` (a batch of large payloads stays bounded in memory).
    public func pending(limit: Int, maxBytes: Int = 64 << 20) throws -> [InboxRecord] {
        try pending(after: cursor(), limit: limit, maxBytes: maxBytes)
    }

    /// The inbox rows after the seq `after`, oldest first, bounded as `pending(limit:maxBytes:)`: for a
    /// pipeline whose cursor is kept in another store (PostgreSQL) while the inbox stays this file.
    public func pending(after: Int64, limit: Int, maxBytes: Int = 64 << 20) throws -> [InboxRecord] {
        try inboxWriter.read { db in
            // Read straight from the statement: this runs for every message the pipeline sees.
            let stmt = try db.cachedStatement(sql: "SELECT seq, key, topic, payload, received_at, size, sha256 FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?")
            let h = stmt.sqliteStatement
            sqlite3_reset(h)
            sqlite3_bind_int64(h, 1, after)
            sqlite3_bind_int64(h, 2, Int64(limit))
            defer { sqlite3_reset(h) }
            var out: [InboxRecord] = []
            out.reserveCapacity(min(limit, 20_000))
            var bytes = 0
            while bytes < maxBytes {
                let rc = sqlite3_step(h)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: stmt.sql)
                }
                var high: UInt64 = 0, low: UInt64 = 0
                if sqlite3_column_bytes(h, 1) == 16, let k = sqlite3_column_blob(h, 1) {
                    high = UInt64(bigEndian: k.loadUnaligned(as: UInt64.self))
                    low = UInt64(bigEndian: k.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                }
                let topic = sqlite3_column_text(h, 2).map { String(cString: $0) } ?? ""
                let n = Int(sqlite3_column_bytes(h, 3))
                let payload = n > 0 ? [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(h, 3), count: n)) : []
                bytes += n
                var oversized: InboxMessage.Oversized?
                if sqlite3_column_type(h, 5) != SQLITE_NULL {
                    oversized = InboxMessage.Oversized(size: Int(sqlite3_column_int64(h, 5)),
                                                      sha256: sqlite3_column_text(h, 6).map { String(cString: $0) } ?? "")
                }
                out.append(InboxRecord(seq: sqlite3_column_int64(h, 0), keyHigh: high, keyLow: low, topic: topic, payload: payload,
                                       receivedAt: Date(timeIntervalSince1970: sqlite3_column_double(h, 4)), oversized: oversized))
            }
            return out
        }
    }

    /// One inbox row by its seq (nil when it is not there).
    public func inboxRecord(seq: Int64) throws -> InboxRecord? {
        try inboxWriter.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT seq, key, topic, payload, received_at, size, sha256 FROM inbox WHERE seq = ?", arguments: [seq]) else { return nil }
            let key: Data = row[1]
            var high: UInt64 = 0, low: UInt64 = 0
            if key.count == 16 {
                for b in key.prefix(8) { high = high << 8 | UInt64(b) }
                for b in key.suffix(8) { low = low << 8 | UInt64(b) }
            }
            let size: Int? = row[5]
            return InboxRecord(seq: row[0], keyHigh: high, keyLow: low, topic: row[2], payload: [UInt8](row[3] as Data),
                               receivedAt: Date(timeIntervalSince1970: row[4]),
                               oversized: size.map { InboxMessage.Oversized(size: $0, sha256: row[6] ?? "") })
        }
    }

    /// Deletes processed inbox rows received before `cutoff` (outcomes and
    /// their keys stay in the store; the inbox is only the raw log).
    @discardableResult
    public func pruneInbox(olderThan cutoff: Date) throws -> Int {
        let done = try cursor()
        return try inboxWriter.write { db in
            try db.execute(sql: "DELETE FROM inbox WHERE seq <= ? AND received_at < ?", arguments: [done, cutoff.timeIntervalSince1970])
            return db.changesCount
        }
    }

    // MARK: - Outbox

    /// A message waiting in the outbox to be published (QoS 1).
    public struct OutboxMessage: Sendable, Hashable {
        /// The outbox row id: deleted by it once the broker acknowledged the publish.
        public var id: Int64
        /// The output topic.
        public var topic: String
        /// The JSON payload.
        public var payload: [UInt8]
        /// A message as a store read it.
        public init(id: Int64, topic: String, payload: [UInt8]) {
            self.id = id
            self.topic = topic
            self.payload = payload
        }
    }

    /// The oldest `limit` messages not yet published, in the order written.
    public func outbox(limit: Int) throws -> [OutboxMessage] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?", arguments: [limit]).map {
                OutboxMessage(id: $0[0], topic: $0[1], payload: [UInt8]($0[2] as Data))
            }
        }
    }

    /// Removes published messages (after the broker acknowledged them).
    public func deleteOutbox(ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try writer.write { db in
            let stmt = try db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ?")
            for id in ids { try stmt.execute(arguments: [id]) }
        }
    }

    // MARK: - Registry

    /// Replaces the zones table with the loaded grid (codes, names, hierarchy, units,
    /// and the WGS-84 geometry as GeoJSON for the live board).
    public func saveZones(_ index: ZoneIndex) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM zones")
            let stmt = try db.cachedStatement(sql: "INSERT INTO zones(code, name, level, parent, unit, worker, geometry) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for z in index.zones {
                try stmt.execute(arguments: [z.code, z.name, z.level.rawValue, z.parent, z.unit, z.worker, z.geometry.geoJSON.serialized])
            }
        }
    }

    /// Replaces the registered cameras and devices, keeping known camera status.
    public func saveRegistry(_ registry: Registry, zoneOf: (CameraRecord) -> String?) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM devices")
            let known = Set(registry.cameras.keys)
            for id in try String.fetchAll(db, sql: "SELECT id FROM cameras") where !known.contains(id) {
                try db.execute(sql: "DELETE FROM cameras WHERE id = ?", arguments: [id])
            }
            for c in registry.cameras.values {
                try db.execute(sql: """
                    INSERT INTO cameras(id, name, lat, lon, crs, zone) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon, crs = excluded.crs, zone = excluded.zone
                    """, arguments: [c.id, c.name, c.location?.lat, c.location?.lon, c.location?.crs.rawValue, zoneOf(c)])
            }
            for d in registry.devices.values {
                try db.execute(sql: "INSERT INTO devices(id, worker, unit, zone) VALUES (?, ?, ?, ?)", arguments: [d.id, d.worker, d.unit, d.zone])
            }
        }
    }
}

extension HubError.Code {
    /// The store or inbox file was migrated by a newer PatrolHub than this one: it is not opened.
    public static let storeTooNew = Self("store_too_new")
}
