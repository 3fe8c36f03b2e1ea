import Foundation

/// The first pipeline stage: a raw message (topic + bytes) becomes zero or
/// more normalised events, or a `DecodeError` that sends it to the
/// dead-letter store. Checks that apply to every format live here: size,
/// topic, registered source, clock skew.
public struct DecodeStage: Sendable {
    public var router: TopicRouter
    public var registry: Registry
    public var camera: NativeCameraDecoder
    public var maxPayloadBytes: Int
    public var maxClockSkew: TimeInterval

    public init(router: TopicRouter, registry: Registry, timeParser: TimeParser, maxPayloadBytes: Int = 256 * 1024, maxClockSkew: TimeInterval = 300) {
        self.router = router
        self.registry = registry
        self.camera = NativeCameraDecoder(timeParser: timeParser)
        self.maxPayloadBytes = maxPayloadBytes
        self.maxClockSkew = maxClockSkew
    }

    /// Decodes one message. `now` is processing time, used only for the skew check.
    public func decode(topic: String, payload: [UInt8], now: Date) throws(DecodeError) -> [NormalizedEvent] {
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
        case .deviceCheckin, .deviceReport, .deviceSOS, .frigate, .gb28181Alarm, .onvif:
            throw DecodeError(.unknownTopic, "topic '\(topic.prefix(200))': this input is not supported yet")
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
