/// Why a message could not become an event: the dead-letter reason code
/// stored with the raw bytes. Stable strings: operators filter on them.
public enum DeadLetterReason: String, Sendable, Codable, CaseIterable {
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

extension HubError.Code {
    /// A message the decoders refuse: it goes to the dead-letter store under `context.reason`.
    public static let decode = Self("decode")
}

extension HubError {
    /// Why a message could not become an event: `reason` is the dead-letter
    /// reason stored with the raw bytes (`context.reason`), `detail` (the
    /// message) says what exactly was wrong; rendered `"reason: detail"`.
    ///
    /// A detail longer than `DecodeLimits.maxDetailBytes` (it may quote a value of any length) is cut,
    /// and a NUL character it quotes is written `\u0000` (`DecodeText.printable`): the detail is stored
    /// as text, which PostgreSQL refuses with a NUL in it.
    public static func decode(_ reason: DeadLetterReason, _ detail: String, fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        let text = DecodeText.printable(detail)
        let detail = text.utf8.count > DecodeLimits.maxDetailBytes ? DecodeLimits.truncated(text, maxBytes: DecodeLimits.maxDetailBytes) : text
        return HubError(.decode, detail, context: Context(reason: reason), description: "\(reason.rawValue): \(detail)", fileID: fileID, line: line)
    }

    /// The dead-letter reason a refused message is stored under: `context.reason`,
    /// and `unprocessable` for an error that is not a decoder's refusal.
    public var deadLetterReason: DeadLetterReason { context.reason ?? .unprocessable }

    /// What exactly was wrong with a refused message (its `message`), as the dead-letter store keeps it.
    public var detail: String { message }
}
