import Alerts
import Foundation
import GRDB

/// 日巡查 — the daily patrol report: for one local day, per worker and per
/// grid, the checkpoints due, on time, late, missed and flagged (outside the
/// radius), coverage, and SOS; then the misses and the flags one by one.
///
/// A slot counts on the day its due time falls on (local midnight to
/// midnight in the configured zone). "Due" counts decided slots: for today,
/// slots still inside their grace are not yet counted. Coverage is
/// (on time + late) / due. Drill SOS are left out.
public enum DailyPatrolReport: ReportBuilder {
    public static let kind = "daily"
    public static let abstract = "日巡查 daily patrol: per worker and grid, checkpoints due / on time / late / missed, coverage %, SOS"

    static let colors = (onTime: "#2f9e44", late: "#f59f00", flagged: "#7048e8", missed: "#e03131")

    struct Counts {
        var due = 0, onTime = 0, late = 0, missed = 0, flagged = 0, madeUp = 0
        var covered: Int { onTime + late }
        var coverage: Double? { due == 0 ? nil : Double(covered) / Double(due) }

        init() {}
        init(_ row: Row, from i: Int) {
            due = row[i]; onTime = row[i + 1]; late = row[i + 2]; missed = row[i + 3]; flagged = row[i + 4]; madeUp = row[i + 5]
        }
    }

    /// The aggregate columns shared by every patrol query (six, in `Counts` order).
    static let countColumns = """
        COUNT(*), COALESCE(SUM(s.status = 'on_time'), 0), COALESCE(SUM(s.status = 'late'), 0), COALESCE(SUM(s.status = 'missed'), 0),
        COALESCE(SUM(s.status = 'outside_radius'), 0), COALESCE(SUM(s.status = 'late' AND s.missed_at IS NOT NULL), 0)
        """

    public static func build(date: LocalDay, context: ReportContext, db: Database) throws -> Report {
        let (start, end) = context.bounds(date)
        let span: StatementArguments = [start, end]

        let total = try Row.fetchOne(db, sql: "SELECT \(countColumns) FROM patrol_slots s WHERE s.due_at >= ? AND s.due_at < ?", arguments: span)
            .map { Counts($0, from: 0) } ?? Counts()

        var workers: [(worker: String, devices: String, unit: String, counts: Counts)] = try Row.fetchAll(db, sql: """
            SELECT s.worker, GROUP_CONCAT(DISTINCT s.device), COALESCE(MAX(s.unit), ''), \(countColumns)
            FROM patrol_slots s WHERE s.due_at >= ? AND s.due_at < ? GROUP BY s.worker ORDER BY s.worker
            """, arguments: span).map { ($0[0], $0[1], $0[2], Counts($0, from: 3)) }
        var grids: [(zone: String, name: String, counts: Counts)] = try Row.fetchAll(db, sql: """
            SELECT s.zone, COALESCE(MAX(z.name), ''), \(countColumns)
            FROM patrol_slots s LEFT JOIN zones z ON z.code = s.zone WHERE s.due_at >= ? AND s.due_at < ? GROUP BY s.zone ORDER BY s.zone
            """, arguments: span).map { ($0[0], $0[1], Counts($0, from: 2)) }

        // SOS raised on the day (and how many of them are still open), by worker and by grid.
        let sosSQL = """
            SELECT %@, COUNT(*), COALESCE(SUM(state = 'open'), 0) FROM risk_items
            WHERE category = 'sos' AND drill = 0 AND first_seen >= ? AND first_seen < ? GROUP BY 1
            """
        var sosByWorker: [String: (Int, Int)] = [:]
        for row in try Row.fetchAll(db, sql: sosSQL.replacingOccurrences(of: "%@", with: "COALESCE(worker, '')"), arguments: span) { sosByWorker[row[0]] = (row[1], row[2]) }
        var sosByZone: [String: (Int, Int)] = [:]
        for row in try Row.fetchAll(db, sql: sosSQL.replacingOccurrences(of: "%@", with: "zone"), arguments: span) { sosByZone[row[0]] = (row[1], row[2]) }
        let sosDay = sosByZone.values.reduce(0) { $0 + $1.0 }
        let sosOpenNow = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE category = 'sos' AND drill = 0 AND state = 'open'") ?? 0
        // Workers and grids with an SOS but no patrol slot that day still get a row.
        for w in sosByWorker.keys where !w.isEmpty && !workers.contains(where: { $0.worker == w }) { workers.append((w, "", "", Counts())) }
        workers.sort { $0.worker < $1.worker }
        for z in sosByZone.keys where !grids.contains(where: { $0.zone == z }) {
            grids.append((z, try String.fetchOne(db, sql: "SELECT name FROM zones WHERE code = ?", arguments: [z]) ?? "", Counts()))
        }
        grids.sort { $0.zone < $1.zone }

        func countCells(_ c: Counts) -> [Report.Cell] {
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

        let misses = try Row.fetchAll(db, sql: """
            SELECT s.due_at, s.grace_ends_at, s.worker, s.checkpoint, s.zone, COALESCE(s.slip_id, ''), s.status, s.checkin_at
            FROM patrol_slots s WHERE s.missed_at IS NOT NULL AND s.due_at >= ? AND s.due_at < ? ORDER BY s.due_at, s.id
            """, arguments: span).map { row -> [Report.Cell] in
                let checkin: Double? = row[7]
                let status: String = row[6]
                let outcome = status == "missed" ? "missed" : "\(status) at \(context.clock(checkin.map(Date.init(timeIntervalSince1970:))))"
                return [.text(context.clock(Date(timeIntervalSince1970: row[0]))), .text(row[2]), .text(row[3]), .text(row[4]),
                        .text(context.clock(Date(timeIntervalSince1970: row[1]))), .text(row[5]), .text(outcome)]
            }
        let flags = try Row.fetchAll(db, sql: """
            SELECT s.due_at, s.checkin_at, s.worker, s.checkpoint, s.zone, s.distance_m
            FROM patrol_slots s WHERE s.status = 'outside_radius' AND s.due_at >= ? AND s.due_at < ? ORDER BY s.due_at, s.id
            """, arguments: span).map { row -> [Report.Cell] in
                let t: Double? = row[1]
                let d: Double? = row[5]
                return [.text(context.clock(Date(timeIntervalSince1970: row[0]))), .text(context.clock(t.map(Date.init(timeIntervalSince1970:)))),
                        .text(row[2]), .text(row[3]), .text(row[4]), .int(Int((d ?? 0).rounded()))]
            }

        let slices = [Report.Series("on time 按时", colors.onTime, [Double(total.onTime)]), Report.Series("late 迟到", colors.late, [Double(total.late)]),
                      Report.Series("outside radius 位置异常", colors.flagged, [Double(total.flagged)]), Report.Series("missed 漏巡", colors.missed, [Double(total.missed)])]
        func stacks(_ counts: [Counts]) -> [Report.Series] {
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
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let c = cal.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", c.hour!, c.minute!)
    }
}
