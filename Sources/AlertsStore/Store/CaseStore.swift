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
            c.leadUnit, StoredList.encode(c.coUnits), c.assignee,
            c.openedAt.timeIntervalSince1970, c.dueAt.timeIntervalSince1970, c.updatedAt.timeIntervalSince1970,
            c.lastActionAt.timeIntervalSince1970, evidenceAt?.timeIntervalSince1970, c.explanation,
            StoredList.encode(c.sources), StoredList.encode(c.categories.map(\.rawValue)), c.drill,
            c.outcome, c.amountCNY, c.satisfaction, c.resolvedAt?.timeIntervalSince1970, c.closedAt?.timeIntervalSince1970,
        ])
        let link = try db.cachedStatement(sql: "INSERT OR IGNORE INTO case_items(case_id, risk_item_id) VALUES (?, ?)")
        for id in c.riskItemIDs { try link.execute(arguments: [c.id, id]) }
    }

    /// One case with its linked risk items, or nil.
    public static func fetchCase(id: String, db: Database) throws -> Case? {
        try CaseRow.case(id: id, db: db)
    }

    /// Cases, newest first, optionally filtered (nil = any).
    public static func fetchCases(state: Case.State? = nil, zone: String? = nil, limit: Int = 100, db: Database) throws -> [Case] {
        var sql = "SELECT * FROM cases WHERE 1"
        var args: [any DatabaseValueConvertible] = []
        if let state { sql += " AND state = ?"; args.append(state.rawValue) }
        if let zone { sql += " AND zone = ?"; args.append(zone) }
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return try cases(CaseRow.fetchAll(db, sql: sql, arguments: StatementArguments(args)), db: db)
    }

    /// Cases from their `cases` rows (`SELECT *`), each with its linked risk items, read for all
    /// of them together (one `case_items` query per 500 cases, not one per case).
    public static func cases(rows: [Row], db: Database) throws -> [Case] {
        try cases(rows.map(CaseRow.init(row:)), db: db)
    }

    /// The cases of `records`, each with its linked risk items, read for all of them together.
    static func cases(_ records: [CaseRow], db: Database) throws -> [Case] {
        let links = try linkedItems(table: "case_items", owner: "case_id", ids: records.map(\.id), db: db)
        return records.map { $0.case(riskItemIDs: links[$0.id] ?? []) }
    }

    /// The risk item ids linked to each of `ids` in a link table (`case_items`, `slip_items`),
    /// each list sorted; one query per 500 ids.
    static func linkedItems(table: String, owner: String, ids: [String], db: Database) throws -> [String: [String]] {
        var links: [String: [String]] = [:]
        for start in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[start..<min(start + 500, ids.count)])
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(owner), risk_item_id FROM \(table) WHERE \(owner) IN (\(databaseQuestionMarks(count: part.count))) ORDER BY \(owner), risk_item_id
                """, arguments: StatementArguments(part))
            while let row = try rows.next() { links[row[0], default: []].append(row[1]) }
        }
        return links
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

/// How the store keeps a list of strings in one column (`cases.co_units`,
/// `sources`, `categories`): a JSON array of strings. Stores written before
/// `v14-lists-as-json` held `'|'`-joined text; that migration rewrites them,
/// and `decode` still reads the old form (a value that is not a JSON array).
enum StoredList {
    /// The JSON array of `values`.
    static func encode(_ values: [String]) -> String {
        JSONValue.array(values.map(JSONValue.string)).serialized
    }

    /// The strings of a stored list: a JSON array's string elements, or the
    /// non-empty parts of `'|'`-joined text; empty for NULL or "".
    static func decode(_ text: String?) -> [String] {
        guard let text, !text.isEmpty else { return [] }
        if text.utf8.first == UInt8(ascii: "["), case .array(let values)? = try? JSONParser.parse(text) {
            return values.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        return text.split(separator: "|").map(String.init)
    }
}
