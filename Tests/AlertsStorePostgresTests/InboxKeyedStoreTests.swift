@testable import AlertsStore
@testable import AlertsStorePostgres
import Foundation
import PostgresNIO
import PostgresTestSupport
import Testing
@testable import Alerts
import TestSupport

/// Several hubs on one PostgreSQL store, each with its own inbox numbered from 1:
/// the cursor and the in-progress mark are kept per inbox (`inbox_id`), the
/// position of a store from before that is adopted by the first inbox opened on
/// it, and a unique violation on a number sequence (another hub took the number)
/// is retried, not taken for a refusal of the input.
@Suite("PostgreSQL store shared by inboxes", .serialized)
struct InboxKeyedStoreTests {
    typealias T = StoreBehaviourTests

    /// A hub: its own inbox file (inbox only, no store file) and a processor on the shared store.
    final class Hub {
        let inboxPath: String
        var inbox: DisputeStore
        var store: PostgresStore
        let db: (url: String, password: String?)

        init(folder: String, name: String, db: (url: String, password: String?)) throws {
            inboxPath = folder + "/\(name).inbox.sqlite"
            inbox = try DisputeStore.inboxOnly(path: inboxPath)
            self.db = db
            store = try PostgresStore(url: db.url, password: db.password, inboxID: inbox.inboxID)
        }

        /// A new process: the inbox file and the store opened again.
        func restart() throws {
            store.close()
            inbox = try DisputeStore.inboxOnly(path: inboxPath)
            store = try PostgresStore(url: db.url, password: db.password, inboxID: inbox.inboxID)
        }

        func processor() throws -> BatchProcessor<PostgresStore> {
            let engine = RiskEngine(rules: RuleSet(), place: Placer(registry: T.registry, zones: nil).place)
            let decode = DecodeStage(router: TopicRouter(), registry: T.registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 16)
            return try BatchProcessor(store: store, inbox: inbox, decode: decode, engine: engine, outputPrefix: "patrolhub/v1",
                                      clock: { T.at(30) })
        }
    }

    /// A payload that does not decode (a dead letter), its key its own (`tag`).
    static func bad(_ tag: String, _ m: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/cam-A/event", payload: Array("{\(tag)".utf8), receivedAt: T.at(m))
    }

    @Test("two hubs with their own inboxes commit to one store; each resumes at its own cursor after a restart")
    func twoInboxesOneStore() async throws {
        try await onDedicatedThread {
            let folder = NSTemporaryDirectory() + "patrolhub-inboxes-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let db = try TestPostgres.freshDatabase("inboxes")
            let a = try Hub(folder: folder, name: "a", db: db)
            let b = try Hub(folder: folder, name: "b", db: db)
            defer { a.store.close(); b.store.close() }
            #expect(a.inbox.inboxID != b.inbox.inboxID)
            #expect(!FileManager.default.fileExists(atPath: folder + "/a.sqlite"), "an inbox-only open makes no store file")

            // Both inboxes number their messages from 1.
            try a.inbox.ingest([T.camera("cam-A", "a1", "intrusion", 1), T.camera("cam-A", "a2", "intrusion", 2), Self.bad("a", 3),
                                T.camera("cam-A", "a3", "fight", 4), T.camera("cam-A", "a4", "fight", 5)])
            try b.inbox.ingest([T.camera("cam-B", "b1", "intrusion", 1), Self.bad("b", 2), T.camera("cam-B", "b2", "fight", 3)])
            #expect(try a.inbox.pending(after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4, 5])
            #expect(try b.inbox.pending(after: 0, limit: 10).map(\.seq) == [1, 2, 3])

            // Hub a takes three of its messages; hub b, started after, all of its own (its cursor is its own: 0).
            let pa = try a.processor()
            #expect(try pa.processPending(limit: 3).messages == 3)
            let pb = try b.processor()
            #expect(try b.store.cursor() == 0)
            #expect(try pb.processPending(limit: 10).messages == 3)
            #expect(try a.store.cursor() == 3)
            #expect(try b.store.cursor() == 3)

            // A restart of both: each finds its own position (the inbox files keep their ids).
            let ids = (a.inbox.inboxID, b.inbox.inboxID)
            try a.restart()
            try b.restart()
            #expect((a.inbox.inboxID, b.inbox.inboxID) == ids)
            #expect(try a.store.cursor() == 3)
            #expect(try b.store.cursor() == 3)
            let pa2 = try a.processor()
            #expect(try pa2.processPending(limit: 10).messages == 2, "a resumes after its seq 3")
            try b.inbox.ingest([T.camera("cam-B", "b3", "intrusion", 6), Self.bad("c", 7)])
            let pb2 = try b.processor()
            #expect(try pb2.processPending(limit: 10).messages == 2, "b resumes after its seq 3")
            #expect(try pa2.processPending(limit: 10).messages == 0)
            #expect(try pb2.processPending(limit: 10).messages == 0)

            // Every message of both inboxes processed once: 7 events, 3 dead letters; one cursor row per inbox.
            #expect(try a.store.rowCount("events") == 7)
            #expect(try a.store.rowCount("dead_letters") == 3)
            let rows = try a.store.query("SELECT inbox_id, inbox_seq FROM pipeline_cursor ORDER BY inbox_seq, inbox_id").rows
                .map { try $0.decode((String, Int64).self) }
            #expect(Set(rows.map(\.0)) == [ids.0, ids.1])
            #expect(rows.map(\.1) == [5, 5])
            #expect(try a.store.query("SELECT COUNT(*) FROM pipeline_inflight").rows.first?.decode(Int.self) == 0)
        }
    }

    @Test("the in-progress mark is per inbox: one hub's mark is not another's, and set-asides move only their own cursor")
    func marksPerInbox() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("marks")
            let a = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-a")
            let b = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-b")
            defer { a.close(); b.close() }
            try a.markInProgress(InProgressMark(lastSeq: 4, isolateThrough: 4, stops: 1), at: T.at(1))
            #expect(try b.inProgressMark() == nil)
            try b.markInProgress(InProgressMark(lastSeq: 2, isolateThrough: 0, stops: 0), at: T.at(1))
            #expect(try a.inProgressMark() == InProgressMark(lastSeq: 4, isolateThrough: 4, stops: 1))
            let record = InboxRecord(seq: 3, keyHigh: 1, keyLow: 2, topic: "t", payload: [1], receivedAt: T.at(1), oversized: nil)
            try a.setAside(record, as: HubError.decode(.unprocessable, "refused"), isolateThrough: 4, now: T.at(2))
            #expect(try a.cursor() == 3)
            #expect(try b.cursor() == 0)
            #expect(try a.inProgressMark() == InProgressMark(lastSeq: 3, isolateThrough: 4, stops: 0))
            #expect(try b.inProgressMark() == InProgressMark(lastSeq: 2, isolateThrough: 0, stops: 0))
            try b.clearInProgressMark()
            #expect(try b.inProgressMark() == nil)
            #expect(try a.inProgressMark() != nil)
            // A store opened without an inbox refuses the pipeline's position calls.
            let none = try PostgresStore(url: db.url, password: db.password)
            defer { none.close() }
            let error = try #require(throws: HubError.self) { try none.cursor() }
            #expect(error.message.contains("without an inbox id"))
            #expect(throws: HubError.self) { try PostgresStore(url: db.url, password: db.password, inboxID: "") }
        }
    }

    /// A database as `v1-pipeline` left it (one cursor row, id = 1), with `cursor` and optionally a mark.
    static func v1Database(cursor: Int64, mark: Bool) throws -> (url: String, password: String?) {
        let db = try TestPostgres.freshDatabase("v1")
        let setup = try PostgresStore(url: db.url, password: db.password)
        defer { setup.close() }
        for statement in ["DROP TABLE pipeline_cursor", "DROP TABLE pipeline_inflight"] + PostgresMigrations.v1Pipeline.prefix(3)
            + ["DELETE FROM schema_migrations WHERE version = 'v2-inbox-keyed'"] {
            try setup.execute(statement)
        }
        try setup.query("UPDATE pipeline_cursor SET inbox_seq = \(cursor) WHERE id = 1")
        if mark {
            try setup.execute("INSERT INTO pipeline_inflight(id, last_seq, isolate_through, stops, started_at) VALUES (1, 9, 0, 1, 0)")
        }
        return db
    }

    @Test("a store from before inbox ids: the first inbox opened adopts its position, later ones start at 0")
    func unkeyedPositionAdopted() async throws {
        try await onDedicatedThread {
            let db = try Self.v1Database(cursor: 7, mark: true)
            let first = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-first")
            defer { first.close() }
            #expect(try first.appliedMigrations() == ["v1-pipeline", "v2-inbox-keyed", "v3-engine-restore", "v4-shared-inbox", "v5-slip-count-start", "v6-slip-order", "v7-append-only-deletes"])
            #expect(try first.cursor() == 7)
            #expect(try first.inProgressMark() == InProgressMark(lastSeq: 9, isolateThrough: 0, stops: 1))
            let second = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-second")
            defer { second.close() }
            #expect(try second.cursor() == 0)
            #expect(try second.inProgressMark() == nil)
            let again = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-first")
            defer { again.close() }
            #expect(try again.cursor() == 7)
            #expect(try first.query("SELECT COUNT(*) FROM pipeline_cursor WHERE inbox_id = ''").rows.first?.decode(Int.self) == 0)

            // An unused v1 store (cursor 0, no mark) keeps no row: nothing to adopt.
            let unused = try Self.v1Database(cursor: 0, mark: false)
            let store = try PostgresStore(url: unused.url, password: unused.password)
            defer { store.close() }
            #expect(try store.query("SELECT COUNT(*) FROM pipeline_cursor").rows.first?.decode(Int.self) == 0)
        }
    }

    @Test("the SQLSTATE is the error's data; a unique violation on a number sequence is retried, other violations refuse the input")
    func sequenceCollisionsAreRetried() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("collisions")
            let store = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox")
            defer { store.close() }
            func failure(_ statements: [String]) throws -> HubError {
                try #require(throws: HubError.self) {
                    try store.batch(outputPrefix: "") { b in for s in statements { try b.run(PostgresQuery(unsafeSQL: s)) } }
                }
            }
            let item = """
                INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, first_seen, last_seen, occurrences, state)
                VALUES (1, 'ID', 'cam', 'camera', 'fight', 2, 'G1', 0, 0, 1, 'open')
                """
            let slip = """
                INSERT INTO slips(seq, id, kind, zone, category, severity, issued_at, updated_at, anchor, state, text, occurrences)
                VALUES (1, 'ID', 'warning', 'G1', 'fight', 2, 0, 0, 0, 'open', '', 1)
                """
            let kase = """
                INSERT INTO cases(seq, id, zone, category, severity, state, opened_at, due_at, updated_at, explanation)
                VALUES (1, 'ID', 'G1', 'fight', 2, 'open', 0, 0, 0, '')
                """
            for (insert, constraint) in [(item, "risk_items_seq_key"), (slip, "slips_kind_seq"), (kase, "cases_seq_key")] {
                let e = try failure([insert.replacingOccurrences(of: "'ID'", with: "'A'"), insert.replacingOccurrences(of: "'ID'", with: "'B'")])
                #expect(e.context.values[PostgresStore.sqlStateKey] == "23505", "\(e)")
                #expect(e.context.values[PostgresStore.constraintKey] == constraint, "\(e)")
                #expect(e.underlying is PSQLError)
                #expect(store.refusal(of: e) == nil, "\(constraint): another hub took the number: retried")
            }
            // A unique violation on another key, and a check violation: refusals of the input.
            let id = try failure([item.replacingOccurrences(of: "'ID'", with: "'A'"),
                                  item.replacingOccurrences(of: "'ID'", with: "'A'").replacingOccurrences(of: "(1,", with: "(2,")])
            #expect(id.context.values[PostgresStore.sqlStateKey] == "23505")
            #expect(id.context.values[PostgresStore.constraintKey] == "risk_items_pkey")
            #expect(store.refusal(of: id) == id.message)
            let range = try failure(["SELECT 1 / 0"])
            #expect(range.context.values[PostgresStore.sqlStateKey] == "22012", "\(range)")
            #expect(store.refusal(of: range) == range.message)
            // The SQLSTATE is read from the error's data: one only in the message's text is not a refusal.
            #expect(store.refusal(of: HubError(.postgresStore, "PostgreSQL: query failed: x (SQLSTATE 23505)")) == nil)
            // Not the server's: retried.
            let syntax = try failure(["SELEC 1"])
            #expect(syntax.context.values[PostgresStore.sqlStateKey] == "42601")
            #expect(store.refusal(of: syntax) == nil)
        }
    }
}
