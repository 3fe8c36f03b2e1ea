@testable import AlertsStore
@testable import AlertsStorePostgres
import Foundation
import PostgresNIO
import PostgresTestSupport
import Synchronization
import Testing
@testable import Alerts
import TestSupport

/// A group of hubs on one PostgreSQL store (`broker.shared_group`): each hub
/// forwards its own inbox file into the shared inbox (`PostgresSharedInbox`),
/// and the leader's pipeline reads that, fenced by its leader epoch
/// (`PostgresStore.takeLead`). The end-to-end run with real hubs, a real
/// broker and a `kill -9` of the leader is scripts/scaleout/scaleout.py.
@Suite("The shared inbox of a group of hubs", .serialized)
struct SharedInboxTests {
    typealias T = StoreBehaviourTests

    static func processor(_ store: PostgresStore, inbox: any PipelineInbox) throws -> BatchProcessor<PostgresStore> {
        let engine = RiskEngine(rules: RuleSet(), place: Placer(registry: T.registry, zones: nil).place)
        let decode = DecodeStage(router: TopicRouter(), registry: T.registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 16)
        return try BatchProcessor(store: store, inbox: inbox, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { T.at(60) })
    }

    /// Twelve messages: detections on two cameras (items, a slip), and one that does not decode.
    static let messages: [InboxMessage] = {
        var out: [InboxMessage] = []
        for i in 0..<11 {
            let camera = i % 2 == 0 ? "cam-A" : "cam-B"
            let type = i < 6 ? "intrusion" : "fight"
            out.append(T.camera(camera, "e\(i)", type, Double(i)))
        }
        out.append(InboxMessage(topic: "patrolhub/v1/camera/cam-A/event", payload: Array("{broken".utf8), receivedAt: T.at(11)))
        return out
    }()

    static func folder() -> String {
        let f = NSTemporaryDirectory() + "patrolhub-shared-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
        return f
    }

    /// Every counted table's rows, for comparing two stores.
    static func counts(_ store: PostgresStore) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for t in PostgresStore.countedTables { out[t] = try store.rowCount(t) }
        return out
    }

    @Test("three hubs' forwards, interleaved, are numbered in the order received, each row once; the group's pipeline decides what one hub's does")
    func forwardOnceAndDecideAsOne() async throws {
        try await onDedicatedThread {
            let folder = Self.folder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let db = try TestPostgres.freshDatabase("group")
            let inboxes = try (0..<3).map { try DisputeStore.inboxOnly(path: folder + "/hub\($0).inbox.sqlite") }
            let shared = PostgresSharedInbox(store: try PostgresStore(url: db.url, password: db.password), clock: { T.at(600) })
            defer { shared.store.close() }
            // The broker hands the messages round robin; each hub numbers its share from 1.
            for (i, m) in Self.messages.enumerated() { try inboxes[i % 3].ingest([m]) }
            for inbox in inboxes { #expect(try shared.forwardedThrough(origin: inbox.inboxID) == 0) }

            // Forwards interleave: hub 0's first two rows, hub 1's first, hub 2's all, then the rest.
            var order: [InboxRecord] = []
            func forward(_ hub: Int, after: Int64, limit: Int) throws {
                let rows = try inboxes[hub].pending(after: after, limit: limit)
                try shared.forward(rows, origin: inboxes[hub].inboxID)
                order += rows
            }
            try forward(0, after: 0, limit: 2)
            try forward(1, after: 0, limit: 1)
            try forward(2, after: 0, limit: 10)
            try forward(0, after: 2, limit: 10)
            try forward(1, after: 1, limit: 10)
            // A forward again (a hub that died after its commit, before it knew): nothing is added.
            #expect(try shared.forward(inboxes[0].pending(after: 0, limit: 10), origin: inboxes[0].inboxID) == 4)
            #expect(try shared.arrivalsWaiting() == 12 && shared.newestSeq() == 0, "numbered only when read")
            // Read: numbered without gaps, in the order the hubs received them (one hub's order),
            // not the order the forwards committed in.
            order.sort { $0.receivedAt < $1.receivedAt }
            #expect(order.map(\.payload) == Self.messages.map(\.payload))
            // A backlog is numbered in bounded steps, the oldest first: 5, then the other 7 on the read.
            #expect(try shared.number(receivedThrough: T.at(600), limit: 5) == 5)
            #expect(try shared.newestSeq() == 5 && shared.arrivalsWaiting() == 7)
            let read = try shared.pending(after: 0, limit: 100)
            #expect(read.map(\.seq) == Array(1...12))
            #expect(try shared.newestSeq() == 12 && shared.arrivalsWaiting() == 0)
            #expect(read.map(\.payload) == order.map(\.payload))
            #expect(read.map(\.keyHigh) == order.map(\.keyHigh) && read.map(\.keyLow) == order.map(\.keyLow))
            #expect(read.map(\.receivedAt) == order.map(\.receivedAt) && read.map(\.topic) == order.map(\.topic))
            #expect(try shared.inboxSeqs(after: 3, through: 6, limit: 2) == [4, 5])
            #expect(try shared.inboxRecord(seq: 5)?.payload == order[4].payload)
            #expect(try shared.inboxRecord(seq: 13) == nil)

            // The leader's pipeline over the shared inbox …
            let leader = try PostgresStore(url: db.url, password: db.password, inboxID: PostgresSharedInbox.sharedInboxID)
            defer { leader.close() }
            #expect(try leader.takeLead(holder: "hub0") == 1)
            let p = try Self.processor(leader, inbox: shared)
            #expect(try p.processPending(limit: 5).messages == 5)
            #expect(try p.processPending(limit: 100).messages == 7)
            #expect(try shared.processedThrough() == 12)

            // … against one hub whose inbox got the same messages in the same order.
            let lone = try TestPostgres.freshDatabase("lone")
            let inbox = try DisputeStore.inboxOnly(path: folder + "/lone.inbox.sqlite")
            try inbox.ingest(order.map { InboxMessage(topic: $0.topic, payload: $0.payload, receivedAt: $0.receivedAt) })
            let store = try PostgresStore(url: lone.url, password: lone.password, inboxID: inbox.inboxID)
            defer { store.close() }
            let lonePipeline = try Self.processor(store, inbox: inbox)
            #expect(try lonePipeline.processPending(limit: 5).messages == 5) // the same batches
            #expect(try lonePipeline.processPending(limit: 100).messages == 7)
            let group = try Self.counts(leader), one = try Self.counts(store)
            #expect(group == one)
            #expect(group["events"] == 11 && group["dead_letters"] == 1 && (group["risk_items"] ?? 0) > 0 && (group["slips"] ?? 0) > 0)
            let items = "SELECT concat_ws('|', id, source, category, first_seen, last_seen, occurrences, state) FROM risk_items ORDER BY id"
            let groupItems = try leader.query(PostgresQuery(unsafeSQL: items)).rows.map { try $0.decode(String.self) }
            #expect(groupItems == (try store.query(PostgresQuery(unsafeSQL: items)).rows.map { try $0.decode(String.self) }))
        }
    }

    @Test("an arrival is numbered only once it has settled: a message another hub received just before it can still come first")
    func settle() async throws {
        try await onDedicatedThread {
            let folder = Self.folder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let db = try TestPostgres.freshDatabase("settle")
            let a = try DisputeStore.inboxOnly(path: folder + "/a.inbox.sqlite")
            let b = try DisputeStore.inboxOnly(path: folder + "/b.inbox.sqlite")
            let now = Mutex(T.at(0))
            let shared = PostgresSharedInbox(store: try PostgresStore(url: db.url, password: db.password), settle: 0.1,
                                             clock: { now.withLock { $0 } })
            defer { shared.store.close() }
            func message(_ id: String, _ seconds: Double) -> InboxMessage {
                InboxMessage(topic: "patrolhub/v1/camera/cam-A/event", payload: Array(id.utf8), receivedAt: T.at(0).addingTimeInterval(seconds))
            }
            _ = try shared.forwardedThrough(origin: a.inboxID)
            _ = try shared.forwardedThrough(origin: b.inboxID)
            // Hub b received "second" at 0.02 s and forwards it at once; hub a received "first" at 0.01 s but forwards later.
            try b.ingest([message("second", 0.02)])
            try shared.forward(b.pending(after: 0, limit: 10), origin: b.inboxID)
            now.withLock { $0 = T.at(0).addingTimeInterval(0.05) }
            #expect(try shared.pending(after: 0, limit: 10).isEmpty, "not settled yet")
            try a.ingest([message("first", 0.01)])
            try shared.forward(a.pending(after: 0, limit: 10), origin: a.inboxID)
            now.withLock { $0 = T.at(0).addingTimeInterval(0.2) }
            #expect(try shared.pending(after: 0, limit: 10).map { String(decoding: $0.payload, as: UTF8.self) } == ["first", "second"])
            // One received long before, forwarded after those were numbered: it comes after them.
            try a.ingest([message("late", 0.0)])
            try shared.forward(a.pending(after: 1, limit: 10), origin: a.inboxID)
            #expect(try shared.pending(after: 2, limit: 10).map { String(decoding: $0.payload, as: UTF8.self) } == ["late"])
            #expect(try shared.inboxRecord(seq: 3).map { String(decoding: $0.payload, as: UTF8.self) } == "late")
        }
    }

    @Test("a leader whose lead another hub took cannot commit; the new leader goes on from the store")
    func fencedLeader() async throws {
        try await onDedicatedThread {
            let folder = Self.folder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let db = try TestPostgres.freshDatabase("fence")
            let inbox = try DisputeStore.inboxOnly(path: folder + "/hub.inbox.sqlite")
            let shared = PostgresSharedInbox(store: try PostgresStore(url: db.url, password: db.password), clock: { T.at(600) })
            let first = try PostgresStore(url: db.url, password: db.password, inboxID: PostgresSharedInbox.sharedInboxID)
            let second = try PostgresStore(url: db.url, password: db.password, inboxID: PostgresSharedInbox.sharedInboxID)
            defer { shared.store.close(); first.close(); second.close() }
            try inbox.ingest(Array(Self.messages.prefix(6)))
            #expect(try shared.forwardedThrough(origin: inbox.inboxID) == 0)
            try shared.forward(inbox.pending(after: 0, limit: 100), origin: inbox.inboxID)

            try first.takeLead(holder: "hub-a")
            let p1 = try Self.processor(first, inbox: shared)
            #expect(try p1.processPending(limit: 3).messages == 3)
            // Another hub takes the lead (the first one's lease lapsed while it was frozen, say).
            #expect(try second.takeLead(holder: "hub-b") == 2)
            #expect(try second.leadHolder().holder == "hub-b")
            do {
                try p1.processPending(limit: 100)
                Issue.record("a fenced-off leader committed a batch")
            } catch let error as HubError {
                #expect(error.code == .pipelineLeadLost, "\(error)")
            }
            #expect(try shared.processedThrough() == 3, "its batch was rolled back")
            // Its in-progress mark neither replaces the new leader's nor goes away by its hand.
            #expect(try second.inProgressMark() == nil, "refused at its in-progress mark, before its batch")
            try second.markInProgress(InProgressMark(lastSeq: 6, isolateThrough: 0, stops: 0), at: T.at(2))
            #expect(try second.inProgressMarkHolder() == "hub-b")
            do {
                try first.markInProgress(InProgressMark(lastSeq: 5, isolateThrough: 5, stops: 3), at: T.at(3))
                Issue.record("a fenced-off leader wrote the in-progress mark")
            } catch let error as HubError {
                #expect(error.code == .pipelineLeadLost, "\(error)")
            }
            try first.clearInProgressMark()
            #expect(try second.inProgressMark() == InProgressMark(lastSeq: 6, isolateThrough: 0, stops: 0))
            // The new leader reloads from the store and takes the rest; later rows too.
            let p2 = try Self.processor(second, inbox: shared)
            try inbox.ingest(Array(Self.messages.suffix(6)))
            try shared.forward(inbox.pending(after: 6, limit: 100), origin: inbox.inboxID)
            #expect(try p2.processPending(limit: 100).messages == 9)
            #expect(try second.rowCount("events") == 11)
            #expect(try second.rowCount("dead_letters") == 1)
        }
    }

    @Test("hubs of a group starting together on a new database migrate it once, all of them connected")
    func startTogether() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("together")
            let opened = Mutex<[Result<PostgresStore, any Error>]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                let r = Result { try PostgresStore(url: db.url, password: db.password) }
                opened.withLock { $0.append(r) }
            }
            let results = opened.withLock { $0 }
            let stores = results.compactMap { try? $0.get() }
            defer { for s in stores { s.close() } }
            for case .failure(let error) in results { Issue.record("a hub could not open the store: \(error)") }
            #expect(stores.count == 4)
            #expect(try stores.first?.appliedMigrations() == PostgresMigrations.all.map(\.version))
        }
    }

    @Test("a hub joining a group after running alone on the store forwards after its own cursor; processed rows are pruned")
    func joinAndPrune() async throws {
        try await onDedicatedThread {
            let folder = Self.folder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let db = try TestPostgres.freshDatabase("join")
            let inbox = try DisputeStore.inboxOnly(path: folder + "/hub.inbox.sqlite")
            try inbox.ingest(Array(Self.messages.prefix(8)))
            // Alone on the store, its pipeline processed 5 of them under its own inbox's id.
            let alone = try PostgresStore(url: db.url, password: db.password, inboxID: inbox.inboxID)
            defer { alone.close() }
            #expect(try Self.processor(alone, inbox: inbox).processPending(limit: 5).messages == 5)
            let shared = PostgresSharedInbox(store: try PostgresStore(url: db.url, password: db.password), clock: { T.at(600) })
            defer { shared.store.close() }
            #expect(try shared.forwardedThrough(origin: inbox.inboxID) == 5, "what its pipeline processed is not forwarded again")
            #expect(try shared.forward(inbox.pending(after: 0, limit: 100), origin: inbox.inboxID) == 8)
            #expect(try shared.pending(after: 0, limit: 100).map(\.payload) == inbox.pending(after: 5, limit: 100).map(\.payload))

            let leader = try PostgresStore(url: db.url, password: db.password, inboxID: PostgresSharedInbox.sharedInboxID)
            defer { leader.close() }
            try leader.takeLead(holder: "hub")
            #expect(try Self.processor(leader, inbox: shared).processPending(limit: 2).messages == 2)
            // Received at minutes 5–7; processed through seq 2 (minutes 5 and 6).
            #expect(try shared.prune(olderThan: T.at(6.5)) == 2)
            #expect(try shared.prune(olderThan: T.at(100)) == 0, "rows the pipeline has not processed stay")
            #expect(try shared.pending(after: 0, limit: 100).map(\.seq) == [3])
            #expect(try alone.rowCount("events") == 7)
        }
    }
}
