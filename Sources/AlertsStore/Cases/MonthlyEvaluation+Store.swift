import Alerts
import Foundation
import GRDB

/// The monthly evaluation's figures, computed in SQL over the store (definitions: `MonthlyEvaluation`).
extension MonthlyEvaluation {
    /// Computes the evaluation of `year`-`month` with `sql` (one read transaction of either store).
    public static func compute(year: Int, month: Int, timeZone: TimeZone, targetDays: Double = 30, now: Date, sql: some ReportSQL) throws -> MonthlyEvaluation {
        guard let (start, end) = bounds(year: year, month: month, timeZone: timeZone) else {
            throw HubError.caseAction(.invalidAction, "no month \(year)-\(month)")
        }
        let asOf = min(end, max(start, now))
        let p = Params(start: start.timeIntervalSince1970, end: end.timeIntervalSince1970, asOf: asOf.timeIntervalSince1970, target: targetDays * 86_400)
        func rows(_ level: ZoneLevel) throws -> [Row] {
            let zones = try Row.zoneRows(level: level, sql: sql)
            let figures = try Self.figures(grouping: .level(level), p, sql: sql)
            return Self.ranked(zones.map { z in figures[z.code].map { var r = $0; r.code = z.code; r.name = z.name; r.unit = z.unit; r.parent = z.parent; return r } ?? z })
        }
        var total = try Self.figures(grouping: .all, p, sql: sql)["all"] ?? Row(code: "all", name: "全区")
        total.code = "all"
        total.name = "全区"
        return MonthlyEvaluation(year: year, month: month, timeZone: timeZone, start: start, end: end, asOf: asOf, targetDays: targetDays,
                                 streets: try rows(.street), communities: try rows(.community), total: total)
    }

    struct Params {
        var start, end, asOf, target: Double
    }

    enum Grouping {
        case level(ZoneLevel)
        case all
    }

    /// The figures per group (a street's or community's code, or `all`).
    static func figures(grouping: Grouping, _ p: Params, sql: some ReportSQL) throws -> [String: Row] {
        // `grp(code, grp)`: each zone with its ancestor at the level; `c`: non-drill cases with their group.
        let with: String
        switch grouping {
        case .level(let level):
            with = """
                WITH RECURSIVE up(code, anc) AS (
                    SELECT code, code FROM zones
                    UNION ALL SELECT up.code, z.parent FROM up JOIN zones z ON z.code = up.anc WHERE z.parent IS NOT NULL),
                grp(code, grp) AS (SELECT up.code, a.code FROM up JOIN zones a ON a.code = up.anc WHERE a.level = '\(level.rawValue)'),
                c AS (SELECT cases.*, grp.grp AS grp FROM cases JOIN grp ON grp.code = cases.zone WHERE cases.drill = false)
                """
        case .all:
            with = "WITH c AS (SELECT cases.*, 'all' AS grp FROM cases WHERE cases.drill = false)"
        }
        var out: [String: Row] = [:]
        func row(_ g: String) -> Row { out[g] ?? Row(code: g, name: g) }
        for r in try sql.rows("""
            \(with)
            SELECT grp, COUNT(*), \(ReportSQLText.count("state = 'false_alarm'")), \(ReportSQLText.count("state != 'false_alarm' AND resolved_at IS NOT NULL AND resolved_at < ?"))
            FROM c WHERE opened_at >= ? AND opened_at < ? GROUP BY grp
            """, [.double(p.end), .double(p.start), .double(p.end)]) {
            let g = r[0].string
            var x = row(g)
            x.opened = r[1].int
            x.falseAlarms = r[2].int
            x.resolvedOfOpened = r[3].int
            out[g] = x
        }
        for r in try sql.rows("""
            \(with)
            SELECT grp, COUNT(*), \(ReportSQLText.count("resolved_at - opened_at <= ?")), COALESCE(SUM(amount_cny), 0.0),
                   \(ReportSQLText.count("satisfaction IN ('satisfied', 'neutral')")), \(ReportSQLText.count("satisfaction IS NOT NULL"))
            FROM c WHERE resolved_at >= ? AND resolved_at < ? GROUP BY grp
            """, [.double(p.target), .double(p.start), .double(p.end)]) {
            let g = r[0].string
            var x = row(g)
            x.resolved = r[1].int
            x.withinTarget = r[2].int
            x.amountSettled = r[3].double ?? 0
            x.satisfiedOrNeutral = r[4].int
            x.rated = r[5].int
            out[g] = x
        }
        // The median of days to resolve: the middle one (or the mean of the middle two) by window functions.
        for r in try sql.rows("""
            \(with),
            d AS (SELECT grp, (resolved_at - opened_at) / 86400.0 AS days,
                         ROW_NUMBER() OVER (PARTITION BY grp ORDER BY resolved_at - opened_at) AS rn,
                         COUNT(*) OVER (PARTITION BY grp) AS n
                  FROM c WHERE resolved_at >= ? AND resolved_at < ?)
            SELECT grp, CAST(AVG(days) AS DOUBLE PRECISION) FROM d WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY grp
            """, [.double(p.start), .double(p.end)]) {
            let g = r[0].string
            out[g]?.medianDays = r[1].double
        }
        for r in try sql.rows("""
            \(with)
            SELECT grp, COUNT(*) FROM c
            WHERE due_at >= ? AND due_at < ? AND state != 'false_alarm' AND (resolved_at IS NULL OR resolved_at > due_at)
            GROUP BY grp
            """, [.double(p.start), .double(p.asOf)]) {
            let g = r[0].string
            var x = row(g)
            x.overdue = r[1].int
            out[g] = x
        }
        for r in try sql.rows("""
            \(with)
            SELECT c.grp, COUNT(*) FROM slips s JOIN c ON c.id = s.case_id
            WHERE s.kind = 'supervision' AND s.issued_at >= ? AND s.issued_at < ? GROUP BY c.grp
            """, [.double(p.start), .double(p.end)]) {
            let g = r[0].string
            var x = row(g)
            x.supervisionOrders = r[1].int
            out[g] = x
        }
        return out
    }
}

extension MonthlyEvaluation.Row {
    /// Every zone of a level, as an empty row (so a zone without cases is still ranked).
    static func zoneRows(level: ZoneLevel, sql: some ReportSQL) throws -> [MonthlyEvaluation.Row] {
        try sql.rows("SELECT code, name, unit, parent FROM zones WHERE level = ? ORDER BY \(sql.bytes("code"))", [.text(level.rawValue)]).map {
            MonthlyEvaluation.Row(code: $0[0].string, name: $0[1].string, unit: $0[2].optionalString, parent: level == .street ? nil : $0[3].optionalString)
        }
    }
}

extension DisputeStore {
    /// The monthly evaluation of `year`-`month` (one read of the store; see `MonthlyEvaluation.compute`).
    public func monthlyEvaluation(year: Int, month: Int, timeZone: TimeZone, targetDays: Double = 30, now: Date) throws -> MonthlyEvaluation {
        try writer.read { db in
            try MonthlyEvaluation.compute(year: year, month: month, timeZone: timeZone, targetDays: targetDays, now: now, sql: SQLiteReportSQL(db))
        }
    }
}
