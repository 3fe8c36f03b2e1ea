import Foundation

/// The figures of the monthly evaluation (月评比, SPEC.md "Reports"): per
/// street and per community, computed in SQL over the store with the month's
/// boundaries in the configured timezone. Drill cases are left out.
///
/// Definitions (docs/CASES.md "Monthly evaluation"):
/// - `opened`: cases opened in the month; `falseAlarms`: of those, declared false alarms;
/// - `resolutionRate`: of the cases opened in the month and not false alarms,
///   the share resolved before the month's end (nil when none);
/// - `resolved`: cases whose (current) resolution falls in the month, whenever opened;
///   `medianDays`, `withinTarget`, `amountSettled`, satisfaction are over these;
/// - `overdue`: cases whose `due_at` fell in the month (up to `asOf`) and that
///   were not resolved by then (false alarms excepted);
/// - `satisfactionRate`: (satisfied + neutral 基本满意) / cases with a recorded satisfaction;
/// - `supervisionOrders`: 督办令 issued in the month about the group's cases;
/// - `rank`: by resolution rate (higher first, none last), then fewer overdue,
///   fewer orders, lower median days, then code.
public struct MonthlyEvaluation: Sendable, Equatable {
    /// One street's or community's figures (or the district total), as defined above.
    public struct Row: Sendable, Equatable {
        /// The zone code (the total's is empty).
        public var code: String
        /// The zone's name as the report prints it.
        public var name: String
        /// The zone's responsible unit.
        public var unit: String?
        /// A community's street; nil for a street (and the total).
        public var parent: String?
        /// Cases opened in the month.
        public var opened = 0
        /// Of `opened`, those declared false alarms.
        public var falseAlarms = 0
        /// Of `opened` (false alarms excepted), those resolved before the month's end.
        public var resolvedOfOpened = 0
        /// Cases whose resolution falls in the month, whenever opened.
        public var resolved = 0
        /// Cases due in the month (up to `asOf`) and not resolved by then.
        public var overdue = 0
        /// Median days from opening to resolution over `resolved`; nil when none.
        public var medianDays: Double?
        /// Of `resolved`, those resolved within the target days.
        public var withinTarget = 0
        /// Yuan recovered or settled, summed over `resolved` (wage arrears, disputes).
        public var amountSettled = 0.0
        /// Of `rated`, the satisfied and neutral (基本满意) ratings.
        public var satisfiedOrNeutral = 0
        /// Of `resolved`, those with a recorded satisfaction.
        public var rated = 0
        /// 督办令 issued in the month about the zone's cases.
        public var supervisionOrders = 0
        /// Place among its peers (1 best), by the order above; 0 when unranked.
        public var rank = 0

        /// A row of zeros for one zone; the store's read fills the counts.
        public init(code: String, name: String, unit: String? = nil, parent: String? = nil) {
            self.code = code
            self.name = name
            self.unit = unit
            self.parent = parent
        }

        /// `resolvedOfOpened` over `opened − falseAlarms`; nil when nothing was opened but false alarms.
        public var resolutionRate: Double? {
            let base = opened - falseAlarms
            return base > 0 ? Double(resolvedOfOpened) / Double(base) : nil
        }

        /// `satisfiedOrNeutral` over `rated`; nil when nothing was rated.
        public var satisfactionRate: Double? { rated > 0 ? Double(satisfiedOrNeutral) / Double(rated) : nil }

        /// Share of the month's resolutions within the target.
        public var withinTargetRate: Double? { resolved > 0 ? Double(withinTarget) / Double(resolved) : nil }
    }

    /// The evaluated year.
    public var year: Int
    /// The evaluated month, 1…12.
    public var month: Int
    /// The zone the month's boundaries are computed in.
    public var timeZone: TimeZone
    /// Local midnight of the month's first day.
    public var start: Date
    /// Local midnight of the next month's first day (exclusive).
    public var end: Date
    /// Overdue is counted up to here: the month's end, or now for the running month.
    public var asOf: Date
    /// The resolution target in days that `withinTarget` counts against.
    public var targetDays: Double
    /// Street rows, ranked.
    public var streets: [Row]
    /// Community rows, ranked.
    public var communities: [Row]
    /// Every (non-drill) case of the store, zoned or not.
    public var total: Row

    /// An evaluation from its parts (the store computes them: `MonthlyEvaluation.compute`).
    package init(year: Int, month: Int, timeZone: TimeZone, start: Date, end: Date, asOf: Date, targetDays: Double,
                 streets: [Row], communities: [Row], total: Row) {
        self.year = year
        self.month = month
        self.timeZone = timeZone
        self.start = start
        self.end = end
        self.asOf = asOf
        self.targetDays = targetDays
        self.streets = streets
        self.communities = communities
        self.total = total
    }

    /// `[start, end)` of a month in `timeZone`.
    public static func bounds(year: Int, month: Int, timeZone: TimeZone) -> (start: Date, end: Date)? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        guard (1...12).contains(month), let start = cal.date(from: DateComponents(year: year, month: month, day: 1)),
              let end = cal.date(byAdding: .month, value: 1, to: start) else { return nil }
        return (start, end)
    }

    /// Ranks rows 1…n by the evaluation's order (see the type's documentation).
    package static func ranked(_ rows: [Row]) -> [Row] {
        let sorted = rows.sorted { a, b in
            switch (a.resolutionRate, b.resolutionRate) {
            case let (x?, y?) where x != y: return x > y
            case (.some, nil): return true
            case (nil, .some): return false
            default: break
            }
            if a.overdue != b.overdue { return a.overdue < b.overdue }
            if a.supervisionOrders != b.supervisionOrders { return a.supervisionOrders < b.supervisionOrders }
            switch (a.medianDays, b.medianDays) {
            case let (x?, y?) where x != y: return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: break
            }
            return a.code < b.code
        }
        return sorted.enumerated().map { var r = $0.element; r.rank = $0.offset + 1; return r }
    }
}
