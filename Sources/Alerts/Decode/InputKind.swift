import Foundation

/// What kind of input a topic carries, for counting messages by kind and
/// format (`/metrics`: `patrolhub_messages_in_total{kind,format}`). A fixed
/// set: a topic no route matches is `unknown`, so no topic an attacker
/// chooses becomes a new label value.
public enum InputKind: Int, Sendable, CaseIterable {
    case cameraEvent, cameraStatus, deviceCheckin, deviceReport, deviceSOS, frigate, gb28181Alarm, onvif, onvif2mqtt, unknown

    /// The kind's label value (`camera_event`, `device_checkin`, `frigate`, …).
    public var label: String {
        switch self {
        case .cameraEvent: "camera_event"
        case .cameraStatus: "camera_status"
        case .deviceCheckin: "device_checkin"
        case .deviceReport: "device_report"
        case .deviceSOS: "device_sos"
        case .frigate: "frigate"
        case .gb28181Alarm: "gb28181_alarm"
        case .onvif: "onvif"
        case .onvif2mqtt: "onvif2mqtt"
        case .unknown: "unknown"
        }
    }

    /// The payload format the decode stage reads for this kind: `native`
    /// (SPEC.md's camera and device payloads), `frigate`, `gb28181`,
    /// `onvif`, `onvif2mqtt`, or `unknown`.
    public var format: String {
        switch self {
        case .cameraEvent, .cameraStatus, .deviceCheckin, .deviceReport, .deviceSOS: "native"
        case .frigate: "frigate"
        case .gb28181Alarm: "gb28181"
        case .onvif: "onvif"
        case .onvif2mqtt: "onvif2mqtt"
        case .unknown: "unknown"
        }
    }
}

extension TopicRouter {
    /// The kind of input `topic` carries (the route the decode stage takes).
    public func inputKind(of topic: String) -> InputKind {
        switch route(topic) {
        case .cameraEvent: .cameraEvent
        case .cameraStatus: .cameraStatus
        case .deviceCheckin: .deviceCheckin
        case .deviceReport: .deviceReport
        case .deviceSOS: .deviceSOS
        case .frigate: .frigate
        case .gb28181Alarm: .gb28181Alarm
        case .onvif: .onvif
        case .onvif2mqtt: .onvif2mqtt
        case nil: .unknown
        }
    }
}
