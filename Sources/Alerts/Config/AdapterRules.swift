import Foundation
import Yams

/// The `adapters:` section of `rules.yaml`: how foreign names and
/// vocabularies (Frigate, GB/T 28181, ONVIF) map onto registered cameras
/// and the risk taxonomy. Everything has the defaults of `AdapterMapping.swift`;
/// the file states only what differs.
///
/// ```yaml
/// adapters:
///   camera_ids:                 # foreign camera name → registered camera id (all formats)
///     front_gate: CAM-0001
///   frigate:
///     labels:                   # replaces the default label rules; first match wins
///       - labels: [person]
///         category: intrusion
///         zones: any            # any | none | [frigate, zone, names]
///   gb28181:
///     alarm_types: {"5/10": crowd_gathering}   # over the defaults
///     ignore: ["5/9"]
///     crs: wgs84
///     priority: hint            # AlarmPriority: hint (VendorPriorityRules) | ignore
///   onvif:
///     topics: {"RuleEngine/MyDetector/Crowd": crowd_gathering}   # over the defaults; a value may
///                                                                # also be a camera status (signal_lost …)
/// ```
public struct AdapterRules: Sendable, Equatable {
    /// Frigate's topic and label rules (`adapters.frigate`).
    public var frigate = FrigateMapping()
    /// GB/T 28181 alarm codes, ignored codes and method defaults (`adapters.gb28181`).
    public var gb28181 = GB28181Mapping()
    /// ONVIF topic rules (`adapters.onvif`).
    public var onvif = ONVIFMapping()
    /// Foreign camera names that are not the registered id.
    public var cameraIDs: [String: String] = [:]

    /// Every adapter with its default mapping.
    public init() {}

    static func parse(_ a: ConfigMap) throws(HubError) -> AdapterRules {
        var r = AdapterRules()
        let ids = try a.map("camera_ids")
        for name in ids.keys { r.cameraIDs[name] = try ids.requiredString(name) }
        try ids.finish()

        let f = try a.map("frigate")
        if f.contains("labels") {
            var rules: [FrigateMapping.LabelRule] = []
            for l in try f.mapList("labels") {
                guard let labels = try l.stringList("labels"), !labels.isEmpty else { throw l.error("labels", "is required (a list of Frigate labels)") }
                let category = try CaseRules.category(try l.requiredString("category"), l, "category")
                var zones = FrigateMapping.ZoneRequirement.none
                if let n = l.node("zones") {
                    switch n {
                    case .scalar(let s) where s.string == "any": zones = .anyZone
                    case .scalar(let s) where s.string == "none": zones = .none
                    case .sequence:
                        zones = .named(Set(try l.stringList("zones") ?? []))
                    default: throw l.error("zones", "must be any, none or a list of Frigate zone names", at: n)
                    }
                }
                let stationary = try l.bool("stationary", default: false)
                let minScore = l.contains("min_score") ? try l.double("min_score", default: 0, range: 0...1) : nil
                let severity = l.contains("severity") ? Severity(rawValue: try l.int("severity", default: 4, range: 1...4)) : nil
                let cameras = try l.stringList("cameras").map(Set.init)
                try l.finish()
                rules.append(.init(labels: Set(labels), category: category, zones: zones, requiresStationary: stationary,
                                   minScore: minScore, severity: severity, cameras: cameras))
            }
            r.frigate.rules = rules
        }
        try f.finish()

        let g = try a.map("gb28181")
        let types = try g.map("alarm_types")
        for code in types.keys {
            let parsed = try Self.gbCode(code, types)
            r.gb28181.alarmTypes[parsed] = try CaseRules.category(try types.requiredString(code), types, code)
            r.gb28181.ignored.remove(parsed)
        }
        try types.finish()
        if let ignore = try g.stringList("ignore") {
            r.gb28181.ignored = Set(try ignore.map { c throws(HubError) in try Self.gbCode(c, g, key: "ignore") })
        }
        r.gb28181.coordinateSystem = try g.choice("crs", default: r.gb28181.coordinateSystem)
        r.gb28181.priority = try g.choice("priority", default: r.gb28181.priority)
        try g.finish()

        let o = try a.map("onvif")
        let topics = try o.map("topics")
        for pattern in topics.keys {
            // A category, or a camera status (a health topic reports that status, as the native status topic).
            let value = try topics.requiredString(pattern)
            let rule: ONVIFMapping.TopicRule
            if let status = CameraStatus(rawValue: value), let health = status.healthCategory {
                rule = .init(pattern: pattern, category: health, status: status)
            } else {
                rule = .init(pattern: pattern, category: try CaseRules.category(value, topics, pattern))
            }
            r.onvif.rules.removeAll { $0.pattern.lowercased() == pattern.lowercased() }
            r.onvif.rules.append(rule)
        }
        try topics.finish()
        try o.finish()
        try a.finish()
        return r
    }

    static func gbCode(_ text: String, _ map: ConfigMap, key: String? = nil) throws(HubError) -> GBAlarmCode {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let m = Int(parts[0]), let t = Int(parts[1]), (1...7).contains(m), t >= 0 else {
            throw map.error(key ?? text, "'\(text)' is not a GB/T 28181 alarm code 'method/type' (method 1–7)")
        }
        return GBAlarmCode(method: m, type: t)
    }
}
