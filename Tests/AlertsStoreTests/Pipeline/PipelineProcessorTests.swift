@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// The inbox → store pass on an in-memory store.
@Suite("Pipeline processor")
struct PipelineProcessorTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func make(_ store: DisputeStore) throws -> PipelineProcessor {
        let registry = Registry(cameras: [
            CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A"),
            CameraRecord(id: "cam-2", name: "B", location: nil, zone: "Z-A"),
        ])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let engine = RiskEngine(rules: RuleSet()) { e in Placement(zone: registry.cameras[e.source]?.zone ?? "unzoned") }
        return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { now })
    }

    static func msg(_ cam: String, _ id: String, _ type: String, _ minutesAgo: Double) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/\(cam)/event",
                     payload: Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(now.addingTimeInterval(-minutesAgo * 60).rfc3339)"}"#.utf8),
                     receivedAt: now)
    }

    @Test func aBatchStopsAtItsRowLimitOrItsPayloadBytes() throws {
        let store = try DisputeStore.inMemory()
        let messages = (0..<10).map { Self.msg("cam-1", "b\($0)", "fight", 1) }
        try store.ingest(messages)
        let size = messages[0].payload.count
        #expect(try store.pending(limit: 4).count == 4)
        #expect(try store.pending(limit: 100).count == 10)
        #expect(try store.pending(limit: 100, maxBytes: 3 * size).count == 3, "stops once the payloads reach the budget")
        #expect(try store.pending(limit: 100, maxBytes: 1).count == 1, "always at least one row")
        let p = try Self.make(store)
        var batches = 0
        while try p.processPending(limit: 4).messages > 0 { batches += 1 }
        #expect(batches == 3)
        #expect(try store.riskItems().count == 1)
    }

    @Test func aBatchWritesItemsSlipsOutboxAndMarksProcessed() throws {
        let store = try DisputeStore.inMemory()
        let p = try Self.make(store)
        #expect(try store.ingest([Self.msg("cam-1", "a", "intrusion", 9), Self.msg("cam-1", "b", "intrusion", 5), Self.msg("cam-2", "c", "intrusion", 1)]) == 3)
        let r = try p.processPending(limit: 100)
        #expect(r.messages == 3)
        #expect(r.events == 3)
        #expect(r.slipsChanged == 1)
        let s = try store.status()
        #expect(s.inboxPending == 0)
        #expect(s.riskItemsTotal == 3)
        #expect(s.slips == ["warning": ["open": 1]])
        let out = try store.outbox(limit: 10)
        #expect(out.map(\.topic) == ["patrolhub/v1/out/slips"])
        let json = try JSONParser.parse(out[0].payload)
        #expect(json["id"] == .string("YJ-00000001"))
        #expect(json["kind"] == .string("warning"))
        #expect(json["zone"] == .string("Z-A"))
        #expect(json["risk_item_ids"] == .array([.string("RI-00000001"), .string("RI-00000002"), .string("RI-00000003")]))
        let audit = try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM audit_log WHERE action = 'slip.issued'") }
        #expect(audit == 1)
    }

    @Test func aRestartResumesWindowsFromTheStore() throws {
        let store = try DisputeStore.inMemory()
        let first = try Self.make(store)
        try store.ingest([Self.msg("cam-1", "a", "intrusion", 9), Self.msg("cam-1", "b", "intrusion", 5)])
        try first.processPending(limit: 100)
        #expect(try store.status().slipsTotal == 0)
        // A new processor (a restarted hub) sees the two earlier occurrences.
        let second = try Self.make(store)
        try store.ingest([Self.msg("cam-2", "c", "intrusion", 1)])
        try second.processPending(limit: 100)
        #expect(try store.slips().map(\.riskItemIDs) == [["RI-00000001", "RI-00000002", "RI-00000003"]])
    }

    @Test func duplicatesAndDeadLettersChangeNothingElse() throws {
        let store = try DisputeStore.inMemory()
        let p = try Self.make(store)
        let m = Self.msg("cam-1", "a", "fight", 1)
        #expect(try store.ingest([m, m]) == 2, "the inbox logs every delivery")
        try p.processPending(limit: 100)
        #expect(try store.riskItems().map(\.occurrences) == [1], "the second delivery folded into nothing")
        let before = try store.status()
        let retry = InboxMessage(topic: m.topic, payload: Array(String(decoding: m.payload, as: UTF8.self).replacingOccurrences(of: "}", with: #","confidence":0.4}"#).utf8), receivedAt: Self.now)
        try store.ingest([retry, InboxMessage(topic: "patrolhub/v1/camera/cam-1/event", payload: Array("not json".utf8), receivedAt: Self.now)])
        let r = try p.processPending(limit: 100)
        #expect(r.duplicates == 1)
        #expect(r.deadLetters == 1)
        // The same broken bytes delivered again: one dead letter, not two.
        try store.ingest([InboxMessage(topic: "patrolhub/v1/camera/cam-1/event", payload: Array("not json".utf8), receivedAt: Self.now)])
        try p.processPending(limit: 100)
        let after = try store.status()
        #expect(after.riskItems == before.riskItems)
        #expect(after.slips == before.slips)
        #expect(after.deadLetters == ["malformed": 1])
    }

    @Test func aFailedBatchRollsBackTheEngineToo() throws {
        let store = try DisputeStore.inMemory()
        let p = try Self.make(store)
        try store.ingest([Self.msg("cam-1", "a", "fight", 1)])
        // A failure that is not the input's (RAISE would be a constraint: the store refusing the message).
        try store.writer.write { try $0.execute(sql: "CREATE TRIGGER boom BEFORE INSERT ON slips BEGIN SELECT * FROM missing_table; END") }
        #expect(throws: (any Error).self) { try p.processPending(limit: 10) }
        try store.writer.write { try $0.execute(sql: "DROP TRIGGER boom") }
        try p.processPending(limit: 10)
        #expect(try store.slips().map(\.id) == ["YJ-00000001"], "no id was burnt by the failed attempt")
        #expect(try store.status().inboxPending == 0)
    }

    @Test func aBatchRetriedAfterARollbackEndsAsIfItHadNeverFailed() throws {
        // The engine ran on the batch before its write failed: the retry must not count the
        // failed attempt's occurrences, open items or published slips a second time.
        let messages = [Self.msg("cam-1", "a", "intrusion", 9), Self.msg("cam-1", "b", "intrusion", 5), Self.msg("cam-2", "c", "intrusion", 1)]
        let clean = try DisputeStore.inMemory()
        try clean.ingest(messages)
        try Self.make(clean).processPending(limit: 100)

        let store = try DisputeStore.inMemory()
        let p = try Self.make(store)
        try store.ingest(messages)
        try store.writer.write { try $0.execute(sql: "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT * FROM missing_table; END") }
        #expect(throws: (any Error).self) { try p.processPending(limit: 100) }
        try store.writer.write { try $0.execute(sql: "DROP TRIGGER boom") }
        try p.processPending(limit: 100)

        #expect(try store.riskItems() == clean.riskItems())
        #expect(try store.slips() == clean.slips())
        #expect(try store.outbox(limit: 100).map(\.payload) == clean.outbox(limit: 100).map(\.payload))
        #expect(try store.status().inboxPending == 0)
    }

    @Test func aStatusOlderThanTheStoredOneChangesNothingAfterARestart() throws {
        func status(_ id: String, _ status: String, _ minutesAgo: Double) -> InboxMessage {
            InboxMessage(topic: "patrolhub/v1/camera/cam-1/status",
                         payload: Array(#"{"status":"\#(status)","time":"\#(Self.now.addingTimeInterval(-minutesAgo * 60).rfc3339)"}"#.utf8),
                         receivedAt: Self.now)
        }
        let store = try DisputeStore.inMemory()
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A")])
        try store.saveRegistry(registry) { $0.zone }
        try store.ingest([status("s1", "offline", 10)])
        try Self.make(store).processPending(limit: 10)
        // A new process (a restart): an `online` timed before the `offline` arrives late.
        try store.ingest([status("s2", "online", 12), Self.msg("cam-1", "f", "fight", 5)])
        try Self.make(store).processPending(limit: 10)
        let fight = try store.riskItems().filter { $0.category == .fight }
        #expect(fight.count == 1)
        #expect(fight.first?.suppressedBy?.hasPrefix("inhibited: camera cam-1 is offline") == true, "\(fight)")
        #expect(try store.riskItems().filter { $0.category == .cameraOffline }.map(\.state) == [.open])
    }

    @Test func pruningKeepsUnprocessedRows() throws {
        let store = try DisputeStore.inMemory()
        let p = try Self.make(store)
        try store.ingest([Self.msg("cam-1", "a", "loitering", 3)])
        try p.processPending(limit: 100)
        try store.ingest([Self.msg("cam-1", "b", "loitering", 1)])
        #expect(try store.pruneInbox(olderThan: Self.now.addingTimeInterval(60)) == 1)
        let s = try store.status()
        #expect(s.inboxReceived == 1)
        #expect(s.inboxPending == 1)
    }
}
