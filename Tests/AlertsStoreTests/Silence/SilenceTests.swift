@testable import AlertsStore
import Foundation
import Testing
@testable import Alerts
import TestSupport

@Suite("Silences")
struct SilenceTests {
    static let t0 = EngineFixtures.t0
    static func at(_ m: Double) -> Date { EngineFixtures.at(m) }

    /// Grid Z-A-1 under community Z-A; cam-3 sits in grid Z-B-1 under Z-B.
    static func engine(_ silences: [Silence]) -> RiskEngine {
        var e = RiskEngine(rules: RuleSet()) { ev in
            ev.source == "cam-3" ? Placement(zone: "Z-B-1", parents: ["D", "Z-B"]) : Placement(zone: "Z-A-1", parents: ["D", "Z-A"])
        }
        e.silences = silences
        return e
    }

    static func silence(id: String = "JM-000001", zone: String? = nil, category: Alerts.Category? = nil, source: String? = nil, drill: Bool? = nil,
                        from: Double = 0, to: Double = 30) -> Silence {
        EngineFixtures.silence(id: id, zone: zone, category: category, source: source, drill: drill, from: from, to: to)
    }

    static func items(_ engine: inout RiskEngine, _ events: [NormalizedEvent]) -> (items: [RiskItem], slips: Int) {
        var items: [String: RiskItem] = [:]
        var slips = Set<String>()
        for ev in events {
            for effect in engine.handle(ev, now: ev.time) {
                if case .item(let i) = effect { items[i.id] = i }
                if case .slip(let s, _, _) = effect { slips.insert(s.id) }
            }
        }
        return (items.values.sorted { $0.id < $1.id }, slips.count)
    }

    @Test func aSilencedItemIsKeptSuppressedThenActiveAfterExpiry() {
        var e = Self.engine([Self.silence(zone: "Z-A", from: 0, to: 30)])
        let r = Self.items(&e, [EngineFixtures.event("a", "cam-1", .fight, 5), EngineFixtures.event("b", "cam-1", .fight, 40)])
        #expect(r.items.count == 2)
        #expect(r.items[0].suppressedBy == "silenced: JM-000001 by op-7: camera maintenance")
        #expect(r.items[1].suppressedBy == nil)
        #expect(r.slips == 1, "only the fight after the silence raises a slip")
    }

    @Test func zoneMatchesChildrenButNotSiblings() {
        var e = Self.engine([Self.silence(zone: "Z-A")])
        let r = Self.items(&e, [EngineFixtures.event("a", "cam-1", .fight, 1), EngineFixtures.event("b", "cam-3", .fight, 1)])
        #expect(r.items.map(\.suppressedBy?.isEmpty) == [false, nil])
    }

    @Test(arguments: [
        (Silence?.none, false), (SilenceTests.silence(category: .fight), true), (SilenceTests.silence(category: .motion), false),
        (SilenceTests.silence(source: "cam-1"), true), (SilenceTests.silence(source: "cam-2"), false),
        (SilenceTests.silence(drill: true), false), (SilenceTests.silence(drill: false), true),
        (SilenceTests.silence(zone: "Z-A-1", category: .fight), true), (SilenceTests.silence(zone: "Z-A-1", category: .motion), false),
        (SilenceTests.silence(category: .fight, from: 10, to: 20), false),
    ])
    func matchers(silence: Silence?, muted: Bool) {
        var e = Self.engine(silence.map { [$0] } ?? [])
        let r = Self.items(&e, [EngineFixtures.event("a", "cam-1", .fight, 5)])
        #expect((r.items.first?.suppressedBy != nil) == muted)
    }

    @Test func validationNamesTheField() {
        var s = Self.silence(zone: "Z-A")
        s.createdBy = " "
        #expect(throws: HubError.self) { try s.validate() }
        s.createdBy = "op"
        s.comment = ""
        do { try s.validate(); Issue.record("no error") } catch { #expect(error.field == "comment") }
        let noMatcher = Silence(id: "", startsAt: Self.at(0), endsAt: Self.at(1), createdBy: "op", comment: "x", createdAt: Self.at(0))
        do { try noMatcher.validate(); Issue.record("no error") } catch { #expect(error.field == "matchers") }
    }

    @Test func storeAddListExpireDelete() throws {
        let store = try DisputeStore.inMemory()
        let saved = try store.addSilence(Self.silence(id: "", category: .motion))
        #expect(saved.id == "JM-000001")
        let second = try store.addSilence(Silence(id: "", source: "cam-9", startsAt: Self.at(0), endsAt: Self.at(60), createdBy: "op", comment: "drill", createdAt: Self.at(0)))
        #expect(second.id == "JM-000002")
        #expect(try store.silences(endingAfter: Self.at(10)).map(\.id) == ["JM-000001", "JM-000002"])
        #expect(try store.expireSilence(id: "JM-000002", by: "op", at: Self.at(5)))
        #expect(try store.silences(endingAfter: Self.at(10)).map(\.id) == ["JM-000001"])
        #expect(try store.deleteSilence(id: "JM-000001", by: "op", at: Self.at(6)))
        #expect(try store.silences().map(\.id) == ["JM-000002"])
        let third = try store.addSilence(Self.silence(id: "", category: .garbage))
        #expect(third.id == "JM-000003", "a deleted silence's id is not reused")
        #expect(try !store.expireSilence(id: "JM-000404", by: "op", at: Self.at(6)))
        #expect(throws: HubError.self) { try store.addSilence(Silence(id: "", zone: "Z", startsAt: Self.at(0), endsAt: Self.at(1), createdBy: "op", comment: "", createdAt: Self.at(0))) }
    }

    @Test func unknownNamesAndRepeatedExpiriesAreRefused() throws {
        let store = try DisputeStore.inMemory()
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO zones(code, name, level) VALUES ('Z-A', 'A', 'grid')")
            try db.execute(sql: "INSERT INTO cameras(id, name) VALUES ('cam-1', 'one')")
        }
        func refused(_ s: Silence, _ field: String) {
            #expect { try store.addSilence(s) } throws: { ($0 as? HubError)?.field == field }
        }
        refused(Silence(id: "", zone: "Z-9", startsAt: Self.at(0), endsAt: Self.at(60), createdBy: "op", comment: "typo", createdAt: Self.at(0)), "zone")
        refused(Silence(id: "", source: "cam-9", startsAt: Self.at(0), endsAt: Self.at(60), createdBy: "op", comment: "typo", createdAt: Self.at(0)), "source")
        let known = try store.addSilence(Silence(id: "", zone: "Z-A", source: "cam-1", startsAt: Self.at(0), endsAt: Self.at(60), createdBy: "op",
                                                 comment: "maintenance", createdAt: Self.at(0)))
        #expect(try store.expireSilence(id: known.id, by: "op", at: Self.at(10)))
        #expect { try store.expireSilence(id: known.id, by: "op", at: Self.at(11)) } throws: { ($0 as? HubError)?.message.contains("already") == true }
        // A silence that has not started is cut to nothing, never to an end before its start.
        let later = try store.addSilence(Silence(id: "", zone: "Z-A", startsAt: Self.at(30), endsAt: Self.at(90), createdBy: "op", comment: "tonight",
                                                 createdAt: Self.at(0)))
        #expect(try store.expireSilence(id: later.id, by: "op", at: Self.at(20)))
        let cut = try #require(try store.silences().first { $0.id == later.id })
        #expect(cut.endsAt == cut.startsAt)
        let audits = try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM audit_log WHERE action = 'silence.expired'") }
        #expect(audits == 2)
    }

    @Test func thePipelineAppliesSilencesFromTheStore() throws {
        let store = try DisputeStore.inMemory()
        let p = try PipelineProcessorTests.make(store)
        try store.addSilence(Silence(id: "", zone: "Z-A", startsAt: PipelineProcessorTests.now.addingTimeInterval(-3600),
                                     endsAt: PipelineProcessorTests.now.addingTimeInterval(3600), createdBy: "op", comment: "works", createdAt: PipelineProcessorTests.now))
        try store.ingest([PipelineProcessorTests.msg("cam-1", "a", "fight", 1)])
        try p.processPending(limit: 10)
        #expect(try store.riskItems().map(\.suppressedBy) == ["silenced: JM-000001 by op: works"])
        #expect(try store.slips().isEmpty)
    }
}
