import Alerts
import Foundation
import GRDB

/// 周分析 — the weekly analysis: for the ISO week (Monday to Sunday, local
/// days) containing the date, risk items and their outcomes (warning slips,
/// reminder letters, supervision orders, cases) by category and by street,
/// the hotspots (grids and cameras), and the change against the week before;
/// then patrol coverage day by day.
///
/// A risk item counts in the week its first detection falls in (event time);
/// documents in the week they were issued, cases in the week they were
/// opened. Drill items are left out.
public enum WeeklyAnalysisReport: ReportBuilder {
    public static let kind = "weekly"
    public static let abstract = "周分析 weekly analysis: risk items and outcomes by category and zone, hotspots, change vs the previous week"

    static let thisColor = "#0b3d91", lastColor = "#9aa5b1"

    public static func build(date: LocalDay, context: ReportContext, db: Database) throws -> Report {
        let monday = date.adding(days: -date.weekday.index)
        let days = (0..<7).map { monday.adding(days: $0) }
        let lastDays = days.map { $0.adding(days: -7) }
        let week = (start: context.bounds(days[0]).start, end: context.bounds(days[6]).end)
        let last = (start: context.bounds(lastDays[0]).start, end: context.bounds(lastDays[6]).end)
        let span: StatementArguments = [week.start, week.end]
        let lastSpan: StatementArguments = [last.start, last.end]

        // By category: items, muted, still open; documents and cases; last week.
        func itemsByCategory(_ a: StatementArguments) throws -> [String: (n: Int, muted: Int, open: Int)] {
            var out: [String: (Int, Int, Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT category, COUNT(*), COALESCE(SUM(suppressed_by IS NOT NULL), 0), COALESCE(SUM(state = 'open'), 0)
                FROM risk_items WHERE first_seen >= ? AND first_seen < ? AND drill = 0 GROUP BY category
                """, arguments: a) { out[row[0]] = (row[1], row[2], row[3]) }
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
        let categories = Set(items.keys).union(lastItems.keys).union(docs.keys).union(cases.keys)
            .sorted { (items[$0]?.n ?? 0, lastItems[$0]?.n ?? 0, $1) > (items[$1]?.n ?? 0, lastItems[$1]?.n ?? 0, $0) }
        let byCategory = Report.Table(
            id: "by_category", title: "Risk items and outcomes by category 按类别",
            columns: ["category", "名称", "items", "muted", "still open", "warning slips", "reminder letters", "supervision orders", "cases", "last week", "change", "change %"],
            rows: categories.map { c in
                let n = items[c]?.n ?? 0, prev = lastItems[c]?.n ?? 0
                return [.text(c), .text(Category(rawValue: c)?.chineseName ?? ""), .int(n), .int(items[c]?.muted ?? 0), .int(items[c]?.open ?? 0),
                        .int(docs[c]?["warning"] ?? 0), .int(docs[c]?["reminder"] ?? 0), .int(docs[c]?["supervision"] ?? 0), .int(cases[c] ?? 0),
                        .int(prev), .change(n - prev), .percent(prev == 0 ? nil : Double(n - prev) / Double(prev))]
            }, empty: "no risk items this week or last")

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
        let streets = Set(streetItems.keys).union(streetLast.keys).union(streetSlips.keys).union(streetCases.keys)
            .sorted { ((streetItems[$0] ?? 0), $1) > ((streetItems[$1] ?? 0), $0) }
        let byZone = Report.Table(
            id: "by_street", title: "By street 按街道", columns: ["zone", "name", "items", "documents", "cases", "last week", "change"],
            rows: streets.map { z in
                [.text(z), .text(names[z] ?? ""), .int(streetItems[z] ?? 0), .int(streetSlips[z] ?? 0), .int(streetCases[z] ?? 0),
                 .int(streetLast[z] ?? 0), .change((streetItems[z] ?? 0) - (streetLast[z] ?? 0))]
            }, empty: "no risk items this week or last")

        // Hotspots: grids (zones as placed) and cameras with the most items, and their leading category.
        func top(_ key: String, _ filter: String) throws -> [Row] {
            try Row.fetchAll(db, sql: """
                SELECT r.\(key), COUNT(*) AS n,
                    (SELECT r2.category FROM risk_items r2 WHERE r2.\(key) = r.\(key) AND r2.first_seen >= ?1 AND r2.first_seen < ?2 AND r2.drill = 0 \(filter.replacingOccurrences(of: "r.", with: "r2."))
                     GROUP BY r2.category ORDER BY COUNT(*) DESC, r2.category LIMIT 1),
                    (SELECT COUNT(*) FROM risk_items r3 WHERE r3.\(key) = r.\(key) AND r3.first_seen >= ?3 AND r3.first_seen < ?4 AND r3.drill = 0 \(filter.replacingOccurrences(of: "r.", with: "r3.")))
                FROM risk_items r WHERE r.first_seen >= ?1 AND r.first_seen < ?2 AND r.drill = 0 \(filter)
                GROUP BY r.\(key) ORDER BY n DESC, r.\(key) LIMIT 10
                """, arguments: [week.start, week.end, last.start, last.end])
        }
        let gridRows = try top("zone", "")
        let hotGrids = Report.Table(
            id: "hotspot_grids", title: "Hotspot grids 热点网格", columns: ["grid", "name", "items", "top category", "last week", "change"],
            rows: gridRows.map { [.text($0[0]), .text(names[$0[0]] ?? ""), .int($0[1]), .text(($0[2] as String?) ?? ""), .int($0[3]), .change(($0[1] as Int) - ($0[3] as Int))] },
            empty: "no risk items this week")
        var cameraNames: [String: (String, String)] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, name, COALESCE(zone, '') FROM cameras") { cameraNames[row[0]] = (row[1], row[2]) }
        let camRows = try top("source", "AND r.source_kind = 'camera'")
        let hotCameras = Report.Table(
            id: "hotspot_cameras", title: "Hotspot cameras 热点摄像机", columns: ["camera", "name", "grid", "items", "top category", "last week", "change"],
            rows: camRows.map { [.text($0[0]), .text(cameraNames[$0[0]]?.0 ?? ""), .text(cameraNames[$0[0]]?.1 ?? ""), .int($0[1]), .text(($0[2] as String?) ?? ""), .int($0[3]), .change(($0[1] as Int) - ($0[3] as Int))] },
            empty: "no camera risk items this week")

        // Day by day: items this week and last; patrol coverage this week.
        func perDay(_ list: [LocalDay]) throws -> [Int] {
            try Row.fetchAll(db, sql: """
                WITH \(context.daysCTE(list))
                SELECT d.day, (SELECT COUNT(*) FROM risk_items r WHERE r.first_seen >= d.start AND r.first_seen < d."end" AND r.drill = 0)
                FROM days d ORDER BY d.day
                """).map { $0[1] }
        }
        let daily = try perDay(days), lastDaily = try perDay(lastDays)
        let patrolRows = try Row.fetchAll(db, sql: """
            WITH \(context.daysCTE(days))
            SELECT d.day, COUNT(s.id), COALESCE(SUM(s.status IN ('on_time', 'late')), 0), COALESCE(SUM(s.status = 'late'), 0),
                   COALESCE(SUM(s.status = 'missed'), 0), COALESCE(SUM(s.status = 'outside_radius'), 0)
            FROM days d LEFT JOIN patrol_slots s ON s.due_at >= d.start AND s.due_at < d."end" GROUP BY d.day ORDER BY d.day
            """)
        let patrol = Report.Table(
            id: "patrol_by_day", title: "Patrol coverage by day 每日巡查", columns: ["day", "due", "covered", "late", "missed", "outside radius", "coverage"],
            rows: patrolRows.map { r in
                let due: Int = r[1], covered: Int = r[2]
                return [.text(r[0]), .int(due), .int(covered), .int(r[3]), .int(r[4]), .int(r[5]), .percent(due == 0 ? nil : Double(covered) / Double(due))]
            })
        let dueWeek = patrolRows.reduce(0) { $0 + ($1[1] as Int) }, coveredWeek = patrolRows.reduce(0) { $0 + ($1[2] as Int) }
        let lastPatrol = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(status IN ('on_time', 'late')), 0) FROM patrol_slots WHERE due_at >= ? AND due_at < ?", arguments: lastSpan)
        let lastDue: Int = lastPatrol?[0] ?? 0, lastCovered: Int = lastPatrol?[1] ?? 0

        let total = items.values.reduce(0) { $0 + $1.n }, lastTotal = lastItems.values.reduce(0) { $0 + $1.n }
        let coverage: Double? = dueWeek == 0 ? nil : Double(coveredWeek) / Double(dueWeek)
        let lastCoverage: Double? = lastDue == 0 ? nil : Double(lastCovered) / Double(lastDue)
        let figures = [
            Report.Figure(key: "items", label: "risk items 风险隐患", value: .int(total), note: "last week \(lastTotal)"),
            Report.Figure(key: "items_change", label: "change vs last week 环比", value: .change(total - lastTotal),
                          note: lastTotal == 0 ? nil : Report.Cell.percent(Double(total - lastTotal) / Double(lastTotal)).text),
            Report.Figure(key: "warning_slips", label: "warning slips 预警单", value: .int(docs.values.reduce(0) { $0 + ($1["warning"] ?? 0) })),
            Report.Figure(key: "reminder_letters", label: "reminder letters 提醒函", value: .int(docs.values.reduce(0) { $0 + ($1["reminder"] ?? 0) })),
            Report.Figure(key: "supervision_orders", label: "supervision orders 督办令", value: .int(docs.values.reduce(0) { $0 + ($1["supervision"] ?? 0) })),
            Report.Figure(key: "cases", label: "cases opened 立案", value: .int(cases.values.reduce(0, +))),
            Report.Figure(key: "coverage", label: "patrol coverage 巡查覆盖率", value: .percent(coverage), note: "last week \(Report.Cell.percent(lastCoverage).text)"),
        ]
        let shown = categories.prefix(12)
        let labels = days.map { "\($0.weekday.rawValue) \(String($0.description.suffix(5)))" }
        let sections = [
            Report.Section(title: "By category 按类别", charts: [
                .groupedBars(title: "Risk items by category: this week vs last", categories: shown.map { Category(rawValue: $0)?.chineseName ?? $0 },
                             series: [Report.Series("this week", thisColor, shown.map { Double(items[$0]?.n ?? 0) }),
                                      Report.Series("last week", lastColor, shown.map { Double(lastItems[$0]?.n ?? 0) })]),
                .lines(title: "Risk items per day", labels: labels,
                       series: [Report.Series("this week", thisColor, daily.map(Double.init)), Report.Series("last week", lastColor, lastDaily.map(Double.init))]),
            ], tables: [byCategory]),
            Report.Section(title: "By zone 按区域", tables: [byZone]),
            Report.Section(title: "Hotspots 热点", charts: [
                .stackedBars(title: "Hotspot grids", categories: gridRows.map { names[$0[0]] ?? $0[0] }, series: [Report.Series("items", "#d9480f", gridRows.map { Double($0[1] as Int) })]),
                .stackedBars(title: "Hotspot cameras", categories: camRows.map { cameraNames[$0[0]]?.0 ?? $0[0] }, series: [Report.Series("items", "#1971c2", camRows.map { Double($0[1] as Int) })]),
            ], tables: [hotGrids, hotCameras]),
            Report.Section(title: "Patrol 巡查", charts: [
                .stackedBars(title: "Checkpoints by day", categories: labels, series: [
                    Report.Series("covered", DailyPatrolReport.colors.onTime, patrolRows.map { Double($0[2] as Int) }),
                    Report.Series("outside radius", DailyPatrolReport.colors.flagged, patrolRows.map { Double($0[5] as Int) }),
                    Report.Series("missed", DailyPatrolReport.colors.missed, patrolRows.map { Double($0[4] as Int) }),
                ]),
            ], tables: [patrol]),
        ]
        return Report(
            kind: kind, title: "周分析报告 Weekly analysis \(days[0]) – \(days[6])",
            period: "week \(days[0]) (mon) – \(days[6]) (sun), compared with \(lastDays[0]) – \(lastDays[6]), \(context.timeZone.identifier)",
            generatedAt: context.now, timeZone: context.timeZone, figures: figures, sections: sections,
            notes: ["Weeks run Monday to Sunday in local days of the configured timezone.",
                    "Risk items count in the week of their first detection (event time); documents in the week they were issued; cases in the week they were opened. Drills (items, their documents and cases) are excluded.",
                    "Muted: kept but suppressed by inhibition (a camera not online) or a silence. Hotspots rank grids and cameras by risk items."])
    }

    /// SQL: the slip aliased `t` is not a drill's — it links no item or at least
    /// one real one, and names no drill case. (Slips carry no drill flag of their own.)
    static func slipIsReal(_ t: String) -> String {
        """
        (NOT EXISTS (SELECT 1 FROM slip_items si WHERE si.slip_id = \(t).id)
         OR EXISTS (SELECT 1 FROM slip_items si JOIN risk_items ri ON ri.id = si.risk_item_id WHERE si.slip_id = \(t).id AND ri.drill = 0))
        AND (\(t).case_id IS NULL OR \(t).case_id NOT IN (SELECT id FROM cases WHERE drill = 1))
        """
    }
}
