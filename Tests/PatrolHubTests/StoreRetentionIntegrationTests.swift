import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// The housekeeper and the key retention in a running hub (docs/STORAGE.md).
@Suite("Store retention in a running hub")
struct StoreRetentionIntegrationTests {
    @Test("a running hub prunes expired dead letters and refuses an event older than its key retention as too_old")
    func runningHubPrunesAndRefusesTooOld() async throws {
        let old = Date().addingTimeInterval(-100 * 86_400).timeIntervalSince1970
        try await withLiveHub(configure: { c in
            c.retention.eventKeysHours = 2
            c.retention.deadLettersDays = 90
            // A store the hub finds at start, with dead letters older than their retention.
            let store = try! DisputeStore(path: c.store.path)
            try! store.writer.write { db in
                for i in 0..<25 {
                    try db.execute(sql: """
                        INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at)
                        VALUES (?, 'malformed', '', 't', x'00', 1, ?, ?)
                        """, arguments: ["old-\(i)", old, old])
                }
            }
        }) { _, hub, pub in
            try await waitUntil("the old dead letters pruned") { (try hub.store.status().pruned["dead_letters"] ?? 0) == 25 }
            #expect(try hub.store.status().deadLettersTotal == 0)
            let now = Date()
            try await pub.publishAll([(eventTopic("cam-001"), cameraEvent("fresh", type: "intrusion", time: now))])
            try await hub.waitProcessed(received: 1)
            try await pub.publishAll([(eventTopic("cam-001"), cameraEvent("stale", type: "intrusion", time: now.addingTimeInterval(-3 * 3600)))])
            try await hub.waitProcessed(received: 2)
            #expect(try hub.store.deadLetters().map(\.reason) == ["too_old"])
        }
    }
}
