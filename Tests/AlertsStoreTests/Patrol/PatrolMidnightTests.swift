@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import StoreTestSupport

/// The missed-checkpoint scheduler across local midnight: a round that
/// starts before midnight has stops due after it; its slots belong to the
/// round's day, are decided once each by the ticks on either side of
/// midnight, and the next night's round is a round of its own.
@Suite("Patrol scheduler across midnight")
struct PatrolMidnightTests {
    /// A night round at 23:40 every day, four stops 15 minutes apart (23:40, 23:55, 00:10, 00:25).
    static let nightRound = """
        checkpoints:
          - {id: cp-a, name: North gate, zone: Z-1, location: {lat: 29.6500, lon: 91.1300}}
          - {id: cp-b, name: Market, zone: Z-1, location: {lat: 29.6510, lon: 91.1310}}
          - {id: cp-c, name: School, zone: Z-1, location: {lat: 29.6520, lon: 91.1320}}
          - {id: cp-d, name: Temple lane, zone: Z-1, location: {lat: 29.6530, lon: 91.1330}}
        routes:
          - id: rt-n
            name: Night round
            device: dev-1
            checkpoints: [cp-a, {id: cp-b, offset_minutes: 15}, {id: cp-c, offset_minutes: 30}, {id: cp-d, offset_minutes: 45}]
            schedule: {times: ["23:40"]}
            grace_minutes: 10
            early_minutes: 10
            window_minutes: 60
        """

    func days(_ store: DisputeStore) throws -> [String: String] {
        try store.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, day FROM patrol_slots").map { ($0[0] as String, $0[1] as String) })
        }
    }

    @Test("ticks before and after midnight decide each slot of the night round once, in the round's day; the next night is its own round")
    func nightRoundAcrossMidnight() throws {
        let store = try DisputeStore.inMemory()
        let h = try PatrolHarness(store: store, planYAML: Self.nightRound, at: PatrolHarness.local("2025-03-03T23:00:00"))
        #expect(try h.tick(at: "2025-03-03T23:00:00").from == nil)
        try h.process(at: "2025-03-03T23:41:30", [PatrolHarness.checkin("dev-1", id: "n-1", checkpoint: "cp-a", at: "2025-03-03T23:41:00")])

        // Before midnight: cp-a was checked in, cp-b's grace (until 00:05) has not ended.
        let beforeMidnight = try h.tick(at: "2025-03-03T23:59:00")
        #expect(beforeMidnight.evaluated == 1)
        #expect(beforeMidnight.missed == [])

        // Just after midnight: cp-b, due before midnight, is missed now.
        let afterMidnight = try h.tick(at: "2025-03-04T00:06:00")
        #expect(afterMidnight.missed == ["rt-n:cp-b:2025-03-03T23:55+08:00"])
        // cp-c, due 00:10 on the next calendar day, is a stop of the same (Monday's) round.
        let later = try h.tick(at: "2025-03-04T00:21:00")
        #expect(later.missed == ["rt-n:cp-c:2025-03-04T00:10+08:00"])
        // cp-d checked in on time after midnight; cp-b late within its window (the letter closes).
        try h.process(at: "2025-03-04T00:24:30", [PatrolHarness.checkin("dev-1", id: "n-2", checkpoint: "cp-d", at: "2025-03-04T00:24:00")])
        try h.process(at: "2025-03-04T00:30:30", [PatrolHarness.checkin("dev-1", id: "n-3", checkpoint: "cp-b", at: "2025-03-04T00:30:00")])
        #expect(try h.tick(at: "2025-03-04T00:40:00").missed == [])

        #expect(try h.slots() == [
            "rt-n:cp-a:2025-03-03T23:40+08:00": "on_time", "rt-n:cp-b:2025-03-03T23:55+08:00": "late",
            "rt-n:cp-c:2025-03-04T00:10+08:00": "missed", "rt-n:cp-d:2025-03-04T00:25+08:00": "on_time",
        ])
        #expect(Set(try days(store).values) == ["2025-03-03"], "every slot of Monday's round counts on Monday")
        let letters = try store.slips(kind: .reminder).sorted { $0.id < $1.id }
        #expect(letters.map(\.id) == ["TX-00000001", "TX-00000002"])
        #expect(letters.map(\.state) == [.closed, .open])
        #expect(letters[1].text.contains("应到时间 2025-03-04 00:10，宽限 10 分钟（至 00:20）"), "\(letters[1].text)")

        // Tuesday evening: Tuesday's round has not begun; nothing is due.
        #expect(try h.tick(at: "2025-03-04T23:00:00").missed == [])
        // Wednesday 00:40, no check-ins: Tuesday's round is missed, all four stops, once.
        let nextNight = try h.tick(at: "2025-03-05T00:40:00")
        #expect(nextNight.missed == ["rt-n:cp-a:2025-03-04T23:40+08:00", "rt-n:cp-b:2025-03-04T23:55+08:00",
                                     "rt-n:cp-c:2025-03-05T00:10+08:00", "rt-n:cp-d:2025-03-05T00:25+08:00"])
        #expect(try h.tick(at: "2025-03-05T01:00:00").missed == [])
        let all = try days(store)
        #expect(all.filter { $0.key.contains("2025-03-04T23") || $0.key.contains("2025-03-05T") }.values.allSatisfy { $0 == "2025-03-04" })
        #expect(try store.slips(kind: .reminder).count == 6)
    }

    @Test("effective_from: a round that starts the evening before the plan's first day has no slots, also its stops due after midnight")
    func effectiveFromExcludesTheRoundOfTheDayBefore() throws {
        let store = try DisputeStore.inMemory()
        let h = try PatrolHarness(store: store, planYAML: "effective_from: 2025-03-04\n" + Self.nightRound, at: PatrolHarness.local("2025-03-04T00:30:00"))
        #expect(h.plan.slots(on: PatrolPlan.LocalDay("2025-03-03")!).isEmpty, "Monday's round starts before the plan's first day")
        #expect(h.plan.slots(on: PatrolPlan.LocalDay("2025-03-04")!).map(\.day) == Array(repeating: "2025-03-04", count: 4))
        // The first tick on a new store evaluates from the plan's first day: Monday's stops due
        // after midnight (00:10, 00:25) are not Tuesday's, and nothing is missed yet.
        let first = try h.tick(at: "2025-03-04T00:40:00")
        #expect(first.from == PatrolHarness.local("2025-03-04T00:00:00"))
        #expect(first.evaluated == 0)
        #expect(first.missed == [])
        let tuesday = try h.tick(at: "2025-03-05T00:40:00")
        #expect(tuesday.missed.count == 4)
        #expect(try store.slips(kind: .reminder).count == 4)
    }
}
