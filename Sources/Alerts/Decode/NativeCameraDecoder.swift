import Foundation

/// Decodes the native v1 camera payloads (`{prefix}/camera/{camera}/event`
/// and `/status`) as SPEC.md's input table defines them.
public struct NativeCameraDecoder: Sendable {
    /// Reads payload times; times without an offset are in its default zone.
    public var timeParser: TimeParser

    /// Fields that, when a payload carries them, must name the camera of its topic (`id_mismatch`).
    static let ownIDFields = ["camera_id", "camera"]

    /// A decoder reading times with `timeParser`.
    public init(timeParser: TimeParser = TimeParser()) {
        self.timeParser = timeParser
    }

    /// A camera analytics event: `id`, `type`, `time`; optional `confidence`
    /// 0..1, `location`, `count`, `snapshot_url`, `drill`.
    public func decodeEvent(camera: String, payload: [UInt8]) throws(HubError) -> NormalizedEvent {
        if let event = fastEvent(camera: camera, payload: payload) { return event }
        return try generalEvent(camera: camera, payload: payload)
    }

    /// `decodeEvent` through a parsed JSON object: any shape, and the dead-letter reasons.
    func generalEvent(camera: String, payload: [UInt8]) throws(HubError) -> NormalizedEvent {
        let f = try PayloadFields(bytes: payload)
        let id = try f.requiredString("id")
        try f.requireOwnID(Self.ownIDFields, topicID: camera, kind: "camera")
        let typeText = try f.requiredString("type")
        guard let category = Category(rawValue: typeText), category.family == .cameraAnalytics else {
            throw HubError.decode(.invalidValue, "field 'type' must be a camera analytics category (\(Category.allCases.filter { $0.family == .cameraAnalytics }.map(\.rawValue).joined(separator: ", "))), found '\(typeText.prefix(40))'")
        }
        let time = try f.requiredTime("time", parser: timeParser)
        let confidence = try f.double("confidence", range: 0...1)
        let location = try f.location()
        let count = try f.int("count", range: 0...1_000_000)
        try f.requireStringType("snapshot_url") // not kept: its text is not read (the fast path reads it so too)
        let drill = try f.bool("drill") ?? false
        return NormalizedEvent(
            key: "camera:\(camera):\(id)", sourceKind: .camera, source: camera, category: category,
            time: time, location: location, confidence: confidence, count: count, drill: drill)
    }

    /// A camera health status: `status`, `time`. Status messages carry no id,
    /// so their key is the hash of topic and payload (SPEC.md).
    public func decodeStatus(camera: String, topic: String, payload: [UInt8]) throws(HubError) -> NormalizedEvent {
        let f = try PayloadFields(bytes: payload)
        let statusText = try f.requiredString("status")
        try f.requireOwnID(Self.ownIDFields, topicID: camera, kind: "camera")
        guard let status = CameraStatus(rawValue: statusText), status.isNative else {
            throw HubError.decode(.invalidValue, "field 'status' must be one of \(CameraStatus.nativeCases.map(\.rawValue).joined(separator: ", ")), found '\(statusText.prefix(40))'")
        }
        let time = try f.requiredTime("time", parser: timeParser)
        let drill = try f.bool("drill") ?? false
        return NormalizedEvent(
            key: "status:\(camera):" + StableHash.hex(topic: topic, payload: payload), kind: .cameraStatus(status),
            sourceKind: .camera, source: camera, category: status.healthCategory ?? .cameraOffline,
            time: time, drill: drill, format: "native")
    }
}
