import Alerts
import Foundation
import GRDB
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

    /// Hub clock starts, local times in Asia/Shanghai: a morning; 00:35, when a plan
    /// starting the day before the round would also hold the previous day's round;
    /// 00:25, a round that starts before midnight with its missed stop due after it.
    static let clockStarts = ["2026-03-11T10:30:00+08:00", "2026-03-11T00:35:00+08:00", "2026-03-11T00:25:00+08:00"]

    @Test("Check-ins over MQTT → patrol records; a missed slot → one reminder letter on out/slips (whatever the time of day)", arguments: clockStarts)
    func checkinsAndReminderLetter(clockStart: String) async throws {
        let tz = TimeZone(identifier: "Asia/Shanghai")!
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        // The hub runs on a clock that starts at `clockStart` (at wall speed), so the
        // test means the same at any hour it runs.
        let start = try HubClock.parse(clockStart + "@1").start
        let clock = HubClock(simulation: .init(start: start, speed: 1, anchor: Date()))
        // One round that started 30 minutes before the clock's start: cp-b due 10 minutes
        // into it (its grace long over: missed at the first tick), cp-a 35 minutes into it
        // (5 minutes after the start, its grace far off, so no tick can decide it before
        // its check-in is processed, however slow the machine).
        let round = start.addingTimeInterval(-1800)
        let hm = cal.dateComponents([.hour, .minute], from: round)
        let day = cal.dateComponents([.year, .month, .day], from: round)
        let roundDay = String(format: "%04d-%02d-%02d", day.year!, day.month!, day.day!)
        let plan = """
            effective_from: \(roundDay)
            scheduler: {tick_seconds: 1, settle_seconds: 4}
            checkpoints:
              - {id: cp-a, name: North gate, zone: Z-A, location: {lat: 29.6531, lon: 91.1342}}
              - {id: cp-b, name: Market, zone: Z-A, location: {lat: 29.6538, lon: 91.1318}}
            routes:
              - id: rt-1
                name: Market round
                device: dev-1
                checkpoints: [{id: cp-b, offset_minutes: 10}, {id: cp-a, offset_minutes: 35}]
                schedule: {times: ["\(String(format: "%02d:%02d", hm.hour!, hm.minute!))"]}
                grace_minutes: 5
                early_minutes: 10
                window_minutes: 20
            """
        try await withLiveHub(devicesCSV: Self.devicesCSV, clock: clock, configure: { c in
            c.patrolFile = (c.dataDir as NSString).appendingPathComponent("patrol.yaml")
            try! plan.write(toFile: c.patrolFile!, atomically: true, encoding: .utf8)
        }) { broker, hub, pub in
            let watcher = try OutputWatcher(port: broker.port)
            defer { watcher.stop() }
            try await watcher.waitSubscribed(publisher: pub)
            func letters() -> [JSONValue] { watcher.messages.filter { $0.topic == "patrolhub/v1/out/slips" }.map(\.json) }

            func checkin(_ device: String, _ id: String, _ cp: String, _ t: Date, extra: String = "") -> (String, [UInt8]) {
                ("patrolhub/v1/device/\(device)/checkin", Array(#"{"id":"\#(id)","checkpoint":"\#(cp)","time":"\#(t.rfc3339)","method":"nfc"\#(extra)}"#.utf8))
            }
            // cp-a on time (2 minutes before the start, 3 before its due time), 11 m from its tag;
            // an unknown checkpoint; a device without a route.
            try await pub.publishAll([
                checkin("dev-1", "c-1", "cp-a", start.addingTimeInterval(-120), extra: #","location":{"lat":29.6532,"lon":91.1342}"#),
                checkin("dev-1", "c-2", "cp-zz", start.addingTimeInterval(-110)),
                checkin("dev-2", "c-3", "cp-a", start.addingTimeInterval(-100)),
            ])
            try await hub.waitProcessed(received: 3)
            // cp-b (due round + 10 min, grace 5) had no check-in: after the settle time the scheduler issues one letter.
            try await waitUntil("reminder letter published") { letters().count >= 1 }
            try await waitUntil("outbox drained") { try hub.store.outbox(limit: 10).isEmpty }

            #expect(letters().count == 1, "\(letters().map(\.serialized))")
            let json = try #require(letters().first)
            #expect(json["id"] == .string("TX-00000001"))
            #expect(json["kind"] == .string("reminder"))
            #expect(json["category"] == .string("missed_checkpoint"))
            #expect(json["unit"] == .string("冲赛康社区居委会"))
            #expect(json["worker"] == .string("gw-1"))
            #expect(json["zone"] == .string("Z-A"))
            #expect(json["risk_item_ids"] == .array([.string("RI-00000001")]))
            let dueAt = round.addingTimeInterval(600)
            let due = cal.dateComponents([.year, .month, .day, .hour, .minute], from: dueAt)
            let dueText = String(format: "%04d-%02d-%02d %02d:%02d", due.year!, due.month!, due.day!, due.hour!, due.minute!)
            #expect(json["text"]?.stringValue?.contains("未按时巡查检查点 cp-b（Market，网格 Z-A）") == true)
            #expect(json["text"]?.stringValue?.contains("应到时间 \(dueText)，宽限 5 分钟") == true, "\(json["text"]?.stringValue ?? "")")

            let (slots, records) = try await hub.store.writer.read { db in
                (try Row.fetchAll(db, sql: "SELECT checkpoint, status, day FROM patrol_slots ORDER BY due_at").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" },
                 try Row.fetchAll(db, sql: "SELECT kind, status, checkpoint FROM patrol_records ORDER BY id").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" })
            }
            // Both slots belong to the round's day, also when a stop is due after midnight.
            #expect(slots == ["cp-b missed \(roundDay)", "cp-a on_time \(roundDay)"])
            // In either order: the first tick may come before or after the check-ins are processed.
            #expect(records.sorted() == ["checkin on_time cp-a", "missed missed cp-b"])
            let status = try hub.store.status()
            #expect(status.deadLetters == ["unknown_checkpoint": 1, "no_route": 1])
            #expect(status.slips == ["reminder": ["open": 1]])

            // Ticks go on every second: two more evaluations of the scheduler, still exactly one letter.
            func evaluatedUntil() throws -> Double {
                try hub.store.writer.read { try Double.fetchOne($0, sql: "SELECT evaluated_until FROM patrol_scheduler WHERE id = 1") } ?? 0
            }
            let evaluated = try evaluatedUntil()
            try await waitUntil("two more scheduler ticks") { try evaluatedUntil() >= evaluated + 2 }
            try await waitUntil("outbox drained") { try hub.store.outbox(limit: 10).isEmpty }
            #expect(try hub.store.slips(kind: .reminder).count == 1)
            #expect(letters().count == 1)
        }
    }
}
