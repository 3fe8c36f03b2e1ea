import Alerts
import AlertsStore
import Foundation

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
    /// `patrolhub report weekly`.
    public static let kind = "weekly"
    /// The line `report --help` shows.
    public static let abstract = "周分析 weekly analysis: risk items and outcomes by category and zone, hotspots, change vs the previous week"

    static let thisColor = "#0b3d91", lastColor = "#9aa5b1"

    /// The Monday-to-Sunday week containing `date`, with the week before for comparison.
    public static func build(date: LocalDay, context: ReportContext, store: any ReportStore) throws -> Report {
        let monday = date.adding(days: -date.weekday.index)
        let days = (0..<7).map { monday.adding(days: $0) }
        let lastDays = days.map { $0.adding(days: -7) }
        func reportDays(_ list: [LocalDay]) -> [ReportDay] {
            list.map { d in let b = context.bounds(d); return ReportDay(day: d.description, start: b.start, end: b.end) }
        }
        let f = try store.weeklyAnalysisFigures(days: reportDays(days), lastDays: reportDays(lastDays))
        let items = f.items, lastItems = f.lastItems, docs = f.documents, cases = f.cases

        // By category: items, muted, still open; documents and cases; last week.
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
        let streetItems = f.streetItems, streetLast = f.streetLast, streetSlips = f.streetSlips, streetCases = f.streetCases
        let names = f.zoneNames
        let streets = Set(streetItems.keys).union(streetLast.keys).union(streetSlips.keys).union(streetCases.keys)
            .sorted { ((streetItems[$0] ?? 0), $1) > ((streetItems[$1] ?? 0), $0) }
        let byZone = Report.Table(
            id: "by_street", title: "By street 按街道", columns: ["zone", "name", "items", "documents", "cases", "last week", "change"],
            rows: streets.map { z in
                [.text(z), .text(names[z] ?? ""), .int(streetItems[z] ?? 0), .int(streetSlips[z] ?? 0), .int(streetCases[z] ?? 0),
                 .int(streetLast[z] ?? 0), .change((streetItems[z] ?? 0) - (streetLast[z] ?? 0))]
            }, empty: "no risk items this week or last")

        // Hotspots: grids (zones as placed) and cameras with the most items, and their leading category.
        let gridRows = f.hotGrids
        let hotGrids = Report.Table(
            id: "hotspot_grids", title: "Hotspot grids 热点网格", columns: ["grid", "name", "items", "top category", "last week", "change"],
            rows: gridRows.map { [.text($0.key), .text(names[$0.key] ?? ""), .int($0.n), .text($0.topCategory ?? ""), .int($0.lastWeek), .change($0.n - $0.lastWeek)] },
            empty: "no risk items this week")
        let cameraNames = f.cameras
        let camRows = f.hotCameras
        let hotCameras = Report.Table(
            id: "hotspot_cameras", title: "Hotspot cameras 热点摄像机", columns: ["camera", "name", "grid", "items", "top category", "last week", "change"],
            rows: camRows.map { [.text($0.key), .text(cameraNames[$0.key]?.0 ?? ""), .text(cameraNames[$0.key]?.1 ?? ""), .int($0.n), .text($0.topCategory ?? ""), .int($0.lastWeek), .change($0.n - $0.lastWeek)] },
            empty: "no camera risk items this week")

        // Day by day: items this week and last; patrol coverage this week.
        let daily = f.daily, lastDaily = f.lastDaily
        let patrolRows = f.patrol
        let patrol = Report.Table(
            id: "patrol_by_day", title: "Patrol coverage by day 每日巡查", columns: ["day", "due", "covered", "late", "missed", "outside radius", "coverage"],
            rows: patrolRows.map { r in
                [.text(r.day), .int(r.due), .int(r.covered), .int(r.late), .int(r.missed), .int(r.flagged), .percent(r.due == 0 ? nil : Double(r.covered) / Double(r.due))]
            })
        let dueWeek = patrolRows.reduce(0) { $0 + $1.due }, coveredWeek = patrolRows.reduce(0) { $0 + $1.covered }
        let lastDue = f.lastPatrolDue, lastCovered = f.lastPatrolCovered

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
                .stackedBars(title: "Hotspot grids", categories: gridRows.map { names[$0.key] ?? $0.key }, series: [Report.Series("items", "#d9480f", gridRows.map { Double($0.n) })]),
                .stackedBars(title: "Hotspot cameras", categories: camRows.map { cameraNames[$0.key]?.0 ?? $0.key }, series: [Report.Series("items", "#1971c2", camRows.map { Double($0.n) })]),
            ], tables: [hotGrids, hotCameras]),
            Report.Section(title: "Patrol 巡查", charts: [
                .stackedBars(title: "Checkpoints by day", categories: labels, series: [
                    Report.Series("covered", DailyPatrolReport.colors.onTime, patrolRows.map { Double($0.covered) }),
                    Report.Series("outside radius", DailyPatrolReport.colors.flagged, patrolRows.map { Double($0.flagged) }),
                    Report.Series("missed", DailyPatrolReport.colors.missed, patrolRows.map { Double($0.missed) }),
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
}
