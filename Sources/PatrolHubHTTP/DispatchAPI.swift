import Alerts
import AlertsStore
import Foundation
import Hummingbird
import Reports

/// The read side of the dispatch-room API (and the silences it manages):
/// each method reads or writes the store through its API and returns the
/// body the route sends (`Responses.swift`); the store's errors pass through
/// to `APIError.init(mapping:)`. Kept apart from Hummingbird's router so it stays small and the
/// routes stay one line each (see `DispatchRoutes`).
struct DispatchAPI: Sendable {
    let store: any DispatchStore
    /// Parses `since`, `starts_at`, `ends_at` (a time without offset is read in the hub's timezone).
    var timeParser = TimeParser()
    /// The processing clock: silences start now, expire now.
    var clock: @Sendable () -> Date = { Date() }
    /// `topic_prefix`: case actions queue the updated case on `{prefix}/out/cases`.
    var outputPrefix = "patrolhub/v1"
    /// The safety rules of new silences (config `silences`).
    var silencePolicy = SilencePolicy()
    /// Wakes the pipeline after a replay queued dead letters into the inbox (nil: it finds them at its next wake-up).
    var inboxQueued: (@Sendable () -> Void)?

    static let defaultLimit = 100
    static let maxLimit = 1000

    // MARK: - Lists

    enum ListKind { case riskItems, cases, slips }

    /// Reads `zone`, `state`, `category`, `since`, `drill`, `kind` (slips),
    /// `limit` and `cursor` from the query; anything else, or a bad value, is a 400 naming the parameter.
    func listQuery(_ params: [(String, String)], for kind: ListKind) throws -> ListQuery {
        var q = ListQuery()
        q.limit = Self.defaultLimit
        let states: [String]
        switch kind {
        case .riskItems: states = ["open", "closed"]
        case .cases: states = ["open"] + Case.State.allCases.map(\.rawValue)
        case .slips: states = ["open", "closed"]
        }
        for (key, value) in params {
            switch key {
            case "zone":
                guard !value.isEmpty else { throw bad(key, "is empty") }
                q.zone = value
            case "state":
                for s in value.split(separator: ",").map(String.init) {
                    guard states.contains(s) else { throw bad(key, "unknown state '\(s)' (use \(states.joined(separator: ", ")))") }
                    q.states.append(s)
                }
            case "category":
                for c in value.split(separator: ",").map(String.init) {
                    guard let cat = Alerts.Category(rawValue: c) else { throw bad(key, "unknown category '\(c)'") }
                    q.categories.append(cat)
                }
            case "since":
                guard let t = timeParser.parse(value) else { throw bad(key, "expected an RFC 3339 time, e.g. 2025-03-01T08:00:00+08:00, found '\(value)'") }
                q.since = t
            case "drill":
                guard let b = Bool(value) else { throw bad(key, "expected true or false, found '\(value)'") }
                q.drill = b
            case "late" where kind == .riskItems:
                guard let b = Bool(value) else { throw bad(key, "expected true or false, found '\(value)'") }
                q.late = b
            case "kind" where kind == .slips:
                guard let k = Slip.Kind(rawValue: value) else { throw bad(key, "expected warning, reminder or supervision, found '\(value)'") }
                q.kind = k
            default:
                if try pageParameter(key, value, limit: &q.limit, cursor: &q.cursor) { continue }
                let known = ["zone", "state", "category", "since", "drill"] + (kind == .slips ? ["kind"] : []) + (kind == .riskItems ? ["late"] : []) + ["limit", "cursor"]
                throw bad(key, "unknown parameter (known: \(known.joined(separator: ", ")))")
            }
        }
        if let zone = q.zone, try !store.knowsZone(zone) {
            throw bad("zone", "unknown zone '\(zone)'")
        }
        return q
    }

    private func bad(_ parameter: String, _ message: String) -> APIError {
        .parameter(parameter, message)
    }

    /// Reads the parameters every paged list takes (`limit`, `cursor`, and
    /// `access_token`, which the access check has read); false for any other key.
    func pageParameter(_ key: String, _ value: String, limit: inout Int, cursor: inout Int64?) throws -> Bool {
        switch key {
        case "limit":
            guard let n = Int(value), (1...Self.maxLimit).contains(n) else {
                throw bad(key, "expected a whole number from 1 to \(Self.maxLimit), found '\(value.prefix(100))'")
            }
            limit = n
        case "cursor":
            guard let c = Int64(value), c > 0 else { throw bad(key, "not a cursor of this list: pass the 'next' of the previous page") }
            cursor = c
        case "access_token":
            break
        default:
            return false
        }
        return true
    }

    func riskItems(_ q: ListQuery) throws -> Page<RiskItemBody> {
        let page = try store.riskItemsPage(q)
        return Page(items: page.items.map(RiskItemBody.init), next: page.next)
    }

    func cases(_ q: ListQuery) throws -> Page<CaseBody> {
        let page = try store.casesPage(q)
        return Page(items: page.items.map(CaseBody.init), next: page.next)
    }

    func slips(_ q: ListQuery) throws -> Page<SlipBody> {
        let page = try store.slipsPage(q)
        return Page(items: page.items.map(SlipBody.init), next: page.next)
    }

    /// One case with its `transitions` (oldest first), `risk_items` (its
    /// evidence) and `slips` (documents about it); 404 when unknown.
    func caseDetail(id: String) throws -> CaseDetailBody {
        guard let d = try store.caseDetail(id: id) else { throw APIError.notFound("no case \(id)") }
        return CaseDetailBody(d)
    }

    // MARK: - Zones

    /// Every zone with its live counts (`?level=` keeps one level; `?geometry=false` leaves the shapes out).
    func zones(_ params: [(String, String)]) throws -> Page<ZoneBody> {
        var level: String?
        var geometry = true
        for (key, value) in params {
            switch key {
            case "level":
                guard ZoneLevel(rawValue: value) != nil else { throw bad(key, "expected district, street, community or grid, found '\(value)'") }
                level = value
            case "geometry":
                guard let b = Bool(value) else { throw bad(key, "expected true or false, found '\(value)'") }
                geometry = b
            case "access_token": continue
            default: throw bad(key, "unknown parameter (known: level, geometry)")
            }
        }
        let all = try store.zoneSummaries()
        let kept = all.filter { level == nil || $0.level == level }
        return Page(items: kept.map { ZoneBody($0, geometry: geometry) })
    }

    /// One zone with its counts, its geometry and the codes of its children; 404 when unknown.
    func zone(code: String) throws -> ZoneDetailBody {
        let all = try store.zoneSummaries()
        guard let z = all.first(where: { $0.code == code }) else { throw APIError.notFound("no zone \(code)") }
        return ZoneDetailBody(zone: ZoneBody(z, geometry: true), children: all.filter { $0.parent == code }.map(\.code))
    }

    // MARK: - Reports

    /// A supervision report (`daily`, `weekly`, `monthly`) for the period holding
    /// `date` (YYYY-MM-DD in the hub's timezone, default today) as `format`
    /// (`html`, the default, `md` or `csv`): the same builders and renderers as `patrolhub report`.
    func report(kind: String, _ params: [(String, String)]) throws -> (text: String, contentType: String) {
        var date: LocalDay?
        var format = ReportFormat.html
        for (key, value) in params {
            switch key {
            case "date":
                guard let d = LocalDay(value) else { throw bad(key, "expected a day YYYY-MM-DD, found '\(value)'") }
                date = d
            case "format":
                guard let f = ReportFormat(rawValue: value) else { throw bad(key, "expected html, md or csv, found '\(value)'") }
                format = f
            case "access_token": continue
            default: throw bad(key, "unknown parameter (known: date, format)")
            }
        }
        guard ReportCatalog.builder(kind) != nil else { throw HubError.reportUnavailable(kind) }
        let context = ReportContext(timeZone: timeParser.defaultZone, now: clock())
        let day = date ?? {
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = timeParser.defaultZone
            let c = cal.dateComponents([.year, .month, .day], from: context.now)
            return LocalDay(year: c.year!, month: c.month!, day: c.day!)
        }()
        let report = try ReportCatalog.build(kind, date: day, context: context, store: store)
        let type: String
        switch format {
        case .html: type = "text/html; charset=utf-8"
        case .md: type = "text/markdown; charset=utf-8"
        case .csv: type = "text/csv; charset=utf-8"
        }
        return (ReportRenderer.render(report, as: format), type)
    }

    // MARK: - Silences

    /// Silences not yet ended (`all`: every silence), with their state now.
    func silences(all: Bool) throws -> Page<SilenceBody> {
        let now = clock()
        let list = try store.silences(endingAfter: all ? nil : now)
        return Page(items: list.map { SilenceBody($0, now: now) })
    }

    /// Creates a silence from a JSON body: matchers `zone`, `category`,
    /// `source`, `drill` (at least one), `starts_at` (default now), `ends_at`
    /// or `duration` (`30m`, `2h`, `1d`), `comment`; `created_by` is the caller.
    /// The same checks as `patrolhub silences add`, and the same audit log entry;
    /// `role` decides whether it may silence every category over a whole district (supervisor).
    func addSilence(body: JSONValue, createdBy: String, role: Role?) throws -> SilenceBody {
        let fields = try BodyFields(body, known: ["zone", "category", "source", "drill", "starts_at", "ends_at", "duration", "comment", "created_by"])
        let string = fields.string
        func time(_ key: String) throws -> Date? {
            guard let s = try string(key) else { return nil }
            guard let t = timeParser.parse(s) else { throw APIError.field(key, "expected an RFC 3339 time, found '\(s)'") }
            return t
        }
        let now = clock()
        let starts = try time("starts_at") ?? now
        let ends: Date
        if fields.value("ends_at") != nil, fields.value("duration") != nil {
            throw APIError.field("duration", "give ends_at or duration, not both")
        }
        if let e = try time("ends_at") {
            ends = e
        } else if let d = try string("duration") {
            guard let seconds = DurationText.seconds(d), seconds <= 1e12 else {
                throw APIError.field("duration", "expected e.g. 30m, 2h or 1d, found '\(d)'")
            }
            ends = starts.addingTimeInterval(seconds)
        } else {
            throw APIError.field("ends_at", "give ends_at or duration")
        }
        var category: Alerts.Category?
        if let c = try string("category") {
            guard let cat = Alerts.Category(rawValue: c) else { throw APIError.field("category", "unknown category '\(c)'") }
            category = cat
        }
        var drill: Bool?
        if let d = fields.value("drill") {
            guard let b = d.boolValue else { throw APIError.field("drill", "expected true or false, found \(d.typeName)") }
            drill = b
        }
        let silence = Silence(id: "", zone: try string("zone"), category: category, source: try string("source"), drill: drill,
                              startsAt: starts, endsAt: ends, createdBy: createdBy, comment: try string("comment") ?? "", createdAt: now)
        let authority: SilenceAuthority = (role ?? .viewer) >= .supervisor ? .supervisor : .operator
        return SilenceBody(try store.addSilence(silence, policy: silencePolicy, authority: authority), now: now)
    }

    /// Ends a silence now (`purge`: deletes it); 404 when there is no such silence.
    func endSilence(id: String, by actor: String, purge: Bool) throws -> SilenceEndedBody {
        let found = purge ? try store.deleteSilence(id: id, by: actor, at: clock()) : try store.expireSilence(id: id, by: actor, at: clock())
        guard found else { throw APIError.notFound("no silence \(id)") }
        return SilenceEndedBody(id: id, purged: purge)
    }
}
