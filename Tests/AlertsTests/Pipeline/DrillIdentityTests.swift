import Foundation
import Testing
@testable import Alerts
import TestSupport

/// Issue 12: drill and live never mix. The drill flag is part of every
/// identity and window: an item and its lifecycles, a warning slip's window,
/// a camera's status for inhibition, correlation into cases, silences.
@Suite("Drill and live never mix")
struct DrillIdentityTests {
    typealias C = CaseOpeningTests

    static func frigate(_ id: String, _ cam: String, _ m: Double, lifecycle: String, end: Bool = false, drill: Bool = false) -> NormalizedEvent {
        NormalizedEvent(key: "frigate:\(cam):\(id)", kind: end ? .end : .detection, sourceKind: .camera, source: cam,
                        category: .intrusion, time: C.at(m), drill: drill, lifecycle: lifecycle, format: "frigate")
    }

    @Test func aDrillDetectionNeverFoldsIntoALiveItemNorTheOtherWay() {
        let r = C.run([
            C.camera("a", "cam-1", .loitering, 0), C.camera("b", "cam-1", .loitering, 0.5, drill: true),
            C.camera("c", "cam-1", .loitering, 1), C.camera("d", "cam-1", .loitering, 1.5, drill: true),
        ])
        let items = r.items.values.sorted { $0.id < $1.id }
        #expect(items.map(\.drill) == [false, true])
        #expect(items.map(\.occurrences) == [2, 2])
    }

    @Test func aDrillLifecycleIsNotTheLiveOneOfTheSameName() {
        // The same tracked-object id in both worlds: each its own item, each ended by its own end.
        let r = C.run([
            Self.frigate("1", "cam-1", 0, lifecycle: "frigate:cam-1:obj-1"),
            Self.frigate("2", "cam-1", 0.5, lifecycle: "frigate:cam-1:obj-1", drill: true),
            Self.frigate("3", "cam-1", 1, lifecycle: "frigate:cam-1:obj-1", end: true, drill: true),
        ])
        let items = r.items.values.sorted { $0.id < $1.id }
        #expect(items.map(\.drill) == [false, true])
        #expect(items.map(\.state) == [.open, .closed], "the drill's end closes the drill item only")
        #expect(items.map(\.occurrences) == [1, 1])
    }

    @Test func aDrillNeverCountsTowardsALiveSlipNorJoinsOne() {
        var rules = RuleSet()
        rules.thresholds[.intrusion] = 2
        let r = C.run([C.camera("a", "cam-1", .intrusion, 0), C.camera("b", "cam-2", .intrusion, 1, drill: true)], rules: rules)
        #expect(r.slips.isEmpty, "one live and one drill intrusion are one occurrence in each window")
        let two = C.run([
            C.camera("a", "cam-1", .intrusion, 0), C.camera("b", "cam-2", .intrusion, 1, drill: true),
            C.camera("c", "cam-3", .intrusion, 2), C.camera("d", "cam-4", .intrusion, 3, drill: true),
        ], rules: rules)
        let slips = two.slips.values.sorted { $0.id < $1.id }
        #expect(slips.map(\.riskItemIDs) == [["RI-00000001", "RI-00000003"], ["RI-00000002", "RI-00000004"]])
        #expect(slips.map { $0.text.hasPrefix("【演练】") } == [false, true], "a drill's slip says so")
        // A severe drill detection does not join the live slip already open in its window either.
        let severe = C.run([C.camera("f1", "cam-1", .fight, 0), C.camera("f2", "cam-2", .fight, 1, drill: true)])
        #expect(severe.slips.values.map(\.riskItemIDs).sorted { $0[0] < $1[0] } == [["RI-00000001"], ["RI-00000002"]])
    }

    @Test func aDrillNeverJoinsALiveCaseNorCountsAsASecondSource() {
        // Two cameras' crowds: a correlation case only when both are of the same world.
        let mixed = C.run([C.camera("c1", "cam-1", .crowdGathering, 0), C.camera("c2", "cam-2", .crowdGathering, 3, drill: true)])
        #expect(mixed.cases.isEmpty)
        let drills = C.run([C.camera("c1", "cam-1", .crowdGathering, 0, drill: true), C.camera("c2", "cam-2", .crowdGathering, 3, drill: true)])
        #expect(drills.sorted.map(\.rule) == [.correlation])
        #expect(drills.sorted.map(\.drill) == [true])
        // A live fight's case; a drill fight in the same grid opens a drill case of its own, and the reverse.
        let r = C.run([
            C.camera("f1", "cam-1", .fight, 0), C.camera("f2", "cam-2", .fight, 1, drill: true),
            C.report("r1", "D1", .dispute, 2, drill: true), C.report("r2", "D2", .dispute, 3),
        ])
        #expect(r.sorted.map(\.drill) == [false, true])
        #expect(r.sorted.map(\.riskItemIDs) == [["RI-00000001", "RI-00000004"], ["RI-00000002", "RI-00000003"]])
        #expect(r.reroutes.isEmpty)
    }

    @Test func aDrillCameraStatusInhibitsOnlyDrillAnalytics() {
        var e = C.engine()
        var effects: [EngineEffect] = []
        for ev in [
            NormalizedEvent(key: "status:cam-1:0", kind: .cameraStatus(.offline), sourceKind: .camera, source: "cam-1",
                            category: .cameraOffline, time: C.at(0), drill: true),
            C.camera("f1", "cam-1", .fight, 1), C.camera("f2", "cam-1", .fight, 1.5, drill: true),
        ] { effects += e.handle(ev, now: ev.time) }
        var items: [String: RiskItem] = [:]
        for case .item(let i) in effects { items[i.id] = i }
        let sorted = items.values.sorted { $0.id < $1.id }
        #expect(sorted.map(\.category) == [.cameraOffline, .fight, .fight])
        #expect(sorted.map(\.drill) == [true, false, true])
        #expect(sorted[1].suppressedBy == nil, "a drill's offline camera is not the real camera")
        #expect(sorted[2].suppressedBy == "inhibited: camera cam-1 is offline")
        // The drill's status is stored apart from the camera's real one (a restart restores both).
        #expect(effects.allSatisfy { if case .cameraStatus(_, _, _, let drill) = $0 { return drill }; return true }, "the camera's real status is untouched")
    }

    @Test func aDrillSilenceMutesTheDrillOnly() {
        var e = C.engine()
        e.silences = [EngineFixtures.silence(drill: true, from: 0, to: 30)]
        var items: [String: RiskItem] = [:]
        for ev in [C.camera("f1", "cam-1", .fight, 1), C.camera("f2", "cam-1", .fight, 1.5, drill: true)] {
            for case .item(let i) in e.handle(ev, now: ev.time) { items[i.id] = i }
        }
        #expect(items.values.sorted { $0.id < $1.id }.map { $0.suppressedBy != nil } == [false, true])
    }

    @Test func aRestoredSnapshotKeepsTheWorldsApart() {
        var rules = RuleSet()
        rules.thresholds[.intrusion] = 2
        var e = C.engine(rules)
        var s = RiskEngine.Snapshot()
        s.openItems = [RiskItem(id: "RI-00000001", source: "cam-1", sourceKind: .camera, category: .intrusion, severity: .minor, zone: "G1",
                                firstSeen: C.at(0), lastSeen: C.at(0), drill: true)]
        s.recentOccurrences = [(C.at(0), "RI-00000001", "G1", .intrusion)]
        s.drillItemIDs = ["RI-00000001"]
        s.lastItemSeq = 1
        s.watermark = C.at(0)
        e.restore(s)
        var r = C.Run()
        C.run(&e, [C.camera("a", "cam-1", .intrusion, 1)], into: &r)
        #expect(r.items.keys.sorted() == ["RI-00000002"], "a live detection does not fold into the restored drill item")
        #expect(r.slips.isEmpty, "nor does it count with the drill's occurrence")
        C.run(&e, [C.camera("b", "cam-1", .intrusion, 2, drill: true)], into: &r)
        #expect(r.items["RI-00000001"]?.occurrences == 2, "a drill detection folds into it")
        #expect(r.slips.values.map(\.riskItemIDs) == [["RI-00000001"]])
    }
}
