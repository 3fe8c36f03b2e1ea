import Foundation

/// A calendar day, `YYYY-MM-DD`, with no time zone of its own: a plan or a
/// report turns it into instants in the configured zone (days begin at local midnight).
public struct LocalDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The date's fields; `init?(_:)` parses and checks them.
    public var year: Int, month: Int, day: Int

    /// A day from its fields, unchecked.
    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...TimeParser.daysIn(month: m, year: y)).contains(d) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        HubFormat.date(year: year, month: month, day: day)
    }

    /// Days since 1970-01-01 (for arithmetic only; not an instant).
    public var ordinal: Int { TimeParser.daysFromCivil(year: year, month: month, day: day) }

    /// The day `ordinal` days after 1970-01-01.
    public init(ordinal: Int) {
        let (y, m, d) = Date.civil(fromDays: ordinal)
        self.init(year: y, month: m, day: d)
    }

    /// The day `n` days later (earlier when negative).
    public func adding(days n: Int) -> LocalDay { LocalDay(ordinal: ordinal + n) }

    /// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
    public var weekday: PatrolPlan.Weekday { PatrolPlan.Weekday.allCases[((ordinal % 7) + 7 + 3) % 7] }

    /// Calendar order.
    public static func < (a: LocalDay, b: LocalDay) -> Bool { a.ordinal < b.ordinal }
}

extension LocalDay {
    /// The instants a day begins and ends (the next day's start) in `zone`.
    public func bounds(in zone: TimeZone) -> (start: Date, end: Date) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let next = adding(days: 1)
        return (cal.date(from: DateComponents(year: year, month: month, day: day))!,
                cal.date(from: DateComponents(year: next.year, month: next.month, day: next.day))!)
    }
}
