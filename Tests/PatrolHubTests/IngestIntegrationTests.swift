import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// The walking skeleton end to end: a real mosquitto on a free loopback
/// port, the hub's real MQTT client, a real SQLite file.
@Suite("Ingest over a real broker", .serialized)
struct IngestIntegrationTests {
    @Test("N events → exactly the expected risk items and slips; replays change nothing")
    func exactOutcomesAndReplay() async throws {
        try await withLiveHub { _, hub, pub in

            let messages = exactOutcomesMessages()
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)

            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
            #expect(items.map(\.source) == ["cam-001", "cam-001", "cam-003", "cam-001", "cam-001", "cam-002"])
            #expect(items.map(\.category) == [.intrusion, .loitering, .fight, .intrusion, .intrusion, .intrusion])
            #expect(items.map(\.occurrences) == [1, 2, 2, 1, 1, 1])
            #expect(items.map(\.zone) == ["Z-A", "Z-A", "Z-B", "Z-A", "Z-A", "Z-A"])

            try await waitUntil("slips published") { try hub.store.outbox(limit: 10).isEmpty }
            let slips = try hub.store.slips().sorted { $0.id < $1.id }
            #expect(slips.count == 2)
            #expect(slips.map(\.zone) == ["Z-B", "Z-A"])
            #expect(slips.map(\.category) == [.fight, .intrusion])
            #expect(slips.map(\.severity) == [.critical, .minor])
            #expect(slips[0].riskItemIDs == [items[2].id])
            #expect(slips[0].occurrences == 2)
            #expect(slips[1].riskItemIDs == [items[0].id, items[3].id, items[4].id, items[5].id])
            let before = try hub.store.status()
            #expect(before.riskItemsTotal == 6)
            #expect(before.slipsTotal == 2)
            #expect(before.deadLettersTotal == 0)

            // The same bytes again (a redelivery): logged in the inbox, absorbed by the event key.
            try await pub.publishAll(messages)
            // The same event ids with other bytes (a device retry with a new field): absorbed by the event key.
            let retried = messages.map { ($0.0, Array(String(decoding: $0.1, as: UTF8.self).replacingOccurrences(of: "}", with: #","confidence":0.5}"#).utf8)) }
            try await pub.publishAll(retried)
            try await hub.waitProcessed(received: messages.count * 3)
            // Everything the redeliveries could have caused is committed with their batch; its publishing is done once the outbox is empty.
            try await waitUntil("outbox drained") { try hub.store.outbox(limit: 10).isEmpty }
            let after = try hub.store.status()
            #expect(after.inboxReceived == messages.count * 3)
            #expect(after.inboxPending == 0)
            #expect(after.deadLetters.isEmpty)
            #expect(after.riskItems == before.riskItems)
            #expect(after.slips == before.slips)
            #expect(try hub.store.riskItems().sorted { $0.id < $1.id } == items)
            #expect(try hub.store.slips().sorted { $0.id < $1.id }.map(\.riskItemIDs) == slips.map(\.riskItemIDs))
        }
    }

    @Test("Bad input ends as dead letters with the right reason; valid events around it are processed")
    func deadLetters() async throws {
        try await withLiveHub { _, hub, pub in
            let now = Date().addingTimeInterval(-60)
            let huge = Array(repeating: UInt8(ascii: "x"), count: 10 << 20)
            let messages: [(String, [UInt8])] = [
                (eventTopic("cam-001"), cameraEvent("ok-1", type: "loitering", time: now)),
                (eventTopic("cam-001"), Array(#"{"id":"bad-1","type":"fight","#.utf8)),
                (eventTopic("cam-002"), cameraEvent("ok-2", type: "loitering", time: now)),
                (eventTopic("cam-001"), Array(#"{"id":"bad-2","type":"fight"}"#.utf8)),
                (eventTopic("cam-001"), cameraEvent("bad-3", type: "fight", time: now, extra: #","confidence":"high""#)),
                (eventTopic("cam-001"), Array(#"{"id":"bad-4","type":"fight","time":""#.utf8) + huge + Array(#""}"#.utf8)),
                (eventTopic("cam-999"), cameraEvent("bad-5", type: "fight", time: now)),
                (eventTopic("cam-001"), cameraEvent("bad-6", type: "fight", time: now.addingTimeInterval(86_400))),
                (eventTopic("cam-001"), cameraEvent("bad-7", type: "alien_landing", time: now)),
                (eventTopic("cam-003"), cameraEvent("ok-3", type: "loitering", time: now)),
            ]
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)
            let status = try hub.store.status()
            #expect(status.deadLetters == ["malformed": 1, "missing_field": 1, "wrong_type": 1, "oversized": 1, "unknown_source": 1, "clock_skew": 1, "invalid_value": 1])
            #expect(Set(try hub.store.riskItems().map(\.source)) == ["cam-001", "cam-002", "cam-003"])
            #expect(status.riskItemsTotal == 3)
            let letters = try hub.store.deadLetters()
            let missing = try #require(letters.first { $0.reason == "missing_field" })
            #expect(missing.detail == "field 'time' is required")
            let oversized = try #require(letters.first { $0.reason == "oversized" })
            #expect(oversized.size > 10 << 20)
            // The raw bytes are kept with the dead letter.
            let stored = try await hub.store.writer.read { db in try Data.fetchOne(db, sql: "SELECT payload FROM dead_letters WHERE reason = 'malformed'") }
            #expect(stored == Data(#"{"id":"bad-1","type":"fight","#.utf8))
        }
    }

    @Test("Broker restart: what is published while the hub is offline is queued, kept across the restart, and delivered when the hub reconnects by itself")
    func brokerRestart() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let hub = try HubProcess(config: writeHubConfig(dir, brokerPort: broker.port, clientID: "restart-hub"))
        defer { hub.stop() }
        let storePath = dir.file("hub.sqlite")
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()
        // The hub's persistent session exists once a probe arrives.
        let now = Date().addingTimeInterval(-120)
        var probe = 0
        try await waitUntil("hub subscribed", timeout: 30) {
            probe += 1
            _ = try pub.client.enqueue(topic: eventTopic("cam-001"), payload: cameraEvent("probe-\(probe)", type: "motion", time: now))
            return (storeStatus(storePath)?.inboxReceived ?? 0) > 0
        }

        // Offline for certain: a frozen hub reads nothing, acknowledges nothing, reconnects nothing.
        try hub.freeze()
        let n = 300
        let messages = (0..<n).map { i in
            (eventTopic(["cam-001", "cam-002", "cam-003"][i % 3]), cameraEvent("r-\(i)", type: "motion", time: now.addingTimeInterval(Double(i))))
        }
        // Half before the restart (the broker saves them with the session), half after (queued in the restored session).
        try await pub.publishAll(Array(messages[..<(n / 2)]))
        try broker.restart()
        try await pub.publishAll(Array(messages[(n / 2)...]))
        #expect(hub.isRunning && processIsStopped(hub.pid), "the hub was offline while all of them were published and acknowledged")

        hub.resume()
        try await waitUntil("all events processed after the hub reconnected", timeout: 90) {
            guard let s = storeStatus(storePath), s.inboxPending == 0 else { return false }
            return try DisputeStore(path: storePath).writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:%:r-%'") ?? 0 } >= n
        }
        let keys = try await DisputeStore(path: storePath).writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:%:r-%'") }
        #expect(keys == n)
        #expect(hub.stop() == 0, "graceful shutdown on SIGTERM")
    }
}
