import Alerts
import Foundation
import GRDB

/// Runs deadline supervision over the store: each `tick(now:)` finds open
/// cases whose reminder letter or supervision order is due, and issues each
/// document once — slip row with its trigger key, audit row, and the slip
/// JSON queued on `{prefix}/out/slips` — all in one transaction.
///
/// Idempotent: what was issued is read back from the store (the `slips.trigger`
/// unique index), so a tick repeated, or run again after a restart, issues nothing twice.
/// The hub calls `tick(now: Date())` every `tickSeconds` from the pipeline's thread;
/// tests call it with the times they choose.
public struct SupervisionScheduler: Sendable {
    /// The store whose open cases it supervises and where it issues documents.
    public let store: DisputeStore
    /// Decides which document is due for a case.
    public var supervisor: CaseSupervisor
    /// The prefix of the output topic documents are published on.
    public var outputPrefix: String
    /// Times on documents are written in this zone.
    public var timeZone: TimeZone

    /// A scheduler over `store` applying `rules`.
    public init(store: DisputeStore, rules: SupervisionRules = SupervisionRules(), outputPrefix: String,
                timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!) {
        self.store = store
        self.supervisor = CaseSupervisor(rules)
        self.outputPrefix = outputPrefix
        self.timeZone = timeZone
    }

    /// Issues the documents due at `now`; returns them in the order issued.
    @discardableResult
    public func tick(now: Date) throws -> [Slip] {
        try store.writer.write { db in try self.issue(now: now, db: db) }
    }

    private func issue(now: Date, db: Database) throws -> [Slip] {
        let rules = supervisor.rules
        let t = now.timeIntervalSince1970
        // Open cases with something possibly due and not yet issued (the
        // reminder falls due at most `reminderLead` before due_at).
        let open = Case.State.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let rows = try CaseRow.fetchAll(db, sql: """
            SELECT * FROM cases c WHERE c.state IN (\(open)) AND (
                (c.due_at <= ? AND c.due_at > ? AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':due-reminder'))
             OR (c.due_at <= ? AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':overdue'))
             OR (COALESCE(c.last_action_at, c.opened_at) <= ? AND NOT EXISTS (
                    SELECT 1 FROM slips s WHERE s.trigger >= 'case:' || c.id || ':idle:' AND s.trigger < 'case:' || c.id || ':idle;'
                    AND s.issued_at > ?)))
            ORDER BY c.seq
            """, arguments: [t + rules.reminderLead, t, t, t - rules.idleInterval, t - rules.idleInterval])
        guard !rows.isEmpty else { return [] }
        var zones: ZoneDirectory?
        var issuedNow: [Slip] = []
        for row in rows {
            let c = try row.case(db: db)
            var issued: [String: Date] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT trigger, issued_at FROM slips WHERE trigger >= ? AND trigger < ?",
                                      arguments: ["case:\(c.id):", "case:\(c.id);"]) {
                issued[r[0]] = Date(timeIntervalSince1970: r[1])
            }
            let due = supervisor.due(for: c, issued: issued, now: now)
            guard !due.isEmpty else { continue }
            if zones == nil { zones = try ZoneDirectory(db: db) }
            let facts = SupervisionFacts(
                zoneName: zones?.zone(c.zone)?.name,
                escalation: zones.flatMap { CaseRouter.escalation(unit: c.unit, zone: c.zone, zones: $0) },
                // The last thing a person did: the hub's own re-routing is no handling.
                lastTransition: try DisputeStore.transitions(of: c.id, db: db).last { $0.action != .reroute }, timeZone: timeZone)
            for trigger in due {
                let slip = try write(trigger, case: c, facts: facts, now: now, db: db)
                issuedNow.append(slip)
            }
        }
        return issuedNow
    }

    private func write(_ trigger: CaseSupervisor.Trigger, case c: Case, facts: SupervisionFacts, now: Date, db: Database) throws -> Slip {
        let kind = trigger.kind
        // Reminder letters are also issued by patrol supervision: the next number is read in this transaction.
        let seq = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = ?", arguments: [kind.rawValue]) ?? 0) + 1
        let id = RiskEngine.slipID(kind, seq)
        let key = trigger.key(caseID: c.id)
        let anchor: Date
        switch trigger {
        case .dueReminder: anchor = supervisor.reminderTime(for: c)
        case .overdue: anchor = c.dueAt
        case .idle(_, let since): anchor = since.addingTimeInterval(supervisor.rules.idleInterval)
        }
        let slip = Slip(id: id, kind: kind, zone: c.zone, category: c.category, severity: c.severity, unit: c.unit, worker: c.worker,
                        issuedAt: now, caseID: c.id, text: supervisor.text(for: trigger, slipID: id, case: c, facts: facts, now: now),
                        riskItemIDs: c.riskItemIDs, occurrences: 1)
        try SlipRow(slip, seq: seq, anchor: anchor, trigger: key).insert(db)
        for item in c.riskItemIDs {
            try db.execute(sql: "INSERT OR IGNORE INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)", arguments: [id, item])
        }
        var detail = "\(key) → \(c.unit ?? "no unit")"
        if kind == .supervision, let e = facts.escalation?.unit { detail += ", escalated to \(e)" }
        try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'slip.issued', ?)",
                       arguments: [now.timeIntervalSince1970, id, detail])
        try DisputeStore.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, now: now, db: db)
        return slip
    }
}
