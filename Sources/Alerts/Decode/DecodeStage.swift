import Foundation

/// The first pipeline stage: a raw message (topic + bytes) becomes zero or
/// more normalised events, or a `DecodeError` that sends it to the
/// dead-letter store. Checks that apply to every format live here: size,
/// topic, registered source, clock skew.
///
/// Foreign formats go through their adapters (`Decode/Adapters`), built here
/// with the router's prefix and Frigate topic, the configured time zone, and a
/// source resolver backed by the registry: cameras for Frigate, GB/T 28181 and
/// ONVIF, devices for the patrol-device topics. A name the registry does not
/// know is dead-lettered as `unknown_source`.
public struct DecodeStage: Sendable {
    public var router: TopicRouter
    public var registry: Registry
    public var camera: NativeCameraDecoder
    public var frigate: FrigateAdapter
    public var gb28181: GB28181Adapter
    public var onvif: ONVIFAdapter
    public var device: DeviceAdapter
    public var maxPayloadBytes: Int
    public var maxClockSkew: TimeInterval

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
        self.device = DeviceAdapter(options: options, resolver: devices)
    }

    /// Decodes one message. `now` is processing time, used for the skew check;
    /// `receivedAt` (default `now`) is when the hub received the message, the
    /// time of messages that carry none (an ONVIF zero-byte delete).
    public func decode(topic: String, payload: [UInt8], now: Date, receivedAt: Date? = nil) throws(DecodeError) -> [NormalizedEvent] {
        guard payload.count <= maxPayloadBytes else {
            throw DecodeError(.oversized, "payload is \(payload.count) bytes, the limit is \(maxPayloadBytes) (limits.max_payload_bytes)")
        }
        guard let route = router.route(topic) else {
            throw DecodeError(.unknownTopic, "topic '\(topic.prefix(200))' matches no input of prefix '\(router.prefix)'")
        }
        let events: [NormalizedEvent]
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
            events = try frigate.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now)
        case .gb28181Alarm:
            events = try gb28181.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now)
        case .onvif:
            events = try onvif.decode(topic: topic, payload: payload, receivedAt: receivedAt ?? now)
        }
        for e in events where e.time.timeIntervalSince(now) > maxClockSkew {
            throw DecodeError(.clockSkew, "event time \(e.time.rfc3339) is \(Int(e.time.timeIntervalSince(now))) s ahead of the hub's clock (limit \(Int(maxClockSkew)) s, limits.max_clock_skew_seconds)")
        }
        return events
    }

    func requireCamera(_ id: String) throws(DecodeError) {
        guard registry.cameras[id] != nil else {
            throw DecodeError(.unknownSource, "camera '\(id.prefix(100))' is not registered (config cameras.csv)")
        }
    }
}
