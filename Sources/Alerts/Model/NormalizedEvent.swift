import Foundation

/// What kind of thing produced an event.
public enum SourceKind: String, Sendable, Codable, Hashable {
    case camera
    case device
}

/// Where an event's time came from.
public enum TimeSource: String, Sendable, Codable, Hashable {
    /// The time the source wrote in the payload.
    case device
    /// The hub's receive time, because the payload's time was unusable: an unset
    /// device clock (Hikvision's `0000-00-00T00:00:00Z`). The item is marked so.
    case received
}

/// One incoming event after decoding and normalisation: every input format
/// (native v1, Frigate, ONVIF, GB/T 28181) ends as one of these, and only
/// these reach the rules.
public struct NormalizedEvent: Sendable, Hashable {
    /// What the event says happened.
    public enum Kind: Sendable, Hashable {
        /// A detection or report of a risk category.
        case detection
        /// A camera health status change (`online` ends health items).
        case cameraStatus(CameraStatus)
        /// A patrol check-in at a checkpoint.
        case checkin(checkpoint: String, method: String?)
        /// A lifecycle end (Frigate `end`, ONVIF property `Deleted`/false): closes the item.
        case end
    }

    /// The idempotency key (SPEC.md: source plus the event's own id).
    public var key: String
    /// What the event says happened.
    public var kind: Kind
    /// Whether the source is a camera or a patrol device.
    public var sourceKind: SourceKind
    /// The registered camera or device id.
    public var source: String
    /// The risk category, in PatrolHub's vocabulary whatever the input format.
    public var category: Category
    /// The category's configured severity (a vendor priority may raise it).
    public var severity: Severity
    /// Event time, as the source reported it.
    public var time: Date
    /// Where it happened, when the payload says; placement may use it.
    public var location: GeoPoint?
    /// The detector's confidence, 0…1, when the format gives one.
    public var confidence: Double?
    /// How many people or objects were counted (crowds), when the payload says.
    public var count: Int?
    /// Whether it is a drill's (`drill: true`): drill events never mix with live ones.
    public var drill: Bool
    /// Lifecycle id for formats that report one object over many messages
    /// (Frigate object id, ONVIF source+topic); nil for one-shot events.
    public var lifecycle: String?
    /// Free text from the source, if any (report description, alarm description).
    public var description: String?
    /// The input format it came from: `native`, `frigate`, `onvif`, `gb28181`.
    public var format: String
    /// Whether `time` is the source's own or the hub's receive time.
    public var timeSource: TimeSource
    /// The priority the vendor gave the alarm (GB/T 28181 `AlarmPriority`), nil for
    /// formats without one. A hint, not the severity: the engine combines it with the
    /// category's configured severity (`VendorPriorityRules`).
    public var vendorPriority: Severity?

    /// An event with every field given; the decoders make them.
    public init(
        key: String, kind: Kind = .detection, sourceKind: SourceKind, source: String,
        category: Category, severity: Severity? = nil, time: Date, location: GeoPoint? = nil,
        confidence: Double? = nil, count: Int? = nil, drill: Bool = false, lifecycle: String? = nil,
        description: String? = nil, format: String = "native", timeSource: TimeSource = .device,
        vendorPriority: Severity? = nil
    ) {
        self.key = key
        self.kind = kind
        self.sourceKind = sourceKind
        self.source = source
        self.category = category
        self.severity = severity ?? category.defaultSeverity
        self.time = time
        self.location = location
        self.confidence = confidence
        self.count = count
        self.drill = drill
        self.lifecycle = lifecycle
        self.description = description
        self.format = format
        self.timeSource = timeSource
        self.vendorPriority = vendorPriority
    }
}

/// Camera health as published on `{prefix}/camera/{camera}/status`.
public enum CameraStatus: String, Sendable, Codable, CaseIterable, Hashable {
    case online
    case offline
    case tampered
    case signalLost = "signal_lost"
    case imageTooDark = "image_too_dark"
    case imageBlurry = "image_blurry"
    /// Over-exposed (ONVIF `VideoSource/ImageTooBright`). Not part of the native
    /// status topic's contract (`isNative`).
    case imageTooBright = "image_too_bright"
    /// A device fault or video anomaly a foreign format reports (GB/T 28181 method 6,
    /// 2/3–5, 5/11). Not part of the native status topic's contract (`isNative`).
    case degraded

    /// The camera-health category this status raises, nil for `online`.
    public var healthCategory: Category? {
        switch self {
        case .online: return nil
        case .offline, .signalLost: return .cameraOffline
        case .tampered: return .cameraTampered
        case .imageTooDark, .imageBlurry, .imageTooBright, .degraded: return .cameraDegraded
        }
    }

    /// Whether the native `{prefix}/camera/{camera}/status` topic accepts it (SPEC.md's list).
    public var isNative: Bool { self != .degraded && self != .imageTooBright }

    /// The statuses of the native status topic.
    public static let nativeCases: [CameraStatus] = allCases.filter(\.isNative)
}
