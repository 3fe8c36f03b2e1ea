import Foundation

/// The hub's one place for turning numbers and times into text: zero-padded
/// ids and fields, fixed decimals, and local times in the hub's timezone
/// (`2026-12-02 18:30:05 +08:00`, `18:30`, `2026-12`, ISO 8601 with the
/// offset). Every command, report, letter and payload prints through it, so
/// one time reads the same everywhere.
///
/// Times are computed from the zone's offset at that instant, without
/// `DateFormatter` or `Calendar` (cases and slips are written on the hot
/// path's thread); a year is written with four digits.
///
/// ```swift
/// HubFormat.zeroPadded(42, width: 8)                       // "00000042"
/// HubFormat.fixed(2.345, digits: 1)                        // "2.3"
/// HubFormat.dateTimeWithOffset(date, in: shanghai)         // "2026-12-02 18:30:05 +08:00"
/// ```
public enum HubFormat {
    // MARK: Numbers

    /// `value` in `radix` (lower-case digits), left-padded with zeros to
    /// `width` characters; a longer number is not cut. `zeroPadded(7, width: 3)` is `"007"`.
    @inlinable
    public static func zeroPadded<T: BinaryInteger>(_ value: T, width: Int, radix: Int = 10) -> String {
        let s = String(value, radix: radix)
        return s.utf8.count >= width ? s : String(repeating: "0", count: width - s.utf8.count) + s
    }

    /// Where `spacePadded` puts the text in its column.
    public enum Alignment: Sendable {
        /// Text first, spaces after (a name in a table).
        case left
        /// Spaces first, text after (a count in a table).
        case right
    }

    /// `text` padded with spaces to `width` characters (a longer text is not cut), for table columns.
    public static func spacePadded(_ text: String, width: Int, alignment: Alignment = .left) -> String {
        let count = text.count
        guard count < width else { return text }
        let fill = String(repeating: " ", count: width - count)
        return alignment == .left ? text + fill : fill + text
    }

    /// `value` with exactly `digits` decimals, rounded as C's `printf("%.*f")`
    /// rounds: `fixed(2.345, digits: 1)` is `"2.3"`, `fixed(1234.5, digits: 0)` is `"1234"`.
    /// Right-aligned in `width` characters when given (`%10.3f`).
    public static func fixed(_ value: Double, digits: Int, width: Int = 0) -> String {
        String(format: "%\(width > 0 ? String(width) : "").\(digits)f", value)
    }

    /// As `fixed`, with a sign always (`"+1.5"`, `"-0.2"`, `"+0.0"`): an offset from a target.
    public static func signedFixed(_ value: Double, digits: Int) -> String {
        String(format: "%+.\(digits)f", value)
    }

    // MARK: Times

    /// A wall-clock time: the fields of an instant in a timezone.
    public struct LocalTime: Sendable, Hashable {
        /// The year, e.g. 2026.
        public var year: Int
        /// The month, 1…12.
        public var month: Int
        /// The day of the month, 1…31.
        public var day: Int
        /// The hour, 0…23.
        public var hour: Int
        /// The minute, 0…59.
        public var minute: Int
        /// The second, 0…59 (the fraction is dropped).
        public var second: Int
        /// The zone's offset from UTC at that instant, in seconds (east positive).
        public var offsetSeconds: Int
    }

    /// The wall-clock fields of `date` in `zone` (the fraction of a second dropped).
    public static func local(_ date: Date, in zone: TimeZone) -> LocalTime {
        let offset = zone.secondsFromGMT(for: date)
        // Clamped so that a nonsensical instant prints as a far date rather than trapping.
        let t = date.timeIntervalSince1970
        let whole = t.isFinite ? Int64(Swift.min(Swift.max(t, -1e13), 1e13).rounded(.down)) : 0
        let secs = whole + Int64(offset)
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = Date.civil(fromDays: Int(days))
        return LocalTime(year: y, month: m, day: d, hour: Int(rem / 3600), minute: Int(rem % 3600 / 60), second: Int(rem % 60),
                         offsetSeconds: offset)
    }

    /// A UTC offset as `+08:00`, `-03:30`, `+00:00`.
    public static func offset(seconds: Int) -> String {
        let a = abs(seconds)
        return (seconds < 0 ? "-" : "+") + zeroPadded(a / 3600, width: 2) + ":" + zeroPadded(a % 3600 / 60, width: 2)
    }

    /// `yyyy-MM-dd`.
    public static func date(year: Int, month: Int, day: Int) -> String {
        zeroPadded(year, width: 4) + "-" + zeroPadded(month, width: 2) + "-" + zeroPadded(day, width: 2)
    }

    /// `yyyy-MM`, a month as reports name it.
    public static func yearMonth(year: Int, month: Int) -> String {
        zeroPadded(year, width: 4) + "-" + zeroPadded(month, width: 2)
    }

    /// `HH:mm` of `date` in `zone`.
    public static func hourMinute(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return zeroPadded(l.hour, width: 2) + ":" + zeroPadded(l.minute, width: 2)
    }

    /// `yyyy-MM-dd HH:mm` of `date` in `zone`, as letters and documents print times.
    public static func minute(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return Self.date(year: l.year, month: l.month, day: l.day) + " " + zeroPadded(l.hour, width: 2) + ":" + zeroPadded(l.minute, width: 2)
    }

    /// `yyyy-MM-dd HH:mm +08:00` of `date` in `zone` (when a report was made).
    public static func minuteWithOffset(_ date: Date, in zone: TimeZone) -> String {
        minute(date, in: zone) + " " + offset(seconds: local(date, in: zone).offsetSeconds)
    }

    /// `yyyy-MM-dd HH:mm:ss` of `date` in `zone`.
    public static func dateTime(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return Self.date(year: l.year, month: l.month, day: l.day) + " " + clock(l)
    }

    /// `yyyy-MM-dd HH:mm:ss +08:00` of `date` in `zone`: a time as a person reads it
    /// (the CLI, the board and the reports show the same form).
    public static func dateTimeWithOffset(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return Self.date(year: l.year, month: l.month, day: l.day) + " " + clock(l) + " " + offset(seconds: l.offsetSeconds)
    }

    /// ISO 8601 local time without offset, whole seconds: `2024-01-02T15:04:05`.
    public static func isoLocal(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return Self.date(year: l.year, month: l.month, day: l.day) + "T" + clock(l)
    }

    /// ISO 8601 with the zone's offset, whole seconds: `2024-01-02T15:04:05+08:00`.
    public static func iso8601(_ date: Date, in zone: TimeZone) -> String {
        isoLocal(date, in: zone) + offset(seconds: local(date, in: zone).offsetSeconds)
    }

    /// ISO 8601 with the zone's offset, to the minute: `2024-01-02T15:04+08:00`.
    public static func isoMinute(_ date: Date, in zone: TimeZone) -> String {
        let l = local(date, in: zone)
        return Self.date(year: l.year, month: l.month, day: l.day) + "T" + zeroPadded(l.hour, width: 2) + ":" + zeroPadded(l.minute, width: 2)
            + offset(seconds: l.offsetSeconds)
    }

    /// A duration as a clock, `HH:MM:SS` (hours grow past 99 rather than wrap): `clock(seconds: 3725)` is `"01:02:05"`.
    public static func clock(seconds: Int) -> String {
        zeroPadded(seconds / 3600, width: 2) + ":" + zeroPadded(seconds % 3600 / 60, width: 2) + ":" + zeroPadded(seconds % 60, width: 2)
    }

    private static func clock(_ l: LocalTime) -> String {
        zeroPadded(l.hour, width: 2) + ":" + zeroPadded(l.minute, width: 2) + ":" + zeroPadded(l.second, width: 2)
    }
}
