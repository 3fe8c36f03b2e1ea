import Foundation
import Testing
@testable import Alerts
import TestSupport

/// Issue 12, "Rules that must mean what they say": severity 1 opens a case
/// whatever the category (but for `never_open_by_severity`), and a case that
/// new evidence makes a district matter moves to the district's unit.
@Suite("Cases: severity opens, escalation re-routes")
struct CaseOpeningTests {
    static func at(_ m: Double) -> Date { RiskEngineTests.at(m) }

    /// District 城关区 ⊃ street 八廓街道 ⊃ grid G1; every source is placed in G1.
    static let zones = EngineFixtures.caseZones

    static func engine(_ rules: RuleSet = RuleSet(), routed: Bool = true) -> RiskEngine {
        var e = RiskEngine(rules: rules) { _ in Placement(zone: "G1", unit: "八廓街道综治中心") }
        if routed { e.cases.route = CaseRouter(rules.routing).function(zones: zones) }
        return e
    }

    static func camera(_ id: String, _ cam: String, _ cat: Alerts.Category, _ m: Double, severity: Severity? = nil, drill: Bool = false) -> NormalizedEvent {
        NormalizedEvent(key: "camera:\(cam):\(id)", sourceKind: .camera, source: cam, category: cat, severity: severity, time: at(m), drill: drill)
    }

    static func report(_ id: String, _ dev: String, _ cat: Alerts.Category, _ m: Double, drill: Bool = false) -> NormalizedEvent {
        NormalizedEvent(key: "device:\(dev):\(id)", sourceKind: .device, source: dev, category: cat, time: at(m), drill: drill)
    }

    /// What a run produced: the last version of each case, and the re-routings in order.
    struct Run {
        var cases: [String: Case] = [:]
        var reroutes: [CaseReroute] = []
        var slips: [String: Slip] = [:]
        var items: [String: RiskItem] = [:]
        var sorted: [Case] { cases.values.sorted { $0.id < $1.id } }
    }

    static func run(_ engine: inout RiskEngine, _ events: [NormalizedEvent], into r: inout Run) {
        for ev in events {
            for effect in engine.handle(ev, now: ev.time.addingTimeInterval(1)) {
                switch effect {
                case .caseChanged(let c, _, _, _): r.cases[c.id] = c
                case .caseRerouted(let x): r.reroutes.append(x)
                case .slip(let s, _, _): r.slips[s.id] = s
                case .item(let i): r.items[i.id] = i
                default: break
                }
            }
        }
    }

    static func run(_ events: [NormalizedEvent], rules: RuleSet = RuleSet()) -> Run {
        var e = engine(rules)
        var r = Run()
        run(&e, events, into: &r)
        return r
    }

    static var criticalIntrusion: RuleSet {
        var rules = RuleSet()
        rules.severities[.intrusion] = .critical
        return rules
    }

    // MARK: - Severity 1 opens a case

    @Test func aSeverityOneItemOpensACaseWhateverItsCategory() throws {
        // intrusion is in no correlation group and no dispute category: before, it made a slip and no case.
        let r = Self.run([Self.camera("i1", "cam-1", .intrusion, 0)], rules: Self.criticalIntrusion)
        #expect(r.slips.count == 1)
        let c = try #require(r.sorted.first)
        #expect(r.cases.count == 1)
        #expect(c.rule == .severity)
        #expect(c.category == .intrusion)
        #expect(c.severity == .critical)
        #expect(c.unit == "城关区综治中心", "a severity-1 case goes to the district")
        #expect(c.dueAt == Self.at(0).addingTimeInterval(1 + 86_400))
        let first = try #require(c.explanation.split(separator: "\n").first)
        #expect(first == "规则 severity（严重程度）：风险隐患 RI-00000001（区域入侵 intrusion）严重程度 1 级，达到立案阈值 ≤ 1 级（cases.open_at_severity），立即立案。")
    }

    @Test func moreDetectionsOfTheSameSituationJoinTheCaseInsteadOfOpeningAnother() {
        var rules = Self.criticalIntrusion
        rules.severities[.tripwire] = .critical
        let r = Self.run([
            Self.camera("i1", "cam-1", .intrusion, 0), Self.camera("i2", "cam-2", .intrusion, 2),
            Self.camera("t1", "cam-2", .tripwire, 3), // unrelated (no group holds both): a case of its own
        ], rules: rules)
        #expect(r.sorted.map(\.riskItemIDs) == [["RI-00000001", "RI-00000002"], ["RI-00000003"]])
        #expect(r.sorted.map(\.category) == [.intrusion, .tripwire])
    }

    @Test func aLessSevereDetectionOfAnUngroupedCategoryJoinsItsCaseButOpensNone() {
        let r = Self.run([
            Self.camera("i1", "cam-1", .intrusion, 0, severity: .minor), Self.camera("i2", "cam-2", .intrusion, 1, severity: .minor),
        ])
        #expect(r.cases.isEmpty, "two cameras seeing intrusions make a slip, not a case (intrusion is correlated with nothing)")
        let joined = Self.run([
            Self.camera("i1", "cam-1", .intrusion, 0, severity: .critical), Self.camera("i2", "cam-2", .intrusion, 1, severity: .minor),
        ])
        #expect(joined.sorted.map(\.riskItemIDs) == [["RI-00000001", "RI-00000002"]])
    }

    @Test func theExclusionListNeverOpensACaseBySeverity() {
        var rules = RuleSet()
        rules.severities[.motion] = .critical
        rules.severities[.cameraTampered] = .critical
        let events = [
            Self.camera("m1", "cam-1", .motion, 0),
            NormalizedEvent(key: "status:cam-2:1", kind: .cameraStatus(.tampered), sourceKind: .camera, source: "cam-2",
                            category: .cameraTampered, time: Self.at(1)),
        ]
        let r = Self.run(events, rules: rules)
        #expect(r.slips.count == 2, "both are severity 1: a slip at once")
        #expect(r.cases.isEmpty, "motion and camera health are in cases.never_open_by_severity by default")
        rules.cases.neverOpenBySeverity = []
        #expect(Self.run(events, rules: rules).sorted.map(\.category) == [.motion, .cameraTampered])
    }

    @Test func aLateSeverityOneEventOpensNothing() {
        let r = Self.run([Self.camera("x", "cam-2", .loitering, 30), Self.camera("i1", "cam-1", .intrusion, 0)], rules: Self.criticalIntrusion)
        #expect(r.cases.isEmpty)
    }

    @Test func theExclusionListIsConfigured() throws {
        func rules(_ yaml: String) throws -> RuleSet { try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml")) }
        #expect(try rules("cases:\n  never_open_by_severity: [intrusion, motion]\n").cases.neverOpenBySeverity == [.intrusion, .motion])
        #expect(try rules("cases:\n  open_at_severity: 1\n").cases.neverOpenBySeverity == [.motion, .cameraOffline, .cameraTampered, .cameraDegraded])
        #expect(try rules("cases:\n  never_open_by_severity: []\n").cases.neverOpenBySeverity.isEmpty)
        #expect {
            try rules("cases:\n  due_days: 30\n  never_open_by_severity: [intrusion, burglary]\n")
        } throws: { error in
            let text = "\(error)"
            return text.contains("rules.yaml:3") && text.contains("never_open_by_severity") && text.contains("burglary")
        }
        #expect { try rules("cases:\n  never_open_by_severity: [sos]\n") } throws: { "\($0)".contains("rules.yaml:2") && "\($0)".contains("sos") }
    }

    // MARK: - Re-routing on escalation

    @Test func evidenceRaisingACaseToSeverityOneMovesItToTheDistrict() throws {
        // A worker's dispute report (severity 2) opens a street case; a fight (severity 1) on a camera joins it.
        var e = Self.engine()
        var r = Run()
        Self.run(&e, [Self.report("r1", "D1", .dispute, 0)], into: &r)
        let opened = try #require(r.sorted.first)
        #expect(opened.unit == "八廓街道综治中心")
        #expect(opened.dueAt == Self.at(0).addingTimeInterval(1 + 30 * 86_400))
        Self.run(&e, [Self.camera("f1", "cam-1", .fight, 10)], into: &r)
        let c = try #require(r.cases[opened.id])
        #expect(c.severity == .critical)
        #expect(c.unit == "城关区综治中心")
        #expect(c.dueAt == Self.at(10).addingTimeInterval(1 + 86_400), "a severity-1 deadline from the escalation, not from opening")
        #expect(r.reroutes == [CaseReroute(
            caseID: opened.id, fromUnit: "八廓街道综治中心", toUnit: "城关区综治中心", evidence: "RI-00000002",
            note: "escalated by evidence RI-00000002 (fight, severity 1): severity 1 goes to the district → 城关区综治中心 (was 八廓街道综治中心)")])
        // Already at the district: more severe evidence moves nothing.
        Self.run(&e, [Self.camera("f2", "cam-2", .fight, 12), Self.camera("c1", "cam-3", .crowdGathering, 13)], into: &r)
        #expect(r.cases[opened.id]?.riskItemIDs.count == 4)
        #expect(r.reroutes.count == 1)
    }

    @Test func evidenceOfADistrictCategoryMovesACaseToTheDistrict() throws {
        let r = Self.run([Self.report("r1", "D1", .dispute, 0), Self.camera("b1", "cam-1", .banner, 3)])
        let c = try #require(r.sorted.first)
        #expect(r.cases.count == 1)
        #expect(c.severity == .major, "banner is severity 2: the deadline stays")
        #expect(c.dueAt == Self.at(0).addingTimeInterval(1 + 30 * 86_400))
        #expect(c.unit == "城关区综治中心")
        #expect(r.reroutes.map(\.note) == ["escalated by evidence RI-00000002 (banner, severity 2): banner is a district matter → 城关区综治中心 (was 八廓街道综治中心)"])
    }

    @Test func aCaseOpenedAtTheDistrictOrWithoutRoutingIsNotReRouted() {
        let district = Self.run([Self.camera("f1", "cam-1", .fight, 0), Self.report("r1", "D1", .dispute, 2), Self.camera("b1", "cam-2", .banner, 3)])
        #expect(district.sorted.map(\.unit) == ["城关区综治中心"])
        #expect(district.reroutes.isEmpty)
        // Ordinary evidence never moves a case back to the street.
        #expect(district.sorted.first?.riskItemIDs.count == 3)
        // Without a zone directory (no zones file) a case keeps the placement's unit.
        var e = Self.engine(routed: false)
        var r = Run()
        Self.run(&e, [Self.report("r1", "D1", .dispute, 0), Self.camera("f1", "cam-1", .fight, 2)], into: &r)
        #expect(r.sorted.map(\.unit) == ["八廓街道综治中心"])
        #expect(r.reroutes.isEmpty)
    }
}
