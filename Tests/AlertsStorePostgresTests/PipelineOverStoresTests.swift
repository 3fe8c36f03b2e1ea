@testable import AlertsStore
@testable import AlertsStorePostgres
import Foundation
import GRDB
import PostgresNIO
import PostgresTestSupport
import StoreTestSupport
import Testing
@testable import Alerts
import TestSupport

/// `PipelineProcessor` itself (`BatchProcessor`) over each store: the same
/// inbox messages, read from a real SQLite inbox file, processed into the
/// SQLite store (`DisputeStore`) and into PostgreSQL (`PostgresStore`, a
/// fresh database of a real server) give the same items, slips, cases, dead
/// letters, cursor and row counts. On the way: a restart (a new processor
/// reloading its engine from the store), a batch the store refuses (rolled
/// back, the engine reloaded, the batch retried one message at a time, the
/// refused message set aside), a message the previous process trapped on
/// (the crash quarantine's `crashed` dead letter), and a patrol tick.
@Suite("The pipeline over SQLite and PostgreSQL", .serialized)
struct PipelineOverStoresTests {
    typealias T = StoreBehaviourTests

    /// What the pipeline left in a store, in a form both stores read back alike.
    struct Outcomes: Equatable, Sendable {
        var items: [RiskItem] = []
        var slips: [Slip] = []
        var cases: [Case] = []
        /// `inbox_key reason`, sorted.
        var deadLetters: [String] = []
        /// `reason: detail` of each dead letter, sorted (a store's refusal words it its own way).
        var deadLetterDetails: [String] = []
        /// The keys of the accepted events, sorted.
        var eventKeys: [String] = []
        var cursor: Int64 = 0
        var inflight: InProgressMark?
        var rows: [String: Int] = [:]
    }

    /// One store of either kind, with the hub's SQLite inbox beside it.
    final class Hub {
        let folder: String
        let inbox: DisputeStore
        let sqlite: SQLiteTestStore?
        let postgres: PostgresTestStore?
        let clock = ManualClock(T.at(0))

        init(_ kind: StoreKind) throws {
            folder = NSTemporaryDirectory() + "patrolhub-pipeline-\(kind)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            switch kind {
            case .sqlite:
                sqlite = try SQLiteTestStore()
                postgres = nil
                inbox = sqlite!.store
            case .postgres:
                sqlite = nil
                inbox = try DisputeStore.inboxOnly(path: folder + "/hub.inbox.sqlite")
                postgres = try PostgresTestStore(inboxID: inbox.inboxID)
            }
        }

        /// One pass of case deadline supervision at `now` (`SupervisionScheduler` over this store).
        func supervise(now: Date) throws -> [Slip] {
            if let sqlite { return try SupervisionScheduler(store: sqlite.store, outputPrefix: "patrolhub/v1").tick(now: now) }
            return try SupervisionScheduler(store: postgres!.store, outputPrefix: "patrolhub/v1").tick(now: now)
        }

        func finish() {
            sqlite?.finish()
            postgres?.finish()
            try? FileManager.default.removeItem(atPath: folder)
        }

        /// A processor as a (re)started hub makes it; `trapped`: the previous process left a trap in its evidence file.
        func start(trapped: Bool = false) throws -> any Processing {
            let file = folder + "/trap"
            if trapped { FileManager.default.createFile(atPath: file, contents: Data([4])) } // SIGILL
            let recorder = try TrapRecorder(evidenceFile: file)
            var engine = RiskEngine(rules: RuleSet(), place: Placer(registry: T.registry, zones: nil).place)
            engine.cases.route = CaseRouter(RuleSet().routing).function(zones: EngineFixtures.caseZones)
            let decode = DecodeStage(router: TopicRouter(), registry: T.registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 16)
            if let sqlite {
                let p = try PipelineProcessor(store: sqlite.store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1",
                                              patrol: T.patrol, clock: clock.read)
                p.trapRecorder = recorder
                return p
            }
            let p = try BatchProcessor(store: postgres!.store, inbox: inbox, decode: decode, engine: engine, outputPrefix: "patrolhub/v1",
                                       patrol: T.patrol, clock: clock.read)
            p.trapRecorder = recorder
            return p
        }

        /// The store refuses (as a constraint) any event whose key holds `poison`.
        func refusePoison() throws {
            if let sqlite {
                try sqlite.store.writer.write {
                    try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.key LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END")
                }
            } else {
                try postgres!.store.batch(outputPrefix: "") { b in
                    try b.run(PostgresQuery(unsafeSQL: """
                        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            IF NEW.key LIKE '%poison%' THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF;
                            RETURN NEW;
                        END $$
                        """))
                    try b.run("CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
                }
            }
        }

        /// The durable in-progress mark a process leaves when it dies inside a batch.
        func diedInBatch(through last: Int64) throws {
            let mark = InProgressMark(lastSeq: last, isolateThrough: 0, stops: 0)
            if let sqlite { try sqlite.store.markInProgress(mark, at: clock.now) } else { try postgres!.store.markInProgress(mark, at: clock.now) }
        }

        func outcomes() throws -> Outcomes {
            var o = Outcomes()
            if let sqlite {
                let store = sqlite.store
                o.items = try store.riskItems()
                o.slips = try store.slips(limit: 1000)
                o.cases = try store.writer.read { try DisputeStore.fetchCases(limit: 1000, db: $0) }
                o.deadLetters = try store.writer.read { db in
                    try Row.fetchAll(db, sql: "SELECT inbox_key, reason FROM dead_letters").map { "\($0[0] as String) \($0[1] as String)" }
                }
                o.deadLetterDetails = try store.writer.read { db in
                    try Row.fetchAll(db, sql: "SELECT reason, detail FROM dead_letters").map { "\($0[0] as String): \($0[1] as String)" }
                }
                o.eventKeys = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT key FROM events") }
                o.cursor = try store.cursor()
                o.inflight = try store.inProgressMark()
                o.rows = try sqlite.allRows()
            } else {
                let store = postgres!.store
                try store.batch(outputPrefix: "") { b in
                    o.items = try b.run("SELECT \(unescaped: PostgresStore.itemColumns) FROM risk_items").rows.map(PostgresStore.item)
                    o.slips = try b.run("SELECT id FROM slips").rows.compactMap { try b.fetchSlip(id: $0.decode(String.self)) }
                    o.cases = try b.run("SELECT id FROM cases").rows.compactMap { try b.fetchCase(id: $0.decode(String.self)) }
                    o.deadLetters = try b.run("SELECT inbox_key, reason FROM dead_letters").rows.map {
                        let (key, reason) = try $0.decode((String, String).self)
                        return "\(key) \(reason)"
                    }
                    o.deadLetterDetails = try b.run("SELECT reason, detail FROM dead_letters").rows.map {
                        let (reason, detail) = try $0.decode((String, String).self)
                        return "\(reason): \(detail)"
                    }
                    o.eventKeys = try b.run("SELECT key FROM events").rows.map { try $0.decode(String.self) }
                }
                o.cursor = try store.cursor()
                o.inflight = try store.inProgressMark()
                o.rows = try postgres!.allRows()
            }
            o.items.sort { $0.id < $1.id }
            o.slips.sort { $0.id < $1.id }
            o.cases.sort { $0.id < $1.id }
            o.deadLetters.sort()
            o.deadLetterDetails.sort()
            o.eventKeys.sort()
            return o
        }
    }

    /// Runs the whole input through `PipelineProcessor` on one kind of store; returns what it left there.
    static func run(_ kind: StoreKind) throws -> Outcomes {
        let hub = try Hub(kind)
        defer { hub.finish() }
        func drain(_ p: any Processing, limit: Int = 3) throws {
            var rounds = 0
            while rounds < 50, try p.processPending(limit: limit).messages > 0 || p.isolating { rounds += 1 }
        }
        // Two batches (3 + 2 messages): a warning slip, a report's case, a malformed payload's dead letter.
        try hub.inbox.ingest(T.first)
        hub.clock.now = T.at(6)
        var p = try hub.start()
        _ = try p.tickPatrol(now: T.at(-60)) // the scheduler's first evaluation (before the day's round)
        #expect(try p.processPending(limit: 3).messages == 3)
        #expect(try p.processPending(limit: 3).messages == 2)

        // A restart: the new processor reloads its engine from the store; the fight joins the case.
        p = try hub.start()
        try hub.inbox.ingest(T.second)
        hub.clock.now = T.at(11)
        try drain(p)

        // A batch the store refuses: rolled back, the engine reloaded, its messages one at a time, the poison set aside.
        try hub.refusePoison()
        try hub.inbox.ingest([T.camera("cam-B", "b2", "intrusion", 12), T.camera("cam-A", "poison", "fight", 12.5), T.camera("cam-A", "a3", "fight", 13)])
        hub.clock.now = T.at(14)
        #expect(try p.processPending(limit: 10).messages == 0, "the batch rolled back: its messages are retried one at a time")
        #expect(p.isolating)
        try drain(p)
        #expect(!p.isolating)

        // A message the previous process trapped on, alone in its batch: a `crashed` dead letter at restart.
        try hub.inbox.ingest([T.camera("cam-B", "crash", "fight", 15)])
        let crashSeq = try hub.inbox.pending(after: 0, limit: 100).last!.seq
        try hub.diedInBatch(through: crashSeq)
        hub.clock.now = T.at(16)
        p = try hub.start(trapped: true)
        #expect(try p.recover().crashedSeq == crashSeq)
        try hub.inbox.ingest([T.camera("cam-A", "a4", "intrusion", 17)])
        hub.clock.now = T.at(18)
        try drain(p)

        // The missed-checkpoint scheduler a day later (the next round missed), then one more restart.
        _ = try p.tickPatrol(now: T.at(24 * 60 + 60))
        p = try hub.start()
        try hub.inbox.ingest([T.camera("cam-A", "a5", "intrusion", 24 * 60 + 61)])
        hub.clock.now = T.at(24 * 60 + 62)
        try drain(p)

        // Deadline supervision weeks after the cases fell due: documents issued once, the same on both stores.
        #expect(try hub.supervise(now: T.at(30 * 24 * 60)).contains { $0.kind == .supervision })
        #expect(try hub.supervise(now: T.at(30 * 24 * 60)).isEmpty, "a repeated tick issues nothing twice")
        return try hub.outcomes()
    }

    /// NUL characters (`\u0000` in JSON), which PostgreSQL's `text` refuses and SQLite stores: the
    /// decode stage settles them, so both stores get the same events and the same dead letters.
    static func runNUL(_ kind: StoreKind) throws -> Outcomes {
        let hub = try Hub(kind)
        defer { hub.finish() }
        let report = InboxMessage(topic: "patrolhub/v1/device/D1/report",
                                  payload: Array(#"{"id":"r1","category":"dispute","time":"\#(T.at(3).rfc3339)","description":"a\u0000b"}"#.utf8),
                                  receivedAt: T.at(3))
        try hub.inbox.ingest([T.camera("cam-A", #"a1\u0000\u0000"#, "intrusion", 1), T.camera("cam-A", #"a\u00002"#, "intrusion", 2), report,
                              T.camera("cam-B", #"b1\u0000"#, "fight", 4)])
        hub.clock.now = T.at(5)
        let p = try hub.start()
        #expect(try p.processPending(limit: 10).messages == 4)
        #expect(!p.isolating, "nothing reached the store that it refused")
        return try hub.outcomes()
    }

    @Test("NUL characters: padding dropped, any other NUL a dead letter, alike on SQLite and PostgreSQL")
    func nulCharacters() async throws {
        let sqlite = try await onDedicatedThread { try Self.runNUL(.sqlite) }
        let postgres = try await onDedicatedThread { try Self.runNUL(.postgres) }
        #expect(sqlite.eventKeys == ["camera:cam-A:a1", "camera:cam-B:b1"])
        #expect(sqlite.deadLetterDetails == ["invalid_value: field 'description' holds a NUL character", "invalid_value: field 'id' holds a NUL character"])
        #expect(sqlite.cursor == 4)
        #expect(postgres.eventKeys == sqlite.eventKeys)
        #expect(postgres.deadLetterDetails == sqlite.deadLetterDetails)
        #expect(postgres.deadLetters == sqlite.deadLetters)
        #expect(postgres.items == sqlite.items)
        #expect(postgres.cursor == sqlite.cursor)
        #expect(postgres.rows == sqlite.rows)
    }

    @Test("same input, same outcomes: SQLite and PostgreSQL, with restarts, a refused batch and a crash")
    func sameOutcomes() async throws {
        let sqlite = try await onDedicatedThread { try Self.run(.sqlite) }
        let postgres = try await onDedicatedThread { try Self.run(.postgres) }
        // The run did what it says (on SQLite; PostgreSQL must then equal it).
        #expect(sqlite.cursor == 13)
        #expect(sqlite.inflight == nil)
        #expect(sqlite.deadLetters.count == 3)
        #expect(sqlite.deadLetters.contains { $0.hasSuffix(" unprocessable") })
        #expect(sqlite.deadLetters.contains { $0.hasSuffix(" crashed") })
        #expect(!sqlite.items.isEmpty && !sqlite.slips.isEmpty && !sqlite.cases.isEmpty)
        #expect(sqlite.items.contains { $0.category == .missedCheckpoint })
        // Field by field, for a readable failure.
        #expect(postgres.items == sqlite.items)
        #expect(postgres.slips == sqlite.slips)
        #expect(postgres.cases == sqlite.cases)
        #expect(postgres.deadLetters == sqlite.deadLetters)
        #expect(postgres.cursor == sqlite.cursor)
        #expect(postgres.inflight == sqlite.inflight)
        #expect(postgres.rows == sqlite.rows)
    }
}

/// What the test drives of a processor, whichever its store (the processor is generic over it).
protocol Processing: AnyObject {
    @discardableResult func processPending(limit: Int) throws -> BatchResult
    @discardableResult func recover() throws -> PipelineRecovery
    @discardableResult func tickPatrol(now: Date?) throws -> PatrolTickResult
    /// Messages are being processed one per transaction.
    var isolating: Bool { get }
}

extension BatchProcessor: Processing {
    var isolating: Bool { isolateThrough > 0 }
}
