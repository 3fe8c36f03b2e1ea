import Alerts
@testable import AlertsStore
import Foundation
import GRDB
@testable import PatrolHubMQTT
import Testing
@testable import PatrolHub

#if canImport(Glibc)
import Glibc
#endif

/// The promises that only show under a fault: a message the broker
/// acknowledged to its sender is in the store exactly once whatever fails in
/// between, and an outcome leaves the outbox only once the broker has it.
@Suite("Durability under fault", .serialized)
struct DurabilityTests {
    static func count(_ store: DisputeStore, _ sql: String) async throws -> Int {
        try await store.writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    static func inboxCount(_ store: DisputeStore, _ sql: String) async throws -> Int {
        try await store.inboxWriter.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    @Test("A failed inbox commit: the hub drops the connection without PUBACKs and the broker redelivers; nothing lost, nothing twice")
    func failedInboxCommitIsRedelivered() async throws {
        try await withLiveHub { _, hub, pub in
            let base = Date().addingTimeInterval(-600)
            try await pub.publishAll([(eventTopic("cam-001"), cameraEvent("before", type: "motion", time: base))])
            try await hub.waitProcessed(received: 1)

            let fault = InboxCommitFault(storePath: hub.hub.config.store.path)
            try fault.inject()
            let client = hub.hub.ingest.client
            let connects = client.connectCount
            let n = 200
            try await pub.publishAll((0..<n).map { i in
                (eventTopic(["cam-001", "cam-002", "cam-003"][i % 3]), cameraEvent("f-\(i)", type: "motion", time: base.addingTimeInterval(Double(i))))
            })
            // The hub received them, could not commit them, dropped the connection, and got them
            // again after each reconnect: more than one redelivery failed while the fault lasted.
            try await waitUntil("the hub reconnected twice after failed commits", timeout: 60) { client.connectCount >= connects + 2 }
            #expect(try fault.rows() == 1, "nothing was committed while the inbox failed")
            #expect(hub.hub.health.report(stallAfter: 3600).json["ingest"]?["last_error"]?.stringValue?.contains(InboxCommitFault.message) == true,
                    "the failure is what /healthz reports")

            try fault.heal()
            try await hub.waitProcessed(received: n + 1, timeout: 90)
            // Nothing lost: every message the broker acknowledged to the publisher is stored.
            #expect(try await Self.count(hub.store, "SELECT COUNT(DISTINCT key) FROM events WHERE key LIKE 'camera:%:f-%'") == n)
            // Nothing twice: no group was committed and then redelivered, so each is in the inbox once.
            #expect(try await Self.inboxCount(hub.store, "SELECT COUNT(*) FROM inbox WHERE CAST(payload AS TEXT) LIKE '%\"f-%'") == n)
            #expect(try await Self.count(hub.store, "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:%:f-%'") == n)
        }
    }

    @Test("Outbox rows are deleted only after the broker's PUBACK: stopped broker → the row stays; continued → acknowledged → deleted")
    func outboxDeletedOnlyAfterPuback() async throws {
        let broker = try TestBroker()
        defer { try? broker.resume(); broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try DisputeStore(path: dir.file("hub.sqlite"))
        var o = MQTTClient.Options()
        o.port = broker.port
        o.clientID = "test-outbox-\(UUID().uuidString.prefix(6))"
        o.cleanSession = true
        let client = MQTTClient(options: o, logger: testLogger)
        let publisher = PublisherService(client: client, store: store, logger: testLogger)
        try client.start()
        defer { client.stop() }
        let watcher = try OutputWatcher(port: broker.port)
        defer { watcher.stop() }
        try await waitUntil("publisher and watcher connected") { client.isConnected && watcher.client.isConnected }

        try await store.writer.write { db in
            try db.execute(sql: "INSERT INTO outbox(topic, payload, created_at) VALUES (?, ?, ?)",
                           arguments: ["patrolhub/v1/out/slips", Data(#"{"id":"YJ-DURABLE-1","kind":"warning"}"#.utf8), Date().timeIntervalSince1970])
        }

        try broker.suspend()
        // One round: published, no PUBACK within the publisher's wait.
        #expect(try await publisher.flush() == 0)
        #expect(try store.outbox(limit: 10).map(\.topic) == ["patrolhub/v1/out/slips"], "an unacknowledged outcome stays in the outbox")
        #expect(!watcher.messages.contains { $0.json["id"] == .string("YJ-DURABLE-1") })

        try broker.resume()
        var acknowledged = 0
        for _ in 0..<10 where acknowledged == 0 { acknowledged = try await publisher.flush() }
        #expect(acknowledged == 1)
        #expect(try store.outbox(limit: 10).isEmpty, "deleted once acknowledged")
        try await waitUntil("the watcher got the slip") { watcher.messages.contains { $0.json["id"] == .string("YJ-DURABLE-1") } }
    }

    /// Cases opened 31 days ago with the default 30-day deadline: each is due
    /// its overdue order and its idle order.
    static func writeOverdueCases(_ numbers: ClosedRange<Int>, storePath: String) async throws {
        let store = try DisputeStore(path: storePath)
        let opened = Date().addingTimeInterval(-31 * 86_400)
        for n in numbers {
            let c = Case(id: "AJ-0000000\(n)", rule: .patrolReport, zone: n == 3 ? "Z-B" : "Z-A", category: .dispute, severity: .major,
                         unit: "街道", openedAt: opened, dueAt: opened.addingTimeInterval(30 * 86_400), explanation: "网格员上报纠纷",
                         riskItemIDs: [], sources: ["dev-\(n)"], categories: [.dispute])
            try await store.writer.write { db in try DisputeStore.write(case: c, evidenceAt: opened, db: db) }
        }
    }

    /// Waits until a new probe (a message from an unknown camera: a dead letter,
    /// no risk item) reaches the inbox: the hub's session is subscribed.
    static func waitSubscribed(_ pub: TestPublisher, storePath: String, _ what: String) async throws {
        let before = storeStatus(storePath)?.inboxReceived ?? 0
        var probe = 0
        try await waitUntil(what, timeout: 60) {
            probe += 1
            _ = try pub.client.enqueue(topic: eventTopic("cam-999"), payload: cameraEvent("probe-\(UUID().uuidString.prefix(8))", type: "motion", time: Date()))
            return (storeStatus(storePath)?.inboxReceived ?? 0) > before
        }
    }

    /// The pipeline keeps windows, counters and open slips in memory: two hubs on
    /// one store would fold events into items the other does not know of (both
    /// processing: 4 items instead of 6, a warning slip missing). A second hub is
    /// refused while the first runs; after the first is killed it takes over and
    /// numbers its documents after the first one's, issuing none twice.
    @Test("Two hub processes on one store: the second is refused while the first runs; every document is issued exactly once, also across a takeover")
    func twoHubsOneStore() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("rules.yaml", "supervision:\n  tick_seconds: 1\n")
        let storePath = dir.file("hub.sqlite")
        try await Self.writeOverdueCases(1...3, storePath: storePath)
        let configA = writeHubConfig(dir, name: "hub-a.yaml", brokerPort: broker.port, clientID: "hub-a", extra: "rules: rules.yaml")
        let configB = writeHubConfig(dir, name: "hub-b.yaml", brokerPort: broker.port, clientID: "hub-b", extra: "rules: rules.yaml")
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()

        let a = try HubProcess(config: configA)
        defer { a.stop() }
        try await Self.waitSubscribed(pub, storePath: storePath, "hub A subscribed")
        let b = try HubProcess(config: configB)
        defer { b.stop() }
        try await waitUntil("the second hub on the store exited", timeout: 60) { !b.isRunning }
        #expect(b.process.terminationStatus != 0)
        #expect(b.log.contains("another hub (pid \(a.pid)) serves the store"), "its log says why:\n\(b.log)")

        let messages = exactOutcomesMessages()
        func count(_ sql: String) throws -> Int {
            try DisputeStore(path: storePath).writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
        }
        // One at a time, each processed before the next (were a second hub running, either could take any of them).
        for (k, m) in messages.enumerated() {
            try await pub.publishAll([m])
            try await waitUntil("event \(k + 1) processed", timeout: 60) {
                guard let s = storeStatus(storePath), s.inboxPending == 0 else { return false }
                return try count("SELECT COUNT(*) FROM events WHERE key NOT LIKE '%probe-%'") > k
            }
        }
        try await waitUntil("the supervision orders of three cases", timeout: 60) {
            try count("SELECT COUNT(*) FROM slips WHERE kind = 'supervision'") >= 6
        }

        // Takeover: A dies; B starts on the same store and issues the orders of one more case only.
        a.kill9()
        let b2 = try HubProcess(config: configB)
        defer { b2.stop() }
        try await Self.waitSubscribed(pub, storePath: storePath, "hub B subscribed")
        try await Self.writeOverdueCases(9...9, storePath: storePath) // (the fight slip made case 4)
        try await waitUntil("the supervision orders of one more case", timeout: 60) {
            try count("SELECT COUNT(*) FROM slips WHERE kind = 'supervision'") >= 8
        }
        #expect(b2.stop() == 0, "hub B stopped gracefully; its log:\n\(b2.log)")

        let store = try DisputeStore(path: storePath)
        let documents = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, zone, category, COALESCE(trigger, '-') FROM slips ORDER BY kind, seq").map { r in
                (0..<5).map { r[$0] as String }.joined(separator: " ")
            }
        }
        #expect(documents == [
            "DB-00000001 supervision Z-A dispute case:AJ-00000001:overdue", "DB-00000002 supervision Z-A dispute case:AJ-00000001:idle:1",
            "DB-00000003 supervision Z-A dispute case:AJ-00000002:overdue", "DB-00000004 supervision Z-A dispute case:AJ-00000002:idle:1",
            "DB-00000005 supervision Z-B dispute case:AJ-00000003:overdue", "DB-00000006 supervision Z-B dispute case:AJ-00000003:idle:1",
            "DB-00000007 supervision Z-A dispute case:AJ-00000009:overdue", "DB-00000008 supervision Z-A dispute case:AJ-00000009:idle:1",
            "YJ-00000001 warning Z-B fight -", "YJ-00000002 warning Z-A intrusion -",
        ])
        #expect(try await Self.count(store, "SELECT COUNT(*) FROM audit_log WHERE action = 'slip.issued' AND subject LIKE 'DB-%'") == 8)
        // The events as one hub folds them (IngestIntegrationTests.exactOutcomesAndReplay).
        let items = try store.riskItems().sorted { $0.id < $1.id }
        #expect(items.map(\.source) == ["cam-001", "cam-001", "cam-003", "cam-001", "cam-001", "cam-002"])
        #expect(items.map(\.occurrences) == [1, 2, 2, 1, 1, 1])
        #expect(try await Self.count(store, "SELECT COUNT(*) FROM events WHERE key NOT LIKE '%probe-%'") == messages.count)
    }
}
