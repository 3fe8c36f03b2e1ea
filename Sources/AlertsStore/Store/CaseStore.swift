import Alerts
import Foundation
import GRDB

/// Reading and writing cases (the `cases`, `case_items` and
/// `case_transitions` tables). Writes take a `Database` so they join the
/// caller's transaction: a case and whatever caused it commit together.
extension DisputeStore {
    /// Inserts or updates a case and links its risk items (never unlinks).
    /// `evidenceAt` is the event time of its newest evidence, which the
    /// correlation stage restores its windows from after a restart.
    public static func write(case c: Case, evidenceAt: Date?, db: Database) throws {
        let seq = Int(c.id.split(separator: "-").last ?? "") ?? 0
        let stmt = try db.cachedStatement(sql: """
            INSERT INTO cases(seq, id, rule, zone, category, severity, state, unit, worker, lead_unit, co_units, assignee,
                              opened_at, due_at, updated_at, last_action_at, evidence_at, explanation, sources, categories, drill,
                              outcome, amount_cny, satisfaction, resolved_at, closed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET
                severity = excluded.severity, state = excluded.state, unit = excluded.unit, worker = excluded.worker,
                lead_unit = excluded.lead_unit, co_units = excluded.co_units, assignee = excluded.assignee,
                due_at = excluded.due_at, updated_at = excluded.updated_at, last_action_at = excluded.last_action_at,
                evidence_at = COALESCE(MAX(excluded.evidence_at, cases.evidence_at), excluded.evidence_at, cases.evidence_at),
                explanation = excluded.explanation, sources = excluded.sources, categories = excluded.categories,
                outcome = excluded.outcome, amount_cny = excluded.amount_cny, satisfaction = excluded.satisfaction,
                resolved_at = excluded.resolved_at, closed_at = excluded.closed_at
            """)
        try stmt.execute(arguments: [
            seq, c.id, c.rule.rawValue, c.zone, c.category.rawValue, c.severity.rawValue, c.state.rawValue, c.unit, c.worker,
            c.leadUnit, c.coUnits.joined(separator: "|"), c.assignee,
            c.openedAt.timeIntervalSince1970, c.dueAt.timeIntervalSince1970, c.updatedAt.timeIntervalSince1970,
            c.lastActionAt.timeIntervalSince1970, evidenceAt?.timeIntervalSince1970, c.explanation,
            c.sources.joined(separator: "|"), c.categories.map(\.rawValue).joined(separator: "|"), c.drill,
            c.outcome, c.amountCNY, c.satisfaction, c.resolvedAt?.timeIntervalSince1970, c.closedAt?.timeIntervalSince1970,
        ])
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO case_items(case_id, risk_item_id) VALUES (?, ?)")
        for id in c.riskItemIDs { try link.execute(arguments: [c.id, id]) }
    }

    /// One case with its linked risk items, or nil.
    public static func fetchCase(id: String, db: Database) throws -> Case? {
        guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM cases WHERE id = ?"), arguments: [id]) else { return nil }
        return try Case(row: row, db: db)
    }

    /// Cases, newest first, optionally filtered (nil = any).
    public static func fetchCases(state: Case.State? = nil, zone: String? = nil, limit: Int = 100, db: Database) throws -> [Case] {
        var sql = "SELECT * FROM cases WHERE 1"
        var args: [any DatabaseValueConvertible] = []
        if let state { sql += " AND state = ?"; args.append(state.rawValue) }
        if let zone { sql += " AND zone = ?"; args.append(zone) }
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { try Case(row: $0, db: db) }
    }
}

extension DisputeStore {
    /// Whether `code` names a zone the store knows (`unzoned` always; any code
    /// when the store has no zones, e.g. a hub run without a zone file).
    public static func knowsZone(_ code: String, db: Database) throws -> Bool {
        if code == "unzoned" { return true }
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM zones") ?? 0 > 0 else { return true }
        return try Int.fetchOne(db, sql: "SELECT 1 FROM zones WHERE code = ?", arguments: [code]) != nil
    }
}

extension Case {
    /// Reads a `cases` row and its `case_items`.
    public init(row: Row, db: Database) throws {
        let ids = try String.fetchAll(try db.cachedStatement(sql: "SELECT risk_item_id FROM case_items WHERE case_id = ? ORDER BY risk_item_id"),
                                      arguments: [row["id"] as String])
        func split(_ s: String?) -> [String] { (s ?? "").split(separator: "|").map(String.init) }
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        let opened = Date(timeIntervalSince1970: row["opened_at"])
        self.init(
            id: row["id"], rule: Case.Rule(rawValue: row["rule"]) ?? .severity, zone: row["zone"],
            category: Category(rawValue: row["category"]) ?? .other, severity: Severity(rawValue: row["severity"]) ?? .info,
            state: Case.State(rawValue: row["state"]) ?? .new, unit: row["unit"], worker: row["worker"],
            leadUnit: row["lead_unit"], coUnits: split(row["co_units"]), assignee: row["assignee"],
            openedAt: opened, dueAt: Date(timeIntervalSince1970: row["due_at"]),
            updatedAt: date("updated_at") ?? opened, lastActionAt: date("last_action_at") ?? opened,
            explanation: row["explanation"], riskItemIDs: ids, sources: split(row["sources"]),
            categories: split(row["categories"]).compactMap(Category.init(rawValue:)), drill: row["drill"],
            outcome: row["outcome"], amountCNY: row["amount_cny"], satisfaction: row["satisfaction"],
            resolvedAt: date("resolved_at"), closedAt: date("closed_at"))
    }
}
