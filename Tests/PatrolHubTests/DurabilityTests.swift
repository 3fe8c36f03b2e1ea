import Alerts
import Foundation
import GRDB
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
}
