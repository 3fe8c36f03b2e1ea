import Alerts
import Foundation
import GRDB

/// A row of `cases`, for the reads. Its lists (`co_units`, `sources`,
/// `categories`) are the stored text, read through `StoredList`; the linked
/// risk items are in `case_items` (`DisputeStore.cases(_:db:)` reads them for
/// many cases at once). Cases are written with one upsert
/// (`DisputeStore.write(case:evidenceAt:db:)`) that keeps the newest evidence time.
struct CaseRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "cases"

    var id: String
    var rule: String
    var zone: String
    var category: String
    var severity: Int
    var state: String
    var unit: String?
    var worker: String?
    var leadUnit: String?
    var coUnits: String?
    var assignee: String?
    var openedAt: Double
    var dueAt: Double
    var updatedAt: Double?
    var lastActionAt: Double?
    /// The event time of the case's newest evidence (the correlation stage's window).
    var evidenceAt: Double?
    /// The event time of the case's oldest evidence still in that window.
    var evidenceFrom: Double?
    var explanation: String
    var sources: String?
    var categories: String?
    var drill: Bool
    var outcome: String?
    var amountCNY: Double?
    var satisfaction: String?
    var resolvedAt: Double?
    var closedAt: Double?

    enum CodingKeys: String, CodingKey {
        case id, rule, zone, category, severity, state, unit, worker, assignee, explanation, sources, categories, drill, outcome, satisfaction
        case leadUnit = "lead_unit", coUnits = "co_units", openedAt = "opened_at", dueAt = "due_at", updatedAt = "updated_at",
             lastActionAt = "last_action_at", evidenceAt = "evidence_at", evidenceFrom = "evidence_from", amountCNY = "amount_cny",
             resolvedAt = "resolved_at", closedAt = "closed_at"
    }

    /// The case with its linked risk items (an unknown rule, category, severity or state reads as the default;
    /// a missing update or action time as the opening).
    func `case`(riskItemIDs ids: [String]) -> Case {
        func date(_ t: Double?) -> Date? { t.map(Date.init(timeIntervalSince1970:)) }
        let opened = Date(timeIntervalSince1970: openedAt)
        return Case(
            id: id, rule: Case.Rule(rawValue: rule) ?? .severity, zone: zone,
            category: Category(rawValue: category) ?? .other, severity: Severity(rawValue: severity) ?? .info,
            state: Case.State(rawValue: state) ?? .new, unit: unit, worker: worker,
            leadUnit: leadUnit, coUnits: StoredList.decode(coUnits), assignee: assignee,
            openedAt: opened, dueAt: Date(timeIntervalSince1970: dueAt),
            updatedAt: date(updatedAt) ?? opened, lastActionAt: date(lastActionAt) ?? opened,
            explanation: explanation, riskItemIDs: ids, sources: StoredList.decode(sources),
            categories: StoredList.decode(categories).compactMap(Category.init(rawValue:)), drill: drill,
            outcome: outcome, amountCNY: amountCNY, satisfaction: satisfaction,
            resolvedAt: date(resolvedAt), closedAt: date(closedAt))
    }

    /// The case with its linked risk items, read now (one query; for many cases, `DisputeStore.cases(_:db:)`).
    func `case`(db: Database) throws -> Case {
        let ids = try String.fetchAll(db.cachedStatement(sql: "SELECT risk_item_id FROM case_items WHERE case_id = ? ORDER BY risk_item_id"),
                                      arguments: [id])
        return self.case(riskItemIDs: ids)
    }

    /// The case `id` as stored, with its linked risk items; nil when there is none.
    static func `case`(id: String, db: Database) throws -> Case? {
        try fetchOne(db.cachedStatement(sql: "SELECT * FROM cases WHERE id = ?"), arguments: [id])?.case(db: db)
    }
}

/// A row of `case_transitions` (append-only), read as the API's
/// `CaseTransitionRecord` or as the lifecycle's `CaseTransition`.
struct CaseTransitionRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "case_transitions"

    var id: Int64
    var caseID: String
    var at: Double
    var actor: String
    var action: String
    var fromState: String
    var toState: String
    var note: String
    /// The action's fields, a JSON object (`v4-case-actions`).
    var detail: String

    enum CodingKeys: String, CodingKey {
        case id, at, actor, action, note, detail
        case caseID = "case_id", fromState = "from_state", toState = "to_state"
    }

    /// As the API shows it.
    var record: CaseTransitionRecord {
        CaseTransitionRecord(id: id, caseID: caseID, at: Date(timeIntervalSince1970: at), actor: actor, action: action,
                             from: fromState, to: toState, note: note)
    }

    /// As the case lifecycle and supervision read it (an unknown action or state reads as the default,
    /// a detail that is not JSON as an empty object).
    var transition: CaseTransition {
        CaseTransition(caseID: caseID, at: Date(timeIntervalSince1970: at), actor: actor,
                       action: CaseActionKind(rawValue: action) ?? .acknowledge,
                       from: Case.State(rawValue: fromState) ?? .new, to: Case.State(rawValue: toState) ?? .new,
                       note: note, detail: (try? JSONParser.parse(detail)) ?? .object([:]))
    }
}
