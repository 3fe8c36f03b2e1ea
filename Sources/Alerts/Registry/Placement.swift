import Foundation

/// Places events in grid zones (SPEC.md "Registry and grid"): an event's own
/// location wins (converted to WGS-84, then looked up in the spatial index);
/// otherwise the registered source's zone — the `zone` column when set, or
/// the zone its registered location falls in.
///
/// The unit and worker are those of the most specific zone in the chain that
/// names one (a grid without a unit answers to its community's, and so on up).
public struct Placer: Sendable {
    public let zones: ZoneIndex?
    let cameras: [String: Placement]
    let devices: [String: Placement]
    /// The placement of each zone, by its id in `zones` (made once: built per event it cost arrays).
    let byZoneID: [Placement]

    public init(registry: Registry, zones: ZoneIndex?) {
        self.zones = zones
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
        if let point = event.location, let id = zones?.zoneID(for: point) {
            return byZoneID[id]
        }
        switch event.sourceKind {
        case .camera: return cameras[event.source] ?? .unzoned
        case .device: return devices[event.source] ?? .unzoned
        }
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
