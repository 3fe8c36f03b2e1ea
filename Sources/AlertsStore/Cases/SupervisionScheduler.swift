import Alerts
import Foundation
import GRDB

/// What deadline supervision reads and writes, inside one transaction of the
/// store (`SupervisionStore.supervision`). `SQLiteSupervision` is SQLite's;
/// PostgreSQL's is in AlertsStorePostgres.
public protocol SupervisionTransaction {
    /// Open cases, oldest first, with a document possibly due at `now` that was not issued yet:
    /// a due reminder (due within `rules.reminderLead`, not yet overdue), an overdue order, or an
    /// idle reminder (nothing done for `rules.idleInterval`, none issued in that interval).
    func casesPossiblyDue(now: Date, rules: SupervisionRules) throws -> [Case]
    /// The supervision documents issued for a case: their trigger keys (`case:ID:…`) and issue times.
    func issuedDocuments(caseID: String) throws -> [String: Date]
    /// The zones the store holds (names and units for the documents' text).
    func zoneDirectory() throws -> ZoneDirectory
    /// A case's transitions, oldest first.
    func transitions(caseID: String) throws -> [CaseTransition]
    /// The highest number of a slip of `kind` (0 when none).
    func lastSlipSeq(kind: Slip.Kind) throws -> Int
    /// Writes a document: the slip (numbered `seq`, with its `anchor` and unique `trigger`), its
    /// item links, its audit row (`slip.issued`, `auditDetail`) and its message on `topic` in the outbox.
    func issue(_ slip: Slip, seq: Int, anchor: Date, trigger: String, auditDetail: String, topic: String, now: Date) throws
}

/// A store deadline supervision runs over: `DisputeStore`, or `PostgresStore`.
public protocol SupervisionStore: Sendable {
    /// One supervision pass's transaction.
    associatedtype Supervision: SupervisionTransaction
    /// Runs `body` in one write transaction: its documents commit together, or none.
    func supervision<T>(_ body: (Supervision) throws -> T) throws -> T
}

/// Runs deadline supervision over the store: each `tick(now:)` finds open
/// cases whose reminder letter or supervision order is due, and issues each
/// document once — slip row with its trigger key, audit row, and the slip
/// JSON queued on `{prefix}/out/slips` — all in one transaction.
///
/// Idempotent: what was issued is read back from the store (the `slips.trigger`
/// unique index), so a tick repeated, or run again after a restart, issues nothing twice.
/// The hub calls `tick(now: Date())` every `tickSeconds` from the pipeline's thread;
/// tests call it with the times they choose.
public struct SupervisionScheduler<Store: SupervisionStore>: Sendable {
    /// The store whose open cases it supervises and where it issues documents.
    public let store: Store
    /// Decides which document is due for a case.
    public var supervisor: CaseSupervisor
    /// The prefix of the output topic documents are published on.
    public var outputPrefix: String
    /// Times on documents are written in this zone.
    public var timeZone: TimeZone

    /// A scheduler over `store` applying `rules`.
    public init(store: Store, rules: SupervisionRules = SupervisionRules(), outputPrefix: String,
                timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!) {
        self.store = store
        self.supervisor = CaseSupervisor(rules)
        self.outputPrefix = outputPrefix
        self.timeZone = timeZone
    }

    /// Issues the documents due at `now`; returns them in the order issued.
    @discardableResult
    public func tick(now: Date) throws -> [Slip] {
        try store.supervision { try self.issue(now: now, in: $0) }
    }

    private func issue(now: Date, in tx: Store.Supervision) throws -> [Slip] {
        let cases = try tx.casesPossiblyDue(now: now, rules: supervisor.rules)
        guard !cases.isEmpty else { return [] }
        var zones: ZoneDirectory?
        var issuedNow: [Slip] = []
        for c in cases {
            let due = supervisor.due(for: c, issued: try tx.issuedDocuments(caseID: c.id), now: now)
            guard !due.isEmpty else { continue }
            if zones == nil { zones = try tx.zoneDirectory() }
            let facts = SupervisionFacts(
                zoneName: zones?.zone(c.zone)?.name,
                escalation: zones.flatMap { CaseRouter.escalation(unit: c.unit, zone: c.zone, zones: $0) },
                // The last thing a person did: the hub's own re-routing is no handling.
                lastTransition: try tx.transitions(caseID: c.id).last { $0.action != .reroute }, timeZone: timeZone)
            for trigger in due {
                issuedNow.append(try write(trigger, case: c, facts: facts, now: now, in: tx))
            }
        }
        return issuedNow
    }

    private func write(_ trigger: CaseSupervisor.Trigger, case c: Case, facts: SupervisionFacts, now: Date, in tx: Store.Supervision) throws -> Slip {
        let kind = trigger.kind
        // Reminder letters are also issued by patrol supervision: the next number is read in this transaction.
        let seq = try tx.lastSlipSeq(kind: kind) + 1
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
        var detail = "\(key) → \(c.unit ?? "no unit")"
        if kind == .supervision, let e = facts.escalation?.unit { detail += ", escalated to \(e)" }
        try tx.issue(slip, seq: seq, anchor: anchor, trigger: key, auditDetail: detail, topic: "\(outputPrefix)/out/slips", now: now)
        return slip
    }
}

extension DisputeStore: SupervisionStore {
    /// One supervision pass on the store file's writer.
    public func supervision<T>(_ body: (SQLiteSupervision) throws -> T) throws -> T {
        try writer.write { db in try body(SQLiteSupervision(db: db)) }
    }
}

/// Deadline supervision's reads and writes on the SQLite store.
public struct SQLiteSupervision: SupervisionTransaction {
    let db: Database

    /// Open cases with a document possibly due (see the protocol).
    public func casesPossiblyDue(now: Date, rules: SupervisionRules) throws -> [Case] {
        let t = now.timeIntervalSince1970
        let open = Case.State.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        // The reminder falls due at most `reminderLead` before due_at.
        let rows = try CaseRow.fetchAll(db, sql: """
            SELECT * FROM cases c WHERE c.state IN (\(open)) AND (
                (c.due_at <= ? AND c.due_at > ? AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':due-reminder'))
             OR (c.due_at <= ? AND NOT EXISTS (SELECT 1 FROM slips s WHERE s.trigger = 'case:' || c.id || ':overdue'))
             OR (COALESCE(c.last_action_at, c.opened_at) <= ? AND NOT EXISTS (
                    SELECT 1 FROM slips s WHERE s.trigger >= 'case:' || c.id || ':idle:' AND s.trigger < 'case:' || c.id || ':idle;'
                    AND s.issued_at > ?)))
            ORDER BY c.seq
            """, arguments: [t + rules.reminderLead, t, t, t - rules.idleInterval, t - rules.idleInterval])
        return try DisputeStore.cases(rows, db: db)
    }

    /// The supervision documents issued for a case, by trigger key.
    public func issuedDocuments(caseID: String) throws -> [String: Date] {
        var issued: [String: Date] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT trigger, issued_at FROM slips WHERE trigger >= ? AND trigger < ?",
                                  arguments: ["case:\(caseID):", "case:\(caseID);"]) {
            issued[r[0]] = Date(timeIntervalSince1970: r[1])
        }
        return issued
    }

    /// The zones the store holds.
    public func zoneDirectory() throws -> ZoneDirectory { try ZoneDirectory(db: db) }

    /// A case's transitions, oldest first.
    public func transitions(caseID: String) throws -> [CaseTransition] { try DisputeStore.transitions(of: caseID, db: db) }

    /// The highest number of a slip of `kind`.
    public func lastSlipSeq(kind: Slip.Kind) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM slips WHERE kind = ?", arguments: [kind.rawValue]) ?? 0
    }

    /// Writes a document with its links, audit row and outbox message.
    public func issue(_ slip: Slip, seq: Int, anchor: Date, trigger: String, auditDetail: String, topic: String, now: Date) throws {
        try SlipRow(slip, seq: seq, anchor: anchor, trigger: trigger).insert(db)
        for item in slip.riskItemIDs {
            try db.execute(sql: "INSERT OR IGNORE INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)", arguments: [slip.id, item])
        }
        try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', ?, 'slip.issued', ?)",
                       arguments: [now.timeIntervalSince1970, slip.id, auditDetail])
        try DisputeStore.enqueue(topic: topic, slip.json, now: now, db: db)
    }
}
