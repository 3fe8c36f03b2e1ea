/// Which input a topic carries, from SPEC.md's input table.
public enum TopicRoute: Sendable, Hashable {
    case cameraEvent(camera: String)
    case cameraStatus(camera: String)
    case deviceCheckin(device: String)
    case deviceReport(device: String)
    case deviceSOS(device: String)
    case frigate
    case gb28181Alarm(device: String)
    case onvif(device: String, topic: String)
}

/// Maps topics to routes. `{prefix}/camera/{id}/event` and friends; the
/// Frigate topic is configurable (default `frigate/events`).
public struct TopicRouter: Sendable {
    public var prefix: String
    public var frigateTopic: String

    public init(prefix: String = "patrolhub/v1", frigateTopic: String = "frigate/events") {
        self.prefix = prefix
        self.frigateTopic = frigateTopic
    }

    /// The subscriptions that cover every route.
    public var subscriptions: [String] {
        ["\(prefix)/camera/+/event", "\(prefix)/camera/+/status", "\(prefix)/device/+/checkin",
         "\(prefix)/device/+/report", "\(prefix)/device/+/sos", frigateTopic,
         "\(prefix)/gb28181/+/alarm", "\(prefix)/onvif/#"]
    }

    public func route(_ topic: String) -> TopicRoute? {
        if topic == frigateTopic { return .frigate }
        guard topic.hasPrefix(prefix), topic.utf8.count > prefix.utf8.count + 1 else { return nil }
        let rest = topic.dropFirst(prefix.count)
        guard rest.first == "/" else { return nil }
        let parts = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let id = String(parts[1])
        guard !id.isEmpty else { return nil }
        switch (parts[0], parts.count) {
        case ("camera", 3) where parts[2] == "event": return .cameraEvent(camera: id)
        case ("camera", 3) where parts[2] == "status": return .cameraStatus(camera: id)
        case ("device", 3) where parts[2] == "checkin": return .deviceCheckin(device: id)
        case ("device", 3) where parts[2] == "report": return .deviceReport(device: id)
        case ("device", 3) where parts[2] == "sos": return .deviceSOS(device: id)
        case ("gb28181", 3) where parts[2] == "alarm": return .gb28181Alarm(device: id)
        case ("onvif", _):
            let tail = parts.dropFirst(2).joined(separator: "/")
            return tail.isEmpty ? nil : .onvif(device: id, topic: tail)
        default: return nil
        }
    }
}
