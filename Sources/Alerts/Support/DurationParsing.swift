import Foundation

/// A silence's length as people write it: a positive number and a unit,
/// `s`, `m`, `h` or `d` (`90s`, `30m`, `2h`, `1.5d`). Shared by
/// `patrolhub silences add --duration` and `POST /api/v1/silences`.
public enum DurationText {
    /// The length in seconds, or nil when `text` is not a positive number and one of those units.
    public static func seconds(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let n = Double(text.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        default: return nil
        }
    }
}
