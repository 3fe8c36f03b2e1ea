import Alerts
import Foundation
import GRDB
import Synchronization
import Testing
@testable import PatrolHub

/// Patrol supervision end to end: check-ins published to a real mosquitto,
/// the hub's pipeline and scheduler, the SQLite store, and the reminder
/// letter on `{prefix}/out/slips` as an integrator's subscriber sees it.
@Suite("Patrol over a real broker", .serialized)
struct PatrolIntegrationTests {
    static let devicesCSV = """
        id,worker,unit,zone
        dev-1,gw-1,冲赛康社区居委会,Z-A
        dev-2,gw-2,八廓社区居委会,Z-B
        """

    @Test("Check-ins over MQTT → patrol records; a missed slot → one reminder letter on out/slips")
    func checkinsAndReminderLetter() async throws {
        let tz = TimeZone(identifier: "Asia/Shanghai")!
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        // One round that started ~30 minutes ago (whole minutes, local time): cp-a due then, cp-b 10 minutes later.
        let round = Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 - 1800) / 60).rounded(.down) * 60)
        let hm = cal.dateComponents([.hour, .minute], from: round)
        let day = cal.dateComponents([.year, .month, .day], from: round.addingTimeInterval(-600))
        let plan = """
            effective_from: \(String(format: "%04d-%02d-%02d", day.year!, day.month!, day.day!))
            scheduler: {tick_seconds: 1, settle_seconds: 4}
            checkpoints:
              - {id: cp-a, name: North gate, zone: Z-A, location: {lat: 29.6531, lon: 91.1342}}
              - {id: cp-b, name: Market, zone: Z-A, location: {lat: 29.6538, lon: 91.1318}}
            routes:
              - id: rt-1
                name: Market round
                device: dev-1
                checkpoints: [cp-a, {id: cp-b, offset_minutes: 10}]
                schedule: {times: ["\(String(format: "%02d:%02d", hm.hour!, hm.minute!))"]}
                grace_minutes: 5
                early_minutes: 5
                window_minutes: 20
            """
        let received = Mutex<[String]>([])
        try await withLiveHub(devicesCSV: Self.devicesCSV, configure: { c in
            c.patrolFile = (c.dataDir as NSString).appendingPathComponent("patrol.yaml")
            try! plan.write(toFile: c.patrolFile!, atomically: true, encoding: .utf8)
        }) { broker, hub, pub in
            var watch = MQTTClient.Options()
            watch.port = broker.port
            watch.clientID = "patrol-watch"
            watch.cleanSession = true
            watch.subscriptions = ["patrolhub/v1/out/slips"]
            let watcher = MQTTClient(options: watch, logger: testLogger) { batch in
                received.withLock { $0.append(contentsOf: batch.map { String(decoding: $0.payload, as: UTF8.self) }) }
                return true
            }
            try watcher.start()
            defer { watcher.stop() }
            try await waitUntil("watcher connected") { watcher.isConnected }

            func checkin(_ device: String, _ id: String, _ cp: String, _ t: Date, extra: String = "") -> (String, [UInt8]) {
                ("patrolhub/v1/device/\(device)/checkin", Array(#"{"id":"\#(id)","checkpoint":"\#(cp)","time":"\#(t.rfc3339)","method":"nfc"\#(extra)}"#.utf8))
            }
            // cp-a on time, 11 m from its tag; an unknown checkpoint; a device without a route.
            try await pub.publishAll([
                checkin("dev-1", "c-1", "cp-a", round.addingTimeInterval(120), extra: #","location":{"lat":29.6532,"lon":91.1342}"#),
                checkin("dev-1", "c-2", "cp-zz", round.addingTimeInterval(130)),
                checkin("dev-2", "c-3", "cp-a", round.addingTimeInterval(140)),
            ])
            try await hub.waitProcessed(received: 3)
            // cp-b (due round + 10 min, grace 5) had no check-in: after the settle time the scheduler issues one letter.
            try await waitUntil("reminder letter published") { received.withLock { $0.count } >= 1 }
            try await waitUntil("outbox drained") { try hub.store.outbox(limit: 10).isEmpty }

            let letters = received.withLock { $0 }
            #expect(letters.count == 1)
            let json = try JSONParser.parse(Array(letters[0].utf8))
            #expect(json["id"] == .string("TX-00000001"))
            #expect(json["kind"] == .string("reminder"))
            #expect(json["category"] == .string("missed_checkpoint"))
            #expect(json["unit"] == .string("冲赛康社区居委会"))
            #expect(json["worker"] == .string("gw-1"))
            #expect(json["zone"] == .string("Z-A"))
            #expect(json["risk_item_ids"] == .array([.string("RI-00000001")]))
            let due = String(format: "%02d:%02d", (hm.hour! * 60 + hm.minute! + 10) / 60 % 24, (hm.minute! + 10) % 60)
            #expect(json["text"]?.stringValue?.contains("未按时巡查检查点 cp-b（Market，网格 Z-A）") == true)
            #expect(json["text"]?.stringValue?.contains("\(due)，宽限 5 分钟") == true)

            let (slots, records) = try await hub.store.writer.read { db in
                (try Row.fetchAll(db, sql: "SELECT checkpoint, status FROM patrol_slots ORDER BY due_at").map { "\($0[0] as String) \($0[1] as String)" },
                 try Row.fetchAll(db, sql: "SELECT kind, status, checkpoint FROM patrol_records ORDER BY id").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" })
            }
            #expect(slots == ["cp-a on_time", "cp-b missed"])
            #expect(records == ["checkin on_time cp-a", "missed missed cp-b"])
            let status = try hub.store.status()
            #expect(status.deadLetters == ["unknown_checkpoint": 1, "no_route": 1])
            #expect(status.slips == ["reminder": ["open": 1]])

            // Ticks go on every second: still exactly one letter.
            try await Task.sleep(for: .seconds(2))
            #expect(received.withLock { $0.count } == 1)
            #expect(try hub.store.slips(kind: .reminder).count == 1)
        }
    }
}
