import Alerts
import Foundation
import GRDB

/// Filters and paging of a list of the HTTP API (risk items, cases, slips).
/// Every filter that is set must match.
public struct ListQuery: Sendable, Hashable {
    /// A zone code: matches that zone and every zone below it (the `zones` table's hierarchy).
    public var zone: String?
    /// Accepted states (empty: any). Cases also take `open` (any state still someone's work).
    public var states: [String] = []
    /// Accepted categories (empty: any).
    public var categories: [Category] = []
    /// Changed at or after: risk items by `last_seen` (event time), slips and cases by `updated_at`.
    public var since: Date?
    /// Only drill (`true`) or only real (`false`) items.
    public var drill: Bool?
    /// Slips only: the document kind.
    public var kind: Slip.Kind?
    /// Risk items only: only late (`true`) or only not late (`false`) items.
    public var late: Bool?
    /// Page size.
    public var limit: Int = 100
    /// Continue after this position (the `next` of the previous page).
    public var cursor: Int64?

    /// The first page of everything, 100 rows.
    public init() {}

    /// `states` for cases, with `open` standing for every state still someone's work.
    public var caseStates: [String] {
        var states = self.states
        if let i = states.firstIndex(of: "open") {
            states.remove(at: i)
            states += Case.State.allCases.filter(\.isOpen).map(\.rawValue)
        }
        return states
    }

    /// The `drill` filter of slips, which keep no drill flag of their own: a drill's slip is one
    /// that is not real (`slipIsReal`; `placeholder` stands for the flag's parameter). The same
    /// test as the weekly report's, in SQL both stores run.
    public static func slipDrillClause(_ placeholder: String) -> String {
        "(\(slipIsReal("slips"))) <> \(placeholder)"
    }

    /// SQL: the slip aliased `t` is not a drill's — it links no item or at least
    /// one real one, and names no drill case.
    public static func slipIsReal(_ t: String) -> String {
        """
        (NOT EXISTS (SELECT 1 FROM slip_items si WHERE si.slip_id = \(t).id)
         OR EXISTS (SELECT 1 FROM slip_items si JOIN risk_items ri ON ri.id = si.risk_item_id WHERE si.slip_id = \(t).id AND ri.drill = false))
        AND (\(t).case_id IS NULL OR \(t).case_id NOT IN (SELECT id FROM cases WHERE drill = true))
        """
    }
}

/// One page of a list, newest first; `next` continues it (nil: last page).
public struct ListPage<Item: Sendable>: Sendable {
    /// The page's rows, newest first.
    public var items: [Item]
    /// The cursor of the next page; nil on the last.
    public var next: Int64?

    /// A page of `items`, continued after `next`.
    public init(items: [Item], next: Int64?) {
        self.items = items
        self.next = next
    }
}

extension DisputeStore {
    /// Risk items, newest first (by creation), with filters and paging.
    public static func riskItems(_ q: ListQuery, db: Database) throws -> ListPage<RiskItem> {
        var sql = SQLFilter(table: "risk_items", order: "seq", query: q)
        sql.add("last_seen >= ?", q.since?.timeIntervalSince1970)
        sql.add("late = ?", q.late)
        sql.add(states: q.states)
        return try sql.page(db: db) { rows in try rows.map { try RiskItemRow(row: $0).item } }
    }

    /// Cases, newest first (by opening), with filters and paging.
    public static func cases(_ q: ListQuery, db: Database) throws -> ListPage<Case> {
        var sql = SQLFilter(table: "cases", order: "seq", query: q)
        sql.add("updated_at >= ?", q.since?.timeIntervalSince1970)
        sql.add(states: q.caseStates)
        return try sql.page(db: db) { rows in try DisputeStore.cases(rows: rows, db: db) }
    }

    /// Slips, newest first (by issue), with filters and paging.
    public static func slips(_ q: ListQuery, db: Database) throws -> ListPage<Slip> {
        var sql = SQLFilter(table: "slips", order: "rowid", query: q)
        sql.add("updated_at >= ?", q.since?.timeIntervalSince1970)
        sql.add("kind = ?", q.kind?.rawValue)
        sql.add(states: q.states)
        return try sql.page(db: db) { rows in try DisputeStore.slips(rows: rows, db: db) }
    }

    /// Slips from their `slips` rows (`SELECT *`), with their linked risk items read for all of them together.
    static func slips(rows: [Row], db: Database) throws -> [Slip] {
        try slips(rows.map(SlipRow.init(row:)), db: db)
    }

    /// The slips of `records`, with their linked risk items read for all of them together.
    static func slips(_ records: [SlipRow], db: Database) throws -> [Slip] {
        let links = try linkedItems(table: "slip_items", owner: "slip_id", ids: records.map(\.id), db: db)
        return records.map { $0.slip(itemIDs: links[$0.id] ?? []) }
    }

    /// A zone with the codes of every zone below it (recursive over `zones.parent`).
    public static func zoneSubtree(_ code: String, db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            WITH RECURSIVE sub(code) AS (SELECT ? UNION SELECT z.code FROM zones z JOIN sub ON z.parent = sub.code)
            SELECT code FROM sub
            """, arguments: [code])
    }
}

/// Builds the WHERE clause of one list query.
private struct SQLFilter {
    let table: String
    let order: String
    let query: ListQuery
    var clauses: [String] = []
    var arguments: [any DatabaseValueConvertible] = []
    var prefix = ""

    init(table: String, order: String, query: ListQuery) {
        self.table = table
        self.order = order
        self.query = query
        if let zone = query.zone {
            prefix = "WITH RECURSIVE sub(code) AS (SELECT ? UNION SELECT z.code FROM zones z JOIN sub ON z.parent = sub.code) "
            arguments.append(zone)
            clauses.append("zone IN (SELECT code FROM sub)")
        }
        if !query.categories.isEmpty {
            clauses.append("category IN (\(query.categories.map { _ in "?" }.joined(separator: ", ")))")
            arguments += query.categories.map(\.rawValue)
        }
        // A slip is a drill's when its risk items are (a drill's slips are windows of their own).
        add(table == "slips" ? ListQuery.slipDrillClause("?") : "drill = ?", query.drill)
        add("\(order) < ?", query.cursor)
    }

    mutating func add(_ clause: String, _ value: (any DatabaseValueConvertible)?) {
        guard let value else { return }
        clauses.append(clause)
        arguments.append(value)
    }

    mutating func add(states: [String]) {
        guard !states.isEmpty else { return }
        clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
        arguments += states
    }

    /// One page: the rows' query, then `make` over the page's rows together (so that what is
    /// linked to them is read in one query, not one per row).
    func page<T>(db: Database, _ make: ([Row]) throws -> [T]) throws -> ListPage<T> {
        let limit = max(1, query.limit)
        let sql = prefix + "SELECT \(order) AS page_key, * FROM \(table)"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY \(order) DESC LIMIT ?"
        let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments + [limit + 1]))
        let more = rows.count > limit
        let kept = rows.prefix(limit)
        return ListPage(items: try make(Array(kept)), next: more ? kept.last.map { $0["page_key"] as Int64 } : nil)
    }
}
