import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// `store.inbox_retention_days` from a config file to the running hub's housekeeper.
@Suite("Inbox retention in a running hub")
struct InboxRetentionIntegrationTests {
    @Test("store.inbox_retention_days: 3 → the hub prunes processed inbox rows received 5 days ago and keeps those of 2 days ago")
    func inboxRetentionFromItsConfigKey() async throws {
        let file = "/etc/patrolhub/hub.yaml"
        let parsed = try HubConfig.parse(ConfigMap.parse(yaml: "store:\n  inbox_retention_days: 3\n", file: file), file: file)
        #expect(parsed.store.inboxRetentionDays == 3)
        let now = Date()
        let fiveDaysAgo = now.addingTimeInterval(-5 * 86_400), twoDaysAgo = now.addingTimeInterval(-2 * 86_400)
        try await withLiveHub(configure: { c in
            c.store.inboxRetentionDays = parsed.store.inboxRetentionDays
            // A store the hub finds at start with a backlog it processes first: 4 messages
            // received 5 days ago, then 3 received 2 days ago (the default 7 days would keep all).
            let store = try! DisputeStore(path: c.store.path)
            try! store.ingest((0..<4).map { InboxMessage(topic: "t/old", payload: [UInt8($0)], receivedAt: fiveDaysAgo) })
            try! store.ingest((0..<3).map { InboxMessage(topic: "t/young", payload: [UInt8($0)], receivedAt: twoDaysAgo) })
        }) { _, hub, _ in
            try await waitUntil("the 4 rows older than 3 days pruned") { (try hub.store.status().pruned["inbox"] ?? 0) >= 4 }
            let status = try hub.store.status()
            #expect(status.pruned["inbox"] == 4)
            #expect(status.inboxPending == 0)
            let left = try await hub.store.inboxWriter.read { db in try String.fetchAll(db, sql: "SELECT topic FROM inbox ORDER BY seq") }
            #expect(left == ["t/young", "t/young", "t/young"])
        }
    }
}
