import Alerts
import Foundation
import GRDB

/// One case with everything `GET /api/v1/cases/{id}` shows of it.
public struct CaseDetail: Sendable {
    /// The case itself.
    public var `case`: Case
    /// Its transitions, oldest first.
    public var transitions: [CaseTransitionRecord]
    /// Its evidence, in the case's order (items since deleted are left out).
    public var riskItems: [RiskItem]
    /// The slips about it, oldest first.
    public var slips: [Slip]

    /// A case with what the detail shows of it.
    public init(case c: Case, transitions: [CaseTransitionRecord], riskItems: [RiskItem], slips: [Slip]) {
        self.case = c
        self.transitions = transitions
        self.riskItems = riskItems
        self.slips = slips
    }
}

/// The reads of the dispatch-room API, each one read transaction (the HTTP
/// side calls them from its own threads, `StoreThreads`: they wait for a
/// reader connection like any GRDB read).
extension DisputeStore {
    /// A page of risk items matching `q`.
    public func riskItemsPage(_ q: ListQuery) throws -> ListPage<RiskItem> {
        try writer.read { db in try Self.riskItems(q, db: db) }
    }

    /// A page of cases matching `q`.
    public func casesPage(_ q: ListQuery) throws -> ListPage<Case> {
        try writer.read { db in try Self.cases(q, db: db) }
    }

    /// A page of slips matching `q`.
    public func slipsPage(_ q: ListQuery) throws -> ListPage<Slip> {
        try writer.read { db in try Self.slips(q, db: db) }
    }

    /// Whether the store knows the zone `code`.
    public func knowsZone(_ code: String) throws -> Bool {
        try writer.read { db in try Self.knowsZone(code, db: db) }
    }

    /// One case with its transitions, risk items and slips; nil when unknown.
    public func caseDetail(id: String) throws -> CaseDetail? {
        try writer.read { db in
            guard let c = try Self.fetchCase(id: id, db: db) else { return nil }
            let items = try c.riskItemIDs.compactMap { try Self.fetchRiskItem(id: $0, db: db) }
            let slipIDs = try String.fetchAll(db, sql: "SELECT id FROM slips WHERE case_id = ? ORDER BY rowid", arguments: [id])
            return CaseDetail(case: c, transitions: try Self.transitions(caseID: id, db: db), riskItems: items,
                              slips: try slipIDs.compactMap { try Self.fetchSlip(id: $0, db: db) })
        }
    }

    /// Every zone with its live counts.
    public func zoneSummaries() throws -> [ZoneSummary] {
        try writer.read { db in try Self.zoneSummaries(db: db) }
    }

    /// Up to `limit` changes after `seq`, oldest first, each with the object it
    /// names as it is now (nil when it no longer exists).
    public func changesWithObjects(after seq: Int64, limit: Int) throws -> [(Change, JSONValue?)] {
        try writer.read { db in
            try Self.changes(after: seq, limit: limit, db: db).map { ($0, try Self.object(of: $0, db: db)) }
        }
    }
}
