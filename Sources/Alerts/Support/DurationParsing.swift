import Foundation

/// A silence's length as people write it: a positive number and a unit,
/// `s`, `m`, `h` or `d` (`90s`, `30m`, `2h`, `1.5d`). Shared by
/// `patrolhub silences add --duration` and `POST /api/v1/silences`.
public enum DurationText {
    /// The length in seconds, or nil when `text` is not a positive number and one of those units.
    /// The number is plain decimal digits with at most one fraction (`90s`, `1.5h`): no sign,
    /// exponent, `inf` or `nan`, which `Double(_:)` would also read.
    public static func seconds(_ text: String) -> TimeInterval? {
        guard let unit = text.last else { return nil }
        let digits = text.utf8.dropLast()
        let dots = digits.lazy.filter { $0 == UInt8(ascii: ".") }.count
        guard !digits.isEmpty, digits.count <= 15, dots <= 1, digits.first != UInt8(ascii: "."), digits.last != UInt8(ascii: "."),
              digits.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let n = Double(text.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        default: return nil
        }
    }
}
