import Foundation

extension TimeParser {
    /// Parses a time as cameras and platforms write it in their own formats
    /// (GB/T 28181 `AlarmTime`), more leniently than `parse`, which stays the
    /// strict RFC 3339 of the native payloads:
    ///
    /// - month, day, hour, minute and second of one or two digits
    ///   (`2023-8-9T7:38:35`, which wvp-GB28181-pro accepts "for various vendors");
    ///   the year has four;
    /// - `T`, `t` or one space between date and time;
    /// - fractional seconds (`.5`, `.123456`);
    /// - an offset `Z`/`z`, `+08:00` or `+0800` (or `-`); none: `defaultZone`.
    ///
    /// Returns nil for anything else, and for impossible values (month 13,
    /// `2023-02-29`, hour 24): the text is rewritten to RFC 3339 and given to
    /// `parse`, so both apply the same range checks and arithmetic. An unset
    /// clock (`0000-00-00T00:00:00`) is nil too: callers check `isUnsetClock` first.
    public func parseDeviceTime(_ text: some StringProtocol) -> Date? {
        var text = String(text)
        // Most devices write RFC 3339 already: the strict parse, ten times cheaper, answers first.
        if let date = text.withUTF8({ parse(utf8: $0) }) { return date }
        guard let canonical = text.withUTF8(Self.canonicalDeviceTime) else { return nil }
        return parse(canonical)
    }

    /// The RFC 3339 form of a device time (see `parseDeviceTime`), or nil when
    /// it does not follow the lenient grammar. Ranges are not checked here.
    static func canonicalDeviceTime(_ u: UnsafeBufferPointer<UInt8>) -> String? {
        guard u.count <= 64 else { return nil } // the longest form is 35 bytes
        var i = 0
        var out: [UInt8] = []
        out.reserveCapacity(35)
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        /// `min`…`max` digits, written out padded to `width`; a digit after them fails
        /// unless `more` (the hours of `+0800` are followed by its minutes).
        func digits(min: Int, max: Int, width: Int, more: Bool = false) -> Bool {
            let start = i
            while i < u.count, i - start < max, isDigit(u[i]) { i += 1 }
            let n = i - start
            guard n >= min, more || !(i < u.count && isDigit(u[i])) else { return false }
            for _ in n..<Swift.max(n, width) { out.append(48) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i]))
            return true
        }
        func literal(_ c: UInt8) -> Bool {
            guard i < u.count, u[i] == c else { return false }
            out.append(c)
            i += 1
            return true
        }
        guard digits(min: 4, max: 4, width: 4), literal(0x2D), digits(min: 1, max: 2, width: 2), literal(0x2D),
              digits(min: 1, max: 2, width: 2), i < u.count, u[i] == 0x54 || u[i] == 0x74 || u[i] == 0x20
        else { return nil }
        out.append(0x54) // T
        i += 1
        guard digits(min: 1, max: 2, width: 2), literal(0x3A), digits(min: 1, max: 2, width: 2), literal(0x3A),
              digits(min: 1, max: 2, width: 2)
        else { return nil }
        if i < u.count, u[i] == 0x2E { // .fraction
            out.append(0x2E)
            i += 1
            guard digits(min: 1, max: 9, width: 1) else { return nil }
        }
        if i < u.count {
            switch u[i] {
            case 0x5A, 0x7A: // Z
                out.append(0x5A)
                i += 1
            case 0x2B, 0x2D: // + -
                out.append(u[i])
                i += 1
                guard digits(min: 2, max: 2, width: 2, more: true) else { return nil }
                if i < u.count, u[i] == 0x3A { i += 1 } // +08:00 and +0800 alike
                out.append(0x3A)
                guard digits(min: 2, max: 2, width: 2) else { return nil }
            default:
                return nil
            }
        }
        guard i == u.count else { return nil }
        return String(decoding: out, as: UTF8.self)
    }
}
