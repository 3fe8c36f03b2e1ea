import Foundation

/// The first pipeline stage: a raw message (topic + bytes) becomes zero or
/// more normalised events, or a `HubError.decode` that sends it to the
/// dead-letter store. Checks that apply to every format live here: size,
/// topic, registered source, clock skew.
///
/// Foreign formats go through their adapters (`Decode/Adapters`), built here
/// with the router's prefix and Frigate topic, the configured time zone, and a
/// source resolver backed by the registry: cameras for Frigate, GB/T 28181,
/// ONVIF and onvif2mqtt, devices for the patrol-device topics. A name the
/// registry does not know is dead-lettered as `unknown_source`; an input no
/// mapping rule covers decodes to nothing and is reported as `UnmappedInput`.
///
/// No text leaves it with a NUL character (`DecodeText`): the payload readers
/// drop trailing NUL padding and refuse other NULs naming the field, and
/// `refuseNUL` checks every text of the events and the unmapped input last, so
/// SQLite and PostgreSQL (whose `text` refuses NUL) receive the same events.
public struct DecodeStage: Sendable {
    /// Picks the decoder by topic.
    public var router: TopicRouter
    /// The registered sources: an event from another is dead-lettered.
    public var registry: Registry
    /// PatrolHub's own camera format (`{prefix}/camera/{id}/event` and `/status`).
    public var camera: NativeCameraDecoder
    /// Frigate's tracked-object events.
    public var frigate: FrigateAdapter
    /// GB/T 28181 alarm notifications (XML), as a gateway republishes them.
    public var gb28181: GB28181Adapter
    /// ONVIF notification messages (XML).
    public var onvif: ONVIFAdapter
    /// onvif2mqtt's per-event topics.
    public var onvif2mqtt: ONVIF2MQTTAdapter
    /// Patrol devices: reports, SOS, check-ins.
    public var device: DeviceAdapter
    /// Larger payloads are dead-lettered as `oversized` unread.
    public var maxPayloadBytes: Int
    /// Events further ahead of the receive time than this are dead-lettered as `clock_skew`.
    public var maxClockSkew: TimeInterval

    /// A stage with every adapter built from the router, the registry and the time zone (their mappings default unless given).
    public init(router: TopicRouter, registry: Registry, timeParser: TimeParser, maxPayloadBytes: Int = 256 * 1024, maxClockSkew: TimeInterval = 300,
                adapters: AdapterRules = AdapterRules()) {
        self.router = router
        self.registry = registry
        self.camera = NativeCameraDecoder(timeParser: timeParser)
        self.maxPayloadBytes = maxPayloadBytes
        self.maxClockSkew = maxClockSkew
        let options = AdapterOptions(topicPrefix: router.prefix, timeZone: timeParser.defaultZone, maxPayloadBytes: maxPayloadBytes)
        // A foreign camera name is the registered id unless `adapters.camera_ids` maps it.
        let aliases = adapters.cameraIDs
        let cameras = SourceResolver { [registry] name in
            let id = aliases[name] ?? name
            return registry.cameras[id] != nil ? id : nil
        }
        let devices = SourceResolver { [registry] name in registry.devices[name] != nil ? name : nil }
        var frigateMapping = adapters.frigate
        frigateMapping.topic = router.frigateTopic
        self.frigate = FrigateAdapter(mapping: frigateMapping, options: options, resolver: cameras)
        self.gb28181 = GB28181Adapter(mapping: adapters.gb28181, options: options, resolver: cameras)
        self.gb28181.topicCamera = cameras
        self.onvif = ONVIFAdapter(mapping: adapters.onvif, options: options, resolver: cameras)
        self.onvif2mqtt = ONVIF2MQTTAdapter(base: router.onvif2mqttBase, options: options, resolver: cameras)
        self.device = DeviceAdapter(options: options, resolver: devices)
    }

    /// Decodes one message. `now` is processing time, used for the skew check;
    /// `receivedAt` (default `now`) is when the hub received the message, the
    /// time of messages that carry none (an ONVIF zero-byte delete).
    public func decode(topic: String, payload: [UInt8], now: Date, receivedAt: Date? = nil) throws(HubError) -> [NormalizedEvent] {
        var unmapped: UnmappedInput?
        return try decode(topic: topic, payload: payload, now: now, receivedAt: receivedAt, unmapped: &unmapped)
    }

    /// `decode`, setting `unmapped` when a foreign input decoded to nothing because no
    /// rule maps it (an ONVIF topic, a Frigate label, an onvif2mqtt event): the
    /// pipeline counts it; it is not a dead letter.
    public func decode(topic: String, payload: [UInt8], now: Date, receivedAt: Date? = nil, unmapped: inout UnmappedInput?) throws(HubError) -> [NormalizedEvent] {
        #if DEBUG
        Self.trapOnTestMarker(payload)
        #endif
        guard payload.count <= maxPayloadBytes else {
            throw HubError.decode(.oversized, "payload is \(payload.count) bytes, the limit is \(maxPayloadBytes) (limits.max_payload_bytes)")
        }
        guard let route = router.route(topic) else {
            throw HubError.decode(.unknownTopic, "topic '\(topic.prefix(200))' matches no input of prefix '\(router.prefix)'")
        }
        var events: [NormalizedEvent]
        switch route {
        case .cameraEvent(let id):
            try requireCamera(id)
            events = [try camera.decodeEvent(camera: id, payload: payload)]
        case .cameraStatus(let id):
            try requireCamera(id)
            events = [try camera.decodeStatus(camera: id, topic: topic, payload: payload)]
        case .deviceCheckin, .deviceReport, .deviceSOS:
            events = try device.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now)
        case .frigate:
            events = try frigate.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now, unmapped: &unmapped)
        case .gb28181Alarm:
            events = try gb28181.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now)
        case .onvif:
            events = try onvif.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now, unmapped: &unmapped)
        case .onvif2mqtt:
            events = try onvif2mqtt.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now, unmapped: &unmapped)
        }
        // Frigate's times are bare numbers: 1e300 is valid JSON, and no date arithmetic or formatting survives it.
        for e in events where !DecodeLimits.eventTimes.contains(e.time.timeIntervalSince1970) {
            throw HubError.decode(.outOfRange, "event time \(e.time.timeIntervalSince1970) s since 1970 is outside 1970-01-01…9999-12-31")
        }
        for e in events where e.time.timeIntervalSince(now) > maxClockSkew {
            throw HubError.decode(.clockSkew, "event time \(e.time.rfc3339) is \(Int(e.time.timeIntervalSince(now))) s ahead of the hub's clock (limit \(Int(maxClockSkew)) s, limits.max_clock_skew_seconds)")
        }
        try Self.refuseNUL(events, unmapped)
        try Self.bound(&events)
        return events
    }

    /// Refuses events or an unmapped input that still hold a NUL character in a
    /// text a store keeps (`invalid_value`): the last check, whatever adapter made
    /// them; the readers have already dropped trailing padding and named the payload's field.
    static func refuseNUL(_ events: [NormalizedEvent], _ unmapped: UnmappedInput?) throws(HubError) {
        func check(_ text: String?, _ what: @autoclosure () -> String) throws(HubError) {
            if let text, DecodeText.containsNUL(text) {
                throw HubError.decode(.invalidValue, "\(what()) holds a NUL character")
            }
        }
        for e in events {
            try check(e.key, "the event's key")
            try check(e.source, "the event's source")
            try check(e.lifecycle, "the event's lifecycle id")
            try check(e.description, "the event's description")
            if case .checkin(let checkpoint, let method) = e.kind {
                try check(checkpoint, "the check-in's checkpoint")
                try check(method, "the check-in's method")
            }
        }
        if let unmapped {
            try check(unmapped.name, "the unmapped \(unmapped.format) input's name")
            try check(unmapped.device, "the unmapped \(unmapped.format) input's device")
        }
    }

    /// Applies `DecodeLimits` to what the events carry from the payload.
    static func bound(_ events: inout [NormalizedEvent]) throws(HubError) {
        for i in events.indices {
            if events[i].key.utf8.count > DecodeLimits.maxIdentifierBytes {
                throw HubError.decode(.outOfRange, "the event's id is too long: its key has \(events[i].key.utf8.count) bytes, the limit is \(DecodeLimits.maxIdentifierBytes)")
            }
            if let l = events[i].lifecycle, l.utf8.count > DecodeLimits.maxIdentifierBytes {
                throw HubError.decode(.outOfRange, "the event's source or object ids are too long: its lifecycle id has \(l.utf8.count) bytes, the limit is \(DecodeLimits.maxIdentifierBytes)")
            }
            if case .checkin(let checkpoint, _) = events[i].kind, checkpoint.utf8.count > DecodeLimits.maxIdentifierBytes {
                throw HubError.decode(.outOfRange, "the check-in's checkpoint id has \(checkpoint.utf8.count) bytes, the limit is \(DecodeLimits.maxIdentifierBytes)")
            }
            if let d = events[i].description, d.utf8.count > DecodeLimits.maxTextBytes {
                events[i].description = DecodeLimits.truncated(d, maxBytes: DecodeLimits.maxTextBytes)
            }
        }
    }

    #if DEBUG
    /// Test hook (debug builds only): with `PATROLHUB_TEST_TRAP_MARKER` set, decoding a
    /// payload that contains its value traps, as a decoder bug would; the crash
    /// quarantine's end-to-end test uses it.
    static let testTrapMarker: [UInt8]? = ProcessInfo.processInfo.environment["PATROLHUB_TEST_TRAP_MARKER"].flatMap { $0.isEmpty ? nil : Array($0.utf8) }

    static func trapOnTestMarker(_ payload: [UInt8]) {
        guard let marker = testTrapMarker, payload.count >= marker.count else { return }
        for start in 0...(payload.count - marker.count) where payload[start] == marker[0] {
            if payload[start..<(start + marker.count)].elementsEqual(marker) { fatalError("PATROLHUB_TEST_TRAP_MARKER found in a payload") }
        }
    }
    #endif

    func requireCamera(_ id: String) throws(HubError) {
        guard registry.cameras[id] != nil else {
            throw HubError.decode(.unknownSource, "camera '\(id.prefix(100))' is not registered (config cameras.csv)")
        }
    }
}
