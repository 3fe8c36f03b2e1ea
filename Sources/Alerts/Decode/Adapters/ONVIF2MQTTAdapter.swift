import Foundation

/// Decodes what onvif2mqtt (github.com/dmitrif/onvif2mqtt) publishes by default:
/// `{base}/{device}/{event}` with the payload `on` or `off`, one topic per ONVIF
/// device and event type (today only `motion`), retained. The base is
/// configurable (`onvif2mqtt_topic`, default `onvif2mqtt`).
///
/// - `on` is a detection of the event's category with the lifecycle
///   `onvif2mqtt:{camera}:{event}`; `off` is that lifecycle's `.end`.
/// - The payload carries no time: the event is at `receivedAt`, marked
///   `timeSource = .received`, and the key is `onvif2mqtt:{camera}:{event}:{on|off}:{ms}`.
/// - The device name resolves through `adapters.camera_ids` like other foreign
///   names; an unknown device is `unknown_source`.
/// - An event name no rule maps decodes to nothing (counted as unmapped);
///   any payload other than `on`/`off` (case, surrounding spaces and trailing
///   NULs ignored, `true`/`false` and `1`/`0` accepted) is `invalid_value`.
public struct ONVIF2MQTTAdapter: EventAdapter {
    /// Event name (as in the topic, case-insensitive) → category.
    public var events: [String: Category]
    /// Topic prefix, time zone and payload limit.
    public var options: AdapterOptions
    /// The topic base, without a trailing `/`.
    public var base: String
    /// Maps onvif2mqtt's device name to a registered camera id.
    public var resolver: SourceResolver

    /// onvif2mqtt's `motion` event only: its other events are not risks by default.
    public static let defaultEvents: [String: Category] = ["motion": .motion]

    /// An adapter for `{base}/{device}/{event}` topics.
    public init(events: [String: Category] = ONVIF2MQTTAdapter.defaultEvents, base: String = "onvif2mqtt",
                options: AdapterOptions = AdapterOptions(), resolver: SourceResolver = .identity) {
        self.events = events
        self.base = base
        self.options = options
        self.resolver = resolver
    }

    /// The normalized events of one onvif2mqtt message on `topic`.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        var unmapped: UnmappedInput?
        return try decode(topic: topic, payload: payload, receivedAt: receivedAt, unmapped: &unmapped)
    }

    /// `decode`, setting `unmapped` when no rule maps the event name.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date, unmapped: inout UnmappedInput?) throws(HubError) -> [NormalizedEvent] {
        guard case .onvif2mqtt(let device, let name)? = TopicRouter(prefix: options.normalizedPrefix, onvif2mqttBase: base).route(topic) else {
            throw HubError.decode(.unknownTopic, "\(topic.prefix(200)) is not \(base)/{device}/{event}")
        }
        try checkSize(payload, options)
        let eventName = asciiLowercased(Substring(name))
        guard let category = events[eventName] else {
            // Counted for registered cameras only: names from anyone else could fill the bounded table for good.
            if resolver(device) != nil { unmapped = UnmappedInput(format: "onvif2mqtt", name: eventName, device: device) }
            return []
        }
        // A C client may send its buffer's terminating NULs: they are padding (`DecodeText`).
        var payload = payload[...]
        while payload.last == 0 { payload = payload.dropLast() }
        let text = asciiLowercased(trimmedASCII(String(decoding: payload.prefix(16), as: UTF8.self)))
        let on: Bool
        switch payload.count <= 16 ? text : "" {
        case "on", "true", "1": on = true
        case "off", "false", "0": on = false
        default:
            throw HubError.decode(.invalidValue, "onvif2mqtt payload must be on or off, found '\(String(decoding: payload.prefix(40), as: UTF8.self))'")
        }
        guard let source = resolver(device) else {
            throw HubError.decode(.unknownSource, "onvif2mqtt device \"\(device)\" is not registered")
        }
        let lifecycle = "onvif2mqtt:\(source):\(eventName)"
        let millis = Int64((receivedAt.timeIntervalSince1970 * 1000).rounded())
        return [NormalizedEvent(
            key: "\(lifecycle):\(on ? "on" : "off"):\(millis)", kind: on ? .detection : .end, sourceKind: .camera,
            source: source, category: category, time: receivedAt, lifecycle: lifecycle, format: "onvif2mqtt",
            timeSource: .received)]
    }
}
