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
    /// - Throws: `HubError.decode` when the message must go to the dead-letter store.
    func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent]
}

extension EventAdapter {
    /// Convenience for `Data` payloads.
    public func decode(topic: String, payload: Data, receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        try decode(topic: topic, payload: [UInt8](payload), receivedAt: receivedAt)
    }
}

/// Dead-letters payloads over the configured limit.
func checkSize(_ payload: [UInt8], _ options: AdapterOptions) throws(HubError) {
    if payload.count > options.maxPayloadBytes {
        throw HubError.decode(.oversized, "payload is \(payload.count) bytes, the limit is \(options.maxPayloadBytes)")
    }
}

// MARK: - ASCII text helpers (no allocation; foreign formats' names are ASCII)

/// Whether two strings are equal ignoring ASCII case.
@inline(__always) func asciiCaseEqual(_ a: String, _ b: String) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    for (p, q) in zip(x, y) where p != q {
        let lp = p >= 65 && p <= 90 ? p + 32 : p
        let lq = q >= 65 && q <= 90 ? q + 32 : q
        if lp != lq { return false }
    }
    return true
}

/// The string with ASCII letters lowercased (other bytes unchanged).
func asciiLowercased(_ s: Substring) -> String {
    String(decoding: s.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
}

/// The string without leading and trailing ASCII whitespace.
func trimmedASCII(_ s: String) -> Substring {
    let u = s.utf8
    func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    guard let first = u.firstIndex(where: { !isSpace($0) }), let last = u.lastIndex(where: { !isSpace($0) }) else { return "" }
    return Substring(u[first...last])
}
