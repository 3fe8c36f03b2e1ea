import Foundation

// What the adapters share. Topic routing, JSON, times and hashes are main's
// (`TopicRouter`, `JSONParser`/`PayloadFields`, `TimeParser`, `StableHash`):
// one implementation of each, so every format behaves the same on the hot path.

/// The common shape of every adapter, so the runtime can hold them in one table.
public protocol EventAdapter: Sendable {
    /// Decodes one MQTT message.
    ///
    /// - Parameters:
    ///   - topic: the full MQTT topic.
    ///   - payload: the raw payload bytes.
    ///   - receivedAt: when the hub received the message (used only where the
    ///     message carries no time of its own).
    /// - Returns: zero or more events; zero is a valid answer (nothing that matters happened).
    /// - Throws: `DecodeError` when the message must go to the dead-letter store.
    func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(DecodeError) -> [NormalizedEvent]
}

extension EventAdapter {
    /// Convenience for `Data` payloads.
    public func decode(topic: String, payload: Data, receivedAt: Date) throws(DecodeError) -> [NormalizedEvent] {
        try decode(topic: topic, payload: [UInt8](payload), receivedAt: receivedAt)
    }
}

/// Dead-letters payloads over the configured limit.
func checkSize(_ payload: [UInt8], _ options: AdapterOptions) throws(DecodeError) {
    if payload.count > options.maxPayloadBytes {
        throw DecodeError(.oversized, "payload is \(payload.count) bytes, the limit is \(options.maxPayloadBytes)")
    }
}
