import Alerts
import AlertsStore
import Foundation

/// 日巡查 — the daily patrol report: for one local day, per worker and per
/// grid, the checkpoints due, on time, late, missed and flagged (outside the
/// radius), coverage, and SOS; then the misses and the flags one by one.
///
/// A slot counts on the day its due time falls on (local midnight to
/// midnight in the configured zone). "Due" counts decided slots: for today,
/// slots still inside their grace are not yet counted. Coverage is
/// (on time + late) / due. Drill SOS are left out.
public enum DailyPatrolReport: ReportBuilder {
    /// `patrolhub report daily`.
    public static let kind = "daily"
    /// The line `report --help` shows.
    public static let abstract = "日巡查 daily patrol: per worker and grid, checkpoints due / on time / late / missed, coverage %, SOS"

    static let colors = (onTime: "#2f9e44", late: "#f59f00", flagged: "#7048e8", missed: "#e03131")

    /// The day containing `date`, local midnight to midnight, from the store's patrol figures.
    public static func build(date: LocalDay, context: ReportContext, store: any ReportStore) throws -> Report {
        let (start, end) = context.bounds(date)
        let f = try store.dailyPatrolFigures(start: start, end: end)
        let total = f.total, workers = f.workers, grids = f.grids, sosByWorker = f.sosByWorker, sosByZone = f.sosByZone
        let sosDay = sosByZone.values.reduce(0) { $0 + $1.raised }
        let sosOpenNow = f.sosOpenNow

        func countCells(_ c: PatrolSlotCounts) -> [Report.Cell] {
            [.int(c.due), .int(c.onTime), .int(c.late), .int(c.missed), .int(c.flagged), .percent(c.coverage)]
        }
        let countHeads = ["due", "on time", "late", "missed", "outside radius", "coverage"]
        let byWorker = Report.Table(
            id: "by_worker", title: "By worker 按网格员", columns: ["worker", "device", "unit"] + countHeads + ["SOS", "open SOS"],
            rows: workers.map { w in
                let sos = sosByWorker[w.worker] ?? (0, 0)
                return [.text(w.worker), .text(w.devices), .text(w.unit)] + countCells(w.counts) + [.int(sos.0), .int(sos.1)]
            }, empty: "no patrol slot was due")
        let byGrid = Report.Table(
            id: "by_grid", title: "By grid 按网格", columns: ["grid", "name"] + countHeads + ["SOS", "open SOS"],
            rows: grids.map { g in
                let sos = sosByZone[g.zone] ?? (0, 0)
                return [.text(g.zone), .text(g.name)] + countCells(g.counts) + [.int(sos.0), .int(sos.1)]
            }, empty: "no patrol slot was due")

        let misses = f.misses.map { m -> [Report.Cell] in
            let outcome = m.status == "missed" ? "missed" : "\(m.status) at \(context.clock(m.checkinAt))"
            return [.text(context.clock(m.dueAt)), .text(m.worker), .text(m.checkpoint), .text(m.zone),
                    .text(context.clock(m.graceEndsAt)), .text(m.slipID), .text(outcome)]
        }
        let flags = f.flags.map { g -> [Report.Cell] in
            [.text(context.clock(g.dueAt)), .text(context.clock(g.checkinAt)),
             .text(g.worker), .text(g.checkpoint), .text(g.zone), .int(Int((g.distanceMetres ?? 0).rounded()))]
        }

        let slices = [Report.Series("on time 按时", colors.onTime, [Double(total.onTime)]), Report.Series("late 迟到", colors.late, [Double(total.late)]),
                      Report.Series("outside radius 位置异常", colors.flagged, [Double(total.flagged)]), Report.Series("missed 漏巡", colors.missed, [Double(total.missed)])]
        func stacks(_ counts: [PatrolSlotCounts]) -> [Report.Series] {
            [Report.Series("on time", colors.onTime, counts.map { Double($0.onTime) }), Report.Series("late", colors.late, counts.map { Double($0.late) }),
             Report.Series("outside radius", colors.flagged, counts.map { Double($0.flagged) }), Report.Series("missed", colors.missed, counts.map { Double($0.missed) })]
        }
        let patrolled = grids.filter { $0.counts.due > 0 }
        let sections = [
            Report.Section(title: "Coverage 巡查覆盖", charts: [
                .donut(title: "All checkpoints due", slices: slices, centre: Report.Cell.percent(total.coverage).text),
                .stackedBars(title: "Checkpoints by grid", categories: patrolled.map { $0.name.isEmpty ? $0.zone : $0.name }, series: stacks(patrolled.map(\.counts))),
            ], tables: [byWorker, byGrid]),
            Report.Section(title: "Missed checkpoints 漏巡", tables: [Report.Table(
                id: "missed", title: "Missed checkpoints 漏巡", columns: ["due", "worker", "checkpoint", "grid", "grace until", "reminder letter", "outcome"],
                rows: misses, empty: "none missed")]),
            Report.Section(title: "Outside radius 位置异常", tables: [Report.Table(
                id: "outside_radius", title: "Outside radius 位置异常", columns: ["due", "checked in", "worker", "checkpoint", "grid", "distance m"],
                rows: flags, empty: "none flagged")]),
        ]
        let figures = [
            Report.Figure(key: "due", label: "checkpoints due 应巡", value: .int(total.due)),
            Report.Figure(key: "on_time", label: "on time 按时", value: .int(total.onTime)),
            Report.Figure(key: "late", label: "late 迟到", value: .int(total.late), note: total.madeUp > 0 ? "\(total.madeUp) after a reminder" : nil),
            Report.Figure(key: "missed", label: "missed 漏巡", value: .int(total.missed)),
            Report.Figure(key: "outside_radius", label: "outside radius 位置异常", value: .int(total.flagged)),
            Report.Figure(key: "coverage", label: "coverage 覆盖率", value: .percent(total.coverage)),
            Report.Figure(key: "sos", label: "SOS today 紧急求助", value: .int(sosDay)),
            Report.Figure(key: "open_sos", label: "open SOS now 未处置", value: .int(sosOpenNow)),
        ]
        return Report(
            kind: kind, title: "日巡查报告 Daily patrol report \(date)",
            period: "\(date) (\(date.weekday.rawValue)), \(context.timeZone.identifier)", generatedAt: context.now, timeZone: context.timeZone,
            figures: figures, sections: sections,
            notes: ["A slot counts on the local day of its due time; due = slots decided so far (on time, late, missed, outside radius).",
                    "Coverage = (on time + late) / due. Outside radius: checked in within the window but farther than the checkpoint's radius; not covered, no reminder.",
                    "Late after a reminder: the slot was declared missed, then checked in within its window; its risk item and letter were closed.",
                    "SOS: risk items of category sos first seen that day (drills excluded); open = still open when the report was made."])
    }
}

extension ReportContext {
    /// `HH:MM` in the report's zone (`—` for none).
    public func clock(_ date: Date?) -> String {
        guard let date else { return "—" }
        return HubFormat.hourMinute(date, in: timeZone)
    }
}
