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
        // Scans the UTF-8 bytes once: `{prefix}/{kind}/{id}/{tail}`, no arrays.
        let u = topic.utf8
        let slash = UInt8(ascii: "/")
        guard topic.hasPrefix(prefix), u.count > prefix.utf8.count + 1 else { return nil }
        let afterPrefix = u.index(u.startIndex, offsetBy: prefix.utf8.count)
        guard u[afterPrefix] == slash else { return nil }
        let kindStart = u.index(after: afterPrefix)
        guard let kindEnd = u[kindStart...].firstIndex(of: slash) else { return nil }
        let idStart = u.index(after: kindEnd)
        guard let idEnd = u[idStart...].firstIndex(of: slash), idEnd > idStart else { return nil }
        let tailStart = u.index(after: idEnd)
        let kind = Substring(u[kindStart..<kindEnd])
        let id = String(Substring(u[idStart..<idEnd]))
        let tail = Substring(u[tailStart...])
        if kind == "onvif" {
            return tail.isEmpty ? nil : .onvif(device: id, topic: String(tail))
        }
        guard !tail.utf8.contains(slash) else { return nil }
        switch (kind, tail) {
        case ("camera", "event"): return .cameraEvent(camera: id)
        case ("camera", "status"): return .cameraStatus(camera: id)
        case ("device", "checkin"): return .deviceCheckin(device: id)
        case ("device", "report"): return .deviceReport(device: id)
        case ("device", "sos"): return .deviceSOS(device: id)
        case ("gb28181", "alarm"): return .gb28181Alarm(device: id)
        default: return nil
        }
    }
}
