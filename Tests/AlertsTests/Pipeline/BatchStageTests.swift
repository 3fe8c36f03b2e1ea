import Foundation
import Testing
import Alerts

/// The batch as a function of values (`BatchStage`): no store, no database.
@Suite("Batch stage")
struct BatchStageTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let registry = Registry(cameras: [
        CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A"),
        CameraRecord(id: "cam-2", name: "B", location: nil, zone: "Z-A"),
    ], devices: [DeviceRecord(id: "dev-1", worker: "w", unit: "u", zone: "Z-A")])
    static let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 16)

    static func engine() -> RiskEngine {
        RiskEngine(rules: RuleSet()) { e in Placement(zone: registry.cameras[e.source]?.zone ?? "Z-A") }
    }

    static func camera(_ cam: String, _ id: String, _ type: String = "intrusion", minutesAgo: Double = 1) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/\(cam)/event",
                     payload: Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(now.addingTimeInterval(-minutesAgo * 60).rfc3339)"}"#.utf8),
                     receivedAt: now)
    }

    static func checkin(_ id: String, checkpoint: String = "CP-1") -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/device/dev-1/checkin",
                     payload: Array(#"{"id":"\#(id)","checkpoint":"\#(checkpoint)","time":"\#(now.rfc3339)"}"#.utf8), receivedAt: now)
    }

    /// dev-1 walks CP-1 once a day at 08:00 UTC (`now`'s time of day), grace 10 minutes.
    static let patrol = PatrolStage(plan: PatrolPlan(
        checkpoints: [.init(id: "CP-1", name: "Gate", zone: "Z-A", location: GeoPoint(lat: 29.65, lon: 91.13), radiusMetres: 50)],
        routes: [.init(id: "rt-1", name: "Round", device: "dev-1", worker: "w", unit: "u", stops: [.init(checkpoint: "CP-1")],
                       schedule: .init(kind: .times([8 * 60])))],
        timeZone: TimeZone(identifier: "UTC")!), outputPrefix: "patrolhub/v1")

    static func records(_ messages: [InboxMessage], from seq: Int64 = 1) -> [InboxRecord] {
        messages.enumerated().map { i, m in
            InboxRecord(seq: seq + Int64(i), keyHigh: m.keyHigh, keyLow: m.keyLow, topic: m.topic, payload: m.payload,
                        receivedAt: m.receivedAt, oversized: m.oversized)
        }
    }

    /// Decodes and runs one batch.
    static func run(_ messages: [InboxMessage], known: Set<EventKey> = [], engine: inout RiskEngine, published: inout PublishedMemory,
                    crashed: Set<MessageKey> = [], patrol: PatrolStage? = nil) throws -> BatchOutcome {
        let decoded = BatchStage.decode(records(messages), with: decode, now: now, crashedKeys: crashed, tooOldBefore: nil, keyRetention: nil)
        return BatchStage.run(decoded, known: known, now: now, engine: &engine, published: &published, patrol: patrol)
    }

    @Test func eventsBecomeItemsASlipAndTheRowsToWrite() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        let out = try Self.run([Self.camera("cam-1", "a"), Self.camera("cam-1", "b"), Self.camera("cam-2", "c")], engine: &engine, published: &published)
        #expect(out.messages == 3)
        #expect(out.events == 3)
        #expect(out.duplicates == 0)
        #expect(out.deadLetters.isEmpty)
        #expect(out.items.count == 2, "cam-1's two detections fold into one item")
        #expect(out.eventKeys.count == 3)
        #expect(out.eventLog.count == 3)
        #expect(out.issuedSlips.map(\.id) == ["YJ-00000001"])
        let slip = try #require(out.slips.first)
        #expect(slip.publish)
        #expect(slip.newItems == slip.slip.riskItemIDs, "a new slip links all its items")
        #expect(published.entries["YJ-00000001"]?.items == 2)
    }

    @Test func aSlipThatOnlyCountsIsWrittenButNotPublishedAgain() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        _ = try Self.run([Self.camera("cam-1", "a"), Self.camera("cam-1", "b"), Self.camera("cam-2", "c")], engine: &engine, published: &published)
        let again = try Self.run([Self.camera("cam-1", "d")], engine: &engine, published: &published)
        let slip = try #require(again.slips.first)
        #expect(!slip.publish, "one more occurrence of a linked item changes the row, not what is published")
        #expect(slip.newItems.isEmpty)
        #expect(again.issuedSlips.isEmpty)
    }

    @Test func keysTheStoreHoldsOrTheBatchRepeatsAreDuplicates() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        let first = try Self.run([Self.camera("cam-1", "a")], engine: &engine, published: &published)
        let held = Set(first.eventKeys.map { EventKey($0.key) })
        // "a" again (held by the store), "b" twice in the batch, "é" precomposed and decomposed (two keys, by their bytes).
        let out = try Self.run([Self.camera("cam-1", "a"), Self.camera("cam-1", "b"), Self.camera("cam-1", "b"),
                                Self.camera("cam-1", "\u{E9}"), Self.camera("cam-1", "e\u{301}")],
                               known: held, engine: &engine, published: &published)
        #expect(out.duplicates == 2)
        #expect(out.events == 3)
        #expect(out.eventKeys.count == 3)
        #expect(Set(out.eventKeys.map(\.key)).isDisjoint(with: first.eventKeys.map(\.key)))
    }

    @Test func refusedMessagesAreDeadLettersInInboxOrder() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        let crashed = Self.camera("cam-2", "boom")
        let big = InboxMessage(topic: "patrolhub/v1/camera/cam-1/event", payload: Array(repeating: 0x20, count: 70_000), receivedAt: Self.now,
                               maxPayloadBytes: 1 << 16)
        let bad = InboxMessage(topic: "patrolhub/v1/camera/cam-1/event", payload: Array("{".utf8), receivedAt: Self.now)
        let out = try Self.run([bad, Self.camera("cam-1", "ok"), big, crashed], engine: &engine, published: &published,
                               crashed: [MessageKey(high: crashed.keyHigh, low: crashed.keyLow)])
        #expect(out.deadLetters.map(\.record.seq) == [1, 3, 4])
        #expect(out.deadLetters.map(\.error.reason) == [.malformed, .oversized, .crashed])
        #expect(out.events == 1)
    }

    @Test func aRefusedCheckinForgetsItsKeySoALaterCopyIsNew() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        // The same event key twice: first at a checkpoint the plan lacks (refused), then at CP-1.
        let out = try Self.run([Self.checkin("k1", checkpoint: "CP-X"), Self.checkin("k1"), Self.camera("cam-1", "x")],
                               engine: &engine, published: &published, patrol: Self.patrol)
        #expect(out.deadLetters.map(\.record.seq) == [1])
        #expect(out.deadLetters.first?.error.reason == .unknownCheckpoint)
        #expect(out.eventKeys.count == 2, "the second copy is not a duplicate of a refused one")
        #expect(out.duplicates == 0)
        guard case .record(let record)? = out.patrol.first else { Issue.record("no check-in record: \(out.patrol)"); return }
        #expect(record.eventKey == "device:dev-1:checkin:k1")
        #expect(record.status == .onTime)
        #expect(out.patrol.count == 2, "the record and the slot's verdict: \(out.patrol)")
    }

    @Test func slipsClosedElsewhereAreForgottenByTheEngine() throws {
        var engine = Self.engine()
        var published = PublishedMemory()
        let first = try Self.run([Self.camera("cam-1", "a"), Self.camera("cam-1", "b"), Self.camera("cam-2", "c")], engine: &engine, published: &published)
        let id = try #require(first.slips.first?.slip.id)
        let decoded = BatchStage.decode(Self.records([Self.camera("cam-1", "d")]), with: Self.decode, now: Self.now, crashedKeys: [],
                                        tooOldBefore: nil, keyRetention: nil)
        let out = BatchStage.run(decoded, known: [], now: Self.now, closedElsewhere: [id], engine: &engine, published: &published)
        #expect(published.entries[id]?.closed == true)
        #expect(!out.slips.contains { $0.slip.id == id }, "no event joins a slip closed elsewhere")
    }
}
