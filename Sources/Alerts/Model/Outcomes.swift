import Foundation

/// A normalised, deduplicated signal (风险隐患): one or more detections of
/// one category from one source, close in time.
public struct RiskItem: Sendable, Hashable {
    /// `open` while detections keep coming; `closed` when its lifecycle ends, its camera recovers or a newer item replaces it.
    public enum State: String, Sendable, Codable { case open, closed }

    /// `RI-` and a number, unique in the store.
    public var id: String
    /// The camera or patrol device that reported it.
    public var source: String
    /// Whether `source` is a camera or a patrol device.
    public var sourceKind: SourceKind
    /// What was detected; one item holds one category.
    public var category: Category
    /// The highest severity of its events (1 most severe), after the rules' defaults and vendor priorities.
    public var severity: Severity
    /// The grid zone it was placed in (`unzoned` when none).
    public var zone: String
    /// The responsible unit of the zone or device, for routing slips.
    public var unit: String?
    /// The grid worker of the zone or device, when known.
    public var worker: String?
    /// Event time of its first detection.
    public var firstSeen: Date
    /// Event time of its latest detection.
    public var lastSeen: Date
    /// How many detections it groups.
    public var occurrences: Int
    /// Whether it is still open.
    public var state: State
    /// Why the item is muted (inhibition or silence), nil when it is not.
    public var suppressedBy: String?
    /// The lifecycle id its events carried (a start/end pair such as ONVIF's or Frigate's), nil for one-shot detections.
    public var lifecycle: String?
    /// Where the detection was reported, when an event carried a usable location.
    public var location: GeoPoint?
    /// Whether it comes from a drill (`drill: true` events); reports leave drill items out.
    public var drill: Bool
    /// Every event of the item so far was older than the lateness bound
    /// (`event_time.lateness_seconds` behind the newest event time), so it
    /// opened no warning slip or case; `lateReason` says by how much. An event
    /// that is not late clears it (the item then counts as any other).
    public var late: Bool
    /// How far behind the lateness bound its events were, while `late`.
    public var lateReason: String?
    /// Why the location an event reported was not used to place the item (far
    /// from its camera, outside every zone), nil when it was (`Placer`).
    public var locationMismatch: String?
    /// The distance in metres between the reported location and the camera's registered one, when that was the reason.
    public var locationDistance: Double?
    /// `.received` when any event of the item was timed by the hub's receive time (an unset device clock).
    public var timeSource: TimeSource

    /// An item with every field given; the engine makes them, tests and the store's readers rebuild them.
    public init(id: String, source: String, sourceKind: SourceKind, category: Category, severity: Severity, zone: String,
                unit: String? = nil, worker: String? = nil, firstSeen: Date, lastSeen: Date, occurrences: Int = 1,
                state: State = .open, suppressedBy: String? = nil, lifecycle: String? = nil, location: GeoPoint? = nil, drill: Bool = false,
                late: Bool = false, lateReason: String? = nil, locationMismatch: String? = nil, locationDistance: Double? = nil,
                timeSource: TimeSource = .device) {
        self.id = id
        self.source = source
        self.sourceKind = sourceKind
        self.category = category
        self.severity = severity
        self.zone = zone
        self.unit = unit
        self.worker = worker
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.occurrences = occurrences
        self.state = state
        self.suppressedBy = suppressedBy
        self.lifecycle = lifecycle
        self.location = location
        self.drill = drill
        self.late = late
        self.lateReason = lateReason
        self.locationMismatch = locationMismatch
        self.locationDistance = locationDistance
        self.timeSource = timeSource
    }

    /// The JSON object of the HTTP API and the output topics (snake_case).
    public var json: JSONValue {
        var o: JSONObject = [
            "id": .string(id), "zone": .string(zone), "category": .string(category.rawValue),
            "severity": .number(Double(severity.rawValue)), "state": .string(state.rawValue),
            "source": .string(source), "first_seen": .string(firstSeen.rfc3339), "last_seen": .string(lastSeen.rfc3339),
            "occurrences": .number(Double(occurrences)), "suppressed_by": suppressedBy.map(JSONValue.string) ?? .null,
            "unit": unit.map(JSONValue.string) ?? .null, "worker": worker.map(JSONValue.string) ?? .null, "drill": .bool(drill),
            "late": .bool(late), "late_reason": lateReason.map(JSONValue.string) ?? .null,
            "location_mismatch": locationMismatch.map(JSONValue.string) ?? .null,
            "location_distance_m": locationDistance.map { .number($0.rounded()) } ?? .null, "time_source": .string(timeSource.rawValue),
        ]
        if let location { o["location"] = .object(["lat": .number(location.lat), "lon": .number(location.lon)]) }
        return .object(o)
    }
}

/// A document issued to a unit: warning slip (预警单), reminder letter
/// (提醒函) or supervision order (督办令).
public struct Slip: Sendable, Hashable {
    /// The three documents a unit receives, by escalation.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case warning, reminder, supervision

        /// Id prefix, after the Chinese names: 预警 YJ, 提醒 TX, 督办 DB.
        public var idPrefix: String {
            switch self {
            case .warning: return "YJ"
            case .reminder: return "TX"
            case .supervision: return "DB"
            }
        }
    }

    /// `open` while in force; `closeReason` says why it closed.
    public enum State: String, Sendable, Codable { case open, closed }

    /// The kind's prefix and a number (`YJ-00000001`), unique in the store.
    public var id: String
    /// Which document it is.
    public var kind: Kind
    /// The zone it concerns.
    public var zone: String
    /// The category of the items it was issued for.
    public var category: Category
    /// The highest severity among its items.
    public var severity: Severity
    /// The unit it is addressed to.
    public var unit: String?
    /// The grid worker of the zone, when the zone names one.
    public var worker: String?
    /// When it was issued (processing time).
    public var issuedAt: Date
    /// When it last changed (a new occurrence, its close).
    public var updatedAt: Date
    /// Whether it is still open.
    public var state: State
    /// The case it became, when correlation opened one.
    public var caseID: String?
    /// Why it was issued, in plain language, for the unit that receives it.
    public var text: String
    /// The risk items it was issued for.
    public var riskItemIDs: [String]
    /// Detections counted towards it so far.
    public var occurrences: Int
    /// When it was closed (processing time), nil while open.
    public var closedAt: Date?
    /// Why it was closed (warning slips: `CloseReason`; reminder letters and supervision orders: nil).
    public var closeReason: String?
    /// A closed warning slip's count start: the newest occurrence of its window when it closed.
    /// A later slip of the window counts only occurrences after it (the closed slip answered for
    /// those); stored so a restart starts counting where the running engine did. Not published.
    public var countAfter: Date?

    /// Why a warning slip closed (`close_reason`).
    public enum CloseReason: String, Sendable, CaseIterable {
        /// Every risk item linked to it closed (lifecycle ended, camera back online, replaced by a later item).
        case itemsClosed = "items_closed"
        /// Its remaining items are one-shot detections none of which recurred for the quiet window
        /// (the longer of the dedup and group windows, in event time).
        case itemsQuiet = "items_quiet"
        /// The case it became (`case_id`) was closed.
        case caseClosed = "case_closed"
        /// The case it became was declared a false alarm.
        case caseFalseAlarm = "case_false_alarm"
        /// Still firing after `repeat_interval_seconds`: a new slip was issued for the same zone and category.
        case repeated
    }

    /// A slip with every field given; the engine makes them, the store's readers rebuild them.
    public init(id: String, kind: Kind, zone: String, category: Category, severity: Severity, unit: String?, worker: String? = nil, issuedAt: Date,
                updatedAt: Date? = nil, state: State = .open, caseID: String? = nil, text: String, riskItemIDs: [String], occurrences: Int,
                closedAt: Date? = nil, closeReason: String? = nil, countAfter: Date? = nil) {
        self.id = id
        self.kind = kind
        self.zone = zone
        self.category = category
        self.severity = severity
        self.unit = unit
        self.worker = worker
        self.issuedAt = issuedAt
        self.updatedAt = updatedAt ?? issuedAt
        self.state = state
        self.caseID = caseID
        self.text = text
        self.riskItemIDs = riskItemIDs
        self.occurrences = occurrences
        self.closedAt = closedAt
        self.closeReason = closeReason
        self.countAfter = countAfter
    }

    /// Closes it at `now` for `reason` (no-op when already closed).
    public mutating func close(_ reason: CloseReason, at now: Date) {
        guard state == .open else { return }
        state = .closed
        closedAt = now
        closeReason = reason.rawValue
        updatedAt = now
    }

    /// The JSON object of the HTTP API and the output topics (snake_case).
    public var json: JSONValue {
        .object([
            "id": .string(id), "kind": .string(kind.rawValue), "zone": .string(zone), "category": .string(category.rawValue),
            "severity": .number(Double(severity.rawValue)), "state": .string(state.rawValue), "unit": unit.map(JSONValue.string) ?? .null,
            "worker": worker.map(JSONValue.string) ?? .null, "issued_at": .string(issuedAt.rfc3339), "updated_at": .string(updatedAt.rfc3339), "case_id": caseID.map(JSONValue.string) ?? .null,
            "text": .string(text), "risk_item_ids": .array(riskItemIDs.map(JSONValue.string)), "occurrences": .number(Double(occurrences)),
            "closed_at": closedAt.map { .string($0.rfc3339) } ?? .null, "close_reason": closeReason.map(JSONValue.string) ?? .null,
        ])
    }
}
