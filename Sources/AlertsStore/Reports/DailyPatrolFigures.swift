import Alerts
import Foundation
import GRDB

/// Patrol slot counts of one group (a worker, a grid, the day): slots due
/// (decided), on time, late, missed, outside the radius, and late after a
/// reminder (declared missed, then made up).
public struct PatrolSlotCounts: Sendable, Equatable {
    /// Slots due; of them on time, late, missed, checked in outside the radius, and missed then made up.
    public var due = 0, onTime = 0, late = 0, missed = 0, flagged = 0, madeUp = 0
    /// On time or late.
    public var covered: Int { onTime + late }
    /// Covered / due; nil when nothing was due.
    public var coverage: Double? { due == 0 ? nil : Double(covered) / Double(due) }

    /// No slot.
    public init() {}

    init(_ row: [ReportValue], from i: Int) {
        due = row[i].int; onTime = row[i + 1].int; late = row[i + 2].int; missed = row[i + 3].int; flagged = row[i + 4].int; madeUp = row[i + 5].int
    }
}

/// What the daily patrol report (日巡查) reads from the store for one local day
/// `[start, end)`: slot counts per worker and per grid, SOS raised, the misses
/// and the outside-radius check-ins one by one. Drill SOS are left out.
public struct DailyPatrolFigures: Sendable {
    /// One worker's slots that day (workers with an SOS but no slot have empty counts).
    public struct Worker: Sendable {
        /// The worker's id.
        public var worker: String
        /// The worker's devices, comma-separated.
        public var devices: String
        /// The worker's unit.
        public var unit: String
        /// The worker's slots of the day.
        public var counts: PatrolSlotCounts
    }

    /// One grid's slots that day (grids with an SOS but no slot have empty counts).
    public struct Grid: Sendable {
        /// The grid's zone code.
        public var zone: String
        /// The grid's name.
        public var name: String
        /// The grid's slots of the day.
        public var counts: PatrolSlotCounts
    }

    /// A slot declared missed (later made up or not).
    public struct Miss: Sendable {
        /// When the checkpoint was due.
        public var dueAt: Date
        /// When its grace ended with no check-in.
        public var graceEndsAt: Date
        /// The worker who missed it.
        public var worker: String
        /// The checkpoint missed.
        public var checkpoint: String
        /// The checkpoint's grid zone.
        public var zone: String
        /// The reminder letter's id (empty when none).
        public var slipID: String
        /// The slot's status now (`missed`, or `late` when made up).
        public var status: String
        /// The late check-in that made it up, nil when none came.
        public var checkinAt: Date?
    }

    /// A check-in within the window but outside the checkpoint's radius.
    public struct Flag: Sendable {
        /// When the checkpoint was due.
        public var dueAt: Date
        /// The check-in's time.
        public var checkinAt: Date?
        /// The worker who checked in.
        public var worker: String
        /// The checkpoint.
        public var checkpoint: String
        /// The checkpoint's grid zone.
        public var zone: String
        /// How far from the checkpoint the check-in was, when it carried a location.
        public var distanceMetres: Double?
    }

    /// All the day's slots.
    public var total: PatrolSlotCounts
    /// By worker, sorted by worker.
    public var workers: [Worker]
    /// By grid, sorted by zone code.
    public var grids: [Grid]
    /// SOS raised that day and how many are still open, by worker ("" for none) and by zone.
    public var sosByWorker: [String: (raised: Int, open: Int)]
    /// SOS raised that day and still open, by zone.
    public var sosByZone: [String: (raised: Int, open: Int)]
    /// SOS open now, whatever day they were raised.
    public var sosOpenNow: Int
    /// By due time.
    public var misses: [Miss]
    /// By due time.
    public var flags: [Flag]
}

extension DisputeStore {
    /// The daily patrol report's figures for the slots due in `[start, end)` (unix seconds), in one read.
    public func dailyPatrolFigures(start: Double, end: Double) throws -> DailyPatrolFigures {
        try writer.read { db in try DailyPatrolFigures.read(start: start, end: end, sql: SQLiteReportSQL(db)) }
    }
}

extension DailyPatrolFigures {
    /// The aggregate columns shared by every patrol query (six, in `PatrolSlotCounts` order).
    static let patrolCountColumns = """
        COUNT(*), COALESCE(SUM(CASE WHEN s.status = 'on_time' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN s.status = 'late' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN s.status = 'missed' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN s.status = 'outside_radius' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN s.status = 'late' AND s.missed_at IS NOT NULL THEN 1 ELSE 0 END), 0)
        """

    /// The figures for the slots due in `[start, end)`, read with `sql` (one read transaction of either store).
    public static func read(start: Double, end: Double, sql: some ReportSQL) throws -> DailyPatrolFigures {
        let span: [ReportValue] = [.double(start), .double(end)]
        let countColumns = patrolCountColumns

        let total = try sql.row("SELECT \(countColumns) FROM patrol_slots s WHERE s.due_at >= ? AND s.due_at < ?", span)
            .map { PatrolSlotCounts($0, from: 0) } ?? PatrolSlotCounts()

        var workers: [DailyPatrolFigures.Worker] = try sql.rows("""
            SELECT s.worker, \(sql.concatDistinct("s.device")), COALESCE(MAX(s.unit), ''), \(countColumns)
            FROM patrol_slots s WHERE s.due_at >= ? AND s.due_at < ? GROUP BY s.worker ORDER BY \(sql.bytes("s.worker"))
            """, span).map { DailyPatrolFigures.Worker(worker: $0[0].string, devices: $0[1].string, unit: $0[2].string, counts: PatrolSlotCounts($0, from: 3)) }
        var grids: [DailyPatrolFigures.Grid] = try sql.rows("""
            SELECT s.zone, COALESCE(MAX(z.name), ''), \(countColumns)
            FROM patrol_slots s LEFT JOIN zones z ON z.code = s.zone WHERE s.due_at >= ? AND s.due_at < ? GROUP BY s.zone ORDER BY \(sql.bytes("s.zone"))
            """, span).map { DailyPatrolFigures.Grid(zone: $0[0].string, name: $0[1].string, counts: PatrolSlotCounts($0, from: 2)) }

        // SOS raised on the day (and how many of them are still open), by worker and by grid.
        func sos(_ key: String) throws -> [String: (raised: Int, open: Int)] {
            var out: [String: (raised: Int, open: Int)] = [:]
            for row in try sql.rows("""
                SELECT \(key), COUNT(*), COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) FROM risk_items
                WHERE category = 'sos' AND drill = false AND first_seen >= ? AND first_seen < ? GROUP BY \(key)
                """, span) { out[row[0].string] = (row[1].int, row[2].int) }
            return out
        }
        let sosByWorker = try sos("COALESCE(worker, '')")
        let sosByZone = try sos("zone")
        let sosOpenNow = try sql.row("SELECT COUNT(*) FROM risk_items WHERE category = 'sos' AND drill = false AND state = 'open'")?[0].int ?? 0
        // Workers and grids with an SOS but no patrol slot that day still get a row.
        for w in sosByWorker.keys where !w.isEmpty && !workers.contains(where: { $0.worker == w }) {
            workers.append(DailyPatrolFigures.Worker(worker: w, devices: "", unit: "", counts: PatrolSlotCounts()))
        }
        workers.sort { $0.worker < $1.worker }
        for z in sosByZone.keys where !grids.contains(where: { $0.zone == z }) {
            grids.append(DailyPatrolFigures.Grid(zone: z, name: try sql.row("SELECT name FROM zones WHERE code = ?", [.text(z)])?[0].string ?? "",
                                                 counts: PatrolSlotCounts()))
        }
        grids.sort { $0.zone < $1.zone }

        let misses = try sql.rows("""
            SELECT s.due_at, s.grace_ends_at, s.worker, s.checkpoint, s.zone, COALESCE(s.slip_id, ''), s.status, s.checkin_at
            FROM patrol_slots s WHERE s.missed_at IS NOT NULL AND s.due_at >= ? AND s.due_at < ? ORDER BY s.due_at, \(sql.bytes("s.id"))
            """, span).map { row in
                DailyPatrolFigures.Miss(dueAt: Date(timeIntervalSince1970: row[0].double ?? 0), graceEndsAt: Date(timeIntervalSince1970: row[1].double ?? 0),
                                        worker: row[2].string, checkpoint: row[3].string, zone: row[4].string, slipID: row[5].string, status: row[6].string,
                                        checkinAt: row[7].double.map(Date.init(timeIntervalSince1970:)))
            }
        let flags = try sql.rows("""
            SELECT s.due_at, s.checkin_at, s.worker, s.checkpoint, s.zone, s.distance_m
            FROM patrol_slots s WHERE s.status = 'outside_radius' AND s.due_at >= ? AND s.due_at < ? ORDER BY s.due_at, \(sql.bytes("s.id"))
            """, span).map { row in
                DailyPatrolFigures.Flag(dueAt: Date(timeIntervalSince1970: row[0].double ?? 0), checkinAt: row[1].double.map(Date.init(timeIntervalSince1970:)),
                                        worker: row[2].string, checkpoint: row[3].string, zone: row[4].string, distanceMetres: row[5].double)
            }
        return DailyPatrolFigures(total: total, workers: workers, grids: grids, sosByWorker: sosByWorker, sosByZone: sosByZone,
                                  sosOpenNow: sosOpenNow, misses: misses, flags: flags)
    }
}
