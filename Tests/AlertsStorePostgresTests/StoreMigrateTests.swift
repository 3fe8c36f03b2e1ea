@testable import AlertsStore
@testable import AlertsStorePostgres
import Foundation
import GRDB
import PostgresNIO
import PostgresTestSupport
import Testing
@testable import Alerts
import TestSupport

/// `PostgresStore.copy(from:)` (`patrolhub store migrate`): a SQLite store
/// filled by the pipeline's real batches, copied into a fresh PostgreSQL
/// database; counts equal for every table, rows equal in content, the
/// pipeline going on on the copy (ids past the copied ones), a second copy refused.
@Suite("SQLite store copied into PostgreSQL", .serialized)
struct StoreMigrateTests {
    /// A SQLite store after the behaviour suite's whole scenario (batches, dead letter, cases, patrol ticks).
    static func filledSQLite() throws -> (SQLiteTestStore, StoreBehaviourTests.Pipeline) {
        let sqlite = try SQLiteTestStore()
        let p = try StoreBehaviourTests.scenario(sqlite.store)
        return (sqlite, p)
    }

    @Test("every table copied with equal counts and content; the pipeline goes on on the copy")
    func copyAndVerify() async throws {
        try await onDedicatedThread {
            let (sqlite, pipeline) = try Self.filledSQLite()
            defer { sqlite.finish() }
            let db = try TestPostgres.freshDatabase("migrate")
            // Opened for the SQLite store's inbox, as the hub opens it after the copy.
            let pg = try PostgresStore(url: db.url, password: db.password, inboxID: sqlite.store.inboxID)
            defer { pg.close() }
            // A mark in progress in SQLite (a hub stopped inside a batch) is carried over with the cursor.
            let mark = InProgressMark(lastSeq: try sqlite.store.cursor() + 2, isolateThrough: 0, stops: 1)
            try sqlite.store.markInProgress(mark, at: StoreBehaviourTests.at(20))

            let counts = try pg.copy(from: sqlite.store, batchRows: 3) // small batches: several per table
            #expect(counts.map(\.table) == PostgresStore.copiedTables)
            for c in counts { #expect(c.ok, "\(c.table): sqlite \(c.sqliteRows), postgres \(c.postgresRows)") }
            let rows = Dictionary(uniqueKeysWithValues: counts.map { ($0.table, $0.postgresRows) })
            for table in ["events", "event_batches", "risk_items", "slips", "slip_items", "cases", "case_items", "case_transitions",
                          "audit_log", "outbox", "dead_letters", "patrol_slots", "patrol_records", "changes"] {
                #expect(rows[table, default: 0] > 0, "the scenario fills \(table)")
            }

            // Content: the same rows, values and bytes.
            let sqliteCases = try sqlite.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT id, zone, category, severity FROM cases ORDER BY id")
                    .map { "\($0[0] as String)|\($0[1] as String)|\($0[2] as String)|\($0[3] as Int)" }
            }
            let pgCases = try pg.query("SELECT id, zone, category, severity FROM cases ORDER BY id").rows
                .map { row in let (a, b, c, d) = try row.decode((String, String, String, Int).self); return "\(a)|\(b)|\(c)|\(d)" }
            #expect(pgCases == sqliteCases)

            let sqliteOutbox = try sqlite.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT id, topic, payload FROM outbox ORDER BY id").map { ($0[0] as Int64, $0[1] as String, [UInt8]($0[2] as Data)) }
            }
            let pgOutbox = try pg.query("SELECT id, topic, payload FROM outbox ORDER BY id").rows.map { row in
                let (id, topic, payload) = try row.decode((Int64, String, ByteBuffer).self)
                return (id, topic, Array(payload.readableBytesView))
            }
            #expect(pgOutbox.map(\.0) == sqliteOutbox.map(\.0))
            #expect(pgOutbox.map(\.1) == sqliteOutbox.map(\.1))
            #expect(pgOutbox.map(\.2) == sqliteOutbox.map(\.2))

            let sqliteChanges = try sqlite.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, kind, subject, op, at FROM changes ORDER BY seq")
                    .map { "\($0[0] as Int64)|\($0[1] as String)|\($0[2] as String)|\($0[3] as String)|\($0[4] as Double)" }
            }
            let pgChanges = try pg.query("SELECT seq, kind, subject, op, at FROM changes ORDER BY seq").rows.map { row in
                let (a, b, c, d, e) = try row.decode((Int64, String, String, String, Double).self)
                return "\(a)|\(b)|\(c)|\(d)|\(e)"
            }
            #expect(pgChanges == sqliteChanges, "the change log copied as it was, not written again by triggers")

            // The cursor and the mark, keyed by the SQLite store's inbox: the hub resumes where it stopped.
            #expect(try sqlite.store.cursor() > 0)
            #expect(try pg.cursor() == sqlite.store.cursor())
            #expect(try pg.inProgressMark() == mark)
            let keys = try pg.query("SELECT inbox_id FROM pipeline_cursor UNION ALL SELECT inbox_id FROM pipeline_inflight").rows
                .map { try $0.decode(String.self) }
            #expect(keys == [sqlite.store.inboxID, sqlite.store.inboxID])
            try pg.clearInProgressMark()

            for name in ["dead_letters.pending", "late_events"] {
                #expect(try pg.counter(name) == (try sqlite.counter(name)), "\(name)")
            }
            try pg.batch(outputPrefix: "patrolhub/v1") { batch throws in
                let until = try batch.patrolEvaluatedUntil()
                #expect(until != nil)
                let sqliteUntil = try sqlite.store.batch(outputPrefix: "patrolhub/v1") { try $0.patrolEvaluatedUntil() }
                #expect(until == sqliteUntil)
            }

            // The pipeline goes on on the copy: new rows get ids past the copied ones (no key clash).
            var p = pipeline
            let before = try pg.rowCount("changes")
            try p.run([StoreBehaviourTests.camera("cam-B", "late-1", "fight", 30), InboxMessage(topic: "patrolhub/v1/camera/cam-A/event", payload: Array("{late".utf8), receivedAt: StoreBehaviourTests.at(31))], on: pg,
                      now: StoreBehaviourTests.at(32))
            #expect(try pg.rowCount("changes") > before)
            #expect(try pg.rowCount("dead_letters") == rows["dead_letters", default: 0] + 1)
            #expect(try pg.counter("dead_letters.pending") == (try sqlite.counter("dead_letters.pending")) + 1, "the trigger is back on")
        }
    }

    @Test("a second copy into the same database is refused, naming a table that holds data")
    func secondCopyRefused() async throws {
        try await onDedicatedThread {
            let (sqlite, _) = try Self.filledSQLite()
            defer { sqlite.finish() }
            let db = try TestPostgres.freshDatabase("migrate_twice")
            let pg = try PostgresStore(url: db.url, password: db.password)
            defer { pg.close() }
            _ = try pg.copy(from: sqlite.store)
            let before = try pg.rowCount("events")
            let error = try #require(throws: HubError.self) { try pg.copy(from: sqlite.store) }
            #expect(error.message.contains("already holds data"), "\(error.message)")
            #expect(error.message.contains("migrate into an empty database"))
            #expect(try pg.rowCount("events") == before)
        }
    }
}
