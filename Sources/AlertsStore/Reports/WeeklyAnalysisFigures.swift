import Alerts
import Foundation
import GRDB

/// A local day with its boundaries (unix seconds), for figures grouped by day.
public struct ReportDay: Sendable, Equatable {
    /// `YYYY-MM-DD`.
    public var day: String
    /// Local midnight starting the day, unix seconds.
    public var start: Double
    /// Local midnight ending the day (exclusive), unix seconds.
    public var end: Double

    /// A day `[start, end)`.
    public init(day: String, start: Double, end: Double) {
        self.day = day
        self.start = start
        self.end = end
    }
}

/// What the weekly analysis (周分析) reads from the store: risk items and
/// their outcomes by category and by street, hotspots, items and patrol
/// coverage per day, for a week and the week before. Drills are left out.
public struct WeeklyAnalysisFigures: Sendable {
    /// Risk items first seen in a week, by category: all, muted, still open.
    public struct CategoryItems: Sendable {
        /// Items first seen in the week.
        public var n: Int
        /// Of those, muted by inhibition or a silence.
        public var muted: Int
        /// Of those, still open now.
        public var open: Int
    }

    /// A hotspot (a grid or a camera): its risk items this week, its leading
    /// category, and its items the week before.
    public struct Hotspot: Sendable {
        /// The grid's zone code or the camera's id.
        public var key: String
        /// Its risk items this week.
        public var n: Int
        /// Its most frequent category this week; nil when it had none.
        public var topCategory: String?
        /// Its risk items the week before, for the trend.
        public var lastWeek: Int
    }

    /// Patrol slots due on one day: due, covered (on time or late), late, missed, outside radius.
    public struct PatrolDay: Sendable {
        /// `YYYY-MM-DD`.
        public var day: String
        /// Slots due that day.
        public var due: Int
        /// Slots checked in on time or late.
        public var covered: Int
        /// Slots checked in late.
        public var late: Int
        /// Slots with no check-in.
        public var missed: Int
        /// Slots checked in outside the checkpoint's radius.
        public var flagged: Int
    }

    /// By category, this week and the week before.
    public var items: [String: CategoryItems]
    /// By category, the week before.
    public var lastItems: [String: CategoryItems]
    /// Documents issued this week by category, then kind (`warning`, `reminder`, `supervision`).
    public var documents: [String: [String: Int]]
    /// Cases opened this week by category.
    public var cases: [String: Int]
    /// By street (the zone itself when it has no street): risk items this week and last, documents and cases this week.
    public var streetItems: [String: Int]
    /// By street, risk items the week before.
    public var streetLast: [String: Int]
    /// By street, documents issued this week.
    public var streetSlips: [String: Int]
    /// By street, cases opened this week.
    public var streetCases: [String: Int]
    /// Zone names by code.
    public var zoneNames: [String: String]
    /// The ten grids and ten cameras with the most risk items this week.
    public var hotGrids: [Hotspot]
    /// The ten cameras with the most risk items this week.
    public var hotCameras: [Hotspot]
    /// Camera name and zone by camera id.
    public var cameras: [String: (name: String, zone: String)]
    /// Risk items per day, this week and last (in the order of the days given).
    public var daily: [Int]
    /// Risk items per day of the week before, in the same order.
    public var lastDaily: [Int]
    /// Patrol slots per day of this week.
    public var patrol: [PatrolDay]
    /// Patrol slots due and covered the week before.
    public var lastPatrolDue: Int
    /// Patrol slots covered (on time or late) the week before.
    public var lastPatrolCovered: Int
}

extension DisputeStore {
    /// The weekly analysis' figures for the week `days` (seven local days) against
    /// `lastDays` (the week before), in one read.
    public func weeklyAnalysisFigures(days: [ReportDay], lastDays: [ReportDay]) throws -> WeeklyAnalysisFigures {
        try writer.read { db in try Self.weeklyAnalysisFigures(days: days, lastDays: lastDays, db: db) }
    }

    /// A `WITH days(day, start, end) AS (VALUES …)` table of local days, so SQL
    /// can group by day with boundaries in the configured zone (SQLite has no zones).
    static func daysCTE(_ days: [ReportDay]) -> String {
        let rows = days.map { d -> String in "('\(d.day)', \(d.start), \(d.end))" }
        return "days(day, start, \"end\") AS (VALUES \(rows.joined(separator: ", ")))"
    }

    static func weeklyAnalysisFigures(days: [ReportDay], lastDays: [ReportDay], db: Database) throws -> WeeklyAnalysisFigures {
        let week = (start: days[0].start, end: days[days.count - 1].end)
        let last = (start: lastDays[0].start, end: lastDays[lastDays.count - 1].end)
        let span: StatementArguments = [week.start, week.end]
        let lastSpan: StatementArguments = [last.start, last.end]

        // By category: items, muted, still open; documents and cases.
        func itemsByCategory(_ a: StatementArguments) throws -> [String: WeeklyAnalysisFigures.CategoryItems] {
            var out: [String: WeeklyAnalysisFigures.CategoryItems] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT category, COUNT(*), COALESCE(SUM(suppressed_by IS NOT NULL), 0), COALESCE(SUM(state = 'open'), 0)
                FROM risk_items WHERE first_seen >= ? AND first_seen < ? AND drill = 0 GROUP BY category
                """, arguments: a) { out[row[0]] = WeeklyAnalysisFigures.CategoryItems(n: row[1], muted: row[2], open: row[3]) }
            return out
        }
        let items = try itemsByCategory(span), lastItems = try itemsByCategory(lastSpan)
        var docs: [String: [String: Int]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT category, kind, COUNT(*) FROM slips WHERE issued_at >= ? AND issued_at < ? AND \(Self.slipIsReal("slips")) GROUP BY category, kind", arguments: span) {
            docs[row[0], default: [:]][row[1]] = row[2]
        }
        var cases: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT category, COUNT(*) FROM cases WHERE opened_at >= ? AND opened_at < ? AND drill = 0 GROUP BY category", arguments: span) {
            cases[row[0]] = row[1]
        }

        // By street: the street each zone belongs to (the zone itself when it has none).
        let streetCTE = """
            WITH RECURSIVE up(code, anc) AS (
                SELECT code, code FROM zones
                UNION ALL SELECT up.code, z.parent FROM up JOIN zones z ON z.code = up.anc WHERE z.parent IS NOT NULL),
            street(code, street) AS (SELECT up.code, up.anc FROM up JOIN zones z ON z.code = up.anc WHERE z.level = 'street')
            """
        func byStreet(_ table: String, _ time: String, _ a: StatementArguments, drill: Bool) throws -> [String: Int] {
            var out: [String: Int] = [:]
            // Drills are left out: by their own flag, or (slips, which have none) by their items and case.
            let real = drill ? " AND t.drill = 0" : " AND \(Self.slipIsReal("t"))"
            for row in try Row.fetchAll(db, sql: """
                \(streetCTE)
                SELECT COALESCE(street.street, t.zone), COUNT(*) FROM \(table) t LEFT JOIN street ON street.code = t.zone
                WHERE t.\(time) >= ? AND t.\(time) < ?\(real) GROUP BY 1
                """, arguments: a) { out[row[0]] = row[1] }
            return out
        }
        let streetItems = try byStreet("risk_items", "first_seen", span, drill: true)
        let streetLast = try byStreet("risk_items", "first_seen", lastSpan, drill: true)
        let streetSlips = try byStreet("slips", "issued_at", span, drill: false)
        let streetCases = try byStreet("cases", "opened_at", span, drill: true)
        var names: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT code, name FROM zones") { names[row[0]] = row[1] }

        // Hotspots: grids (zones as placed) and cameras with the most items, and their leading category.
        func top(_ key: String, _ filter: String) throws -> [WeeklyAnalysisFigures.Hotspot] {
            try Row.fetchAll(db, sql: """
                SELECT r.\(key), COUNT(*) AS n,
                    (SELECT r2.category FROM risk_items r2 WHERE r2.\(key) = r.\(key) AND r2.first_seen >= ?1 AND r2.first_seen < ?2 AND r2.drill = 0 \(filter.replacingOccurrences(of: "r.", with: "r2."))
                     GROUP BY r2.category ORDER BY COUNT(*) DESC, r2.category LIMIT 1),
                    (SELECT COUNT(*) FROM risk_items r3 WHERE r3.\(key) = r.\(key) AND r3.first_seen >= ?3 AND r3.first_seen < ?4 AND r3.drill = 0 \(filter.replacingOccurrences(of: "r.", with: "r3.")))
                FROM risk_items r WHERE r.first_seen >= ?1 AND r.first_seen < ?2 AND r.drill = 0 \(filter)
                GROUP BY r.\(key) ORDER BY n DESC, r.\(key) LIMIT 10
                """, arguments: [week.start, week.end, last.start, last.end]).map {
                WeeklyAnalysisFigures.Hotspot(key: $0[0], n: $0[1], topCategory: $0[2], lastWeek: $0[3])
            }
        }
        let gridRows = try top("zone", "")
        var cameraNames: [String: (name: String, zone: String)] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, name, COALESCE(zone, '') FROM cameras") { cameraNames[row[0]] = (row[1], row[2]) }
        let camRows = try top("source", "AND r.source_kind = 'camera'")

        // Day by day: items this week and last; patrol coverage this week.
        func perDay(_ list: [ReportDay]) throws -> [Int] {
            try Row.fetchAll(db, sql: """
                WITH \(daysCTE(list))
                SELECT d.day, (SELECT COUNT(*) FROM risk_items r WHERE r.first_seen >= d.start AND r.first_seen < d."end" AND r.drill = 0)
                FROM days d ORDER BY d.day
                """).map { $0[1] }
        }
        let daily = try perDay(days), lastDaily = try perDay(lastDays)
        let patrolRows = try Row.fetchAll(db, sql: """
            WITH \(daysCTE(days))
            SELECT d.day, COUNT(s.id), COALESCE(SUM(s.status IN ('on_time', 'late')), 0), COALESCE(SUM(s.status = 'late'), 0),
                   COALESCE(SUM(s.status = 'missed'), 0), COALESCE(SUM(s.status = 'outside_radius'), 0)
            FROM days d LEFT JOIN patrol_slots s ON s.due_at >= d.start AND s.due_at < d."end" GROUP BY d.day ORDER BY d.day
            """).map { WeeklyAnalysisFigures.PatrolDay(day: $0[0], due: $0[1], covered: $0[2], late: $0[3], missed: $0[4], flagged: $0[5]) }
        let lastPatrol = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(status IN ('on_time', 'late')), 0) FROM patrol_slots WHERE due_at >= ? AND due_at < ?", arguments: lastSpan)

        return WeeklyAnalysisFigures(
            items: items, lastItems: lastItems, documents: docs, cases: cases,
            streetItems: streetItems, streetLast: streetLast, streetSlips: streetSlips, streetCases: streetCases, zoneNames: names,
            hotGrids: gridRows, hotCameras: camRows, cameras: cameraNames, daily: daily, lastDaily: lastDaily,
            patrol: patrolRows, lastPatrolDue: lastPatrol?[0] ?? 0, lastPatrolCovered: lastPatrol?[1] ?? 0)
    }

    /// SQL: the slip aliased `t` is not a drill's (`ListQuery.slipIsReal`).
    static func slipIsReal(_ t: String) -> String { ListQuery.slipIsReal(t) }
}
