import Alerts
import Foundation
import GRDB

extension Migrations {
    /// v4-case-actions: a transition keeps the action's fields (assignee,
    /// outcome, amount, satisfaction) as JSON, so the append-only history
    /// alone tells who got the case and how it ended, even after a reopen
    /// cleared the resolution on the case row.
    static func registerCaseActions(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-case-actions") { db in
            try db.execute(sql: """
                ALTER TABLE case_transitions ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';
                """)
        }
    }
}

/// The one place operator actions change a case: the CLI (`patrolhub cases
/// act`) and the HTTP API (`POST /api/v1/cases/{id}/actions`) both call
/// `act(on:_:now:outputPrefix:)`.
extension DisputeStore {
    /// Applies an operator action to a case, in one transaction: the case
    /// row, an append-only `case_transitions` row, an `audit_log` row, and
    /// the updated case JSON queued on `{outputPrefix}/out/cases`. When the
    /// action ends the case (resolve, close, false-alarm), its open reminder
    /// letters and supervision orders are closed and published again; when it
    /// closes the case (close, false-alarm), so are the open warning slips that
    /// became the case (`case_id`), with `close_reason` `case_closed` or
    /// `case_false_alarm` (a reopened case does not reopen them).
    ///
    /// - Returns: the case as stored after the action.
    /// - Throws: `HubError.caseAction` (`.unknownCase`, `.illegalTransition`,
    ///   `.invalidAction`) with a one-line message; nothing is written then.
    @discardableResult
    public func act(on caseID: String, _ action: CaseAction, now requested: Date, outputPrefix: String) throws -> Case {
        try writer.write { db in
            guard let current = try Self.fetchCase(id: caseID, db: db) else {
                throw HubError.caseAction(.unknownCase, "no case \(caseID)")
            }
            // Never before the case's last transition: an action that waited for another one is
            // recorded after it, so its history reads in order by time.
            let last = try Double.fetchOne(db, sql: "SELECT MAX(at) FROM case_transitions WHERE case_id = ?", arguments: [caseID])
            let now = max(requested, last.map(Date.init(timeIntervalSince1970:)) ?? requested)
            let (next, transition) = try current.applying(action, at: now)
            // A case's whole history is shown, published and read back by every board that has the
            // case open, after every action: bounded, so that one operator cannot make it megabytes.
            let actions = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM case_transitions WHERE case_id = ?", arguments: [caseID]) ?? 0 // indexed
            if actions >= CaseAction.maxActionsPerCase, action.kind != .close, action.kind != .falseAlarm {
                throw HubError.caseAction(.invalidAction, "case \(caseID) has \(actions) entries in its history, at most \(CaseAction.maxActionsPerCase) (close or false-alarm still end it)")
            }
            try Self.write(case: next, evidenceAt: nil, db: db)
            try Self.append(transition, db: db)
            var detail = "\(transition.from.rawValue) → \(transition.to.rawValue)"
            if case .object(let o) = transition.detail, !o.isEmpty { detail += " " + transition.detail.serialized }
            if !transition.note.isEmpty { detail += ": " + transition.note }
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [now.timeIntervalSince1970, transition.actor, caseID, "case.\(action.kind.rawValue)", detail])
            try Self.enqueue(topic: "\(outputPrefix)/out/cases", next.json, now: now, db: db)
            if !next.state.isOpen {
                for slip in try Self.closeSupervisionDocuments(caseID: caseID, now: now, db: db) {
                    try Self.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, now: now, db: db)
                }
            }
            if next.state == .closed || next.state == .falseAlarm {
                let reason: Slip.CloseReason = next.state == .closed ? .caseClosed : .caseFalseAlarm
                for slip in try Self.closeWarningSlips(caseID: caseID, reason, now: now, db: db) {
                    try Self.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, now: now, db: db)
                }
            }
            return next
        }
    }

    /// A case's history, oldest first.
    public static func transitions(of caseID: String, db: Database) throws -> [CaseTransition] {
        try CaseTransitionRow.fetchAll(db, sql: "SELECT * FROM case_transitions WHERE case_id = ? ORDER BY at, id", arguments: [caseID]).map(\.transition)
    }

    /// Reminder letters, supervision orders and warning slips that name the case, by issue time.
    public static func documents(ofCase caseID: String, db: Database) throws -> [Slip] {
        try slips(SlipRow.fetchAll(db, sql: "SELECT * FROM slips WHERE case_id = ? ORDER BY issued_at, id", arguments: [caseID]), db: db)
    }

    /// The risk items linked to a case (its evidence), oldest first.
    public static func riskItems(ofCase caseID: String, db: Database) throws -> [RiskItem] {
        try RiskItemRow.items(db, sql: """
            SELECT r.* FROM risk_items r JOIN case_items ci ON ci.risk_item_id = r.id
            WHERE ci.case_id = ? ORDER BY r.first_seen, r.id
            """, arguments: [caseID])
    }

    /// Cases for listing, newest first. `zone` matches the zone and every
    /// zone below it (codes are hierarchical: `540102-001` lists its grids).
    public static func listCases(state: Case.State? = nil, zone: String? = nil, limit: Int = 100, db: Database) throws -> [Case] {
        var sql = "SELECT * FROM cases WHERE 1"
        var args: [any DatabaseValueConvertible] = []
        if let state { sql += " AND state = ?"; args.append(state.rawValue) }
        if let zone {
            sql += " AND (zone = ? OR substr(zone, 1, ?) = ?)"
            args.append(contentsOf: [zone, zone.count + 1, zone + "-"] as [any DatabaseValueConvertible])
        }
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return try cases(CaseRow.fetchAll(db, sql: sql, arguments: StatementArguments(args)), db: db)
    }

    static func append(_ t: CaseTransition, db: Database) throws {
        try db.execute(sql: """
            INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state, note, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [t.caseID, t.at.timeIntervalSince1970, t.actor, t.action.rawValue, t.from.rawValue, t.to.rawValue,
                             t.note, t.detail.serialized])
    }

    /// Queues a JSON object for the publisher (sent after the transaction commits).
    static func enqueue(topic: String, _ json: JSONValue, now: Date, db: Database) throws {
        try db.execute(sql: "INSERT INTO outbox(topic, payload, created_at) VALUES (?, ?, ?)",
                       arguments: [topic, Data(json.serialized.utf8), now.timeIntervalSince1970])
    }

    /// Closes the open warning slips that became the case; returns them as closed.
    /// (The pipeline learns of it from the change log before its next batch.)
    static func closeWarningSlips(caseID: String, _ reason: Slip.CloseReason, now: Date, db: Database) throws -> [Slip] {
        let ids = try String.fetchAll(db, sql: "SELECT id FROM slips WHERE case_id = ? AND kind = 'warning' AND state = 'open' ORDER BY id", arguments: [caseID])
        guard !ids.isEmpty else { return [] }
        try db.execute(sql: """
            UPDATE slips SET state = 'closed', updated_at = ?, closed_at = ?, close_reason = ?
            WHERE case_id = ? AND kind = 'warning' AND state = 'open'
            """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, reason.rawValue, caseID])
        return try documents(ofCase: caseID, db: db).filter { ids.contains($0.id) }
    }

    /// Closes the case's open reminder letters and supervision orders; returns them as closed.
    static func closeSupervisionDocuments(caseID: String, now: Date, db: Database) throws -> [Slip] {
        let ids = try String.fetchAll(db, sql: """
            SELECT id FROM slips WHERE case_id = ? AND kind IN ('reminder', 'supervision') AND state = 'open' ORDER BY id
            """, arguments: [caseID])
        guard !ids.isEmpty else { return [] }
        try db.execute(sql: """
            UPDATE slips SET state = 'closed', updated_at = ?, closed_at = ?
            WHERE case_id = ? AND kind IN ('reminder', 'supervision') AND state = 'open'
            """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, caseID])
        return try documents(ofCase: caseID, db: db).filter { ids.contains($0.id) }
    }
}
