import Alerts
import Foundation

/// The fleet a scenario drives, read from the hub's own configuration: the
/// registered cameras and devices, the zones they sit in, and the topic
/// settings. A scenario can only name what the hub knows, so a typo in a
/// camera id is an error before anything is published.
public struct SimulationWorld: Sendable {
    /// A registered camera the simulator can publish as.
    public struct Camera: Sendable, Hashable {
        /// The camera's id in its topics and payloads.
        public var id: String
        /// The zone the hub places the camera's events in.
        public var zone: String
        /// Its registered place, used when a step gives none.
        public var location: GeoPoint?

        /// A camera placed in `zone`.
        public init(id: String, zone: String, location: GeoPoint?) {
            self.id = id
            self.zone = zone
            self.location = location
        }
    }

    /// A registered patrol device the simulator can publish as.
    public struct Device: Sendable, Hashable {
        /// The device's id in its topics.
        public var id: String
        /// The grid worker carrying it.
        public var worker: String
        /// The zone the hub places its reports in.
        public var zone: String

        /// A device of `worker` in `zone`.
        public init(id: String, worker: String, zone: String) {
            self.id = id
            self.worker = worker
            self.zone = zone
        }
    }

    /// The hub's `topic_prefix`: the simulator publishes under it.
    public var topicPrefix: String
    /// The topic Frigate-format cameras publish on.
    public var frigateTopic: String
    /// The hub's time zone: the daily rhythm and device timestamps use it.
    public var timeZone: TimeZone
    /// The hub refuses events further ahead than this (`limits.max_clock_skew_seconds`).
    public var maxClockSkew: TimeInterval
    /// Sorted by id.
    public var cameras: [Camera]
    /// Sorted by id.
    public var devices: [Device]
    /// Every zone code the hub knows (from the zone file and the registry's zone columns).
    public var zoneCodes: Set<String>

    /// A world from its parts (tests); `load(config:)` reads the hub's own files.
    public init(topicPrefix: String = "patrolhub/v1", frigateTopic: String = "frigate/events",
                timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!, maxClockSkew: TimeInterval = 300,
                cameras: [Camera], devices: [Device], zoneCodes: Set<String>) {
        self.topicPrefix = topicPrefix
        self.frigateTopic = frigateTopic
        self.timeZone = timeZone
        self.maxClockSkew = maxClockSkew
        self.cameras = cameras.sorted { $0.id < $1.id }
        self.devices = devices.sorted { $0.id < $1.id }
        self.zoneCodes = zoneCodes
    }

    /// Builds the world from a registry and zone index the way the hub places events.
    public init(config: HubConfig, registry: Registry, zones: ZoneIndex?) {
        let placer = Placer(registry: registry, zones: zones)
        var codes = Set(zones?.zones.map(\.code) ?? [])
        let cams = registry.cameras.values.map { c -> Camera in
            let zone = placer.cameraPlacement(c.id)?.zone ?? ZoneLocation.unzonedCode
            codes.insert(zone)
            return Camera(id: c.id, zone: zone, location: c.location)
        }
        let devs = registry.devices.values.map { d -> Device in
            let zone = d.zone ?? ZoneLocation.unzonedCode
            codes.insert(zone)
            return Device(id: d.id, worker: d.worker, zone: zone)
        }
        self.init(topicPrefix: config.topicPrefix, frigateTopic: config.frigateTopic, timeZone: config.timezone,
                  maxClockSkew: TimeInterval(config.limits.maxClockSkewSeconds), cameras: cams, devices: devs, zoneCodes: codes)
    }

    /// Loads the registry and zones a hub config names.
    public static func load(config: HubConfig) throws -> SimulationWorld {
        for (key, file) in [("registry.cameras", config.camerasFile), ("registry.devices", config.devicesFile), ("registry.zones", config.zonesFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw HubError.config(file: config.file, line: nil, key: key, message: "cannot read \(file) (missing or unreadable)")
            }
        }
        let registry = try Registry.load(camerasFile: config.camerasFile, devicesFile: config.devicesFile)
        let zones = try config.zonesFile.map { f throws(HubError) in try ZoneFile.load(contentsOf: URL(fileURLWithPath: f)) }
        return SimulationWorld(config: config, registry: registry, zones: zones)
    }

    /// The camera with this id, nil when unregistered.
    public func camera(_ id: String) -> Camera? { cameras.first { $0.id == id } }

    /// The device with this id, nil when unregistered.
    public func device(_ id: String) -> Device? { devices.first { $0.id == id } }
}
