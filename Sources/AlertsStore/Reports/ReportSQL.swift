import Alerts
import Foundation
import GRDB

/// A value of a report query's parameter or result cell.
public enum ReportValue: Sendable, Equatable {
    /// NULL.
    case null
    /// A whole number.
    case int(Int64)
    /// A floating-point number.
    case double(Double)
    /// Text.
    case text(String)

    /// The whole number (a double is truncated; null or text: 0).
    public var int: Int {
        switch self {
        case .int(let i): Int(i)
        case .double(let d): d.isFinite ? Int(d) : 0
        default: 0
        }
    }

    /// The number (null or text: nil).
    public var double: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// The text (a number as written; null: empty).
    public var string: String {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .null: ""
        }
    }

    /// The text, nil when null.
    public var optionalString: String? { self == .null ? nil : string }
}

/// The reports' queries, written once in the SQL both stores run, and run by
/// either (`SQLiteReportSQL` here, `PostgresReportSQL` in the PostgreSQL store):
/// parameters are `?` (taken in order) or `?N`; booleans are compared with
/// `true`/`false` and counted with `CASE WHEN … THEN 1 ELSE 0 END`; what the
/// dialects spell differently goes through `bytes` and `concatDistinct`. Each
/// runs inside one read transaction of its store.
public protocol ReportSQL {
    /// The rows of `sql` with `arguments` bound, each cell as a `ReportValue`.
    func rows(_ sql: String, _ arguments: [ReportValue]) throws -> [[ReportValue]]
    /// `expression` ordered by its bytes (SQLite's BINARY; PostgreSQL's `COLLATE "C"`).
    func bytes(_ expression: String) -> String
    /// The aggregate of the distinct values of `expression`, joined by commas.
    func concatDistinct(_ expression: String) -> String
}

/// SQL text the reports write the same way for both stores.
enum ReportSQLText {
    /// `COALESCE(SUM(CASE WHEN condition THEN 1 ELSE 0 END), 0)`: how many rows meet `condition`
    /// (summing the condition itself works on SQLite only; PostgreSQL sums no booleans).
    static func count(_ condition: String) -> String { "COALESCE(SUM(CASE WHEN \(condition) THEN 1 ELSE 0 END), 0)" }
}

extension ReportSQL {
    /// The first row, nil when none.
    func row(_ sql: String, _ arguments: [ReportValue] = []) throws -> [ReportValue]? {
        try rows(sql, arguments).first
    }
}

/// What the reports read: the SQLite store, or the PostgreSQL one (`PostgresDispatchStore`).
public protocol ReportStore: Sendable {
    /// The daily patrol report's figures for the slots due in `[start, end)` (unix seconds), in one read.
    func dailyPatrolFigures(start: Double, end: Double) throws -> DailyPatrolFigures
    /// The weekly analysis' figures for the week `days` against `lastDays`, in one read.
    func weeklyAnalysisFigures(days: [ReportDay], lastDays: [ReportDay]) throws -> WeeklyAnalysisFigures
    /// The monthly evaluation of `year`-`month`, in one read.
    func monthlyEvaluation(year: Int, month: Int, timeZone: TimeZone, targetDays: Double, now: Date) throws -> MonthlyEvaluation
}

extension DisputeStore: ReportStore {}

/// `ReportSQL` on a SQLite read transaction.
public struct SQLiteReportSQL: ReportSQL {
    let db: Database

    /// The queries of a read transaction of the SQLite store.
    public init(_ db: Database) { self.db = db }

    /// The rows of `sql` with `arguments` bound (GRDB reads `?` and `?N` itself).
    public func rows(_ sql: String, _ arguments: [ReportValue]) throws -> [[ReportValue]] {
        let values: [DatabaseValue] = arguments.map {
            switch $0 {
            case .null: .null
            case .int(let i): i.databaseValue
            case .double(let d): d.databaseValue
            case .text(let s): s.databaseValue
            }
        }
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values)).map { row in
            row.databaseValues.map { v in
                switch v.storage {
                case .null: .null
                case .int64(let i): .int(i)
                case .double(let d): .double(d)
                case .string(let s): .text(s)
                case .blob(let b): .text(String(decoding: b, as: UTF8.self))
                }
            }
        }
    }

    /// `expression` as it is: SQLite compares text by its bytes (BINARY).
    public func bytes(_ expression: String) -> String { expression }

    /// `GROUP_CONCAT(DISTINCT expression)`.
    public func concatDistinct(_ expression: String) -> String {
        "GROUP_CONCAT(DISTINCT \(expression))"
    }
}
