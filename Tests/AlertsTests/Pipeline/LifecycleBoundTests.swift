import Foundation
import Testing
@testable import Alerts

/// Lifecycles that never end (lost Frigate `end`s, GB/T 28181 enters without a
/// leave, ONVIF source items an attacker varies) must not grow the engine with
/// every message: an item holds at most `maxLiveLifecyclesPerItem` of them.
@Suite("Risk engine: live lifecycles are bounded per item")
struct LifecycleBoundTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func event(_ n: Int, _ kind: NormalizedEvent.Kind = .detection) -> NormalizedEvent {
        NormalizedEvent(key: "k\(n)-\(kind == .end ? "end" : "new")", kind: kind, sourceKind: .camera, source: "cam-A", category: .intrusion,
                        time: t0.addingTimeInterval(Double(n)), lifecycle: "frigate:cam-A:obj-\(String(format: "%05d", n))", format: "frigate")
    }

    @Test func tenThousandLifecyclesWithoutAnEndKeepOneItemWithABoundedSet() throws {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        var stored: RiskItem?
        for n in 0..<10_000 {
            for case .item(let item) in engine.handle(Self.event(n), now: Self.t0) { stored = item }
        }
        let item = try #require(stored)
        #expect(engine.openItems.count == 1)
        #expect(item.occurrences == 10_000)
        let limit = RiskEngine.maxLiveLifecyclesPerItem
        #expect(engine.lifecycles.count == limit)
        #expect(engine.itemLifecycles.values.map(\.count) == [limit])
        // The stored form names the first lifecycle and the live ones: bounded too.
        let names = try #require(item.lifecycle).split(separator: RiskEngine.liveLifecycleSeparator, omittingEmptySubsequences: true)
        #expect(names.count <= limit + 1)
        // The first and the newest ones are kept (the oldest others go first); ending them closes the item.
        #expect(Set(engine.lifecycles.keys.map(\.name)) == Set(([0] + Array((10_000 - limit + 1)..<10_000)).map { Self.event($0).lifecycle! }))
        var closed = false
        for n in [0] + Array((10_000 - limit + 1)..<10_000) {
            for case .item(let i) in engine.handle(Self.event(n, .end), now: Self.t0) where i.state == .closed { closed = true }
        }
        #expect(closed)
        #expect(engine.lifecycles.isEmpty)
        #expect(engine.openItems.isEmpty)
    }
}

/// An end that never arrives (Frigate restarted, a leave was lost) holds its item
/// open a week of quiet at most: then the sweep closes it as any quiet item.
@Suite("Risk engine: an item an end never came for closes after a week of quiet")
struct HeldItemHorizonTests {
    @Test func aHeldItemStaysOpenForDaysAndClosesAfterAWeek() throws {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        let t0 = LifecycleBoundTests.t0
        _ = engine.handle(LifecycleBoundTests.event(0), now: t0)
        #expect(engine.openItems.count == 1)
        /// Another camera's event at `days` after t0: it moves the watermark, and the sweep with it.
        func elsewhere(_ days: Double) -> [EngineEffect] {
            let time = t0.addingTimeInterval(days * 86_400)
            let e = NormalizedEvent(key: "other-\(days)", kind: .detection, sourceKind: .camera, source: "cam-B", category: .loitering,
                                    time: time, format: "native")
            return engine.handle(e, now: time)
        }
        var closed: [RiskItem] = []
        for days in [1.5, 3, 6.5] {
            for case .item(let i) in elsewhere(days) where i.state == .closed && i.source == "cam-A" { closed.append(i) }
        }
        #expect(closed.isEmpty, "a live lifecycle holds its item past the one-day horizon")
        for days in [7.5, 8] {
            for case .item(let i) in elsewhere(days) where i.state == .closed && i.source == "cam-A" { closed.append(i) }
        }
        #expect(closed.count == 1)
        #expect(engine.openItems.keys.map(\.source) == ["cam-B"])
        #expect(engine.lifecycles.isEmpty)
    }
}

/// A source that flaps (a GB/T 28181 enter/leave, an ONVIF true/false) makes a new
/// item each time: the slip and the case it feeds stay one each, and bounded.
@Suite("Risk engine: a flapping severe source keeps one slip and one bounded case")
struct FlappingSourceTests {
    @Test func twoThousandEnterLeavePairsOfAFight() throws {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        let t0 = LifecycleBoundTests.t0
        var slips: Set<String> = []
        var lastCase: Case?
        var slipIDs = 0
        for n in 0..<2000 {
            let time = t0.addingTimeInterval(Double(n) * 0.5)
            for kind in [NormalizedEvent.Kind.detection, .end] {
                let e = NormalizedEvent(key: "gb:\(n):\(kind == .end ? "leave" : "enter")", kind: kind, sourceKind: .camera, source: "cam-A",
                                        category: .fight, time: time, lifecycle: "gb28181:cam-A:5:1", format: "gb28181")
                for effect in engine.handle(e, now: time) {
                    switch effect {
                    case .slip(let s, _, _): slips.insert(s.id); slipIDs = max(slipIDs, s.riskItemIDs.count)
                    case .caseChanged(let c, _, _, _): lastCase = c
                    default: break
                    }
                }
            }
        }
        #expect(slips == ["YJ-00000001"])
        #expect(slipIDs == RiskEngine.maxLinkedItems)
        let c = try #require(lastCase)
        #expect(c.riskItemIDs.count == CaseStage.maxLinkedItems)
        #expect(c.explanation.components(separatedBy: CaseStage.laterEvidence).count - 1 == CaseStage.maxLaterEvidenceLines)
        #expect(c.explanation.hasSuffix(CaseStage.moreEvidence))
    }
}
