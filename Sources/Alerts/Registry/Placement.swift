import Foundation

/// Places events in grid zones (SPEC.md "Registry and grid"): an event's own
/// location wins (converted to WGS-84, then looked up in the spatial index);
/// otherwise the registered source's zone — the `zone` column when set, or
/// the zone its registered location falls in.
///
/// A reported location is not trusted blindly (`locationMismatch` says why it was set aside):
/// - a camera event located more than `maxCameraDistance` metres from the
///   camera's registered location is placed in the camera's zone: a fixed
///   camera does not see kilometres away, so the coordinate is a device or
///   gateway error (cameras registered with a zone but no location are not checked);
/// - an event located outside every zone is placed in its source's registered
///   zone (a camera's, or a patrol device's `zone`; `unzoned` without one).
///
/// The unit and worker are those of the most specific zone in the chain that
/// names one (a grid without a unit answers to its community's, and so on up).
public struct Placer: Sendable {
    /// The loaded grid; nil: events are placed by the registry's zone columns only.
    public let zones: ZoneIndex?
    let cameras: [String: Placement]
    let devices: [String: Placement]
    /// The placement of each zone, by its id in `zones` (made once: built per event it cost arrays).
    let byZoneID: [Placement]
    /// Registered camera locations in WGS-84.
    let cameraPoints: [String: GeoPoint]
    /// A camera event located farther than this from its camera is placed in the camera's zone (0: no check).
    public let maxCameraDistance: Double

    /// The default `maxCameraDistance`, in metres.
    public static let defaultMaxCameraDistance: Double = 1000

    /// A placer over `registry` and `zones`.
    public init(registry: Registry, zones: ZoneIndex?, maxCameraDistance: Double = Placer.defaultMaxCameraDistance) {
        self.zones = zones
        self.maxCameraDistance = maxCameraDistance
        cameraPoints = registry.cameras.values.reduce(into: [:]) { points, c in points[c.id] = c.location.map(CoordinateTransform.toWGS84) }
        var cams: [String: Placement] = [:]
        for c in registry.cameras.values {
            if let code = c.zone {
                cams[c.id] = Self.placement(code: code, zones: zones)
            } else if let p = c.location, let zones {
                cams[c.id] = Self.placement(zones.locate(p))
            } else {
                cams[c.id] = .unzoned
            }
        }
        var devs: [String: Placement] = [:]
        for d in registry.devices.values {
            var p = d.zone.map { Self.placement(code: $0, zones: zones) } ?? .unzoned
            p.unit = d.unit.isEmpty ? p.unit : d.unit
            p.worker = d.worker.isEmpty ? p.worker : d.worker
            devs[d.id] = p
        }
        cameras = cams
        devices = devs
        byZoneID = zones.map { index in index.zones.map { Self.placement(index.location(code: $0.code) ?? .unzoned) } } ?? []
    }

    /// The placement of an event.
    public func place(_ event: NormalizedEvent) -> Placement {
        var registered: Placement
        switch event.sourceKind {
        case .camera: registered = cameras[event.source] ?? .unzoned
        case .device: registered = devices[event.source] ?? .unzoned
        }
        guard let point = event.location else { return registered }
        if event.sourceKind == .camera, maxCameraDistance > 0, let camera = cameraPoints[event.source] {
            let d = CoordinateTransform.distance(point, camera)
            if !(d <= maxCameraDistance) {
                registered.locationMismatch = "reported location \(Self.text(point)) is \(Int(d.rounded())) m from camera \(event.source)'s registered location "
                    + "(more than placement.max_camera_distance_m \(Int(maxCameraDistance))): placed in the camera's zone \(registered.zone)"
                registered.locationDistance = d.isFinite ? d : nil
                return registered
            }
        }
        guard let zones else { return registered }
        if let id = zones.zoneID(for: point) { return byZoneID[id] }
        let whose = event.sourceKind == .camera ? "camera" : "device"
        registered.locationMismatch = "reported location \(Self.text(point)) is outside every zone: placed in \(whose) \(event.source)'s registered zone \(registered.zone)"
        return registered
    }

    /// `30.123456,114.123456 (gcj02)`.
    static func text(_ p: GeoPoint) -> String {
        HubFormat.fixed(p.lat, digits: 6) + "," + HubFormat.fixed(p.lon, digits: 6) + (p.crs == .wgs84 ? "" : " (\(p.crs.rawValue))")
    }

    /// Where a registered camera is placed (for reports and `zones check`).
    public func cameraPlacement(_ id: String) -> Placement? { cameras[id] }

    static func placement(code: String, zones: ZoneIndex?) -> Placement {
        guard let zones, let loc = zones.location(code: code) else { return Placement(zone: code) }
        var p = placement(loc)
        p.zone = code
        p.parents = Array(loc.chain.prefix { $0 != code })
        return p
    }

    static func placement(_ loc: ZoneLocation) -> Placement {
        guard loc.isZoned else { return .unzoned }
        let chain = loc.zones.reversed()
        return Placement(zone: loc.zone, unit: chain.lazy.compactMap(\.unit).first, worker: chain.lazy.compactMap(\.worker).first,
                         parents: Array(loc.chain.dropLast()))
    }
}
