import Foundation

/// Parses the times PatrolHub receives: RFC 3339 with or without fractional
/// seconds and offset. A time without offset is read in `defaultZone`
/// (SPEC.md: the configured timezone, default Asia/Shanghai).
public struct TimeParser: Sendable {
    /// The zone of times without an offset.
    public var defaultZone: TimeZone {
        didSet { fixedOffset = Self.fixedOffset(of: defaultZone) }
    }
    /// The default zone's offset when it has had no transition since 2000 and has
    /// none scheduled before 2100 (Asia/Shanghai, UTC): local times in that span
    /// need no time zone lookup (two per offset-less time otherwise).
    private var fixedOffset: Int?
    private static let fixedSpan = 946_684_800.0...4_102_444_800.0 // 2000-01-01 … 2100-01-01

    /// A parser reading offset-less times in `defaultZone`.
    public init(defaultZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!) {
        self.defaultZone = defaultZone
        self.fixedOffset = Self.fixedOffset(of: defaultZone)
    }

    static func fixedOffset(of zone: TimeZone) -> Int? {
        let start = Date(timeIntervalSince1970: fixedSpan.lowerBound), end = Date(timeIntervalSince1970: fixedSpan.upperBound)
        if let next = zone.nextDaylightSavingTimeTransition(after: start), next < end { return nil }
        let offset = zone.secondsFromGMT(for: start)
        guard zone.secondsFromGMT(for: end) == offset, zone.secondsFromGMT(for: Date()) == offset else { return nil }
        return offset
    }

    /// Returns nil when the text is not an RFC 3339 date-time.
    ///
    /// Hand-written rather than `ISO8601DateFormatter` because that class is
    /// slow and not `Sendable`; this runs once per event on the hot path.
    public func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// `parse` over UTF-8 bytes.
    public func parse(utf8 u: UnsafeBufferPointer<UInt8>) -> Date? {
        guard u.count >= 19 else { return nil }
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b {
                let c = u[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        // Accept a space (and a lowercase t) as the date/time separator, as some devices send.
        guard u[4] == 0x2D, u[7] == 0x2D, u[10] == 0x54 || u[10] == 0x20 || u[10] == 0x74, u[13] == 0x3A, u[16] == 0x3A,
              let year = num(0, 4), let month = num(5, 7), let day = num(8, 10),
              let hour = num(11, 13), let minute = num(14, 16), let second = num(17, 19),
              (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second <= 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < u.count, u[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                fraction += Double(u[i] - 48) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        var offset: Int?
        if i < u.count {
            let c = u[i]
            if c == 0x5A || c == 0x7A { // Z
                offset = 0
                i += 1
            } else if c == 0x2B || c == 0x2D { // + -
                guard u.count >= i + 6, u[i + 3] == 0x3A, let oh = num(i + 1, i + 3), let om = num(i + 4, i + 6),
                      oh < 24, om < 60 else { return nil }
                offset = (oh * 3600 + om * 60) * (c == 0x2D ? -1 : 1)
                i += 6
            } else {
                return nil
            }
        }
        guard i == u.count else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let local = Double(days * 86_400 + hour * 3600 + minute * 60 + min(second, 59)) + fraction
        if let offset {
            return Date(timeIntervalSince1970: local - Double(offset))
        }
        // No offset: interpret in the default zone (two passes handle DST edges).
        if let fixedOffset, Self.fixedSpan.contains(local) { return Date(timeIntervalSince1970: local - Double(fixedOffset)) }
        let guess = Date(timeIntervalSince1970: local)
        let off1 = defaultZone.secondsFromGMT(for: guess)
        let off2 = defaultZone.secondsFromGMT(for: Date(timeIntervalSince1970: local - Double(off1)))
        return Date(timeIntervalSince1970: local - Double(off2))
    }

    /// Whether a time is a device's "clock not set" value rather than a time: the
    /// zero date `0000-00-00` (Hikvision sends `0000-00-00T00:00:00Z`), alone or with
    /// a time, a fraction and an offset after a `T` or a space. Such an event is kept
    /// at the hub's receive time (`TimeSource.received`); `0000-garbage` is not a time.
    public static func isUnsetClock(_ text: some StringProtocol) -> Bool {
        let t = Substring(text).drop(while: { $0 == " " })
        guard t.hasPrefix("0000-00-00") || t.hasPrefix("0000/00/00") else { return false }
        let rest = t.dropFirst(10)
        guard let sep = rest.first else { return true }
        guard sep == "T" || sep == "t" || sep == " " else { return false }
        return rest.dropFirst().allSatisfy { $0.isASCII && ($0.isNumber || ":.+-Zz ".contains($0)) }
    }

    /// Reads times as UTC: for formats whose offset-less times are UTC by
    /// definition (ONVIF `UtcTime`).
    public static let utc = TimeParser(defaultZone: TimeZone(secondsFromGMT: 0)!)

    /// Days in a month of the proleptic Gregorian calendar, so that
    /// `2023-02-29` and `2024-04-31` are refused rather than rolled over.
    package static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension Date {
    /// RFC 3339 in UTC with milliseconds, the form every PatrolHub output uses.
    public var rfc3339: String {
        let ms = Int64((timeIntervalSince1970 * 1000).rounded(.down))
        var secs = ms / 1000
        var millis = ms % 1000
        if millis < 0 { millis += 1000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = Self.civil(fromDays: Int(days))
        func p(_ v: Int, _ w: Int) -> String { HubFormat.zeroPadded(v, width: w) }
        return "\(HubFormat.date(year: y, month: m, day: d))T\(p(Int(rem / 3600), 2)):\(p(Int(rem % 3600 / 60), 2)):\(p(Int(rem % 60), 2)).\(p(Int(millis), 3))Z"
    }

    /// Year, month and day of the day `z0` days after 1970-01-01 (proleptic Gregorian).
    package static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
