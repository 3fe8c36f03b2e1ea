import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing

/// An installer's onboarding, end to end with a real mosquitto and the real
/// `patrolhub` executable: a camera publishes before it is registered, its
/// events become `unknown_source` dead letters; it is registered (cameras.csv,
/// restart) and its dead letters replayed with `patrolhub dead-letters replay`.
@Suite("Dead letters: register the camera, replay (real patrolhub and mosquitto)", .serialized)
struct DeadLetterReplayIntegrationTests {
    @Test("unknown_source dead letters replayed after registering: each event stored once, replaying again changes nothing, a failure again carries its new reason")
    func registerAndReplay() async throws {
        let exe = try patrolhubExecutable()
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = writeHubConfig(dir, brokerPort: broker.port, clientID: "dead-letter-hub")
        let storePath = dir.file("hub.sqlite")
        func count(_ sql: String) throws -> Int {
            try DisputeStore(path: storePath).writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
        }
        func cli(_ args: [String]) throws -> String {
            let r = try runProcess(exe, ["dead-letters"] + args + ["--config", config])
            #expect(r.status == 0, "dead-letters \(args.joined(separator: " ")): \(r.output)")
            return r.output
        }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()

        // Before registration: two events and one without its type, from cam-new.
        let hub = try HubProcess(config: config)
        defer { hub.stop() }
        try await DurabilityTests.waitSubscribed(pub, storePath: storePath, "hub subscribed")
        let t = Date().addingTimeInterval(-600)
        try await pub.publishAll([
            (eventTopic("cam-new"), cameraEvent("n1", type: "intrusion", time: t)),
            (eventTopic("cam-new"), cameraEvent("n2", type: "intrusion", time: t.addingTimeInterval(5))),
            (eventTopic("cam-new"), Array(#"{"id":"n3","time":"\#(t.rfc3339)"}"#.utf8)),
        ])
        try await waitUntil("three dead letters from cam-new, named by the hub", timeout: 60) {
            try count("SELECT COUNT(*) FROM dead_letters WHERE source = 'cam-new' AND reason = 'unknown_source'") == 3
        }
        let listed = try JSONParser.parse(try cli(["list", "--source", "cam-new", "--json"]))
        guard case .array(let items)? = listed["items"] else { Issue.record("no items: \(listed)"); return }
        #expect(items.count == 3 && items.allSatisfy { $0["reason"] == .string("unknown_source") && $0["replayed_at"] == .null })
        let ids = items.compactMap { $0["id"] }.compactMap { if case .number(let n) = $0 { return Int(n) } else { return nil } }.sorted()
        #expect(try cli(["show", "\(ids[2])"]).contains(#"{"id":"n3","time":"#))
        #expect(hub.stop() == 0, "the hub stopped gracefully; its log:\n\(hub.log)")

        // Registered: the camera joins cameras.csv (read at start); replay, then start the hub again.
        _ = dir.write("cameras.csv", testCamerasCSV + "\ncam-new,New gate,29.6540,91.1340,wgs84,Z-A\n")
        let dry = try cli(["replay", "--source", "cam-new", "--dry-run"])
        #expect(dry.hasPrefix("would queue 3 dead letter(s)"), "\(dry)")
        let replayed = try cli(["replay", "--reason", "unknown_source", "--source", "cam-new", "--by", "installer"])
        #expect(replayed.hasPrefix("queued 3 dead letter(s): \(ids.map(String.init).joined(separator: ", "))"), "\(replayed)")
        #expect(try cli(["replay", "--reason", "unknown_source", "--source", "cam-new", "--by", "installer"]).contains("nothing to replay"))

        let restarted = try HubProcess(config: config)
        defer { restarted.stop() }
        try await waitUntil("the replayed messages processed", timeout: 60) {
            try count("SELECT COUNT(*) FROM events WHERE key LIKE 'camera:cam-new:%'") == 2
                && count("SELECT COUNT(*) FROM dead_letters WHERE source = 'cam-new' AND reason = 'missing_field'") == 1
                && (storeStatus(storePath)?.inboxPending ?? 1) == 0
        }
        // Replaying again, by filter or by id, while the hub runs: nothing is queued.
        #expect(try cli(["replay", "--reason", "unknown_source", "--source", "cam-new", "--by", "installer"]).contains("nothing to replay"))
        #expect(try cli(["replay", "--ids"] + ids.map(String.init) + ["--by", "installer"]).contains("nothing to replay"))

        #expect(try count("SELECT COUNT(*) FROM events WHERE key LIKE 'camera:cam-new:%'") == 2, "each event exactly once")
        #expect(try count("SELECT SUM(occurrences) FROM risk_items WHERE source = 'cam-new'") == 2)
        #expect(try count("SELECT COUNT(*) FROM dead_letters WHERE source = 'cam-new' AND replayed_by = 'installer' AND replay_key IS NOT NULL") == 3,
                "the dead letters are marked replayed")
        #expect(try count("SELECT COUNT(*) FROM audit_log WHERE action = 'dead_letter.replayed' AND actor = 'installer'") == 3)
        let pending = try cli(["list", "--source", "cam-new", "--pending"])
        #expect(pending.contains("missing_field") && !pending.contains("unknown_source"), "\(pending)")
        #expect(try count("""
            SELECT COUNT(*) FROM dead_letters n JOIN dead_letters o ON o.replay_key = n.inbox_key
            WHERE n.reason = 'missing_field' AND o.id = \(ids[2])
            """) == 1, "the failure again is a new dead letter of the replayed copy, with its new reason")
        #expect(restarted.stop() == 0, "its log:\n\(restarted.log)")
    }
}
