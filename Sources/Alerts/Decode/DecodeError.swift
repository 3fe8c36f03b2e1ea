/// Why a message could not become an event. The `reason` is the dead-letter
/// reason code stored with the raw bytes; `detail` says what exactly was wrong.
public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Dead-letter reason codes. Stable strings: operators filter on them.
    public enum Reason: String, Sendable, Codable, CaseIterable {
        case malformed = "malformed"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case outOfRange = "out_of_range"
        case invalidValue = "invalid_value"
        case oversized = "oversized"
        case unknownSource = "unknown_source"
        case unknownTopic = "unknown_topic"
        case unknownCheckpoint = "unknown_checkpoint"
        case noRoute = "no_route"
        case clockSkew = "clock_skew"
        /// The message stopped the hub (a trap while it was processed alone); set aside by the crash quarantine.
        case crashed = "crashed"
        /// The store refused what the message produced (a constraint), alone: set aside by the pipeline.
        case unprocessable = "unprocessable"
        /// The payload's own id field names another camera or device than its topic.
        case idMismatch = "id_mismatch"
        /// Older than the newest event time minus `retention.event_keys_hours`: its key may be pruned, so it cannot be checked for a duplicate.
        case tooOld = "too_old"
    }

    /// The stable code the dead-letter list and filters use.
    public var reason: Reason
    /// What exactly was wrong, in one line (truncated to `DecodeLimits.maxDetailBytes`).
    public var detail: String

    /// A detail longer than `DecodeLimits.maxDetailBytes` (it may quote a value of any length) is cut.
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail.utf8.count > DecodeLimits.maxDetailBytes ? DecodeLimits.truncated(detail, maxBytes: DecodeLimits.maxDetailBytes) : detail
    }

    /// `REASON: DETAIL`.
    public var description: String { "\(reason.rawValue): \(detail)" }
}
