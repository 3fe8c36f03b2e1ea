import Alerts
import Foundation
import GRDB

/// One row of the change log (`changes`, migration `v4-http-changes`): a risk
/// item, slip or case was inserted or updated, or a case transition was
/// recorded. Triggers write the rows, so every writer is covered.
public struct Change: Sendable, Hashable {
    /// What changed: a risk item, a slip, a case or a case transition.
    public enum Kind: String, Sendable, CaseIterable { case riskItem = "risk_item", slip, `case`, transition }
    /// Whether the row was inserted or updated.
    public enum Op: String, Sendable { case new, updated }

    /// Grows in commit order; never reused (the stream's event id).
    public var seq: Int64
    /// The kind of object that changed.
    public var kind: Kind
    /// The object's id (a transition: its row id in `case_transitions`).
    public var subject: String
    /// Inserted or updated.
    public var op: Op
    /// Processing time of the write.
    public var at: Date

    /// A change row as the store reads it.
    public init(seq: Int64, kind: Kind, subject: String, op: Op, at: Date) {
        self.seq = seq
        self.kind = kind
        self.subject = subject
        self.op = op
        self.at = at
    }
}

/// A recorded case transition (`case_transitions`), as the API shows it.
public struct CaseTransitionRecord: Sendable, Hashable {
    /// The transition's row id.
    public var id: Int64
    /// The case it belongs to.
    public var caseID: String
    /// When it happened (processing time).
    public var at: Date
    /// Who acted: an operator, or the hub.
    public var actor: String
    /// The action's name (`assign`, `reroute`, …).
    public var action: String
    /// The state before.
    public var from: String
    /// The state after.
    public var to: String
    /// The action's note.
    public var note: String

    /// A transition as a store reads it from its row.
    public init(id: Int64, caseID: String, at: Date, actor: String, action: String, from: String, to: String, note: String) {
        self.id = id
        self.caseID = caseID
        self.at = at
        self.actor = actor
        self.action = action
        self.from = from
        self.to = to
        self.note = note
    }

    /// `{"id", "case_id", "at", "by", "action", "from", "to", "note"}`.
    public var json: JSONValue {
        .object([
            "id": .number(Double(id)), "case_id": .string(caseID), "at": .string(at.rfc3339), "by": .string(actor),
            "action": .string(action), "from": .string(from), "to": .string(to), "note": .string(note),
        ])
    }
}

extension DisputeStore {
    /// The newest change's `seq` (0 when none): where a new stream client starts.
    public func latestChangeSeq() throws -> Int64 {
        try writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0 }
    }

    /// The oldest `seq` still in the change log (nil when it is empty) and the
    /// newest ever given (kept by `AUTOINCREMENT` in `sqlite_sequence`, also
    /// once pruning emptied the log; 0 when no change was ever logged), read together.
    public func changeLogBounds() throws -> (oldest: Int64?, latest: Int64) {
        try writer.read { db in
            let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM changes")
            let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0
            let given = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'changes'") ?? 0
            return (oldest, max(newest, given))
        }
    }

    /// Changes after `seq`, oldest first.
    public static func changes(after seq: Int64, limit: Int, db: Database) throws -> [Change] {
        try Row.fetchAll(db, sql: "SELECT seq, kind, subject, op, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                         arguments: [seq, limit]).compactMap { row in
            guard let kind = Change.Kind(rawValue: row[1]), let op = Change.Op(rawValue: row[3]) else { return nil }
            return Change(seq: row[0], kind: kind, subject: row[2], op: op, at: Date(timeIntervalSince1970: row[4]))
        }
    }

    /// The object a change names, as the API and the output topics show it
    /// (as it is now: a later change of the same object shows its later state);
    /// nil when it no longer exists.
    public static func object(of change: Change, db: Database) throws -> JSONValue? {
        switch change.kind {
        case .riskItem:
            return try fetchRiskItem(id: change.subject, db: db)?.json
        case .slip:
            return try fetchSlip(id: change.subject, db: db)?.json
        case .case:
            return try fetchCase(id: change.subject, db: db)?.json
        case .transition:
            return try CaseTransitionRow.fetchOne(db, key: Int64(change.subject) ?? -1)?.record.json
        }
    }

    /// Deletes change-log rows older than `cutoff` and all but the newest
    /// `keepingNewest` (a stream client that comes back later resumes from the oldest kept row),
    /// from the oldest on, at most `chunk` rows per transaction (a flood's backlog never holds the writer long).
    @discardableResult
    public func pruneChanges(olderThan cutoff: Date, keepingNewest: Int64 = .max, chunk: Int = 2000) throws -> Int {
        var total = 0
        while true {
            let n = try writer.write { db in
                let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0
                try db.execute(sql: """
                    DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ? OR seq <= ? ORDER BY seq LIMIT ?)
                    """, arguments: [cutoff.timeIntervalSince1970, keepingNewest >= newest ? 0 : newest - keepingNewest, chunk])
                return db.changesCount
            }
            total += n
            if n < chunk { return total }
        }
    }

    /// One risk item, or nil.
    public static func fetchRiskItem(id: String, db: Database) throws -> RiskItem? {
        try RiskItemRow.fetchOne(db, key: id)?.item
    }

    /// One slip with its linked risk items, or nil.
    public static func fetchSlip(id: String, db: Database) throws -> Slip? {
        try SlipRow.slip(id: id, db: db)
    }

    /// The transitions of a case, oldest first.
    public static func transitions(caseID: String, db: Database) throws -> [CaseTransitionRecord] {
        try CaseTransitionRow.fetchAll(db, sql: "SELECT * FROM case_transitions WHERE case_id = ? ORDER BY at, id", arguments: [caseID]).map(\.record)
    }
}
