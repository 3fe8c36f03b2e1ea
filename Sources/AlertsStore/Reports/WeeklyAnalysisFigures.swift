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
        try writer.read { db in try WeeklyAnalysisFigures.read(days: days, lastDays: lastDays, sql: SQLiteReportSQL(db)) }
    }
}

extension WeeklyAnalysisFigures {
    /// A `WITH days(day, start, end) AS (VALUES …)` table of local days, so SQL
    /// can group by day with boundaries in the configured zone (SQLite has no zones).
    static func daysCTE(_ days: [ReportDay]) -> String {
        let rows = days.map { d -> String in "('\(d.day)', CAST(\(d.start) AS DOUBLE PRECISION), CAST(\(d.end) AS DOUBLE PRECISION))" }
        return "days(day, start, \"end\") AS (VALUES \(rows.joined(separator: ", ")))"
    }

    /// The figures of the week `days` against `lastDays`, read with `sql` (one read transaction of either store).
    public static func read(days: [ReportDay], lastDays: [ReportDay], sql: some ReportSQL) throws -> WeeklyAnalysisFigures {
        let week = (start: days[0].start, end: days[days.count - 1].end)
        let last = (start: lastDays[0].start, end: lastDays[lastDays.count - 1].end)
        let span: [ReportValue] = [.double(week.start), .double(week.end)]
        let lastSpan: [ReportValue] = [.double(last.start), .double(last.end)]

        // By category: items, muted, still open; documents and cases.
        func itemsByCategory(_ a: [ReportValue]) throws -> [String: WeeklyAnalysisFigures.CategoryItems] {
            var out: [String: WeeklyAnalysisFigures.CategoryItems] = [:]
            for row in try sql.rows("""
                SELECT category, COUNT(*), \(ReportSQLText.count("suppressed_by IS NOT NULL")), \(ReportSQLText.count("state = 'open'"))
                FROM risk_items WHERE first_seen >= ? AND first_seen < ? AND drill = false GROUP BY category
                """, a) { out[row[0].string] = WeeklyAnalysisFigures.CategoryItems(n: row[1].int, muted: row[2].int, open: row[3].int) }
            return out
        }
        let items = try itemsByCategory(span), lastItems = try itemsByCategory(lastSpan)
        var docs: [String: [String: Int]] = [:]
        for row in try sql.rows("SELECT category, kind, COUNT(*) FROM slips WHERE issued_at >= ? AND issued_at < ? AND \(ListQuery.slipIsReal("slips")) GROUP BY category, kind", span) {
            docs[row[0].string, default: [:]][row[1].string] = row[2].int
        }
        var cases: [String: Int] = [:]
        for row in try sql.rows("SELECT category, COUNT(*) FROM cases WHERE opened_at >= ? AND opened_at < ? AND drill = false GROUP BY category", span) {
            cases[row[0].string] = row[1].int
        }

        // By street: the street each zone belongs to (the zone itself when it has none).
        let streetCTE = """
            WITH RECURSIVE up(code, anc) AS (
                SELECT code, code FROM zones
                UNION ALL SELECT up.code, z.parent FROM up JOIN zones z ON z.code = up.anc WHERE z.parent IS NOT NULL),
            street(code, street) AS (SELECT up.code, up.anc FROM up JOIN zones z ON z.code = up.anc WHERE z.level = 'street')
            """
        func byStreet(_ table: String, _ time: String, _ a: [ReportValue], drill: Bool) throws -> [String: Int] {
            var out: [String: Int] = [:]
            // Drills are left out: by their own flag, or (slips, which have none) by their items and case.
            let real = drill ? " AND t.drill = false" : " AND \(ListQuery.slipIsReal("t"))"
            for row in try sql.rows("""
                \(streetCTE)
                SELECT COALESCE(street.street, t.zone), COUNT(*) FROM \(table) t LEFT JOIN street ON street.code = t.zone
                WHERE t.\(time) >= ? AND t.\(time) < ?\(real) GROUP BY COALESCE(street.street, t.zone)
                """, a) { out[row[0].string] = row[1].int }
            return out
        }
        let streetItems = try byStreet("risk_items", "first_seen", span, drill: true)
        let streetLast = try byStreet("risk_items", "first_seen", lastSpan, drill: true)
        let streetSlips = try byStreet("slips", "issued_at", span, drill: false)
        let streetCases = try byStreet("cases", "opened_at", span, drill: true)
        var names: [String: String] = [:]
        for row in try sql.rows("SELECT code, name FROM zones", []) { names[row[0].string] = row[1].string }

        // Hotspots: grids (zones as placed) and cameras with the most items, and their leading category.
        func top(_ key: String, _ filter: String) throws -> [WeeklyAnalysisFigures.Hotspot] {
            try sql.rows("""
                SELECT r.\(key), COUNT(*) AS n,
                    (SELECT r2.category FROM risk_items r2 WHERE r2.\(key) = r.\(key) AND r2.first_seen >= ?1 AND r2.first_seen < ?2 AND r2.drill = false \(filter.replacingOccurrences(of: "r.", with: "r2."))
                     GROUP BY r2.category ORDER BY COUNT(*) DESC, \(sql.bytes("r2.category")) LIMIT 1),
                    (SELECT COUNT(*) FROM risk_items r3 WHERE r3.\(key) = r.\(key) AND r3.first_seen >= ?3 AND r3.first_seen < ?4 AND r3.drill = false \(filter.replacingOccurrences(of: "r.", with: "r3.")))
                FROM risk_items r WHERE r.first_seen >= ?1 AND r.first_seen < ?2 AND r.drill = false \(filter)
                GROUP BY r.\(key) ORDER BY n DESC, \(sql.bytes("r.\(key)")) LIMIT 10
                """, [.double(week.start), .double(week.end), .double(last.start), .double(last.end)]).map {
                WeeklyAnalysisFigures.Hotspot(key: $0[0].string, n: $0[1].int, topCategory: $0[2].optionalString, lastWeek: $0[3].int)
            }
        }
        let gridRows = try top("zone", "")
        var cameraNames: [String: (name: String, zone: String)] = [:]
        for row in try sql.rows("SELECT id, name, COALESCE(zone, '') FROM cameras", []) { cameraNames[row[0].string] = (row[1].string, row[2].string) }
        let camRows = try top("source", "AND r.source_kind = 'camera'")

        // Day by day: items this week and last; patrol coverage this week.
        func perDay(_ list: [ReportDay]) throws -> [Int] {
            try sql.rows("""
                WITH \(daysCTE(list))
                SELECT d.day, (SELECT COUNT(*) FROM risk_items r WHERE r.first_seen >= d.start AND r.first_seen < d."end" AND r.drill = false)
                FROM days d ORDER BY d.day
                """, []).map { $0[1].int }
        }
        let daily = try perDay(days), lastDaily = try perDay(lastDays)
        let patrolRows = try sql.rows("""
            WITH \(daysCTE(days))
            SELECT d.day, COUNT(s.id), \(ReportSQLText.count("s.status IN ('on_time', 'late')")), \(ReportSQLText.count("s.status = 'late'")),
                   \(ReportSQLText.count("s.status = 'missed'")), \(ReportSQLText.count("s.status = 'outside_radius'"))
            FROM days d LEFT JOIN patrol_slots s ON s.due_at >= d.start AND s.due_at < d."end" GROUP BY d.day ORDER BY d.day
            """, []).map { WeeklyAnalysisFigures.PatrolDay(day: $0[0].string, due: $0[1].int, covered: $0[2].int, late: $0[3].int, missed: $0[4].int, flagged: $0[5].int) }
        let lastPatrol = try sql.row("SELECT COUNT(*), \(ReportSQLText.count("status IN ('on_time', 'late')")) FROM patrol_slots WHERE due_at >= ? AND due_at < ?", lastSpan)

        return WeeklyAnalysisFigures(
            items: items, lastItems: lastItems, documents: docs, cases: cases,
            streetItems: streetItems, streetLast: streetLast, streetSlips: streetSlips, streetCases: streetCases, zoneNames: names,
            hotGrids: gridRows, hotCameras: camRows, cameras: cameraNames, daily: daily, lastDaily: lastDaily,
            patrol: patrolRows, lastPatrolDue: lastPatrol?[0].int ?? 0, lastPatrolCovered: lastPatrol?[1].int ?? 0)
    }
}
