@testable import AlertsStore
import AlertsStorePostgres
import Foundation
import GRDB
import PostgresTestSupport
import Testing
@testable import Alerts
import TestSupport

/// The pipeline store's behaviours, written once against `PipelineStore` and
/// run on both implementations: SQLite (`DisputeStore` on a temporary file)
/// and PostgreSQL 15 (`PostgresStore` on a fresh database of a real server,
/// `TestPostgres`). Batches are built as the pipeline builds them: the
/// store's reads, `BatchStage` (decode, duplicate check, check-ins, the
/// engine), then the outcome's one commit (`Pipeline.run`).
@Suite("Pipeline store behaviours, SQLite and PostgreSQL", .serialized)
struct StoreBehaviourTests {
    // MARK: - Inputs

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15 08:00:00 UTC
    static func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    static let registry = Registry(
        cameras: [CameraRecord(id: "cam-A", name: "A", location: nil, zone: "G1"), CameraRecord(id: "cam-B", name: "B", location: nil, zone: "G1")],
        devices: [DeviceRecord(id: "D1", worker: "W-1", unit: "unit-G1", zone: "G1")])

    /// D1 walks CP-1 once a day at 08:00 UTC.
    static let patrol = PatrolStage(plan: PatrolPlan(
        checkpoints: [.init(id: "CP-1", name: "Gate", zone: "G1", location: GeoPoint(lat: 29.65, lon: 91.13), radiusMetres: 50)],
        routes: [.init(id: "rt-1", name: "Round", device: "D1", worker: "W-1", unit: "unit-G1", stops: [.init(checkpoint: "CP-1")],
                       schedule: .init(kind: .times([8 * 60])))],
        timeZone: TimeZone(identifier: "UTC")!), outputPrefix: "patrolhub/v1")

    static func camera(_ cam: String, _ id: String, _ type: String, _ m: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/\(cam)/event", payload: Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(at(m).rfc3339)"}"#.utf8),
                     receivedAt: at(m))
    }
    static func report(_ id: String, _ category: String, _ m: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/device/D1/report",
                     payload: Array(#"{"id":"\#(id)","category":"\#(category)","time":"\#(at(m).rfc3339)","description":"两户因占道纠纷争吵","parties":["张某","李某"]}"#.utf8),
                     receivedAt: at(m))
    }
    static func checkin(_ id: String, _ m: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/device/D1/checkin",
                     payload: Array(#"{"id":"\#(id)","checkpoint":"CP-1","time":"\#(at(m).rfc3339)","lat":29.65,"lon":91.13}"#.utf8), receivedAt: at(m))
    }
    static func malformed(_ m: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/cam-A/event", payload: Array("{".utf8), receivedAt: at(m))
    }

    /// Three intrusions in G1 (a warning slip), a dispute report (a slip and a case), a bad payload (a dead letter).
    static let first = [camera("cam-A", "a1", "intrusion", 1), camera("cam-A", "a2", "intrusion", 2), camera("cam-B", "b1", "intrusion", 3),
                        report("r1", "dispute", 4), malformed(5)]
    /// A fight joins the case (new evidence, the case raised to the district), a check-in at CP-1.
    static let second = [camera("cam-A", "f1", "fight", 10), checkin("c1", 0.5)]

    // MARK: - The pipeline over any store

    /// What the pipeline keeps between batches (the engine, what it published, the change-log cursor, the inbox seq).
    struct Pipeline {
        var engine: RiskEngine
        var published = PublishedMemory()
        var changesSeen: Int64 = 0
        var seq: Int64 = 0
        let decode = DecodeStage(router: TopicRouter(), registry: StoreBehaviourTests.registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 16)

        init() {
            engine = RiskEngine(rules: RuleSet(), place: Placer(registry: StoreBehaviourTests.registry, zones: nil).place)
            engine.cases.route = CaseRouter(RuleSet().routing).function(zones: EngineFixtures.caseZones)
        }

        /// The batch's records, numbered on from the last seq.
        mutating func records(_ messages: [InboxMessage]) -> [InboxRecord] {
            messages.map { m in
                seq += 1
                return InboxRecord(seq: seq, keyHigh: m.keyHigh, keyLow: m.keyLow, topic: m.topic, payload: m.payload, receivedAt: m.receivedAt,
                                   oversized: m.oversized)
            }
        }

        /// The pipeline's batch (`PipelineProcessor.apply`) in the store's transaction; `abort` throws after the commit.
        @discardableResult
        mutating func run(_ messages: [InboxMessage], on store: some PipelineStore, now: Date, abort: Bool = false) throws -> BatchOutcome {
            let records = self.records(messages)
            let before = (engine, published, changesSeen)
            do {
                return try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
                    let closed = try batch.slipsClosed(after: changesSeen)
                    let decoded = BatchStage.decode(records, with: decode, now: now, crashedKeys: [], tooOldBefore: nil, keyRetention: nil)
                    let known = try batch.knownKeys(decoded.keys)
                    var ledger = PatrolLedger()
                    let checkins = PatrolStage.checkins(in: decoded)
                    if !checkins.isEmpty {
                        let neighbours = try batch.patrolNeighbours(checkins)
                        ledger = try batch.patrolLedger(slots: StoreBehaviourTests.patrol.slotsConcerned(by: decoded, neighbours: neighbours))
                        ledger.neighbours = neighbours
                    }
                    let outcome = BatchStage.run(decoded, known: known, now: now, closedElsewhere: closed, engine: &engine, published: &published,
                                                 patrol: StoreBehaviourTests.patrol, ledger: ledger)
                    changesSeen = try batch.commit(outcome, cursor: BatchCursor(inboxSeq: seq, watermark: nil, nextSweep: nil), now: now).changesSeen
                    if abort { throw HubError(.testPostgres, "aborted after the commit") }
                    return outcome
                }
            } catch {
                (engine, published, changesSeen) = before
                throw error
            }
        }

        /// The missed-checkpoint scheduler's tick (`PipelineProcessor.tickPatrol`).
        @discardableResult
        mutating func tick(on store: some PipelineStore, now: Date) throws -> PatrolTickOutcome {
            var ids = engine.itemIDs
            let outcome = try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
                let until = try batch.patrolEvaluatedUntil()
                let ledger = try batch.patrolLedger(slots: StoreBehaviourTests.patrol.slotsConcerned(byTickAt: now, evaluatedUntil: until))
                let outcome = StoreBehaviourTests.patrol.tick(now: now, evaluatedUntil: until, ledger: ledger, itemIDs: &ids)
                try batch.commit(outcome, now: now)
                return outcome
            }
            engine.itemIDs = ids
            return outcome
        }
    }

    /// The whole scenario: first tick, both batches, a tick a day later (the next round missed).
    static func scenario(_ store: some PipelineStore) throws -> Pipeline {
        var p = Pipeline()
        try p.tick(on: store, now: at(-60))
        try p.run(first, on: store, now: at(6))
        try p.run(second, on: store, now: at(11))
        try p.tick(on: store, now: at(24 * 60 + 60))
        return p
    }

    // MARK: - Behaviours

    @Test("a committed batch reads back through the store's reads", arguments: StoreKind.allCases)
    func commitThenRead(kind: StoreKind) async throws {
        try await kind.with { try Self.commitThenRead($0) }
    }

    @Test("a batch that throws after its commit leaves nothing", arguments: StoreKind.allCases)
    func rolledBack(kind: StoreKind) async throws {
        try await kind.with { try Self.rolledBack($0) }
    }

    @Test("a redelivered message is a duplicate: its key is known, nothing is written twice", arguments: StoreKind.allCases)
    func redeliveredMessages(kind: StoreKind) async throws {
        try await kind.with { try Self.redeliveredMessages($0) }
    }

    @Test("committing the same outcome twice creates no duplicate rows", arguments: StoreKind.allCases)
    func sameOutcomeTwice(kind: StoreKind) async throws {
        try await kind.with { try Self.sameOutcomeTwice($0) }
    }

    @Test("patrol: check-in verdicts, neighbours, a missed round's letter, the scheduler's mark", arguments: StoreKind.allCases)
    func patrolState(kind: StoreKind) async throws {
        try await kind.with { try Self.patrolState($0) }
    }

    static func commitThenRead(_ store: some TestStore) throws {
        var p = Pipeline()
        let out = try p.run(Self.first, on: store, now: Self.at(6))
        #expect(out.events == 4)
        #expect(out.deadLetters.count == 1)
        #expect(out.issuedSlips.count == 2, "the intrusions' slip and the dispute report's")
        #expect(out.cases.count == 1)
        let keys = out.eventKeys.map(\.key)
        try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
            #expect(try batch.knownKeys(keys + ["camera:cam-A:never"]) == Set(keys.map(EventKey.init)))
            #expect(try batch.newestEventTime() == Self.at(4).timeIntervalSince1970)
            #expect(try batch.slipsClosed(after: 0).isEmpty, "no warning slip was closed by anyone")
            #expect(try batch.patrolEvaluatedUntil() == nil)
        }
        #expect(try store.rows("events") == 4)
        #expect(try store.rows("risk_items") == out.items.count)
        #expect(try store.rows("slips") == 2)
        #expect(try store.rows("slip_items") == out.slips.map(\.newItems.count).reduce(0, +))
        #expect(try store.rows("cases") == 1)
        #expect(try store.rows("case_items") == 1)
        #expect(try store.rows("dead_letters") == 1)
        #expect(try store.rows("event_batches") == 1)
        #expect(try store.counter("dead_letters.pending") == 1)
        // The fight joins the case: its evidence, and the case moved to the district (a transition).
        let joined = try p.run(Self.second, on: store, now: Self.at(11))
        #expect(joined.cases.first?.reroute != nil)
        #expect(try store.rows("case_items") == 2)
        #expect(try store.rows("case_transitions") == 1)
        #expect(try store.rows("outbox") >= 3, "the slip, the case as opened, the case joined and moved")
    }

    static func rolledBack(_ store: some TestStore) throws {
        var p = Pipeline()
        #expect(throws: HubError.self) { try p.run(Self.first, on: store, now: Self.at(6), abort: true) }
        for table in ["events", "risk_items", "slips", "cases", "dead_letters", "event_batches", "audit_log", "outbox", "changes"] {
            #expect(try store.rows(table) == 0, "\(table)")
        }
        try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
            #expect(try batch.knownKeys(Self.first.indices.map { "camera:cam-A:a\($0)" }).isEmpty)
            #expect(try batch.newestEventTime() == 0)
        }
        // The rolled-back pipeline state runs the same batch again, whole.
        let again = try p.run(Self.first, on: store, now: Self.at(6))
        #expect(again.events == 4 && again.duplicates == 0)
        #expect(try store.rows("events") == 4)
    }

    static func redeliveredMessages(_ store: some TestStore) throws {
        var p = Pipeline()
        try p.run(Self.first, on: store, now: Self.at(6))
        let before = try store.entityRows()
        // A second hub (fresh engine) gets the same messages again.
        var other = Pipeline()
        other.seq = p.seq
        let again = try other.run(Self.first, on: store, now: Self.at(7))
        #expect(again.duplicates == 4)
        #expect(again.events == 0)
        #expect(again.items.isEmpty && again.slips.isEmpty && again.cases.isEmpty)
        var after = try store.entityRows()
        #expect(after["event_batches"] == before["event_batches"], "no accepted event, no event-log row")
        after["event_batches"] = before["event_batches"]
        #expect(after == before)
    }

    static func sameOutcomeTwice(_ store: some TestStore) throws {
        var p = Pipeline()
        let out = try p.run(Self.first, on: store, now: Self.at(6))
        let before = try store.entityRows()
        try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
            _ = try batch.commit(out, cursor: BatchCursor(inboxSeq: p.seq, watermark: nil, nextSweep: nil), now: Self.at(6))
        }
        let after = try store.entityRows()
        for table in ["events", "risk_items", "slips", "slip_items", "cases", "case_items", "dead_letters"] {
            #expect(after[table] == before[table], "\(table)")
        }
        #expect(try store.counter("dead_letters.pending") == 1)
    }

    static func patrolState(_ store: some TestStore) throws {
        let p = try Self.scenario(store)
        let day1 = try #require(Self.patrol.slotsConcerned(byTickAt: Self.at(24 * 60 + 60), evaluatedUntil: Self.at(-60)).sorted().first)
        try store.batch(outputPrefix: "patrolhub/v1") { batch throws in
            #expect(try batch.patrolEvaluatedUntil() == Self.at(24 * 60 + 60))
            let ledger = try batch.patrolLedger(slots: Self.patrol.slotsConcerned(byTickAt: Self.at(24 * 60 + 60), evaluatedUntil: Self.at(-60)))
            #expect(ledger.slots[day1] != nil && ledger.slots[day1]?.status != .missed, "the checked-in round: \(ledger.slots)")
            #expect(ledger.slots.values.filter { $0.status == .missed }.count == 1, "\(ledger.slots)")
            #expect(ledger.lettersIssued.count == 1)
            #expect(ledger.lastLetterSeq == 1)
            let later = PatrolCheckinAt(device: "D1", time: Self.at(30))
            #expect(try batch.patrolNeighbours([later])[later] == PatrolNeighbours(previous: Self.at(0.5), next: nil))
        }
        #expect(try store.rows("patrol_slots") == 2)
        #expect(try store.rows("patrol_records") == 2)
        #expect(p.changesSeen > 0)
    }

    @Test("both stores hold the same rows, table by table, after the same batches")
    func sameRowsInBothStores() async throws {
        let counts = try await onDedicatedThread { () throws -> [StoreKind: [String: Int]] in
            var counts: [StoreKind: [String: Int]] = [:]
            for kind in StoreKind.allCases {
                try kind.open { store in
                    _ = try Self.scenario(store)
                    counts[kind] = try store.allRows()
                }
            }
            return counts
        }
        let sqlite = try #require(counts[.sqlite]), postgres = try #require(counts[.postgres])
        for table in PostgresStore.countedTables.sorted() {
            #expect(sqlite[table] == postgres[table], "\(table): SQLite \(sqlite[table] ?? -1), PostgreSQL \(postgres[table] ?? -1)")
        }
        #expect(sqlite["risk_items"] ?? 0 > 0 && sqlite["patrol_slots"] ?? 0 > 0 && sqlite["case_transitions"] ?? 0 > 0)
    }

    @Test("PostgreSQL: migrations are recorded and run once; the URL refuses a password")
    func migrations() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("migrations")
            let first = try PostgresStore(url: db.url, password: db.password)
            #expect(try first.appliedMigrations() == ["v1-pipeline", "v2-inbox-keyed", "v3-engine-restore", "v4-shared-inbox", "v5-slip-count-start", "v6-slip-order", "v7-append-only-deletes"])
            first.close()
            let second = try PostgresStore(url: db.url, password: db.password)
            #expect(try second.appliedMigrations() == ["v1-pipeline", "v2-inbox-keyed", "v3-engine-restore", "v4-shared-inbox", "v5-slip-count-start", "v6-slip-order", "v7-append-only-deletes"])
            second.close()
            // A server that is not there: a HubError naming the URL, never the password.
            do {
                _ = try PostgresStore(url: "postgres://hub@127.0.0.1:1/patrolhub", password: "pw-never-shown")
                Issue.record("connected to a closed port")
            } catch let error as HubError {
                #expect(error.code == .postgresStore)
                #expect(error.description.contains("postgres://hub@127.0.0.1:1/patrolhub") && !error.description.contains("pw-never-shown"),
                        "\(error)")
            }
        }
        #expect(throws: HubError.self) { try PostgresStoreURL(parsing: "postgres://hub:secret@db:5432/patrolhub") }
        let url = try PostgresStoreURL(parsing: "postgres://hub@db.example:6543/patrolhub")
        // The description shows the TLS mode in force: verify-full by default for a host off this machine.
        #expect(url.description == "postgres://hub@db.example:6543/patrolhub?sslmode=verify-full" && url.port == 6543)
        #expect(try PostgresStoreURL(parsing: "postgresql://hub@db/patrolhub").port == 5432)
        #expect(try PostgresStore.password(environment: ["PATROLHUB_STORE_PASSWORD": "s3cret"], file: nil) == "s3cret")
        #expect(try PostgresStore.password(environment: [:], file: nil) == nil)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-pw-\(UUID().uuidString.prefix(8))").path
        try "from-file\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try PostgresStore.password(environment: ["PATROLHUB_STORE_PASSWORD": "s3cret"], file: file) == "from-file", "the file wins")
        #expect(throws: HubError.self) { try PostgresStore.password(environment: [:], file: file + ".missing") }
    }
}
