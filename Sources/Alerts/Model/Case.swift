import Foundation

/// A case (案件 / 矛盾纠纷) in the dispute store: an incident or dispute with
/// a responsible unit, a deadline and a lifecycle (SPEC.md "Outcomes",
/// "Case lifecycle"). The risk engine opens cases and adds evidence to them;
/// people move them through their lifecycle.
public struct Case: Sendable, Hashable {
    /// SPEC.md "Case lifecycle".
    public enum State: String, Sendable, Codable, CaseIterable, Hashable {
        case new
        case acknowledged
        case assigned
        case inProgress = "in_progress"
        case onHold = "on_hold"
        case resolved
        case closed
        case falseAlarm = "false_alarm"
        case reopened

        /// Still someone's work: not resolved, closed or a false alarm.
        public var isOpen: Bool {
            switch self {
            case .resolved, .closed, .falseAlarm: return false
            default: return true
            }
        }
    }

    /// Which rule opened the case.
    public enum Rule: String, Sendable, Codable, CaseIterable, Hashable {
        /// One risk item of severity 1 (fight, fire_smoke, person_fall …).
        case severity
        /// Two or more distinct sources, related categories, one grid, one window.
        case correlation
        /// A grid worker's report of a dispute category.
        case patrolReport = "patrol_report"
        /// A grid worker's SOS / man-down.
        case sos
    }

    /// `AJ-` and a number, unique in the store.
    public var id: String
    /// The rule that opened it.
    public var rule: Rule
    /// The grid zone it happened in.
    public var zone: String
    /// The case's main category (the first, most severe evidence).
    public var category: Category
    /// The highest severity of its evidence (1 most severe).
    public var severity: Severity
    /// Where it is in its lifecycle.
    public var state: State
    /// The responsible unit (一网分流: the street's or the district's unit).
    public var unit: String?
    /// The grid worker of the zone.
    public var worker: String?
    /// A standing joint team's lead unit and co-units (一案一专班), when the category has one.
    public var leadUnit: String?
    /// The joint team's other units.
    public var coUnits: [String]
    /// Who the case is assigned to, once assigned.
    public var assignee: String?
    /// When it was opened (processing time).
    public var openedAt: Date
    /// The deadline for resolving it, from the category's rules; supervision escalates after it.
    public var dueAt: Date
    /// Last change of any kind (new evidence or a transition).
    public var updatedAt: Date
    /// Last human action (a transition); supervision measures idleness from it.
    public var lastActionAt: Date
    /// Plain-language explanation: which rule fired on which evidence.
    public var explanation: String
    /// The risk items that are its evidence.
    public var riskItemIDs: [String]
    /// The distinct sources (cameras, devices) behind the evidence.
    public var sources: [String]
    /// The distinct categories of the evidence.
    public var categories: [Category]
    /// Whether its evidence comes from a drill; reports leave drill cases out.
    public var drill: Bool
    /// Resolution (SPEC.md: outcome, amount settled, parties' satisfaction).
    public var outcome: String?
    /// Yuan recovered or settled (wage arrears, disputes), set on resolution.
    public var amountCNY: Double?
    /// The parties' rating of the resolution (`CaseSatisfaction` raw value).
    public var satisfaction: String?
    /// When it was resolved, nil until then (and again after a reopen).
    public var resolvedAt: Date?
    /// When it was closed, nil while not closed.
    public var closedAt: Date?

    /// A case with every field given; the engine opens them, the store's readers rebuild them.
    public init(id: String, rule: Rule, zone: String, category: Category, severity: Severity, state: State = .new,
                unit: String?, worker: String? = nil, leadUnit: String? = nil, coUnits: [String] = [], assignee: String? = nil,
                openedAt: Date, dueAt: Date, updatedAt: Date? = nil, lastActionAt: Date? = nil, explanation: String,
                riskItemIDs: [String], sources: [String], categories: [Category], drill: Bool = false,
                outcome: String? = nil, amountCNY: Double? = nil, satisfaction: String? = nil, resolvedAt: Date? = nil, closedAt: Date? = nil) {
        self.id = id
        self.rule = rule
        self.zone = zone
        self.category = category
        self.severity = severity
        self.state = state
        self.unit = unit
        self.worker = worker
        self.leadUnit = leadUnit
        self.coUnits = coUnits
        self.assignee = assignee
        self.openedAt = openedAt
        self.dueAt = dueAt
        self.updatedAt = updatedAt ?? openedAt
        self.lastActionAt = lastActionAt ?? openedAt
        self.explanation = explanation
        self.riskItemIDs = riskItemIDs
        self.sources = sources
        self.categories = categories
        self.drill = drill
        self.outcome = outcome
        self.amountCNY = amountCNY
        self.satisfaction = satisfaction
        self.resolvedAt = resolvedAt
        self.closedAt = closedAt
    }

    /// Case ids: 案件 AJ-NNNNNNNN.
    public static func id(_ seq: Int) -> String { "AJ-" + HubFormat.zeroPadded(seq, width: 8) }

    /// The JSON object of the HTTP API and `{prefix}/out/cases` (snake_case).
    public var json: JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        func optDate(_ d: Date?) -> JSONValue { d.map { .string($0.rfc3339) } ?? .null }
        return .object([
            "id": .string(id), "rule": .string(rule.rawValue), "zone": .string(zone), "category": .string(category.rawValue),
            "severity": .number(Double(severity.rawValue)), "state": .string(state.rawValue),
            "unit": opt(unit), "worker": opt(worker), "lead_unit": opt(leadUnit), "co_units": .array(coUnits.map(JSONValue.string)),
            "assignee": opt(assignee), "opened_at": .string(openedAt.rfc3339), "due_at": .string(dueAt.rfc3339),
            "updated_at": .string(updatedAt.rfc3339), "last_action_at": .string(lastActionAt.rfc3339),
            "explanation": .string(explanation), "risk_item_ids": .array(riskItemIDs.map(JSONValue.string)),
            "sources": .array(sources.map(JSONValue.string)), "categories": .array(categories.map { .string($0.rawValue) }),
            "drill": .bool(drill), "outcome": opt(outcome), "amount_cny": amountCNY.map(JSONValue.number) ?? .null,
            "satisfaction": opt(satisfaction), "resolved_at": optDate(resolvedAt), "closed_at": optDate(closedAt),
        ])
    }
}
