import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO

/// Deadline supervision on PostgreSQL: statement for statement what
/// `SQLiteSupervision` does, in one transaction of the store's connection.
extension PostgresStore: SupervisionStore {
    /// One supervision pass's transaction.
    public func supervision<T>(_ body: (PostgresSupervision) throws -> T) throws -> T {
        try batch(outputPrefix: "") { try body(PostgresSupervision(batch: $0)) }
    }
}

/// Deadline supervision's reads and writes on the PostgreSQL store.
public struct PostgresSupervision: SupervisionTransaction {
    let batch: PostgresBatch

    /// Open cases with a document possibly due (see the protocol).
    public func casesPossiblyDue(now: Date, rules: SupervisionRules) throws -> [Case] {
        let t = now.timeIntervalSince1970
        let open = Case.State.allCases.filter(\.isOpen).map(\.rawValue)
        let ids = try batch.run("""
            SELECT c.id FROM cases c WHERE c.state = ANY(\(open)) AND (
                (c.due_at <= \(t + rules.reminderLead) AND c.due_at > \(t)
                 AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':due-reminder'))
             OR (c.due_at <= \(t) AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':overdue'))
             OR (COALESCE(c.last_action_at, c.opened_at) <= \(t - rules.idleInterval) AND NOT EXISTS (
                    SELECT 1 FROM slips s WHERE s.trigger >= 'case:' || c.id || ':idle:' AND s.trigger < 'case:' || c.id || ':idle;'
                    AND s.issued_at > \(t - rules.idleInterval))))
            ORDER BY c.seq
            """).rows.map { try $0.decode(String.self) }
        return try ids.compactMap { try batch.fetchCase(id: $0) }
    }

    /// The supervision documents issued for a case, by trigger key.
    public func issuedDocuments(caseID: String) throws -> [String: Date] {
        var issued: [String: Date] = [:]
        for row in try batch.run("SELECT trigger, issued_at FROM slips WHERE trigger >= \("case:\(caseID):") AND trigger < \("case:\(caseID);")").rows {
            let (trigger, at) = try row.decode((String, Double).self)
            issued[trigger] = Date(timeIntervalSince1970: at)
        }
        return issued
    }

    /// The zones the store holds.
    public func zoneDirectory() throws -> ZoneDirectory {
        ZoneDirectory(try batch.run("SELECT code, name, level, parent, unit FROM zones").rows.compactMap { row in
            let (code, name, level, parent, unit) = try row.decode((String, String, String, String?, String?).self)
            guard let level = ZoneLevel(rawValue: level) else { return nil }
            return ZoneUnit(code: code, name: name, level: level, parent: parent, unit: unit)
        })
    }

    /// A case's transitions, oldest first (an unknown action or state reads as the default, a
    /// detail that is not JSON as an empty object, as on SQLite).
    public func transitions(caseID: String) throws -> [CaseTransition] {
        try batch.run("""
            SELECT at, actor, action, from_state, to_state, note, detail FROM case_transitions WHERE case_id = \(caseID) ORDER BY at, id
            """).rows.map { row in
            let (at, actor, action, from, to, note, detail) = try row.decode((Double, String, String, String, String, String, String).self)
            return CaseTransition(caseID: caseID, at: Date(timeIntervalSince1970: at), actor: actor,
                                  action: CaseActionKind(rawValue: action) ?? .acknowledge,
                                  from: Case.State(rawValue: from) ?? .new, to: Case.State(rawValue: to) ?? .new,
                                  note: note, detail: (try? JSONParser.parse(detail)) ?? .object([:]))
        }
    }

    /// The highest number of a slip of `kind`.
    public func lastSlipSeq(kind: Slip.Kind) throws -> Int {
        try batch.run("SELECT MAX(seq) FROM slips WHERE kind = \(kind.rawValue)").rows.first?.decode(Int?.self) ?? 0
    }

    /// Writes a document with its links, audit row and outbox message.
    public func issue(_ slip: Slip, seq: Int, anchor: Date, trigger: String, auditDetail: String, topic: String, now: Date) throws {
        try batch.run("""
            INSERT INTO slips(seq, id, kind, zone, category, severity, unit, worker, issued_at, updated_at, anchor, state, case_id, text,
                              occurrences, trigger, closed_at, close_reason)
            VALUES (\(seq), \(slip.id), \(slip.kind.rawValue), \(slip.zone), \(slip.category.rawValue), \(slip.severity.rawValue), \(slip.unit),
                    \(slip.worker), \(slip.issuedAt.timeIntervalSince1970), \(slip.updatedAt.timeIntervalSince1970), \(anchor.timeIntervalSince1970),
                    \(slip.state.rawValue), \(slip.caseID), \(slip.text), \(slip.occurrences), \(trigger),
                    \(slip.closedAt?.timeIntervalSince1970), \(slip.closeReason))
            """)
        for item in slip.riskItemIDs {
            try batch.run("INSERT INTO slip_items(slip_id, risk_item_id) VALUES (\(slip.id), \(item)) ON CONFLICT DO NOTHING")
        }
        let t = now.timeIntervalSince1970
        try batch.audit(slip.id, "slip.issued", auditDetail, at: t)
        try batch.enqueue(topic: topic, slip.json, at: t)
    }
}
