import Foundation
import Testing
@testable import Alerts

/// Patrol supervision as functions of values (`PatrolStage.checkin`, `tick`,
/// `slotsConcerned`): a plan and a `PatrolLedger` in, `PatrolEffect`s out. No store.
@Suite("Patrol stage (pure)")
struct PatrolStagePureTests {
    static let tz = TimeZone(identifier: "Asia/Shanghai")!
    static let cpA = PatrolPlan.Checkpoint(id: "cp-a", name: "North gate", zone: "Z-1", location: GeoPoint(lat: 29.6500, lon: 91.1300), radiusMetres: 50)
    /// rt-h: cp-a every hour 08:00–12:00; grace 10, early 5, window 30.
    static let stage = PatrolStage(plan: PatrolPlan(
        checkpoints: [cpA],
        routes: [.init(id: "rt-h", name: "Hourly", device: "dev-1", worker: "gw-1", unit: "冲赛康社区居委会", stops: [.init(checkpoint: "cp-a")],
                       schedule: .init(kind: .interval(minutes: 60, from: 8 * 60, to: 12 * 60)), earlyMinutes: 5, graceMinutes: 10, windowMinutes: 30)],
        timeZone: tz), outputPrefix: "patrolhub/v1")

    static func local(_ hhmm: String) -> Date { TimeParser(defaultZone: tz).parse("2025-03-03T\(hhmm):00")! }
    static func slot(_ hour: String) -> String { "rt-h:cp-a:2025-03-03T\(hour)+08:00" }
    static let now = local("13:00")

    static func checkin(_ id: String, at time: String, checkpoint: String = "cp-a", device: String = "dev-1",
                        location: GeoPoint? = nil) -> NormalizedEvent {
        NormalizedEvent(key: "device:\(device):checkin:\(id)", kind: .checkin(checkpoint: checkpoint, method: "nfc"), sourceKind: .device,
                        source: device, category: .other, time: local(time), location: location)
    }

    /// The kinds of effects, as short strings (`record on_time`, `missed <slot>`, …).
    static func summary(_ effects: [PatrolEffect]) -> [String] {
        effects.map {
            switch $0 {
            case .record(let r): return "record \(r.kind.rawValue) \(r.status.rawValue) \(r.slotID ?? "-")"
            case .slotCheckedIn(let s, let status, _, _): return "slot \(s.id) \(status.rawValue)"
            case .slotImproved(let id, let status, _, _): return "improved \(id) \(status.rawValue)"
            case .itemClosed(let id, _): return "item closed \(id)"
            case .letterClosed(let id, let detail): return "letter closed \(id): \(detail)"
            case .missed(let m): return "missed \(m.slot.id) \(m.item.id) \(m.letter.id)"
            }
        }
    }

    @Test func anOnTimeCheckinRecordsItAndDecidesItsSlot() throws {
        var ledger = PatrolLedger()
        var ids = ItemIDAllocator(next: 5)
        let r = try #require(try Self.stage.checkin(Self.checkin("k-1", at: "09:05", location: GeoPoint(lat: 29.6501, lon: 91.1300)),
                                                    now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(Self.summary(r.effects) == ["record checkin on_time \(Self.slot("09:00"))", "slot \(Self.slot("09:00")) on_time"])
        guard case .record(let record) = r.effects[0] else { Issue.record("no record first"); return }
        #expect(record.detail == "11 m from the checkpoint")
        #expect(record.eventKey == "device:dev-1:checkin:k-1")
        #expect(r.slotStatus == .onTime)
        #expect(ledger.slots[Self.slot("09:00")] == PatrolSlotState(status: .onTime))
        #expect(ids.next == 5, "no item raised")
    }

    @Test func aCheckinFartherThanTheRadiusIsFlaggedAndNeverUndoesAMiss() throws {
        var ledger = PatrolLedger(slots: [Self.slot("09:00"): PatrolSlotState(status: .missed, riskItemID: "RI-00000001", slipID: "TX-00000001")])
        var ids = ItemIDAllocator()
        let far = GeoPoint(lat: 29.6500, lon: 91.1331) // 300 m east
        let r = try #require(try Self.stage.checkin(Self.checkin("k-1", at: "09:05", location: far), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(Self.summary(r.effects) == ["record checkin outside_radius \(Self.slot("09:00"))"])
        guard case .record(let record) = r.effects[0] else { Issue.record("no record"); return }
        #expect(record.detail == "300 m from the checkpoint (radius 50 m)")
        #expect(r.status == .outsideRadius)
        #expect(r.slotStatus == .missed)
        #expect(ledger.slots[Self.slot("09:00")]?.status == .missed)
    }

    @Test func aLateCheckinAfterAMissClosesItsItemAndLetter() throws {
        var ledger = PatrolLedger(slots: [Self.slot("11:00"): PatrolSlotState(status: .missed, riskItemID: "RI-00000002", slipID: "TX-00000002")])
        var ids = ItemIDAllocator()
        let r = try #require(try Self.stage.checkin(Self.checkin("k-3", at: "11:20"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(Self.summary(r.effects) == [
            "record checkin late \(Self.slot("11:00"))",
            "improved \(Self.slot("11:00")) late",
            "item closed RI-00000002",
            "letter closed TX-00000002: \(Self.slot("11:00")): checked in late at 2025-03-03 11:20",
        ])
        #expect(r.closedItemID == "RI-00000002")
        #expect(r.closedSlipID == "TX-00000002")
        #expect(ledger.slots[Self.slot("11:00")] == PatrolSlotState(status: .late, riskItemID: "RI-00000002", slipID: "TX-00000002"))
        // Again, on time this time: the verdict moves up, but the miss is closed already.
        let again = try #require(try Self.stage.checkin(Self.checkin("k-4", at: "11:21"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(Self.summary(again.effects) == ["record checkin late \(Self.slot("11:00"))"], "late does not improve late")
    }

    @Test func gapDetectionMissesTheUndecidedSlotsBetweenTwoCheckinsWithIdsFromTheAllocatorAndLedger() throws {
        // The store holds a 09:05 check-in; the batch brings 12:05.
        let at = PatrolCheckinAt(device: "dev-1", time: Self.local("12:05"))
        var ledger = PatrolLedger(neighbours: [at: PatrolNeighbours(previous: Self.local("09:05"))],
                                  slots: [Self.slot("09:00"): PatrolSlotState(status: .onTime)], lastLetterSeq: 4)
        var ids = ItemIDAllocator(next: 7)
        let r = try #require(try Self.stage.checkin(Self.checkin("k-2", at: "12:05"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(r.missed == [Self.slot("10:00"), Self.slot("11:00")])
        #expect(r.letters == ["TX-00000005", "TX-00000006"])
        #expect(Self.summary(r.effects) == [
            "missed \(Self.slot("10:00")) RI-00000007 TX-00000005",
            "missed \(Self.slot("11:00")) RI-00000008 TX-00000006",
            "record checkin on_time \(Self.slot("12:00"))",
            "slot \(Self.slot("12:00")) on_time",
        ])
        guard case .missed(let miss) = r.effects[0] else { Issue.record("no miss"); return }
        #expect(miss.trigger == "patrol:\(Self.slot("10:00")):missed")
        #expect(miss.item.category == .missedCheckpoint)
        #expect(miss.item.firstSeen == Self.local("10:10"))
        #expect(miss.item.lifecycle == Self.slot("10:00"))
        #expect(miss.letter.kind == .reminder)
        #expect(miss.letter.riskItemIDs == ["RI-00000007"])
        #expect(miss.letter.issuedAt == Self.now)
        #expect(miss.letter.text == "提醒函 TX-00000005：网格员 gw-1（设备 dev-1，路线 rt-h Hourly）未按时巡查检查点 cp-a（North gate，网格 Z-1）。应到时间 2025-03-03 10:00，宽限 10 分钟（至 10:10）仍未签到，记为漏巡。请 冲赛康社区居委会 督促核实；10:30 前补签的记为迟到并自动销号。")
        #expect(miss.record.detail == "no check-in by 2025-03-03 10:10; RI-00000007, TX-00000005")
        #expect(ids.next == 9)
        #expect(ledger.lastLetterSeq == 6)
        #expect(ledger.lettersIssued == [Self.slot("10:00"), Self.slot("11:00")])
    }

    @Test func aSlotWhoseLetterExistsIsReportedMissedButWrittenNoMore() throws {
        let at = PatrolCheckinAt(device: "dev-1", time: Self.local("11:05"))
        var ledger = PatrolLedger(neighbours: [at: PatrolNeighbours(previous: Self.local("09:05"))],
                                  slots: [Self.slot("09:00"): PatrolSlotState(status: .onTime)], lettersIssued: [Self.slot("10:00")], lastLetterSeq: 9)
        var ids = ItemIDAllocator()
        let r = try #require(try Self.stage.checkin(Self.checkin("k-2", at: "11:05"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(r.missed == [Self.slot("10:00")])
        #expect(r.letters.isEmpty)
        #expect(Self.summary(r.effects) == ["record checkin on_time \(Self.slot("11:00"))", "slot \(Self.slot("11:00")) on_time"])
        #expect(ids.next == 1)
    }

    @Test func checkinsOfOneBatchAreEachOthersNeighbours() throws {
        // No store history: 09:05 detects nothing; 12:05 then sees 09:05 (recorded by the batch) and misses 10:00 and 11:00;
        // 10:20, out of order, is late for 10:00 (closing that miss) and sees 12:05 after it: 11:00 is decided already.
        var ledger = PatrolLedger()
        var ids = ItemIDAllocator()
        let first = try #require(try Self.stage.checkin(Self.checkin("a", at: "09:05"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(first.missed.isEmpty)
        let second = try #require(try Self.stage.checkin(Self.checkin("b", at: "12:05"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(second.missed == [Self.slot("10:00"), Self.slot("11:00")])
        let third = try #require(try Self.stage.checkin(Self.checkin("c", at: "10:20"), now: Self.now, ledger: &ledger, itemIDs: &ids))
        #expect(third.missed.isEmpty)
        #expect(Self.summary(third.effects) == [
            "record checkin late \(Self.slot("10:00"))",
            "improved \(Self.slot("10:00")) late",
            "item closed RI-00000001",
            "letter closed TX-00000001: \(Self.slot("10:00")): checked in late at 2025-03-03 10:20",
        ])
    }

    @Test func refusedCheckinsThrowBeforeChangingAnything() throws {
        var ledger = PatrolLedger(lastLetterSeq: 3)
        var ids = ItemIDAllocator(next: 2)
        #expect(throws: HubError.self) { try Self.stage.checkin(Self.checkin("x", at: "09:05", checkpoint: "cp-zz"), now: Self.now, ledger: &ledger, itemIDs: &ids) }
        do throws(HubError) {
            _ = try Self.stage.checkin(Self.checkin("y", at: "09:05", device: "dev-9"), now: Self.now, ledger: &ledger, itemIDs: &ids)
            Issue.record("a device without a route was accepted")
        } catch {
            #expect(error.reason == .noRoute)
        }
        #expect(ledger == PatrolLedger(lastLetterSeq: 3))
        #expect(ids.next == 2)
    }

    @Test func theSlotsABatchConcernsCoverEveryGapWhateverTheOrder() throws {
        // 12:05 first, then 09:05, with the store holding 08:05 before both: gaps may reach back to 08:05.
        let events = [Self.checkin("b", at: "12:05"), Self.checkin("a", at: "09:05")]
        var decoded = BatchStage.Decoded()
        decoded.messages = [(0, events)]
        let checkins = PatrolStage.checkins(in: decoded)
        #expect(checkins == events.map { PatrolCheckinAt(device: "dev-1", time: $0.time) })
        let neighbours = [checkins[0]: PatrolNeighbours(previous: Self.local("08:05")), checkins[1]: PatrolNeighbours(previous: Self.local("08:05"))]
        #expect(Self.stage.slotsConcerned(by: decoded, neighbours: neighbours) == ["08:00", "09:00", "10:00", "11:00", "12:00"].map(Self.slot))
    }

    @Test func theFirstTickOnANewStoreOnlySetsWhereEvaluationStarts() {
        var ids = ItemIDAllocator()
        let t = Self.stage.tick(now: Self.now, evaluatedUntil: nil, ledger: PatrolLedger(), itemIDs: &ids)
        #expect(t.result == PatrolTickResult())
        #expect(t.effects.isEmpty)
        #expect(t.evaluatedUntil == Self.now)
    }

    @Test func aTickMissesTheUndecidedSlotsWhoseGraceEndedAndMovesItsInstant() {
        let from = Self.local("08:30"), now = Self.local("11:30")
        #expect(Self.stage.slotsConcerned(byTickAt: now, evaluatedUntil: from) == ["09:00", "10:00", "11:00"].map(Self.slot))
        var ids = ItemIDAllocator(next: 3)
        let ledger = PatrolLedger(slots: [Self.slot("10:00"): PatrolSlotState(status: .onTime)], lastLetterSeq: 1)
        let t = Self.stage.tick(now: now, evaluatedUntil: from, ledger: ledger, itemIDs: &ids)
        #expect(t.result.evaluated == 3)
        #expect(t.result.missed == [Self.slot("09:00"), Self.slot("11:00")])
        #expect(t.result.letters == ["TX-00000002", "TX-00000003"])
        #expect(t.result.from == from)
        #expect(t.result.through == now)
        #expect(Self.summary(t.effects) == ["missed \(Self.slot("09:00")) RI-00000003 TX-00000002", "missed \(Self.slot("11:00")) RI-00000004 TX-00000003"])
        #expect(t.evaluatedUntil == now)
        // The same instant again: nothing to evaluate, nothing moves.
        let again = Self.stage.tick(now: now, evaluatedUntil: now, ledger: ledger, itemIDs: &ids)
        #expect(again == PatrolTickOutcome())
    }
}
