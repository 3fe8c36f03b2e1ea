@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// The change log the live stream tails: written by triggers for every
/// writer, in commit order, pruned by age and size.
@Suite("Change log")
struct ChangeLogTests {
    let t0 = Date(timeIntervalSince1970: 1_750_000_000)

    func sampleCase(_ n: Int, state: Case.State = .new) -> Case {
        Case(id: Case.id(n), rule: .severity, zone: "Z-A", category: .fight, severity: .critical, state: state, unit: "unit",
             openedAt: t0, dueAt: t0.addingTimeInterval(86_400), explanation: "test", riskItemIDs: [], sources: ["cam-1"], categories: [.fight])
    }

    func changes(_ store: DisputeStore, after seq: Int64 = 0) throws -> [String] {
        try store.writer.read { db in
            try DisputeStore.changes(after: seq, limit: 100, db: db).map { "\($0.kind.rawValue) \($0.subject) \($0.op.rawValue)" }
        }
    }

    @Test("inserts, meaningful updates and transitions each leave one row, in order; counters do not; the object is read as it is now")
    func triggersRecordEveryWrite() throws {
        let store = try DisputeStore.inMemory()
        #expect(try store.latestChangeSeq() == 0)
        try store.writer.write { db in try DisputeStore.write(case: sampleCase(1), evidenceAt: t0, db: db) }
        try store.writer.write { db in
            try DisputeStore.write(case: sampleCase(1, state: .acknowledged), evidenceAt: nil, db: db)
            try db.execute(sql: "INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state) VALUES ('AJ-00000001', ?, 'desk-1', 'acknowledge', 'new', 'acknowledged')",
                           arguments: [t0.timeIntervalSince1970])
            try db.execute(sql: """
                INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, first_seen, last_seen, occurrences, state)
                VALUES (1, 'FX-00000001', 'cam-1', 'camera', 'fight', 1, 'Z-A', ?, ?, 1, 'open')
                """, arguments: [t0.timeIntervalSince1970, t0.timeIntervalSince1970])
            try db.execute(sql: "UPDATE risk_items SET occurrences = 2 WHERE id = 'FX-00000001'") // a counter: not a change
            try db.execute(sql: "UPDATE risk_items SET state = 'closed' WHERE id = 'FX-00000001'")
        }
        #expect(try changes(store) == [
            "case AJ-00000001 new", "case AJ-00000001 updated", "transition 1 new", "risk_item FX-00000001 new", "risk_item FX-00000001 updated",
        ])
        #expect(try store.latestChangeSeq() == 5)
        #expect(try changes(store, after: 3) == ["risk_item FX-00000001 new", "risk_item FX-00000001 updated"])
        let objects = try store.writer.read { db in
            try DisputeStore.changes(after: 0, limit: 100, db: db).map { try DisputeStore.object(of: $0, db: db) }
        }
        #expect(objects[0]?["state"] == .string("acknowledged"), "a change shows the object's state now")
        #expect(objects[2]?["to"] == .string("acknowledged"))
        #expect(objects[2]?["by"] == .string("desk-1"))
        #expect(objects[3]?["occurrences"] == .number(2))
    }

    @Test("pruning keeps the newest rows and never reuses a number")
    func pruning() throws {
        let store = try DisputeStore.inMemory()
        for n in 1...10 { try store.writer.write { db in try DisputeStore.write(case: sampleCase(n), evidenceAt: t0, db: db) } }
        #expect(try store.pruneChanges(olderThan: .distantPast, keepingNewest: 4) == 6)
        #expect(try changes(store) == (7...10).map { "case \(Case.id($0)) new" })
        #expect(try store.pruneChanges(olderThan: .distantPast, keepingNewest: 100) == 0)
        #expect(try store.pruneChanges(olderThan: Date().addingTimeInterval(60)) == 4, "rows written now are older than a minute from now")
        try store.writer.write { db in try DisputeStore.write(case: sampleCase(11), evidenceAt: t0, db: db) }
        #expect(try store.latestChangeSeq() == 11, "AUTOINCREMENT: a pruned number is never reused")
    }
}

@Suite("Pipeline lag")
struct PipelineLagTests {
    @Test("the oldest message the pipeline has not processed, nil when drained")
    func oldestPending() throws {
        let store = try DisputeStore.inMemory()
        #expect(try store.oldestPendingReceivedAt() == nil)
        let t = Date(timeIntervalSince1970: 1_750_000_000)
        try store.ingest([InboxMessage(topic: "a", payload: [1], receivedAt: t), InboxMessage(topic: "b", payload: [2], receivedAt: t.addingTimeInterval(5))])
        #expect(try store.oldestPendingReceivedAt() == t)
        try store.writer.write { db in try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = 1") }
        #expect(try store.oldestPendingReceivedAt() == t.addingTimeInterval(5))
        try store.writer.write { db in try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = 2") }
        #expect(try store.oldestPendingReceivedAt() == nil)
    }
}
