@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport
import StoreTestSupport

/// `DisputeStore.act`: the one write path of operator actions.
@Suite("Case actions in the store")
struct CaseStoreActionTests {
    let t0 = CaseFixtures.local("2025-05-01 10:00")

    @Test("a case's history is bounded: past 1 000 entries only close and false-alarm are taken")
    func historyIsBounded() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        for i in 0..<CaseAction.maxActionsPerCase {
            try store.act(on: "AJ-00000001", CaseAction(.assign, by: "desk", assignee: "w\(i)"), now: t0.addingTimeInterval(Double(i)), outputPrefix: "p")
        }
        #expect {
            try store.act(on: "AJ-00000001", CaseAction(.assign, by: "desk", assignee: "one-more"), now: t0.addingTimeInterval(2000), outputPrefix: "p")
        } throws: { ($0 as? HubError)?.message.contains("has 1000 entries in its history, at most 1000") == true }
        let closed = try store.act(on: "AJ-00000001", CaseAction(.falseAlarm, by: "desk", note: "a rehearsal"), now: t0.addingTimeInterval(2001), outputPrefix: "p")
        #expect(closed.state == .falseAlarm, "a full history still lets the case be ended")
    }

    @Test func anActionWritesCaseTransitionAuditAndOutboxTogether() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        let at = t0.addingTimeInterval(300)
        let c = try store.act(on: "AJ-00000001", CaseAction(.assign, by: "值班员甲", note: "请尽快联系工地", assignee: "gw-005"),
                              now: at, outputPrefix: "patrolhub/v1")
        #expect(c.state == .assigned)
        #expect(c.assignee == "gw-005")
        #expect(c.lastActionAt == at)
        let stored = try #require(try store.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0) })
        #expect(stored == c)
        let history = try store.writer.read { try DisputeStore.transitions(of: "AJ-00000001", db: $0) }
        #expect(history == [CaseTransition(caseID: "AJ-00000001", at: at, actor: "值班员甲", action: .assign, from: .new, to: .assigned,
                                           note: "请尽快联系工地", detail: .object(["assignee": .string("gw-005")]))])
        let audit = try store.writer.read { try Row.fetchAll($0, sql: "SELECT actor, subject, action, detail FROM audit_log") }
        #expect(audit.count == 1)
        #expect(audit[0]["actor"] as String == "值班员甲")
        #expect(audit[0]["subject"] as String == "AJ-00000001")
        #expect(audit[0]["action"] as String == "case.assign")
        #expect(audit[0]["detail"] as String == #"new → assigned {"assignee":"gw-005"}: 请尽快联系工地"#)
        let out = try store.outbox(limit: 10)
        #expect(out.map(\.topic) == ["patrolhub/v1/out/cases"])
        #expect(try JSONParser.parse(out[0].payload) == c.json)
        #expect(try JSONParser.parse(out[0].payload)["state"] == .string("assigned"))
    }

    @Test func refusedActionsWriteNothing() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        #expect(throws: HubError.caseAction(.illegalTransition,
            "case AJ-00000001 is new: 'resolve' is not allowed from new (allowed: acknowledge, assign, false-alarm)")) {
            try store.act(on: "AJ-00000001", CaseAction(.resolve, by: "a", outcome: .withdrawn), now: t0, outputPrefix: "p")
        }
        #expect(throws: HubError.caseAction(.invalidAction, "'false-alarm' on case AJ-00000001 needs a note saying why")) {
            try store.act(on: "AJ-00000001", CaseAction(.falseAlarm, by: "a"), now: t0, outputPrefix: "p")
        }
        #expect(throws: HubError.caseAction(.unknownCase, "no case AJ-00000099")) {
            try store.act(on: "AJ-00000099", CaseAction(.acknowledge, by: "a"), now: t0, outputPrefix: "p")
        }
        #expect(try CaseFixtures.count("SELECT COUNT(*) FROM case_transitions", store) == 0)
        #expect(try CaseFixtures.count("SELECT COUNT(*) FROM audit_log", store) == 0)
        #expect(try store.outbox(limit: 10).isEmpty)
        #expect(try store.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0) }?.state == .new)
    }

    @Test func theHistoryIsAppendOnly() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        try store.act(on: "AJ-00000001", CaseAction(.acknowledge, by: "a"), now: t0, outputPrefix: "p")
        #expect(throws: DatabaseError.self) { try store.writer.write { try $0.execute(sql: "UPDATE case_transitions SET actor = 'x'") } }
        #expect(throws: DatabaseError.self) { try store.writer.write { try $0.execute(sql: "DELETE FROM case_transitions") } }
    }

    @Test func resolvingRecordsTheResolutionAndClosesTheCasesDocuments() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        let s = SupervisionScheduler(store: store, outputPrefix: "patrolhub/v1", timeZone: CaseFixtures.shanghai)
        #expect(try s.tick(now: t0.addingTimeInterval(7 * 86_400)).map(\.id) == ["DB-00000001"])
        for (i, a) in [CaseAction(.acknowledge, by: "值班员甲"), CaseAction(.assign, by: "值班员甲", assignee: "gw-005"),
                       CaseAction(.start, by: "gw-005")].enumerated() {
            try store.act(on: "AJ-00000001", a, now: t0.addingTimeInterval(8 * 86_400 + Double(i)), outputPrefix: "patrolhub/v1")
        }
        try store.deleteOutbox(ids: store.outbox(limit: 100).map(\.id))
        let at = t0.addingTimeInterval(12 * 86_400)
        let c = try store.act(on: "AJ-00000001", CaseAction(.resolve, by: "gw-005", note: "劳资双方达成分期支付协议",
                                                            outcome: .mediatedAgreement, amountCNY: 80_000, satisfaction: .satisfied),
                              now: at, outputPrefix: "patrolhub/v1")
        #expect(c.state == .resolved)
        #expect(c.outcome == "mediated_agreement" && c.amountCNY == 80_000 && c.satisfaction == "satisfied" && c.resolvedAt == at)
        let docs = try store.writer.read { try DisputeStore.documents(ofCase: "AJ-00000001", db: $0) }
        #expect(docs.map(\.state) == [.closed])
        #expect(docs[0].updatedAt == at)
        let out = try store.outbox(limit: 10)
        #expect(out.map(\.topic) == ["patrolhub/v1/out/cases", "patrolhub/v1/out/slips"])
        #expect(try JSONParser.parse(out[1].payload) == docs[0].json)
        // Nothing more is issued for a resolved case, however long it waits.
        #expect(try s.tick(now: t0.addingTimeInterval(60 * 86_400)).isEmpty)
    }

    @Test func listingFiltersByStateAndZoneWithItsChildren() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(id: "AJ-00000001"), to: store)
        var other = CaseFixtures.wageCase(id: "AJ-00000002")
        other.zone = "540102-002-001-01"
        try CaseFixtures.write(other, to: store)
        try store.act(on: "AJ-00000002", CaseAction(.acknowledge, by: "a"), now: t0, outputPrefix: "p")
        let list = { (state: Case.State?, zone: String?) in
            try store.writer.read { try DisputeStore.listCases(state: state, zone: zone, db: $0).map(\.id) }
        }
        #expect(try list(nil, nil) == ["AJ-00000002", "AJ-00000001"])
        #expect(try list(.new, nil) == ["AJ-00000001"])
        #expect(try list(nil, "540102-001") == ["AJ-00000001"])
        #expect(try list(nil, "540102-00") == [])
        #expect(try list(nil, "540102") == ["AJ-00000002", "AJ-00000001"])
        #expect(try list(.acknowledged, "540102-002-001-01") == ["AJ-00000002"])
    }
}
