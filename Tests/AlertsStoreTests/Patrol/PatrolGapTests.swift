@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import StoreTestSupport

/// Gap detection on event time (`PatrolStage.checkin`): a check-in declares
/// missed the undecided slots of its device's routes whose grace ended
/// between the device's previous check-in and this one. The hub's clock
/// (`ManualClock`) stands at 13:00, after every event time, as in a drill run
/// faster than real time: the wall-clock scheduler has nothing to decide.
@Suite("Patrol gap detection on event time")
struct PatrolGapTests {
    /// rt-h: cp-a every hour 08:00–12:00; grace 10 (on time until :10), early 5, window 30 (late until :30).
    static let hourly = PatrolStageTests.hourly

    static func slot(_ hour: String) -> String { "rt-h:cp-a:2025-03-03T\(hour)+08:00" }

    static func checkin(_ id: String, at time: String, device: String = "dev-1", checkpoint: String = "cp-a") -> InboxMessage {
        PatrolHarness.checkin(device, id: id, checkpoint: checkpoint, at: "2025-03-03T\(time)")
    }

    /// The reminder letter of `hour`'s slot as published on `{prefix}/out/slips`.
    static func letter(_ id: String, item: String, hour: String, state: String, issued: String, updated: String) -> String {
        let h = Int(hour.prefix(2))!
        let closed = state == "closed" ? "\"2025-03-03T\(updated).000Z\"" : "null"
        return #"{"case_id":null,"category":"missed_checkpoint","close_reason":null,"closed_at":\#(closed),"id":"\#(id)","issued_at":"2025-03-03T\#(issued).000Z","kind":"reminder","occurrences":1,"risk_item_ids":["\#(item)"],"#
            + #""severity":3,"state":"\#(state)","text":"提醒函 \#(id)：网格员 gw-1（设备 dev-1，路线 rt-h rt-h）未按时巡查检查点 cp-a（cp-a，网格 Z-1）。应到时间 2025-03-03 \#(hour)，宽限 10 分钟（至 \#(h):10）仍未签到，记为漏巡。请 冲赛康社区居委会 督促核实；\#(h):30 前补签的记为迟到并自动销号。","#
            + #""unit":"冲赛康社区居委会","updated_at":"2025-03-03T\#(updated).000Z","worker":"gw-1","zone":"Z-1"}"#
    }

    func audit(_ h: PatrolHarness) throws -> [String] {
        try h.store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT subject, action FROM audit_log WHERE subject LIKE 'TX-%' ORDER BY id").map { "\($0[0] as String) \($0[1] as String)" }
        }
    }

    /// Slot → (status, its letter's state or "-").
    func verdicts(_ h: PatrolHarness) throws -> [String: String] {
        try h.store.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: """
                SELECT p.id, p.status, COALESCE(s.state, '-') FROM patrol_slots p LEFT JOIN slips s ON s.id = p.slip_id
                """).map { ($0[0] as String, "\($0[1] as String) \($0[2] as String)") })
        }
    }

    @Test("On time, missed between two check-ins, out of order, duplicates: exact slots, records, items, letters and audit")
    func routeWithGaps() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.hourly, at: PatrolHarness.local("2025-03-03T13:00:00"))
        // A fresh store: the scheduler starts evaluating at 13:00, after every slot below.
        #expect(try h.tick(at: "2025-03-03T13:00:00") == PatrolTickResult())

        // 09:05, the device's first check-in: on time for 09:00. Nothing before it is decided (08:00 stays open).
        try h.process(at: "2025-03-03T13:00:10", [Self.checkin("k-1", at: "09:05:00")])
        #expect(try h.store.slips(kind: .reminder).isEmpty)

        // 12:05, on time for 12:00: 10:00 and 11:00 ended their grace (10:10, 11:10) after 09:05 with nothing → missed now.
        try h.process(at: "2025-03-03T13:00:20", [Self.checkin("k-2", at: "12:05:00")])
        #expect(try h.outbox() == [
            Self.letter("TX-00000001", item: "RI-00000001", hour: "10:00", state: "open", issued: "05:00:20", updated: "05:00:20"),
            Self.letter("TX-00000002", item: "RI-00000002", hour: "11:00", state: "open", issued: "05:00:20", updated: "05:00:20"),
        ])

        // 11:20 arrives after 12:05 (out of order): late for 11:00, which closes that miss; nothing new is missed.
        try h.process(at: "2025-03-03T13:00:30", [Self.checkin("k-3", at: "11:20:00")])
        // Duplicates: 12:05 redelivered (same event key), and 11:20 sent again under a new id (same time).
        let dup = try h.process(at: "2025-03-03T13:00:40", [Self.checkin("k-2", at: "12:05:00"), Self.checkin("k-3b", at: "11:20:00")])
        #expect(dup.duplicates == 1)
        #expect(dup.events == 1)
        // The scheduler, later, has nothing left to do.
        #expect(try h.tick(at: "2025-03-03T13:05:00").missed.isEmpty)

        #expect(try verdicts(h) == [
            Self.slot("09:00"): "on_time -",
            Self.slot("10:00"): "missed open",
            Self.slot("11:00"): "late closed",
            Self.slot("12:00"): "on_time -",
        ])
        #expect(try h.records() == [
            "checkin on_time cp-a \(Self.slot("09:00"))",
            "missed missed cp-a \(Self.slot("10:00"))",
            "missed missed cp-a \(Self.slot("11:00"))",
            "checkin on_time cp-a \(Self.slot("12:00"))",
            "checkin late cp-a \(Self.slot("11:00"))",
            "checkin late cp-a \(Self.slot("11:00"))",
        ])
        let items = try h.store.riskItems().sorted { $0.id < $1.id }
        #expect(items.map(\.id) == ["RI-00000001", "RI-00000002"])
        #expect(items.map(\.category) == [.missedCheckpoint, .missedCheckpoint])
        #expect(items.map(\.state) == [.open, .closed])
        #expect(items.map(\.lifecycle) == [Self.slot("10:00"), Self.slot("11:00")])
        #expect(items.map(\.firstSeen) == [PatrolHarness.local("2025-03-03T10:10:00"), PatrolHarness.local("2025-03-03T11:10:00")])
        #expect(items[1].lastSeen == PatrolHarness.local("2025-03-03T11:20:00"))
        // Published: both letters, then 11:00's closed under the same id; nothing for the duplicates.
        #expect(try h.outbox() == [
            Self.letter("TX-00000001", item: "RI-00000001", hour: "10:00", state: "open", issued: "05:00:20", updated: "05:00:20"),
            Self.letter("TX-00000002", item: "RI-00000002", hour: "11:00", state: "open", issued: "05:00:20", updated: "05:00:20"),
            Self.letter("TX-00000002", item: "RI-00000002", hour: "11:00", state: "closed", issued: "05:00:20", updated: "05:00:30"),
        ])
        #expect(try audit(h) == ["TX-00000001 slip.issued", "TX-00000002 slip.issued", "TX-00000002 slip.closed"])
        let triggers = try h.store.writer.read { try String.fetchAll($0, sql: "SELECT trigger FROM slips ORDER BY id") }
        #expect(triggers == ["patrol:\(Self.slot("10:00")):missed", "patrol:\(Self.slot("11:00")):missed"])
    }

    @Test("Arrival order does not change the verdicts: in order, reversed and shuffled give the same slots and open letters",
          arguments: [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]])
    func arrivalOrder(order: [Int]) throws {
        // 08:05 on time, 10:20 late, 11:05 on time, then two unscheduled ones (12:45, 12:50: 12:00's window closed at 12:30).
        // 09:00 and 12:00 lie between check-ins with nothing: missed, whatever the order.
        let checkins = [("a", "08:05:00"), ("b", "10:20:00"), ("c", "11:05:00"), ("d", "12:45:00"), ("e", "12:50:00")]
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.hourly, at: PatrolHarness.local("2025-03-03T14:00:00"))
        for (n, i) in order.enumerated() {
            try h.process(at: "2025-03-03T14:00:\(10 + n)", [Self.checkin(checkins[i].0, at: checkins[i].1)])
        }
        #expect(try h.slots() == [
            Self.slot("08:00"): "on_time",
            Self.slot("09:00"): "missed",
            Self.slot("10:00"): "late",
            Self.slot("11:00"): "on_time",
            Self.slot("12:00"): "missed",
        ], "order \(order)")
        // Open letters and items: exactly the two misses, one each.
        let open = try h.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT p.id FROM patrol_slots p JOIN slips s ON s.id = p.slip_id WHERE s.state = 'open' ORDER BY p.id")
        }
        #expect(open == [Self.slot("09:00"), Self.slot("12:00")])
        #expect(try h.store.riskItems().filter { $0.state == .open }.compactMap(\.lifecycle).sorted() == [Self.slot("09:00"), Self.slot("12:00")])
        // A letter issued on the way (10:00, when 10:20 came after a later check-in) is closed: its slot is covered.
        let closed = try h.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT p.status FROM patrol_slots p JOIN slips s ON s.id = p.slip_id WHERE s.state = 'closed'")
        }
        #expect(closed.allSatisfy { $0 == "late" || $0 == "on_time" })
    }

    @Test("Gap detection and the scheduler are idempotent with each other: whichever comes first decides")
    func withTheScheduler() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.hourly, at: PatrolHarness.local("2025-03-03T08:00:00"))
        try h.tick(at: "2025-03-03T08:00:00")
        try h.process(at: "2025-03-03T08:05:30", [Self.checkin("k-1", at: "08:05:00")])
        // The scheduler first: 09:00 missed at 09:11.
        #expect(try h.tick(at: "2025-03-03T09:11:00").letters == ["TX-00000001"])
        // 11:05 (on time for 11:00): 09:00 is decided already; 10:00 is missed by gap detection.
        try h.process(at: "2025-03-03T11:05:30", [Self.checkin("k-2", at: "11:05:00")])
        #expect(try verdicts(h) == [
            Self.slot("08:00"): "on_time -", Self.slot("09:00"): "missed open", Self.slot("10:00"): "missed open", Self.slot("11:00"): "on_time -",
        ])
        // The tick over 10:10 and 11:10 finds both decided.
        let t = try h.tick(at: "2025-03-03T11:15:00")
        #expect(t.evaluated == 2)
        #expect(t.missed.isEmpty)
        // Even with its position lost, it issues nothing twice.
        try h.store.writer.write { try $0.execute(sql: "UPDATE patrol_scheduler SET evaluated_until = ?", arguments: [PatrolHarness.local("2025-03-03T08:00:00").timeIntervalSince1970]) }
        #expect(try h.tick(at: "2025-03-03T11:15:00").missed.isEmpty)
        let slips = try h.store.slips(kind: .reminder).sorted { $0.id < $1.id }
        #expect(slips.map(\.id) == ["TX-00000001", "TX-00000002"])
        #expect(slips.map(\.issuedAt) == [PatrolHarness.local("2025-03-03T09:11:00"), PatrolHarness.local("2025-03-03T11:05:30")])
        #expect(try h.store.riskItems().count == 2)
        #expect(try h.outbox().count == 2)
    }

    static let twoDevices = """
        checkpoints:
          - {id: cp-a, zone: Z-1, location: {lat: 29.65, lon: 91.13}}
          - {id: cp-b, zone: Z-2, location: {lat: 29.66, lon: 91.14}}
        routes:
          - {id: rt-a, device: dev-1, checkpoints: [cp-a], schedule: {every_minutes: 60, from: "08:00", to: "12:00"}, grace_minutes: 10, early_minutes: 5, window_minutes: 30}
          - {id: rt-b, device: dev-2, checkpoints: [cp-b], schedule: {every_minutes: 60, from: "08:00", to: "12:00"}, grace_minutes: 10, early_minutes: 5, window_minutes: 30}
        """

    @Test("Only the device's own check-ins close its gaps; dead-lettered and unscheduled check-ins")
    func perDevice() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.twoDevices, at: PatrolHarness.local("2025-03-03T13:00:00"))
        try h.process(at: "2025-03-03T13:00:10", [Self.checkin("a-1", at: "08:05:00"), Self.checkin("b-1", at: "08:04:00", device: "dev-2", checkpoint: "cp-b")])
        // dev-2 at 12:04: its own 09:00–11:00 are missed; dev-1's are not (dev-1 has not been heard from since 08:05).
        try h.process(at: "2025-03-03T13:00:20", [Self.checkin("b-2", at: "12:04:00", device: "dev-2", checkpoint: "cp-b")])
        // A dead letter (unknown checkpoint) from dev-1 at 12:00 changes nothing.
        let bad = try h.process(at: "2025-03-03T13:00:30", [Self.checkin("a-2", at: "12:00:00", checkpoint: "cp-zz")])
        #expect(bad.deadLetters == 1)
        #expect(try h.slots() == [
            "rt-a:cp-a:2025-03-03T08:00+08:00": "on_time",
            "rt-b:cp-b:2025-03-03T08:00+08:00": "on_time",
            "rt-b:cp-b:2025-03-03T09:00+08:00": "missed",
            "rt-b:cp-b:2025-03-03T10:00+08:00": "missed",
            "rt-b:cp-b:2025-03-03T11:00+08:00": "missed",
            "rt-b:cp-b:2025-03-03T12:00+08:00": "on_time",
        ])
        // An unscheduled check-in (dev-1 at cp-a, 12:45: no slot open) still shows the device was out: dev-1's gap is decided.
        try h.process(at: "2025-03-03T13:00:40", [Self.checkin("a-3", at: "12:45:00")])
        #expect(try h.records().last == "checkin unscheduled cp-a -")
        #expect(try h.slots().filter { $0.key.hasPrefix("rt-a") && $0.value == "missed" }.keys.sorted() == [
            "rt-a:cp-a:2025-03-03T09:00+08:00", "rt-a:cp-a:2025-03-03T10:00+08:00", "rt-a:cp-a:2025-03-03T11:00+08:00", "rt-a:cp-a:2025-03-03T12:00+08:00",
        ])
        #expect(try h.store.slips(kind: .reminder).count == 7)
        #expect(Set(try h.store.slips(kind: .reminder).map(\.worker)) == ["gw-1", "gw-2"])
    }
}
