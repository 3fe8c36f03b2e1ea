import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO

/// The reports' queries (`ReportSQL`, written once for both stores) on a
/// PostgreSQL read transaction: `?` and `?N` become `$n`, and each cell is
/// read by its type.
struct PostgresReportSQL: ReportSQL {
    let batch: PostgresBatch

    func rows(_ sql: String, _ arguments: [ReportValue]) throws -> [[ReportValue]] {
        var binds = PostgresBindings()
        for a in arguments {
            switch a {
            case .null: binds.appendNull()
            case .int(let i): binds.append(i)
            case .double(let d): binds.append(d)
            case .text(let s): binds.append(s)
            }
        }
        return try batch.run(PostgresQuery(unsafeSQL: Self.numbered(sql), binds: binds)).rows.map { row in
            try row.map(Self.value)
        }
    }

    func bytes(_ expression: String) -> String { "\(expression) COLLATE \"C\"" }

    func concatDistinct(_ expression: String) -> String { "string_agg(DISTINCT \(expression), ',')" }

    /// `sql` with `?N` written `$N` and each bare `?` the next `$n` (the reports' SQL has no `?` in a literal).
    static func numbered(_ sql: String) -> String {
        var out = ""
        var next = 0
        var chars = sql.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            guard c == "?" else { out.append(c); continue }
            var digits = ""
            while let d = chars.next() {
                if d.isASCII, d.isNumber { digits.append(d) } else { pending = d; break }
            }
            if digits.isEmpty {
                next += 1
                out += "$\(next)"
            } else {
                out += "$" + digits
            }
        }
        return out
    }

    /// A cell as a `ReportValue`, by its PostgreSQL type.
    static func value(_ cell: PostgresCell) throws -> ReportValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .numeric: return .double(Double(try cell.decode(String.self)) ?? 0)
        case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// The supervision reports from PostgreSQL: the same queries as on SQLite, each report one snapshot.
extension PostgresDispatchStore {
    /// The daily patrol report's figures for the slots due in `[start, end)` (unix seconds), in one read.
    public func dailyPatrolFigures(start: Double, end: Double) throws -> DailyPatrolFigures {
        try read { try DailyPatrolFigures.read(start: start, end: end, sql: PostgresReportSQL(batch: $0)) }
    }

    /// The weekly analysis' figures for the week `days` against `lastDays`, in one read.
    public func weeklyAnalysisFigures(days: [ReportDay], lastDays: [ReportDay]) throws -> WeeklyAnalysisFigures {
        try read { try WeeklyAnalysisFigures.read(days: days, lastDays: lastDays, sql: PostgresReportSQL(batch: $0)) }
    }

    /// The monthly evaluation of `year`-`month`, in one read.
    public func monthlyEvaluation(year: Int, month: Int, timeZone: TimeZone, targetDays: Double, now: Date) throws -> MonthlyEvaluation {
        try read { try MonthlyEvaluation.compute(year: year, month: month, timeZone: timeZone, targetDays: targetDays, now: now, sql: PostgresReportSQL(batch: $0)) }
    }
}
