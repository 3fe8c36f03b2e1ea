import Foundation

/// One message as it arrived from the broker.
public struct InboxMessage: Sendable, Hashable {
    /// The topic it arrived on.
    public var topic: String
    /// The payload bytes (the head only when oversized).
    public var payload: [UInt8]
    /// When the hub received it: the event time of events whose device clock is unset.
    public var receivedAt: Date
    /// The message's idempotency key: a 128-bit hash of topic and payload
    /// (`StableHash.digest`), stored as a 16-byte blob with the row. A QoS 1
    /// redelivery of the same bytes is appended again and absorbed by the
    /// pipeline (same event key, same dead-letter key): it changes no outcome.
    public let keyHigh: UInt64
    /// The low half of the idempotency key.
    public let keyLow: UInt64

    /// Set when `payload` is only the head of a larger payload: its whole size
    /// and SHA-256 (hex). The key is still the whole payload's.
    public private(set) var oversized: Oversized?

    /// What is kept of a payload over `limits.max_payload_bytes` besides its head.
    public struct Oversized: Sendable, Hashable {
        /// The whole payload's size in bytes.
        public var size: Int
        /// The whole payload's SHA-256 (hex), to match it against a copy kept elsewhere.
        public var sha256: String
        /// What was kept of a payload of `size` bytes.
        public init(size: Int, sha256: String) {
            self.size = size
            self.sha256 = sha256
        }
    }

    /// How much of an oversized payload is stored (in the inbox and its dead letter).
    public static let oversizedHeadBytes = 4096

    /// - Parameter maxPayloadBytes: a larger payload is not stored whole: only its
    ///   first `oversizedHeadBytes`, its size and its SHA-256 are kept (the
    ///   pipeline dead-letters it as `oversized`). The key is computed over the
    ///   whole payload, so a redelivery of the same bytes has the same key.
    public init(topic: String, payload: [UInt8], receivedAt: Date, maxPayloadBytes: Int = .max) {
        self.topic = topic
        self.receivedAt = receivedAt
        (keyHigh, keyLow) = StableHash.digest(topic: topic, payload: payload)
        if payload.count > maxPayloadBytes {
            self.payload = Array(payload.prefix(Self.oversizedHeadBytes))
            oversized = Oversized(size: payload.count, sha256: SHA256.hex(payload))
        } else {
            self.payload = payload
        }
    }

    /// A message stored whole under a key given by the caller instead of its
    /// content's: a dead letter queued again (`replay`) gets a key of its own, so
    /// that a copy that fails again is a new dead letter.
    public init(topic: String, payload: [UInt8], receivedAt: Date, key: (UInt64, UInt64)) {
        self.topic = topic
        self.payload = payload
        self.receivedAt = receivedAt
        (keyHigh, keyLow) = key
    }

    /// The key in hex, as dead letters record it.
    public var key: String { StableHash.hex((keyHigh, keyLow)) }
}
