@testable import AlertsStore
import Foundation
import GRDB
import Synchronization
import Testing
@testable import Alerts
import StoreTestSupport

@Suite("Patrol check-ins and missed checkpoints")
struct PatrolStageTests {
    /// One round at 09:00, four stops 15 minutes apart (`PatrolHarness.fourStops`).
    static let fourStops = PatrolHarness.fourStops

    static func letterB(state: String, updated: String) -> String {
        let closed = state == "closed" ? "\"\(updated)\"" : "null"
        return #"{"case_id":null,"category":"missed_checkpoint","close_reason":null,"closed_at":\#(closed),"id":"TX-00000001","issued_at":"2025-03-03T01:26:00.000Z","kind":"reminder","occurrences":1,"risk_item_ids":["RI-00000001"],"#
            + #""severity":3,"state":"\#(state)","text":"提醒函 TX-00000001：网格员 gw-1（设备 dev-1，路线 rt-1 Morning round）未按时巡查检查点 cp-b（Market，网格 Z-1）。应到时间 2025-03-03 09:15，宽限 10 分钟（至 09:25）仍未签到，记为漏巡。请 冲赛康社区居委会 督促核实；10:15 前补签的记为迟到并自动销号。","#
            + #""unit":"冲赛康社区居委会","updated_at":"\#(updated)","worker":"gw-1","zone":"Z-1"}"#
    }

    /// cp-c's letter, issued by the 09:46 check-in's gap detection (processed at 09:46:30).
    static let letterC = #"{"case_id":null,"category":"missed_checkpoint","close_reason":null,"closed_at":null,"id":"TX-00000002","issued_at":"2025-03-03T01:46:30.000Z","kind":"reminder","occurrences":1,"risk_item_ids":["RI-00000002"],"#
        + #""severity":3,"state":"open","text":"提醒函 TX-00000002：网格员 gw-1（设备 dev-1，路线 rt-1 Morning round）未按时巡查检查点 cp-c（School，网格 Z-1）。应到时间 2025-03-03 09:30，宽限 10 分钟（至 09:40）仍未签到，记为漏巡。请 冲赛康社区居委会 督促核实；10:30 前补签的记为迟到并自动销号。","#
        + #""unit":"冲赛康社区居委会","updated_at":"2025-03-03T01:46:30.000Z","worker":"gw-1","zone":"Z-1"}"#

    @Test("4 slots: on time, late after a miss (item and letter closed), missed (letter once), outside radius (flagged)")
    func fourSlots() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        #expect(try h.tick(at: "2025-03-03T08:00:00").from == nil, "the first tick on a new store only sets where evaluation starts")

        // cp-a: on time, 11 m from the tag.
        try h.process(at: "2025-03-03T09:05:30", [PatrolHarness.checkin("dev-1", id: "c-1", checkpoint: "cp-a", at: "2025-03-03T09:05:00", lat: 29.6501, lon: 91.1300)])
        // 09:26: cp-b's grace ended at 09:25 with nothing → missed, a letter.
        let t1 = try h.tick(at: "2025-03-03T09:26:00")
        #expect(t1.evaluated == 2)
        #expect(t1.missed == ["rt-1:cp-b:2025-03-03T09:15+08:00"])
        #expect(t1.letters == ["TX-00000001"])
        #expect(try h.outbox() == [Self.letterB(state: "open", updated: "2025-03-03T01:26:00.000Z")])
        // cp-b checked in at 09:40 (within its window, which closes 10:15): late; the miss is undone.
        try h.process(at: "2025-03-03T09:41:00", [PatrolHarness.checkin("dev-1", id: "c-2", checkpoint: "cp-b", at: "2025-03-03T09:40:00", lat: 29.6510, lon: 91.1310)])
        // cp-d checked in on time but 305 m away (GPS): flagged. The check-in
        // comes after cp-c's grace ended (09:40) with nothing there: gap
        // detection declares cp-c missed before the scheduler's next tick.
        try h.process(at: "2025-03-03T09:46:30", [PatrolHarness.checkin("dev-1", id: "c-3", checkpoint: "cp-d", at: "2025-03-03T09:46:00", lat: 29.6530, lon: 91.1361, method: "gps")])
        // 10:00: cp-c is decided already (missed), cp-d has its (flagged) verdict: the tick does nothing.
        let t2 = try h.tick(at: "2025-03-03T10:00:00")
        #expect(t2.missed.isEmpty)
        #expect(t2.evaluated == 2)
        #expect(try h.tick(at: "2025-03-03T11:00:00").missed.isEmpty)

        #expect(try h.slots() == [
            "rt-1:cp-a:2025-03-03T09:00+08:00": "on_time",
            "rt-1:cp-b:2025-03-03T09:15+08:00": "late",
            "rt-1:cp-c:2025-03-03T09:30+08:00": "missed",
            "rt-1:cp-d:2025-03-03T09:45+08:00": "outside_radius",
        ])
        #expect(try h.records() == [
            "checkin on_time cp-a rt-1:cp-a:2025-03-03T09:00+08:00",
            "missed missed cp-b rt-1:cp-b:2025-03-03T09:15+08:00",
            "checkin late cp-b rt-1:cp-b:2025-03-03T09:15+08:00",
            "missed missed cp-c rt-1:cp-c:2025-03-03T09:30+08:00",
            "checkin outside_radius cp-d rt-1:cp-d:2025-03-03T09:45+08:00",
        ])
        let distance = try h.store.writer.read { try Double.fetchOne($0, sql: "SELECT distance_m FROM patrol_slots WHERE checkpoint = 'cp-d'") }
        #expect(distance.map { Int($0.rounded()) } == 300)
        // Risk items: cp-b's closed by the late check-in, cp-c's open; both missed_checkpoint of dev-1 in Z-1.
        let items = try h.store.riskItems().sorted { $0.id < $1.id }
        #expect(items.map(\.id) == ["RI-00000001", "RI-00000002"])
        #expect(items.map(\.state) == [.closed, .open])
        #expect(items.map(\.category) == [.missedCheckpoint, .missedCheckpoint])
        #expect(items.map(\.lifecycle) == ["rt-1:cp-b:2025-03-03T09:15+08:00", "rt-1:cp-c:2025-03-03T09:30+08:00"])
        #expect(items[0].firstSeen == PatrolHarness.local("2025-03-03T09:25:00"))
        #expect(items[0].lastSeen == PatrolHarness.local("2025-03-03T09:40:00"))
        // The letters as published: cp-b's issued then closed (same id), cp-c's issued.
        #expect(try h.outbox() == [
            Self.letterB(state: "open", updated: "2025-03-03T01:26:00.000Z"),
            Self.letterB(state: "closed", updated: "2025-03-03T01:41:00.000Z"),
            Self.letterC,
        ])
        #expect(try h.store.slips(kind: .reminder).map(\.state) == [.open, .closed])
        // Check-ins are accepted events too (the event key absorbs redeliveries).
        let before = try h.store.status()
        let again = try h.process(at: "2025-03-03T11:01:00", [PatrolHarness.checkin("dev-1", id: "c-2", checkpoint: "cp-b", at: "2025-03-03T09:40:00")])
        #expect(again.duplicates == 1)
        let after = try h.store.status()
        #expect(after.riskItems == before.riskItems)
        #expect(after.slips == before.slips)
        #expect(after.deadLetters.isEmpty)
        #expect(try h.records().count == 5)
    }

    @Test("A missed slot's letter is issued once, also across a restart and a lost watermark")
    func letterOnceAcrossRestart() throws {
        let dir = NSTemporaryDirectory() + "patrol-restart-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/hub.sqlite"
        let first = try PatrolHarness(store: DisputeStore(path: path), planYAML: Self.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        try first.tick(at: "2025-03-03T08:00:00")
        #expect(try first.tick(at: "2025-03-03T09:41:00").letters == ["TX-00000001", "TX-00000002", "TX-00000003"])

        // A second store open on the same file: a restarted hub.
        let second = try first.restarted(store: DisputeStore(path: path), planYAML: Self.fourStops)
        #expect(try second.tick(at: "2025-03-03T09:41:00").letters.isEmpty)
        #expect(try second.tick(at: "2025-03-03T10:30:00").letters == ["TX-00000004"])
        // Even if the scheduler's position were lost, nothing is issued twice.
        try second.store.writer.write { try $0.execute(sql: "UPDATE patrol_scheduler SET evaluated_until = ?", arguments: [PatrolHarness.local("2025-03-03T08:00:00").timeIntervalSince1970]) }
        let replay = try second.tick(at: "2025-03-03T10:30:00")
        #expect(replay.evaluated == 4)
        #expect(replay.missed.isEmpty)
        #expect(try second.store.slips(kind: .reminder).count == 4)
        #expect(try second.store.riskItems().count == 4)
        #expect(try second.outbox().count == 4)
    }

    static let hourly = """
        checkpoints:
          - {id: cp-a, zone: Z-1, location: {lat: 29.65, lon: 91.13}}
        routes:
          - id: rt-h
            device: dev-1
            checkpoints: [cp-a]
            schedule: {every_minutes: 60, from: "08:00", to: "12:00"}
            grace_minutes: 10
            early_minutes: 5
            window_minutes: 30
        """

    @Test("Slots due while the hub was down are evaluated once, on start")
    func downtime() throws {
        let store = try DisputeStore.inMemory()
        let before = try PatrolHarness(store: store, planYAML: Self.hourly, at: PatrolHarness.local("2025-03-03T07:00:00"))
        try before.tick(at: "2025-03-03T07:00:00")
        try before.process(at: "2025-03-03T08:06:00", [PatrolHarness.checkin("dev-1", id: "k-1", checkpoint: "cp-a", at: "2025-03-03T08:05:00")])
        try before.tick(at: "2025-03-03T08:06:00")
        // Down from 08:06 to 12:30; the new processor's first tick covers (08:06, 12:30].
        let after = try before.restarted(planYAML: Self.hourly)
        let first = try after.tick(at: "2025-03-03T12:30:00")
        #expect(first.from == PatrolHarness.local("2025-03-03T08:06:00"))
        #expect(first.evaluated == 5)
        #expect(first.missed == ["rt-h:cp-a:2025-03-03T09:00+08:00", "rt-h:cp-a:2025-03-03T10:00+08:00", "rt-h:cp-a:2025-03-03T11:00+08:00", "rt-h:cp-a:2025-03-03T12:00+08:00"])
        #expect(try after.tick(at: "2025-03-03T12:30:00") == PatrolTickResult())
        #expect(try after.tick(at: "2025-03-03T12:31:00").missed.isEmpty)
        #expect(try after.tick(at: "2025-03-04T07:00:00").missed.isEmpty, "nothing is due overnight")
        #expect(try store.slips(kind: .reminder).count == 4)
        #expect(Set(try after.slots().values) == ["on_time", "missed"])
    }

    @Test("effective_from: the first tick on a new store evaluates from the plan's first day")
    func effectiveFrom() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: "effective_from: 2025-03-03\n" + Self.hourly, at: PatrolHarness.local("2025-03-03T10:15:00"))
        let t = try h.tick(at: "2025-03-03T10:15:00")
        #expect(t.missed == ["rt-h:cp-a:2025-03-03T08:00+08:00", "rt-h:cp-a:2025-03-03T09:00+08:00", "rt-h:cp-a:2025-03-03T10:00+08:00"])
    }

    @Test("Bad check-ins: unknown checkpoint, device without a route, time far in the future → one clear dead letter each, nothing else")
    func badCheckins() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        try h.tick(at: "2025-03-03T08:00:00")
        try h.process(at: "2025-03-03T09:05:30", [PatrolHarness.checkin("dev-1", id: "ok-1", checkpoint: "cp-a", at: "2025-03-03T09:05:00")])
        let before = try h.store.status()
        let r = try h.process(at: "2025-03-03T09:16:00", [
            PatrolHarness.checkin("dev-1", id: "bad-1", checkpoint: "cp-zz", at: "2025-03-03T09:15:00"),
            PatrolHarness.checkin("dev-2", id: "bad-2", checkpoint: "cp-b", at: "2025-03-03T09:15:00"),
            PatrolHarness.checkin("dev-1", id: "bad-3", checkpoint: "cp-b", at: "2025-03-04T09:15:00"),
        ])
        #expect(r.deadLetters == 3)
        #expect(r.events == 0, "decoded, then refused by the patrol stage: dead letters, not events")
        let letters = try h.store.deadLetters().reversed().map { "\($0.reason): \($0.detail)" }
        #expect(Array(letters) == [
            "unknown_checkpoint: checkpoint 'cp-zz' is not in the patrol plan (patrol.yaml); check-in device:dev-1:checkin:bad-1 from device dev-1",
            "no_route: device dev-2 walks no route in the patrol plan (patrol.yaml), so its check-in at cp-b matches no slot",
            "clock_skew: event time 2025-03-04T01:15:00.000Z is 86340 s ahead of the hub's clock (limit 300 s, limits.max_clock_skew_seconds)",
        ])
        let after = try h.store.status()
        #expect(after.riskItems == before.riskItems)
        #expect(after.slips == before.slips)
        #expect(after.deadLetters == ["unknown_checkpoint": 1, "no_route": 1, "clock_skew": 1])
        #expect(try h.records() == ["checkin on_time cp-a rt-1:cp-a:2025-03-03T09:00+08:00"])
        #expect(try h.slots() == ["rt-1:cp-a:2025-03-03T09:00+08:00": "on_time"])
        let events = try h.store.writer.read { try String.fetchAll($0, sql: "SELECT key FROM events ORDER BY key") }
        #expect(events == ["device:dev-1:checkin:ok-1"])
        // The scheduler goes on as if the bad check-ins never came: cp-b is missed.
        #expect(try h.tick(at: "2025-03-03T09:26:00").missed == ["rt-1:cp-b:2025-03-03T09:15+08:00"])
    }

    @Test("A refused check-in's key is recorded again only for a copy the store takes as new: keys differing only in Unicode normalisation do not stop the pipeline")
    func refusedCheckinAndLookAlikeKeys() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}" // equal as Swift strings, different bytes
        let r = try h.process(at: "2025-03-03T09:05:30", [
            PatrolHarness.checkin("dev-1", id: composed, checkpoint: "cp-a", at: "2025-03-03T09:05:00"),
            PatrolHarness.checkin("dev-1", id: decomposed, checkpoint: "cp-zz", at: "2025-03-03T09:05:10"), // refused
            PatrolHarness.checkin("dev-1", id: composed, checkpoint: "cp-a", at: "2025-03-03T09:05:00"),   // a redelivery
            PatrolHarness.checkin("dev-1", id: decomposed, checkpoint: "cp-b", at: "2025-03-03T09:05:20"), // the refused key, now fine
        ])
        #expect(r.deadLetters == 1)
        #expect(r.duplicates == 1)
        #expect(r.events == 2)
        let keys = try h.store.writer.read { try Data.fetchAll($0, sql: "SELECT CAST(key AS BLOB) FROM events ORDER BY key") }
        #expect(Set(keys) == [Data("device:dev-1:checkin:\(composed)".utf8), Data("device:dev-1:checkin:\(decomposed)".utf8)])
    }

    @Test("Unscheduled check-ins are recorded, never counted for a slot")
    func unscheduled() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: Self.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        try h.process(at: "2025-03-03T13:00:00", [PatrolHarness.checkin("dev-1", id: "u-1", checkpoint: "cp-a", at: "2025-03-03T12:59:00")])
        #expect(try h.records() == ["checkin unscheduled cp-a -"])
        #expect(try h.slots().isEmpty)
    }
}
