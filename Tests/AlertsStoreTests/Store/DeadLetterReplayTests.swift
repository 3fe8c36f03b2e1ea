@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Dead letters replayed after the registry was fixed, through the real
/// pipeline on an in-memory store: each event stored once whatever is
/// replayed again, a failure again is a new dead letter with its new reason.
@Suite("Dead-letter replay")
struct DeadLetterReplayTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func processor(_ store: DisputeStore, cameras: [String]) throws -> PipelineProcessor {
        let registry = Registry(cameras: cameras.map { CameraRecord(id: $0, name: $0, location: nil, zone: "Z-A") }, devices: [])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), maxPayloadBytes: 1000)
        let engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") }
        return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { now })
    }

    static func event(_ camera: String, _ json: String) -> InboxMessage {
        InboxMessage(topic: "patrolhub/v1/camera/\(camera)/event", payload: Array(json.utf8), receivedAt: now, maxPayloadBytes: 1000)
    }

    static func count(_ store: DisputeStore, _ sql: String) throws -> Int {
        try store.writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    @Test("register, replay: each event stored once; replaying again changes nothing; a failure again carries its new reason")
    func replayAfterRegistering() throws {
        let store = try DisputeStore.inMemory()
        let t = Self.now.addingTimeInterval(-600).rfc3339
        try store.ingest([
            Self.event("cam-2", #"{"id":"e1","type":"intrusion","time":"\#(t)"}"#),
            Self.event("cam-2", #"{"id":"e2","type":"intrusion","time":"\#(t)"}"#),
            Self.event("cam-2", #"{"id":"e3","time":"\#(t)"}"#), // no type: refused once the camera is known
            Self.event("cam-2", String(repeating: " ", count: 2000) + "{}"), // oversized: only its head is kept
        ])
        try Self.processor(store, cameras: ["cam-1"]).processPending(limit: 100)
        #expect(try store.labelDeadLetterSources(router: TopicRouter()) == 4)
        let counts = try store.deadLetterCounts()
        #expect(counts.byReason.map { "\($0.0)=\($0.1)" } == ["unknown_source=3", "oversized=1"])
        #expect(counts.bySource.map { "\($0.0)=\($0.1)" } == ["cam-2=4"])

        // The camera is registered (a restart with the fixed registry); replay what it sent.
        let fixed = try Self.processor(store, cameras: ["cam-1", "cam-2"])
        var q = DeadLetterQuery()
        q.source = "cam-2"
        let dry = try store.replayDeadLetters(q, by: "installer", dryRun: true, now: Self.now)
        #expect(dry.queued.count == 3)
        #expect(try store.pending(limit: 10).isEmpty, "a dry run queues nothing")
        let first = try store.replayDeadLetters(q, by: "installer", now: Self.now)
        #expect(first.queued.map(\.id) == [1, 2, 3])
        #expect(first.refused.map(\.id) == [4] && first.refused[0].why.hasPrefix("oversized"))
        #expect(try store.replayDeadLetters(q, by: "installer", now: Self.now).queued.isEmpty, "replaying again queues nothing")
        try fixed.processPending(limit: 100)
        try store.labelDeadLetterSources(router: TopicRouter())

        #expect(try Self.count(store, "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:cam-2:%'") == 2)
        #expect(try Self.count(store, "SELECT SUM(occurrences) FROM risk_items WHERE source = 'cam-2'") == 2)
        let marked = try store.deadLettersPage(DeadLetterQuery()).items.sorted { $0.id < $1.id }
        #expect(marked.map(\.reason) == ["unknown_source", "unknown_source", "unknown_source", "oversized", "missing_field"])
        #expect(marked.map { $0.replayedBy ?? "-" } == ["installer", "installer", "installer", "-", "-"])
        #expect(marked[4].source == "cam-2" && marked[4].inboxKey == first.queued[2].key, "the failure again is a new dead letter, under the replay's key")
        #expect(try Self.count(store, "SELECT COUNT(*) FROM audit_log WHERE action = 'dead_letter.replayed' AND actor = 'installer'") == 3)

        // A replay interrupted after queueing and before marking queues the same keys again: nothing changes.
        try store.writer.write { try $0.execute(sql: "UPDATE dead_letters SET replayed_at = NULL WHERE id <= 3") }
        var unknown = q
        unknown.reasons = ["unknown_source"]
        let again = try store.replayDeadLetters(unknown, by: "installer", now: Self.now)
        #expect(again.queued.map(\.key) == first.queued.map(\.key), "the same keys")
        try fixed.processPending(limit: 100)
        #expect(try Self.count(store, "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:cam-2:%'") == 2)
        #expect(try Self.count(store, "SELECT SUM(occurrences) FROM risk_items WHERE source = 'cam-2'") == 2)
        #expect(try Self.count(store, "SELECT COUNT(*) FROM dead_letters WHERE reason = 'missing_field'") == 1)

        // Replaying the failure again (still no type) makes one more dead letter with that reason.
        var failed = DeadLetterQuery()
        failed.reasons = ["missing_field"]
        #expect(try store.replayDeadLetters(failed, by: "installer", now: Self.now).queued.map(\.id) == [5])
        try fixed.processPending(limit: 100)
        #expect(try Self.count(store, "SELECT COUNT(*) FROM dead_letters WHERE reason = 'missing_field' AND replayed_at IS NULL") == 1)
        #expect(try Self.count(store, "SELECT COUNT(*) FROM dead_letters WHERE reason = 'missing_field'") == 2)
    }

    @Test("crashed and unprocessable dead letters are replayed only with force; filters select by reason, source, time, id")
    func forceAndFilters() throws {
        let store = try DisputeStore.inMemory()
        try store.writer.write { db in
            for (key, reason, topic) in [("k1", "crashed", "patrolhub/v1/camera/cam-1/event"), ("k2", "unprocessable", "patrolhub/v1/device/dev-1/sos"),
                                         ("k3", "malformed", "x/y")] {
                try db.execute(sql: """
                    INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at) VALUES (?, ?, '', ?, x'7b7d', 2, ?, ?)
                    """, arguments: [key, reason, topic, Self.now.timeIntervalSince1970, Self.now.timeIntervalSince1970 + Double(key.dropFirst())!])
            }
        }
        try store.labelDeadLetterSources(router: TopicRouter())
        #expect(try store.deadLettersPage(DeadLetterQuery()).items.map(\.source) == ["x/y", "dev-1", "cam-1"])
        var q = DeadLetterQuery()
        q.reasons = ["crashed", "unprocessable"]
        let refused = try store.replayDeadLetters(q, by: "a", now: Self.now)
        #expect(refused.queued.isEmpty && refused.refused.map(\.id) == [1, 2])
        #expect(try store.replayDeadLetters(q, by: "a", force: true, now: Self.now).queued.map(\.id) == [1, 2])
        #expect(try store.pending(limit: 10).map(\.topic) == ["patrolhub/v1/camera/cam-1/event", "patrolhub/v1/device/dev-1/sos"])

        var bySource = DeadLetterQuery()
        bySource.source = "dev-1"
        #expect(try store.deadLettersPage(bySource).items.map(\.id) == [2])
        var since = DeadLetterQuery()
        since.since = Self.now.addingTimeInterval(2)
        #expect(try store.deadLettersPage(since).items.map(\.id) == [3, 2])
        var ids = DeadLetterQuery()
        ids.ids = [3, 99]
        #expect(try store.deadLettersPage(ids).items.map(\.id) == [3])
        var pending = DeadLetterQuery()
        pending.replayed = false
        #expect(try store.deadLettersPage(pending).items.map(\.id) == [3])
        var page = DeadLetterQuery()
        page.limit = 2
        let p1 = try store.deadLettersPage(page)
        page.cursor = p1.next
        #expect(p1.items.map(\.id) == [3, 2])
        #expect(try store.deadLettersPage(page).items.map(\.id) == [1])
        #expect(try store.deadLetter(id: 3)?.payload == Array("{}".utf8))
        #expect(try store.deadLetter(id: 42) == nil)
    }

    @Test("the source is the camera or device of the topic, a Frigate payload's camera, else the topic")
    func sources() {
        let r = TopicRouter()
        #expect(DeadLetterSource.name(topic: "patrolhub/v1/camera/cam-9/status", payload: [], router: r) == "cam-9")
        #expect(DeadLetterSource.name(topic: "patrolhub/v1/gb28181/3402/alarm", payload: [], router: r) == "3402")
        #expect(DeadLetterSource.name(topic: "frigate/events", payload: Array(#"{"after":{"camera":"front"}}"#.utf8), router: r) == "front")
        #expect(DeadLetterSource.name(topic: "frigate/events", payload: Array("not json".utf8), router: r) == "frigate/events")
        #expect(DeadLetterSource.name(topic: "elsewhere/x", payload: [], router: r) == "elsewhere/x")
        #expect(DeadLetterSource.name(topic: "patrolhub/v1/camera/" + String(repeating: "x", count: 500) + "/event", payload: [], router: r).utf8.count <= 200)
    }
}
