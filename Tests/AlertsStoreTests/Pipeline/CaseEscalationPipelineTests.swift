@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport

/// Issue 12 through the real store: a case raised to the district is
/// persisted with its new unit and deadline, its `reroute` transition and
/// audit row, and published again — once, whatever restarts happen; and
/// drill and live stay apart across a restart.
@Suite("Cases: escalation and drill identity through the store")
struct CaseEscalationPipelineTests {
    typealias O = OutcomeTableTests
    typealias Message = OutcomeTableTests.Message

    static func drillCamera(_ cam: String, _ id: String, _ type: String, _ m: Double) -> Message {
        Message(topic: "patrolhub/v1/camera/\(cam)/event", payload: #"{"id":"\#(id)","type":"\#(type)","time":"\#(O.time(m))","drill":true}"#, minute: m)
    }

    final class Clock: @unchecked Sendable { var now = OutcomeTableTests.t0 }

    /// A processor routing cases through `EngineFixtures.caseZones` (grid G1 under street S under district D).
    static func processor(_ store: DisputeStore, _ clock: Clock, rules: RuleSet = RuleSet()) throws -> PipelineProcessor {
        let decode = DecodeStage(router: TopicRouter(), registry: O.registry, timeParser: TimeParser(), adapters: rules.adapters)
        var engine = RiskEngine(rules: rules, place: Placer(registry: O.registry, zones: nil).place)
        engine.cases.route = CaseRouter(rules.routing).function(zones: EngineFixtures.caseZones)
        return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
    }

    /// Feeds `messages` one per batch; a new processor takes over before each index in `restartAt`.
    static func run(_ messages: [Message], store: DisputeStore, restartAt: Set<Int> = []) throws {
        let clock = Clock()
        var p = try processor(store, clock)
        for (i, m) in messages.enumerated() {
            if restartAt.contains(i) { p = try processor(store, clock) }
            clock.now = O.t0.addingTimeInterval(m.minute * 60 + 1)
            try store.ingest([InboxMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: clock.now)])
            #expect(try p.processPending(limit: 10).deadLetters == 0)
        }
    }

    struct Escalation: Equatable {
        var unit: String?, severity: Int, dueAt: Date, items: Int
        var transitions: [String], audit: [String], published: [String?]
    }

    static func escalation(_ store: DisputeStore, _ id: String = "AJ-00000001") throws -> Escalation {
        let published = try store.outbox(limit: 100).filter { $0.topic == "patrolhub/v1/out/cases" }.map { m -> String? in
            if case .string(let u)? = try JSONParser.parse(m.payload)["unit"] { return u }
            return nil
        }
        return try store.writer.read { db in
            let c = try #require(try DisputeStore.fetchCase(id: id, db: db))
            let transitions = try DisputeStore.transitions(of: id, db: db).map {
                "\($0.actor) \($0.action.rawValue) \($0.from.rawValue)→\($0.to.rawValue): \($0.note) \($0.detail.serialized)"
            }
            let audit = try String.fetchAll(db, sql: "SELECT actor || ' ' || action || ' ' || detail FROM audit_log WHERE subject = ? AND action = 'case.reroute' ORDER BY id", arguments: [id])
            return Escalation(unit: c.unit, severity: c.severity.rawValue, dueAt: c.dueAt, items: c.riskItemIDs.count,
                              transitions: transitions, audit: audit, published: published)
        }
    }

    /// A worker's dispute report opens a street case; a fight joins it 10 min later; another fight later still.
    static let escalating = [O.report("D1", "r1", "dispute", 0), O.camera("cam-A", "f1", "fight", 10), O.camera("cam-B", "f2", "fight", 12)]

    static let note = "escalated by evidence RI-00000002 (fight, severity 1): severity 1 goes to the district → 城关区综治中心 (was 八廓街道综治中心)"
    static let detail = #"{"evidence":"RI-00000002","from_unit":"八廓街道综治中心","to_unit":"城关区综治中心"}"#

    @Test("escalated once, persisted and published again, with a restart at any point")
    func escalationIsPersistedOnceAcrossRestarts() throws {
        let expected = Escalation(
            unit: "城关区综治中心", severity: 1, dueAt: O.t0.addingTimeInterval(10 * 60 + 1 + 86_400), items: 3,
            transitions: ["patrolhub reroute new→new: \(Self.note) \(Self.detail)"],
            audit: ["patrolhub case.reroute new → new \(Self.detail): \(Self.note)"],
            published: ["八廓街道综治中心", "城关区综治中心", "城关区综治中心"])
        for restartAt in [Set<Int>(), [1], [2], [1, 2]] {
            let store = try DisputeStore.inMemory()
            try Self.run(Self.escalating, store: store, restartAt: restartAt)
            let got = try Self.escalation(store)
            #expect(got == expected, "restart before \(restartAt)")
            // A replay of everything (a restarted hub reading the inbox again) changes nothing.
            try Self.run(Self.escalating, store: store, restartAt: [0])
            #expect(try Self.escalation(store).transitions.count == 1)
        }
    }

    @Test func aCaseOpenedAndEscalatedInOneBatchRecordsTheTransition() throws {
        let store = try DisputeStore.inMemory()
        let clock = Clock()
        clock.now = O.t0.addingTimeInterval(11 * 60)
        try store.ingest(Self.escalating.prefix(2).map { InboxMessage(topic: $0.topic, payload: Array($0.payload.utf8), receivedAt: clock.now) })
        let p = try Self.processor(store, clock)
        #expect(try p.processPending(limit: 10).casesChanged == 1)
        let e = try Self.escalation(store)
        #expect(e.unit == "城关区综治中心")
        #expect(e.transitions == ["patrolhub reroute new→new: \(Self.note) \(Self.detail)"])
        #expect(e.published == ["城关区综治中心"])
    }

    @Test func theDistrictsOrdersAboutAnEscalatedCaseCountNoHandlingByTheHub() throws {
        let store = try DisputeStore.inMemory()
        try Self.run(Array(Self.escalating.prefix(2)), store: store)
        // Past the severity-1 deadline (one day from the escalation) without an action.
        let slips = try SupervisionScheduler(store: store, outputPrefix: "patrolhub/v1", timeZone: CaseFixtures.shanghai)
            .tick(now: O.t0.addingTimeInterval(10 * 60 + 1 + 86_400 + 3600))
        let order = try #require(slips.first { $0.kind == .supervision })
        #expect(order.unit == "城关区综治中心")
        #expect(order.text.contains("立案以来尚无处置"), "the hub's re-routing is no one's handling: \(order.text)")
        #expect(!order.text.contains("提级改派"))
    }

    @Test func escalationKeepsWhatPeopleDecidedAndLeavesAnEndedCaseAlone() throws {
        // Acknowledged and assigned: the case moves, its state and assignee stay.
        let store = try DisputeStore.inMemory()
        try Self.run([Self.escalating[0]], store: store)
        try store.act(on: "AJ-00000001", CaseAction(.assign, by: "值班员甲", assignee: "gw-005"), now: O.t0.addingTimeInterval(120), outputPrefix: "patrolhub/v1")
        try Self.run([Self.escalating[1]], store: store)
        let moved = try #require(try store.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0) })
        #expect(moved.state == .assigned)
        #expect(moved.assignee == "gw-005")
        #expect(moved.unit == "城关区综治中心")
        #expect(try Self.escalation(store).transitions.last?.hasPrefix("patrolhub reroute assigned→assigned: escalated by evidence RI-00000002") == true)

        // Declared a false alarm: the evidence is linked (as always), but the case is not re-routed.
        let ended = try DisputeStore.inMemory()
        try Self.run([Self.escalating[0]], store: ended)
        try ended.act(on: "AJ-00000001", CaseAction(.falseAlarm, by: "值班员甲", note: "邻居已和解"), now: O.t0.addingTimeInterval(120), outputPrefix: "patrolhub/v1")
        try Self.run([Self.escalating[1]], store: ended)
        let e = try Self.escalation(ended)
        #expect(e.items == 2)
        #expect(e.unit == "八廓街道综治中心")
        #expect(e.audit.isEmpty)
        #expect(e.transitions.count == 1 && e.transitions[0].contains("false-alarm"))
        let state = try ended.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0)?.state }
        #expect(state == .falseAlarm)
    }

    // MARK: - Drill and live across a restart

    /// Live and drill intrusions on the same cameras, and crowds on two cameras of one grid, interleaved.
    static let interleaved = [
        O.camera("cam-A", "i1", "intrusion", 0), drillCamera("cam-A", "i2", "intrusion", 0.5),
        O.camera("cam-A", "i3", "intrusion", 1), drillCamera("cam-B", "i4", "intrusion", 2),
        O.camera("cam-A", "c1", "crowd_gathering", 3), drillCamera("cam-B", "c2", "crowd_gathering", 4),
        O.camera("cam-B", "c3", "crowd_gathering", 5),
    ]

    static func drillFlags(_ store: DisputeStore) throws -> [String] {
        try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, drill, occurrences FROM risk_items ORDER BY id").map { "\($0[0] as String) \($0[1] as Bool ? "drill" : "live") ×\($0[2] as Int)" }
        }
    }

    @Test("drill and live stay apart, with a restart at any point")
    func drillAndLiveStayApartAcrossRestarts() throws {
        var rules = RuleSet()
        rules.thresholds[.intrusion] = 2
        let (running, outcomes) = try ReviewFindingsTests.run(Self.interleaved, rules: rules)
        #expect(try Self.drillFlags(running) == ["RI-00000001 live ×2", "RI-00000002 drill ×1", "RI-00000003 drill ×1",
                                                 "RI-00000004 live ×1", "RI-00000005 drill ×1", "RI-00000006 live ×1"])
        #expect(outcomes.slips == [
            O.SlipRow(zone: "G1", category: "crowd_gathering", items: 2), O.SlipRow(zone: "G1", category: "crowd_gathering", items: 1),
            O.SlipRow(zone: "G1", category: "intrusion", items: 1), O.SlipRow(zone: "G1", category: "intrusion", items: 2),
        ])
        #expect(outcomes.cases == [O.CaseRow(rule: "correlation", zone: "G1", category: "crowd_gathering", severity: 2, items: 2, sources: ["cam-A", "cam-B"])])
        let slipItems = try running.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT slip_id, group_concat(risk_item_id) FROM (SELECT * FROM slip_items ORDER BY risk_item_id) GROUP BY slip_id ORDER BY slip_id").map { "\($0[0] as String): \($0[1] as String)" }
        }
        #expect(slipItems == ["YJ-00000001: RI-00000001", "YJ-00000002: RI-00000002,RI-00000003",
                              "YJ-00000003: RI-00000004,RI-00000006", "YJ-00000004: RI-00000005"])
        let caseItems = try running.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0)?.riskItemIDs }
        #expect(caseItems == ["RI-00000004", "RI-00000006"])
        for restartAt in 1..<Self.interleaved.count {
            let (store, restarted) = try ReviewFindingsTests.run(Self.interleaved, rules: rules, restartAt: restartAt)
            #expect(restarted == outcomes, "restart before message \(restartAt)")
            #expect(try Self.drillFlags(store) == Self.drillFlags(running), "restart before message \(restartAt)")
        }
    }
}
