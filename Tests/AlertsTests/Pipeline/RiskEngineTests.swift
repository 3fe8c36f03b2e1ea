import Foundation
import Testing
@testable import Alerts
import TestSupport

/// The first rules as plain values: events in, effects out, time injected.
@Suite("Risk engine")
struct RiskEngineTests {
    static let t0 = EngineFixtures.t0
    static func at(_ minutes: Double) -> Date { EngineFixtures.at(minutes) }

    static func engine(_ rules: RuleSet = RuleSet()) -> RiskEngine {
        EngineFixtures.engine(rules)
    }

    static func event(_ id: String, _ cam: String, _ cat: Category, _ minutes: Double, severity: Severity? = nil) -> NormalizedEvent {
        EngineFixtures.event(id, cam, cat, minutes, severity: severity)
    }

    static func status(_ cam: String, _ status: CameraStatus, _ minutes: Double) -> NormalizedEvent {
        NormalizedEvent(key: "status:\(cam):\(minutes)", kind: .cameraStatus(status), sourceKind: .camera, source: cam,
                        category: status.healthCategory ?? .cameraOffline, time: at(minutes))
    }

    /// Runs events through one engine; returns the final items and slips by id.
    static func run(_ events: [NormalizedEvent], rules: RuleSet = RuleSet()) -> (items: [String: RiskItem], slips: [String: Slip]) {
        var e = engine(rules)
        var items: [String: RiskItem] = [:]
        var slips: [String: Slip] = [:]
        for ev in events {
            for effect in e.handle(ev, now: ev.time) {
                switch effect {
                case .item(let i): items[i.id] = i
                case .slip(let s, _, _): slips[s.id] = s
                default: break
                }
            }
        }
        return (items, slips)
    }

    @Test func detectionsWithinTheDedupWindowFoldIntoOneItem() {
        let r = Self.run([Self.event("a", "cam-1", .loitering, 0), Self.event("b", "cam-1", .loitering, 1.5), Self.event("c", "cam-1", .loitering, 3)])
        #expect(r.items.count == 1)
        #expect(r.items["RI-00000001"]?.occurrences == 3)
        #expect(r.items["RI-00000001"]?.lastSeen == Self.at(3))
        // Three occurrences within 10 min reach the threshold, even in one item.
        #expect(r.slips.values.map(\.riskItemIDs) == [["RI-00000001"]])
        #expect(r.slips.values.first?.occurrences == 3)
    }

    @Test func thresholdRaisesOneSlipAndLaterItemsJoinIt() {
        let r = Self.run([
            Self.event("a", "cam-1", .intrusion, 0), Self.event("b", "cam-1", .intrusion, 3),
            Self.event("c", "cam-2", .intrusion, 6), Self.event("d", "cam-2", .intrusion, 9),
        ])
        #expect(r.items.count == 4)
        #expect(r.slips.count == 1)
        let slip = r.slips["YJ-00000001"]
        #expect(slip?.zone == "Z-A")
        #expect(slip?.unit == "unit-A")
        #expect(slip?.category == .intrusion)
        #expect(slip?.riskItemIDs == ["RI-00000001", "RI-00000002", "RI-00000003", "RI-00000004"])
        #expect(slip?.occurrences == 4)
    }

    @Test func belowThresholdOrOutsideTheWindowRaisesNothing() {
        let r = Self.run([Self.event("a", "cam-1", .intrusion, 0), Self.event("b", "cam-1", .intrusion, 6), Self.event("c", "cam-1", .intrusion, 12)])
        #expect(r.items.count == 3)
        #expect(r.slips.isEmpty)
    }

    @Test func severeItemsRaiseASlipAtOnce() {
        let r = Self.run([Self.event("a", "cam-3", .fight, 0)])
        #expect(r.slips.count == 1)
        #expect(r.slips.values.first?.severity == .critical)
        #expect(r.slips.values.first?.zone == "Z-B")
    }

    @Test func differentZonesAreSeparateSlips() {
        let r = Self.run([Self.event("a", "cam-1", .fight, 0), Self.event("b", "cam-3", .fight, 0.5)])
        #expect(r.slips.count == 2)
        #expect(Set(r.slips.values.map(\.zone)) == ["Z-A", "Z-B"])
    }

    @Test func aSlipStillFiringIsRepeatedAfterTheRepeatInterval() {
        let r = Self.run([Self.event("a", "cam-1", .fight, 0), Self.event("b", "cam-1", .fight, 30), Self.event("c", "cam-1", .fight, 61)])
        #expect(r.slips.count == 2)
        #expect(r.slips["YJ-00000001"]?.riskItemIDs == ["RI-00000001", "RI-00000002"])
        #expect(r.slips["YJ-00000002"]?.riskItemIDs == ["RI-00000003"])
    }

    @Test func anOfflineCameraIsInhibitedUntilItIsBackOnline() {
        let r = Self.run([
            Self.status("cam-1", .offline, 0),
            Self.event("a", "cam-1", .fight, 1),
            Self.status("cam-1", .online, 5),
            Self.event("b", "cam-1", .fight, 6),
        ])
        let items = r.items.values.sorted { $0.id < $1.id }
        #expect(items.map(\.category) == [.cameraOffline, .fight, .fight])
        #expect(items[0].state == .closed, "the health item closes when the camera is back")
        #expect(items[1].suppressedBy == "inhibited: camera cam-1 is offline")
        #expect(items[2].suppressedBy == nil)
        #expect(r.slips.values.map(\.riskItemIDs) == [[items[2].id]], "only the unmuted fight raises a slip")
    }

    @Test func rulesOverrideSeverityAndThreshold() {
        var rules = RuleSet()
        rules.severities[.intrusion] = .critical
        rules.thresholds[.loitering] = 1
        let r = Self.run([Self.event("a", "cam-1", .intrusion, 0), Self.event("b", "cam-3", .loitering, 0)], rules: rules)
        #expect(r.slips.count == 2)
        #expect(r.items.values.first { $0.category == .intrusion }?.severity == .critical)
    }

    @Test func restoringASnapshotContinuesTheWindows() {
        var e = Self.engine()
        var snapshot = RiskEngine.Snapshot()
        snapshot.recentOccurrences = [(Self.at(0), "RI-00000007", "Z-A", .intrusion), (Self.at(2), "RI-00000008", "Z-A", .intrusion)]
        snapshot.lastItemSeq = 8
        snapshot.lastSlipSeq = 4
        e.restore(snapshot)
        let effects = e.handle(Self.event("c", "cam-2", .intrusion, 5), now: Self.at(5))
        let slips = effects.compactMap { if case .slip(let s, _, let new) = $0, new { return s }; return nil }
        #expect(slips.map(\.id) == ["YJ-00000005"])
        #expect(slips.first?.riskItemIDs == ["RI-00000007", "RI-00000008", "RI-00000009"])
    }
}
