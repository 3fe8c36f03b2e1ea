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

/// A lifecycle is its source's: another source that sends the same name (a
/// GB/T 28181 DeviceID it copied, an ONVIF source value it forged) cannot end
/// it or take it over, before or after a restart.
@Suite("Risk engine: a lifecycle belongs to its source")
struct LifecycleSourceTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func gb(_ key: String, source: String, _ kind: NormalizedEvent.Kind, _ minute: Double, lifecycle: String) -> NormalizedEvent {
        NormalizedEvent(key: key, kind: kind, sourceKind: .camera, source: source, category: .intrusion,
                        time: t0.addingTimeInterval(minute * 60), lifecycle: lifecycle, format: "gb28181")
    }

    /// The items after `events`, by source (each source has one item here).
    static func items(_ engine: inout RiskEngine, _ events: [NormalizedEvent]) -> [String: RiskItem] {
        var out: [String: RiskItem] = [:]
        for e in events {
            for case .item(let item) in engine.handle(e, now: e.time) { out[item.source] = item }
        }
        return out
    }

    @Test("another source's end with the same lifecycle name (a forged GB/T 28181 DeviceID) neither closes nor takes over the item")
    func anotherSourceCannotEndOrTakeALifecycle() {
        let name = "gb:34020000001320000001:6"
        var engine = CaseOpeningTests.engine()
        var items = Self.items(&engine, [Self.gb("v1", source: "cam-015", .detection, 0, lifecycle: name),
                                         Self.gb("a1", source: "cam-016", .end, 1, lifecycle: name)])
        #expect(items["cam-015"]?.state == .open, "the victim's item stays open")
        // An enter from the other source makes its own item and leaves the victim's lifecycle where it is.
        items.merge(Self.items(&engine, [Self.gb("a2", source: "cam-016", .detection, 2, lifecycle: name)])) { $1 }
        #expect(items["cam-016"]?.state == .open)
        items.merge(Self.items(&engine, [Self.gb("v2", source: "cam-015", .end, 3, lifecycle: name)])) { $1 }
        #expect(items["cam-015"]?.state == .closed, "the victim's own end closes its item")
        #expect(items["cam-016"]?.state == .open, "and not the other source's")
    }

    @Test("a lifecycle name holding the stored form's separator (U+001E) stays one lifecycle of its source across a restart")
    func separatorInANameDoesNotSplitAcrossARestart() {
        let victim = "onvif:cam-023:RuleEngine/FieldDetector/ObjectsInside|Rule=Fence"
        let forged = "onvif:cam-024:RuleEngine/FieldDetector/ObjectsInside|Rule=x\u{1E}" + victim
        var engine = CaseOpeningTests.engine()
        let before = Self.items(&engine, [Self.gb("v1", source: "cam-023", .detection, 0, lifecycle: victim),
                                          Self.gb("a1", source: "cam-024", .detection, 1, lifecycle: forged)])
        #expect(before["cam-024"]?.lifecycle?.unicodeScalars.contains("\u{1E}") == false, "the stored name has no separator")
        // A restart: a new engine from the open items as the store keeps them.
        var restarted = CaseOpeningTests.engine()
        var snapshot = RiskEngine.Snapshot()
        snapshot.openItems = before.values.sorted { $0.id < $1.id }
        restarted.restore(snapshot)
        let after = Self.items(&restarted, [Self.gb("v2", source: "cam-023", .end, 2, lifecycle: victim)])
        #expect(after["cam-023"]?.state == .closed, "the victim's end closes the victim's item")
        #expect(after["cam-024"] == nil, "and nothing of the other camera's")
    }
}
