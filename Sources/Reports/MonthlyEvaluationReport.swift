import Alerts
import AlertsStore
import Foundation

/// 月评比 — the monthly evaluation: per street and per community, cases
/// opened / resolved / overdue, resolution rate, median days to resolve
/// against the 30-day target, amounts settled, satisfaction rate, supervision
/// orders issued, and a ranking. The figures are `MonthlyEvaluation`'s (SQL
/// over the store, month boundaries in the configured timezone; definitions
/// in docs/CASES.md).
public enum MonthlyEvaluationReport: ReportBuilder {
    /// `patrolhub report monthly`.
    public static let kind = "monthly"
    /// The line `report --help` shows.
    public static let abstract = "月评比 monthly evaluation: cases opened/resolved/overdue, resolution rate, days to resolve, settlement, satisfaction, orders, ranking"

    /// SPEC.md: resolution time is measured against the 30-day target.
    static let targetDays = 30.0
    static let openedColor = "#9aa5b1", resolvedColor = "#0b3d91", overdueColor = "#c0392b", rateColor = "#1e8449"

    /// The calendar month containing `date`, from the store's monthly evaluation.
    public static func build(date: LocalDay, context: ReportContext, store: any ReportStore) throws -> Report {
        let e = try store.monthlyEvaluation(year: date.year, month: date.month, timeZone: context.timeZone, targetDays: targetDays,
                                            now: context.now)
        let t = e.total
        let month = HubFormat.yearMonth(year: e.year, month: e.month)
        let last = LocalDay(year: e.year, month: e.month, day: TimeParser.daysIn(month: e.month, year: e.year))
        let figures = [
            Report.Figure(key: "opened", label: "cases opened 立案", value: .int(t.opened), note: t.falseAlarms > 0 ? "\(t.falseAlarms) false alarms 误报" : nil),
            Report.Figure(key: "resolved", label: "cases resolved 办结", value: .int(t.resolved)),
            Report.Figure(key: "resolution_rate", label: "resolution rate 办结率", value: .percent(t.resolutionRate),
                          note: "of the month's cases, resolved by its end"),
            Report.Figure(key: "median_days", label: "median days to resolve 办结天数中位数", value: median(t.medianDays),
                          note: "target \(Int(targetDays)) days; \(Report.Cell.percent(t.withinTargetRate).text) within it"),
            Report.Figure(key: "overdue", label: "overdue 超期", value: .int(t.overdue)),
            Report.Figure(key: "amount_settled", label: "amount settled 涉及金额 (CNY)", value: .number(t.amountSettled, digits: 2)),
            Report.Figure(key: "satisfaction_rate", label: "satisfaction 满意率", value: .percent(t.satisfactionRate),
                          note: "\(t.rated) of \(t.resolved) rated"),
            Report.Figure(key: "supervision_orders", label: "supervision orders 督办令", value: .int(t.supervisionOrders)),
        ]
        let streets = table(id: "streets", title: "Streets ranked 街道排名", e.streets, parent: false)
        let communities = table(id: "communities", title: "Communities ranked 社区排名", e.communities, parent: true)
        func volume(_ rows: [MonthlyEvaluation.Row], _ title: String) -> Report.Chart {
            .groupedBars(title: title, categories: rows.map(\.name), series: [
                Report.Series("opened 立案", openedColor, rows.map { Double($0.opened) }),
                Report.Series("resolved 办结", resolvedColor, rows.map { Double($0.resolved) }),
                Report.Series("overdue 超期", overdueColor, rows.map { Double($0.overdue) }),
            ])
        }
        func rates(_ rows: [MonthlyEvaluation.Row], _ title: String) -> Report.Chart {
            .groupedBars(title: title, categories: rows.map(\.name), series: [
                Report.Series("resolution rate 办结率 %", resolvedColor, rows.map { ($0.resolutionRate ?? 0) * 100 }),
                Report.Series("satisfaction 满意率 %", rateColor, rows.map { ($0.satisfactionRate ?? 0) * 100 }),
            ])
        }
        let resolvedShare = Double(t.resolvedOfOpened), unresolved = Double(max(0, t.opened - t.falseAlarms - t.resolvedOfOpened))
        return Report(
            kind: kind, title: "月评比 Monthly evaluation \(month)",
            period: "\(month) (\(LocalDay(year: e.year, month: e.month, day: 1)) – \(last)), \(context.timeZone.identifier)",
            generatedAt: context.now, timeZone: context.timeZone, figures: figures,
            sections: [
                Report.Section(title: "Overview 总览", charts: [
                    .donut(title: "Resolution rate 办结率", slices: [Report.Series("resolved 已办结", resolvedColor, [resolvedShare]),
                                                                 Report.Series("not yet 未办结", openedColor, [unresolved])],
                           centre: Report.Cell.percent(t.resolutionRate).text),
                ]),
                Report.Section(title: "Streets 街道", charts: [volume(e.streets, "Cases by street 各街道案件"), rates(e.streets, "Rates by street 各街道办结率与满意率")],
                               tables: [streets]),
                Report.Section(title: "Communities 社区", charts: [volume(e.communities, "Cases by community 各社区案件")], tables: [communities]),
            ],
            notes: [
                "Months run from the 1st to the last day in local days of \(context.timeZone.identifier); drill cases are left out.",
                "Resolution rate: of the cases opened in the month (false alarms excepted), the share resolved before its end.",
                "Resolved, median days, within target, amount settled and satisfaction count the resolutions made in the month, whenever the case was opened.",
                "Satisfaction rate: satisfied and neutral (基本满意) over the resolutions whose parties gave their word.",
                "Overdue: cases due in the month and not resolved by their due time.",
                "Ranking: resolution rate, then fewer overdue cases, fewer supervision orders, a lower median.",
            ])
    }

    static func median(_ d: Double?) -> Report.Cell { d.map { .number($0, digits: 1) } ?? .text("—") }

    static func table(id: String, title: String, _ rows: [MonthlyEvaluation.Row], parent: Bool) -> Report.Table {
        var columns = ["code", "名称", "rank"]
        if parent { columns.append("street") }
        columns += ["unit", "opened", "resolved", "resolution rate", "overdue", "median days", "within 30 d", "amount settled", "satisfaction", "supervision orders"]
        return Report.Table(id: id, title: title, columns: columns, rows: rows.map { r in
            var cells: [Report.Cell] = [.text(r.code), .text(r.name), .int(r.rank)]
            if parent { cells.append(.text(r.parent ?? "")) }
            cells += [.text(r.unit ?? ""), .int(r.opened), .int(r.resolved), .percent(r.resolutionRate), .int(r.overdue), median(r.medianDays),
                      .percent(r.withinTargetRate), .number(r.amountSettled, digits: 2), .percent(r.satisfactionRate), .int(r.supervisionOrders)]
            return cells
        }, empty: "no zones in the store")
    }
}
