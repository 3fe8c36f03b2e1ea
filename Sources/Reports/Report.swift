import Alerts
import AlertsStore
import Foundation

/// A supervision report as data: key figures, then sections of charts and
/// tables. Builders (`ReportBuilder`) compute it in SQL over the store; the
/// renderers (`ReportRenderer`) turn the same value into Markdown, CSV or an
/// HTML page with inline SVG charts, so the three forms never disagree.
public struct Report: Sendable {
    /// `daily`, `weekly`, `monthly`: the builder's kind.
    public var kind: String
    /// The heading every renderer puts first.
    public var title: String
    /// The period covered, as a reader says it (e.g. `2025-03-03 (Monday), Asia/Shanghai`).
    public var period: String
    /// When the report was made (the context's `now`), printed in its footer.
    public var generatedAt: Date
    /// The zone its days and times are computed and printed in.
    public var timeZone: TimeZone
    /// Headline numbers, shown first.
    public var figures: [Figure]
    /// The body: charts and tables under headings, in order.
    public var sections: [Section]
    /// Remarks on how the figures were computed (definitions, exclusions).
    public var notes: [String]

    /// A report from its parts; the builders make them.
    public init(kind: String, title: String, period: String, generatedAt: Date, timeZone: TimeZone,
                figures: [Figure] = [], sections: [Section] = [], notes: [String] = []) {
        self.kind = kind
        self.title = title
        self.period = period
        self.generatedAt = generatedAt
        self.timeZone = timeZone
        self.figures = figures
        self.sections = sections
        self.notes = notes
    }

    /// A headline number.
    public struct Figure: Sendable, Hashable {
        /// Stable key (CSV, tests), e.g. `coverage`.
        public var key: String
        /// What the number is, as a reader says it.
        public var label: String
        /// The number itself.
        public var value: Cell
        /// Optional context under the number, e.g. `vs 83.1 % last week`.
        public var note: String?

        /// A headline number with an optional note under it.
        public init(key: String, label: String, value: Cell, note: String? = nil) {
            self.key = key
            self.label = label
            self.value = value
            self.note = note
        }
    }

    /// A heading with its charts, then its tables.
    public struct Section: Sendable {
        /// The section's heading.
        public var title: String
        /// Charts drawn under the heading (SVG in HTML, left out of Markdown and CSV).
        public var charts: [Chart]
        /// Tables after the charts.
        public var tables: [Table]
        /// A section with the given charts and tables.
        public init(title: String, charts: [Chart] = [], tables: [Table] = []) {
            self.title = title
            self.charts = charts
            self.tables = tables
        }
    }

    /// One table; `id` names it in CSV and tests.
    public struct Table: Sendable, Hashable {
        /// Stable name of the table (CSV file name, tests).
        public var id: String
        /// The table's heading.
        public var title: String
        /// Column headings, in order.
        public var columns: [String]
        /// The rows, each with one cell per column.
        public var rows: [[Cell]]
        /// Shown when there are no rows.
        public var empty: String

        /// A table; `empty` is shown instead of rows when there are none.
        public init(id: String, title: String, columns: [String], rows: [[Cell]], empty: String = "none") {
            self.id = id
            self.title = title
            self.columns = columns
            self.rows = rows
            self.empty = empty
        }

        /// The cell in `column` of the first row whose first cell reads `key`.
        public func value(row key: String, column: String) -> Cell? {
            guard let c = columns.firstIndex(of: column), let r = rows.first(where: { $0.first?.text == key }) else { return nil }
            return r[c]
        }
    }

    /// A table cell: typed, so CSV keeps raw numbers and the others format them.
    public enum Cell: Sendable, Hashable {
        case text(String)
        case int(Int)
        /// A fraction 0…1 shown as a percentage; nil when undefined (nothing due).
        case percent(Double?)
        /// A signed change, e.g. +3 / −2.
        case change(Int)
        case number(Double, digits: Int)

        /// As printed in Markdown and HTML.
        public var text: String {
            switch self {
            case .text(let s): return s
            case .int(let i): return String(i)
            case .percent(let p): return p.map { Report.percentText($0) } ?? "—"
            case .change(let c): return c > 0 ? "+\(c)" : (c < 0 ? "−\(-c)" : "0")
            case .number(let d, let digits): return HubFormat.fixed(d, digits: digits)
            }
        }

        /// As written to CSV (machine-readable: plain numbers, empty when undefined).
        public var raw: String {
            switch self {
            case .text(let s): return s
            case .int(let i): return String(i)
            case .percent(let p): return p.map { HubFormat.fixed($0, digits: 4) } ?? ""
            case .change(let c): return String(c)
            case .number(let d, let digits): return HubFormat.fixed(d, digits: digits)
            }
        }

        /// The whole number a count or change cell holds, nil for other cells (tests and comparisons).
        public var intValue: Int? {
            switch self {
            case .int(let i), .change(let i): return i
            default: return nil
            }
        }
    }

    /// A chart, drawn as inline SVG in the HTML form (and omitted from Markdown and CSV,
    /// whose tables carry the same numbers).
    public enum Chart: Sendable, Hashable {
        /// Horizontal bars, one per category, stacked by series (e.g. per grid: on time, late, flagged, missed).
        case stackedBars(title: String, categories: [String], series: [Series])
        /// Vertical bars, series side by side per category (e.g. this week vs last week).
        case groupedBars(title: String, categories: [String], series: [Series])
        /// Lines over x labels (e.g. items per day this week and last).
        case lines(title: String, labels: [String], series: [Series])
        /// A ring with one highlighted share and a big number in the middle (e.g. coverage).
        case donut(title: String, slices: [Series], centre: String)
    }

    /// One named series of a chart, drawn in one colour.
    public struct Series: Sendable, Hashable {
        /// The legend's name of the series.
        public var name: String
        /// CSS colour.
        public var color: String
        /// One value per category or bucket of the chart, in its order.
        public var values: [Double]
        /// A series named `name`, drawn in `color`.
        public init(_ name: String, _ color: String, _ values: [Double]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    /// Every table of every section, in order.
    public var tables: [Table] { sections.flatMap(\.tables) }
    /// The table named `id`, nil when the report has none.
    public func table(_ id: String) -> Table? { tables.first { $0.id == id } }
    /// The value of the headline figure `key`, nil when the report has none.
    public func figure(_ key: String) -> Cell? { figures.first { $0.key == key }?.value }

    static func percentText(_ p: Double) -> String { HubFormat.fixed(p * 100, digits: 1) + " %" }
}

/// What a builder needs besides the database: the zone figures are
/// computed in, and the instant the report is made (for "open now" counts).
public struct ReportContext: Sendable {
    /// The zone local days are computed in.
    public var timeZone: TimeZone
    /// The instant "open now" counts are taken at.
    public var now: Date
    /// A context in `timeZone` at `now`.
    public init(timeZone: TimeZone, now: Date = Date()) {
        self.timeZone = timeZone
        self.now = now
    }

    /// `[start, end)` of a local day.
    public func bounds(_ day: LocalDay) -> (start: Double, end: Double) {
        let b = day.bounds(in: timeZone)
        return (b.start.timeIntervalSince1970, b.end.timeIntervalSince1970)
    }
}

/// One kind of report. To add one (e.g. the monthly evaluation), write a type
/// conforming to this and list it in `ReportCatalog.builders`; the CLI
/// (`patrolhub report KIND`), the renderers and the HTTP route pick it up.
public protocol ReportBuilder: Sendable {
    /// The word on the command line: `daily`, `weekly`, `monthly`.
    static var kind: String { get }
    /// One line for `--help`.
    static var abstract: String { get }
    /// Builds the report for the period that contains `date` from the store's read APIs.
    static func build(date: LocalDay, context: ReportContext, store: any ReportStore) throws -> Report
}

/// The reports this build can make.
public enum ReportCatalog {
    /// Every report kind the project knows (the monthly evaluation is built by case supervision).
    public static let kinds = ["daily", "weekly", "monthly"]

    /// The builders available, by kind. Add a builder here to make it available everywhere.
    public static let builders: [any ReportBuilder.Type] = [DailyPatrolReport.self, WeeklyAnalysisReport.self, MonthlyEvaluationReport.self]

    /// The builder of reports of `kind`, nil when none is registered.
    public static func builder(_ kind: String) -> (any ReportBuilder.Type)? { builders.first { $0.kind == kind } }

    /// Builds a report from the store (one consistent read).
    public static func build(_ kind: String, date: LocalDay, context: ReportContext, store: any ReportStore) throws -> Report {
        guard let b = builder(kind) else { throw HubError.reportUnavailable(kind) }
        return try b.build(date: date, context: context, store: store)
    }
}

extension HubError.Code {
    /// A report kind that is unknown, or known but not built (`context.id` is the kind).
    public static let reportUnavailable = Self("report_unavailable")
}

extension HubError {
    /// A report kind the catalog cannot build: unknown (`"unknown report 'yearly' (one of: …)"`)
    /// or known but not available in this build; `context.id` is the kind asked for.
    public static func reportUnavailable(_ kind: String, fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        let have = ReportCatalog.builders.map { $0.kind }.joined(separator: ", ")
        let message = ReportCatalog.kinds.contains(kind)
            ? "the \(kind) report is not available in this build yet (available: \(have))"
            : "unknown report '\(kind)' (one of: \(ReportCatalog.kinds.joined(separator: ", ")))"
        return HubError(.reportUnavailable, message, context: Context(id: kind), fileID: fileID, line: line)
    }
}
