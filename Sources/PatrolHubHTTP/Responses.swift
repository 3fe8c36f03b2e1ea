import Alerts
import AlertsStore
import Foundation
import Hummingbird

// The bodies of the dispatch-room API, one type per shape. Field names are
// the wire's (snake_case, as SPEC.md's API section and the board read them);
// every field is present, `null` when unset. Encoded by `APIEncoding`.
// The objects of risk items, cases, slips and transitions are the same as
// the stream and the output topics send (`RiskItem.json` and so on); the
// tests check that each type here encodes to exactly that.

/// A number written as `JSONValue.serialized` writes it: whole numbers without a fraction.
struct Number: Encodable, Sendable {
    var value: Double

    init(_ value: Double) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        try AnyJSON(.number(value)).encode(to: encoder)
    }
}

/// A page of a list: `{"items": [...], "next": cursor|null}`.
struct Page<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    var items: [Item]
    /// The cursor of the next page (a string), null on the last one.
    @Null var next: String?

    init(items: [Item], next: Int64? = nil) {
        self.items = items
        self.next = next.map(String.init)
    }
}

/// A point of a risk item: `{"lat", "lon"}`.
struct LocationBody: Encodable, Sendable {
    var lat: Number
    var lon: Number
}

/// A risk item (`RiskItem.json`).
struct RiskItemBody: Encodable, Sendable {
    var id: String
    var zone: String
    var category: String
    var severity: Int
    var state: String
    var source: String
    var first_seen: Date
    var last_seen: Date
    var occurrences: Int
    @Null var suppressed_by: String?
    @Null var unit: String?
    @Null var worker: String?
    var drill: Bool
    var late: Bool
    @Null var late_reason: String?
    @Null var location_mismatch: String?
    @Null var location_distance_m: Number?
    var time_source: String
    /// Left out when the item has no position.
    var location: LocationBody?

    init(_ r: RiskItem) {
        id = r.id; zone = r.zone; category = r.category.rawValue; severity = r.severity.rawValue; state = r.state.rawValue
        source = r.source; first_seen = r.firstSeen; last_seen = r.lastSeen; occurrences = r.occurrences
        suppressed_by = r.suppressedBy; unit = r.unit; worker = r.worker; drill = r.drill; late = r.late; late_reason = r.lateReason
        location_mismatch = r.locationMismatch; location_distance_m = r.locationDistance.map { Number($0.rounded()) }
        time_source = r.timeSource.rawValue
        location = r.location.map { LocationBody(lat: Number($0.lat), lon: Number($0.lon)) }
    }
}

/// A case (`Case.json`).
struct CaseBody: ResponseEncodable, Sendable {
    var id: String
    var rule: String
    var zone: String
    var category: String
    var severity: Int
    var state: String
    @Null var unit: String?
    @Null var worker: String?
    @Null var lead_unit: String?
    var co_units: [String]
    @Null var assignee: String?
    var opened_at: Date
    var due_at: Date
    var updated_at: Date
    var last_action_at: Date
    var explanation: String
    var risk_item_ids: [String]
    var sources: [String]
    var categories: [String]
    var drill: Bool
    @Null var outcome: String?
    @Null var amount_cny: Number?
    @Null var satisfaction: String?
    @Null var resolved_at: Date?
    @Null var closed_at: Date?

    init(_ c: Case) {
        id = c.id; rule = c.rule.rawValue; zone = c.zone; category = c.category.rawValue; severity = c.severity.rawValue
        state = c.state.rawValue; unit = c.unit; worker = c.worker; lead_unit = c.leadUnit; co_units = c.coUnits
        assignee = c.assignee; opened_at = c.openedAt; due_at = c.dueAt; updated_at = c.updatedAt; last_action_at = c.lastActionAt
        explanation = c.explanation; risk_item_ids = c.riskItemIDs; sources = c.sources; categories = c.categories.map(\.rawValue)
        drill = c.drill; outcome = c.outcome; amount_cny = c.amountCNY.map(Number.init); satisfaction = c.satisfaction
        resolved_at = c.resolvedAt; closed_at = c.closedAt
    }
}

/// A slip (`Slip.json`).
struct SlipBody: Encodable, Sendable {
    var id: String
    var kind: String
    var zone: String
    var category: String
    var severity: Int
    var state: String
    @Null var unit: String?
    @Null var worker: String?
    var issued_at: Date
    var updated_at: Date
    @Null var case_id: String?
    var text: String
    var risk_item_ids: [String]
    var occurrences: Int
    @Null var closed_at: Date?
    @Null var close_reason: String?

    init(_ s: Slip) {
        id = s.id; kind = s.kind.rawValue; zone = s.zone; category = s.category.rawValue; severity = s.severity.rawValue
        state = s.state.rawValue; unit = s.unit; worker = s.worker; issued_at = s.issuedAt; updated_at = s.updatedAt
        case_id = s.caseID; text = s.text; risk_item_ids = s.riskItemIDs; occurrences = s.occurrences
        closed_at = s.closedAt; close_reason = s.closeReason
    }
}

/// A case transition (`CaseTransitionRecord.json`).
struct TransitionBody: Encodable, Sendable {
    var id: Int64
    var case_id: String
    var at: Date
    var by: String
    var action: String
    var from: String
    var to: String
    var note: String

    init(_ t: CaseTransitionRecord) {
        id = t.id; case_id = t.caseID; at = t.at; by = t.actor; action = t.action; from = t.from; to = t.to; note = t.note
    }
}

/// `GET /api/v1/cases/{id}`: the case's fields plus its transitions, risk items and slips.
struct CaseDetailBody: ResponseEncodable, Sendable {
    var `case`: CaseBody
    var transitions: [TransitionBody]
    var risk_items: [RiskItemBody]
    var slips: [SlipBody]

    init(_ d: CaseDetail) {
        `case` = CaseBody(d.case)
        transitions = d.transitions.map(TransitionBody.init)
        risk_items = d.riskItems.map(RiskItemBody.init)
        slips = d.slips.map(SlipBody.init)
    }

    private enum Keys: String, CodingKey { case transitions, risk_items, slips }

    func encode(to encoder: any Encoder) throws {
        try `case`.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(transitions, forKey: .transitions)
        try c.encode(risk_items, forKey: .risk_items)
        try c.encode(slips, forKey: .slips)
    }
}

/// A zone's live counts.
struct ZoneCountsBody: Encodable, Sendable {
    var open_risk_items: Int
    var suppressed_risk_items: Int
    var open_cases: Int
    var open_slips: Int
    @Null var max_severity: Int?
}

/// A zone of `GET /api/v1/zones` (`ZoneSummary.json(geometry:)`).
struct ZoneBody: Encodable, Sendable {
    var code: String
    var name: String
    var level: String
    @Null var parent: String?
    @Null var unit: String?
    @Null var worker: String?
    var counts: ZoneCountsBody
    /// The GeoJSON geometry (`null` when the zone has none); the key is left out when `includeGeometry` is false.
    var geometry: AnyJSON
    var includeGeometry: Bool

    init(_ z: ZoneSummary, geometry include: Bool) {
        code = z.code; name = z.name; level = z.level; parent = z.parent; unit = z.unit; worker = z.worker
        counts = ZoneCountsBody(open_risk_items: z.openRiskItems, suppressed_risk_items: z.suppressedRiskItems,
                                open_cases: z.openCases, open_slips: z.openSlips, max_severity: z.maxSeverity)
        geometry = AnyJSON(z.geometry ?? .null)
        includeGeometry = include
    }

    private enum Keys: String, CodingKey { case code, name, level, parent, unit, worker, counts, geometry }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(code, forKey: .code)
        try c.encode(name, forKey: .name)
        try c.encode(level, forKey: .level)
        try c.encode(parent, forKey: .parent)
        try c.encode(unit, forKey: .unit)
        try c.encode(worker, forKey: .worker)
        try c.encode(counts, forKey: .counts)
        if includeGeometry { try c.encode(geometry, forKey: .geometry) }
    }
}

/// `GET /api/v1/zones/{code}`: the zone with its geometry and the codes of its children.
struct ZoneDetailBody: ResponseEncodable, Sendable {
    var zone: ZoneBody
    var children: [String]

    private enum Keys: String, CodingKey { case children }

    func encode(to encoder: any Encoder) throws {
        try zone.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(children, forKey: .children)
    }
}

/// A silence of `/api/v1/silences`; `state` is `pending`, `active` or `ended` at the time of the answer.
struct SilenceBody: ResponseEncodable, Sendable {
    var id: String
    @Null var zone: String?
    @Null var category: String?
    @Null var source: String?
    @Null var drill: Bool?
    var starts_at: Date
    var ends_at: Date
    var created_by: String
    var comment: String
    var created_at: Date
    var state: String

    init(_ s: Silence, now: Date) {
        id = s.id; zone = s.zone; category = s.category?.rawValue; source = s.source; drill = s.drill
        starts_at = s.startsAt; ends_at = s.endsAt; created_by = s.createdBy; comment = s.comment; created_at = s.createdAt
        state = s.isActive(at: now) ? "active" : (s.endsAt <= now ? "ended" : "pending")
    }
}

/// `DELETE /api/v1/silences/{id}`: `{"id", "expired": true}` or `{"id", "deleted": true}`.
struct SilenceEndedBody: ResponseEncodable, Sendable {
    var id: String
    var expired: Bool?
    var deleted: Bool?

    init(id: String, purged: Bool) {
        self.id = id
        if purged { deleted = true } else { expired = true }
    }
}
