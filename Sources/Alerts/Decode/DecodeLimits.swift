/// Bounds on what a payload can make the hub store, beyond the payload size
/// itself (`limits.max_payload_bytes`) and the parsers' nesting limits.
public enum DecodeLimits {
    /// Free text from a payload (a report's or an alarm's description): longer
    /// text is cut at a character boundary and ends with "…"; the event is kept.
    public static let maxTextBytes = 1024
    /// An event's key and lifecycle id, made of the payload's ids: a longer one
    /// is dead-lettered as `out_of_range` (no real device sends such ids).
    public static let maxIdentifierBytes = 1024
    /// A dead letter's detail (which quotes the offending value): cut as free text is.
    public static let maxDetailBytes = 1024
    /// Event times the hub accepts, in seconds since 1970: 1970-01-01 through 9999-12-31 (`out_of_range` outside).
    public static let eventTimes: ClosedRange<Double> = 0...253_402_300_799

    /// `text` in at most `maxBytes` UTF-8 bytes: unchanged when it fits, else
    /// its longest prefix of whole characters that fits with "…" after it.
    public static func truncated(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        let budget = maxBytes - 3 // "…" is three bytes
        var used = 0
        var end = text.startIndex
        for c in text {
            let n = c.utf8.count
            guard used + n <= budget else { break }
            used += n
            end = text.index(after: end)
        }
        return String(text[..<end]) + "…"
    }
}
