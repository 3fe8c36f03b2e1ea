import Foundation

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
    /// onvif2mqtt's `{base}/{device}/{event}` with `on`/`off` (base default `onvif2mqtt`).
    case onvif2mqtt(device: String, event: String)
}

/// Maps topics to routes. `{prefix}/camera/{id}/event` and friends; the
/// Frigate topic is configurable (default `frigate/events`), and so is the
/// base of onvif2mqtt's topics (default `onvif2mqtt`).
public struct TopicRouter: Sendable {
    /// PatrolHub's own topic prefix (`topic_prefix`).
    public var prefix: String
    /// The topic Frigate publishes its events on.
    public var frigateTopic: String
    /// The base of onvif2mqtt's topics.
    public var onvif2mqttBase: String

    /// A router for the given topics.
    public init(prefix: String = "patrolhub/v1", frigateTopic: String = "frigate/events", onvif2mqttBase: String = "onvif2mqtt") {
        self.prefix = prefix
        self.frigateTopic = frigateTopic
        self.onvif2mqttBase = onvif2mqttBase
    }

    /// The subscriptions that cover every route.
    public var subscriptions: [String] {
        ["\(prefix)/camera/+/event", "\(prefix)/camera/+/status", "\(prefix)/device/+/checkin",
         "\(prefix)/device/+/report", "\(prefix)/device/+/sos", frigateTopic,
         "\(prefix)/gb28181/+/alarm", "\(prefix)/onvif/#", "\(onvif2mqttBase)/+/+"]
    }

    /// The input a topic carries and the source it names; nil for a topic the hub does not read.
    public func route(_ topic: String) -> TopicRoute? {
        if topic == frigateTopic { return .frigate }
        if topic.hasPrefix(onvif2mqttBase), let route = onvif2mqtt(topic) { return route }
        // Scans the UTF-8 bytes once: `{prefix}/{kind}/{id}/{tail}`, comparing bytes, no arrays.
        var topic = topic, prefix = prefix
        return prefix.withUTF8 { p in
            topic.withUTF8 { u -> TopicRoute? in
                let slash = UInt8(ascii: "/")
                guard u.count > p.count + 1, p.isEmpty || memcmp(u.baseAddress!, p.baseAddress!, p.count) == 0, u[p.count] == slash else { return nil }
                let kindStart = p.count + 1
                guard let kindEnd = u[kindStart...].firstIndex(of: slash) else { return nil }
                let idStart = kindEnd + 1
                guard let idEnd = u[idStart...].firstIndex(of: slash), idEnd > idStart else { return nil }
                let tailStart = idEnd + 1
                let kind = UnsafeBufferPointer(rebasing: u[kindStart..<kindEnd])
                let tail = UnsafeBufferPointer(rebasing: u[tailStart...])
                func id() -> String { String(decoding: UnsafeBufferPointer(rebasing: u[idStart..<idEnd]), as: UTF8.self) }
                func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
                    b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
                }
                if equal(kind, "onvif") {
                    return tail.isEmpty ? nil : .onvif(device: id(), topic: String(decoding: tail, as: UTF8.self))
                }
                guard !tail.contains(slash) else { return nil }
                if equal(kind, "camera") {
                    if equal(tail, "event") { return .cameraEvent(camera: id()) }
                    if equal(tail, "status") { return .cameraStatus(camera: id()) }
                } else if equal(kind, "device") {
                    if equal(tail, "checkin") { return .deviceCheckin(device: id()) }
                    if equal(tail, "report") { return .deviceReport(device: id()) }
                    if equal(tail, "sos") { return .deviceSOS(device: id()) }
                } else if equal(kind, "gb28181"), equal(tail, "alarm") {
                    return .gb28181Alarm(device: id())
                }
                return nil
            }
        }
    }

    /// `{base}/{device}/{event}`: both non-empty, no deeper levels.
    private func onvif2mqtt(_ topic: String) -> TopicRoute? {
        let rest = topic.utf8.dropFirst(onvif2mqttBase.utf8.count)
        guard rest.first == UInt8(ascii: "/") else { return nil }
        let parts = rest.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return .onvif2mqtt(device: String(decoding: parts[0], as: UTF8.self), event: String(decoding: parts[1], as: UTF8.self))
    }
}
