import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` the hub process while a publisher sends QoS 1 events, restart
/// it, and check every event the publisher saw acknowledged is in the store
/// exactly once.
@Suite("Crash safety", .serialized)
struct CrashTests {
    @Test("kill -9 during ingestion loses nothing and duplicates nothing")
    func killDuringIngestion() async throws {
        let exe = try patrolhubExecutable()
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let config = dir.write("patrolhub.yaml", """
            data_dir: .
            broker:
              mode: external
              host: 127.0.0.1
              port: \(broker.port)
              client_id: crash-hub
            store:
              path: hub.sqlite
            registry:
              cameras: cameras.csv
            http:
              listen: 127.0.0.1:0
            """)

        func startHub() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["serve", "--config", config, "--log-level", "error"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }

        var hub = try startHub()
        defer { if hub.isRunning { hub.terminate(); hub.waitUntilExit() } }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()
        let storePath = dir.file("hub.sqlite")
        func status() -> StoreStatus? {
            guard FileManager.default.fileExists(atPath: storePath) else { return nil }
            return try? DisputeStore(path: storePath).status()
        }
        func inboxCount() -> Int { status()?.inboxReceived ?? 0 }
        // The hub's persistent session exists once a probe arrives.
        let base = Date().addingTimeInterval(-3600)
        var probe = 0
        try await waitUntil("hub subscribed", timeout: 30) {
            probe += 1
            _ = try pub.client.enqueue(topic: eventTopic("cam-001"), payload: cameraEvent("probe-\(probe)", type: "motion", time: base))
            return inboxCount() > 0
        }

        // Stream messages of the test run in the inbox now (the hub commits them as they come).
        let inboxPath = DisputeStore.inboxPath(for: storePath)
        func streamedInInbox() throws -> Int {
            var c = Configuration()
            c.readonly = true
            c.busyMode = .timeout(10)
            let db = try DatabaseQueue(path: inboxPath, configuration: c)
            defer { try? db.close() }
            return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM inbox WHERE CAST(payload AS TEXT) LIKE '%\"c-%'") ?? 0 }
        }

        // Publish continuously; kill -9 the hub once it has taken part of the
        // stream, while the rest is still to come.
        let total = 6000
        var acked = Set<Int32>()
        var midToID: [Int32: Int] = [:]
        var killedAt: Int?
        var storedAtKill = 0
        for i in 0..<total {
            let topic = eventTopic(["cam-001", "cam-002", "cam-003"][i % 3])
            let mid = try pub.client.enqueue(topic: topic, payload: cameraEvent("c-\(i)", type: "motion", time: base.addingTimeInterval(Double(i) * 0.01)))
            midToID[mid] = i
            if i % 500 == 499 {
                acked.formUnion(pub.client.takeAcked())
                try await Task.sleep(for: .milliseconds(1))
            }
            // Kill as soon as the hub has stored some of the stream (checked every 100
            // messages from 1000 on); at message 3000 at the latest, after waiting for its first.
            if killedAt == nil, i >= 1000, i % 100 == 0 {
                if i == 3000 { try await waitUntil("the hub stored part of the stream", timeout: 60) { try streamedInInbox() > 0 } }
                if try streamedInInbox() > 0 {
                    kill(hub.processIdentifier, SIGKILL)
                    hub.waitUntilExit()
                    killedAt = i
                    storedAtKill = try streamedInInbox() // the hub is dead: this no longer changes
                }
            }
        }
        try await waitUntil("publisher acknowledged", timeout: 30) {
            acked.formUnion(pub.client.takeAcked())
            return acked.count >= total
        }
        // Killed mid-stream: the hub had stored part of the stream, not all of it,
        // and the publisher went on after the kill (the rest waited at the broker).
        let killed = try #require(killedAt, "the hub was killed")
        #expect(storedAtKill > 0 && storedAtKill < total, "killed mid-stream: \(storedAtKill) of \(total) stored at the kill")
        #expect(killed < total - 1, "messages were published after the kill")

        hub = try startHub()
        try await waitUntil("all events processed after restart", timeout: 120) {
            guard let s = status(), s.inboxPending == 0, s.inboxReceived >= total else { return false }
            let events = try DisputeStore(path: storePath).writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:%:c-%'") ?? 0 }
            return events >= total
        }
        hub.terminate()
        hub.waitUntilExit()
        #expect(hub.terminationStatus == 0, "graceful shutdown on SIGTERM")

        let store = try DisputeStore(path: storePath)
        // The inbox is an append-only log: messages the broker redelivered
        // (their PUBACK was lost with the killed process) appear twice there.
        let (eventMessages, distinctEventMessages) = try await store.inboxWriter.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox WHERE CAST(payload AS TEXT) LIKE '%\"c-%'") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT key) FROM inbox WHERE CAST(payload AS TEXT) LIKE '%\"c-%'") ?? 0)
        }
        let (eventIDs, items, probes) = try await store.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT key FROM events WHERE key LIKE 'camera:%:c-%'"),
             try Int.fetchOne(db, sql: "SELECT SUM(occurrences) FROM risk_items") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE key LIKE 'camera:%:probe-%'") ?? 0)
        }
        let ackedIDs = Set(acked.compactMap { midToID[$0] })
        let storedIDs = Set(eventIDs.compactMap { Int($0.split(separator: "-").last ?? "") })
        #expect(ackedIDs.count == total)
        #expect(ackedIDs.subtracting(storedIDs).isEmpty, "every acknowledged event is stored")
        #expect(eventIDs.count == total, "each event stored once")
        #expect(distinctEventMessages == total, "every message reached the inbox")
        #expect(eventMessages >= total)
        // Probes sent before the hub's session existed were never delivered.
        #expect(probes >= 1 && probes <= probe)
        #expect(items == total + probes, "every event folded into exactly one risk item")
        print("crash test: \(total) events published and acknowledged, hub killed after publishing \(killed + 1) with \(storedAtKill) in its inbox; \(eventMessages - total) redelivered after restart and absorbed; \(eventIDs.count) events stored, 0 lost, 0 duplicated")
    }
}
