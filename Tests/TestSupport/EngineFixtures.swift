import Foundation
import Alerts

/// Times, events, silences, zones and configs that the engine's tests (AlertsTests) and the
/// store's pipeline tests (AlertsStoreTests) both build theirs from.
package enum EngineFixtures {
    /// The engine tests' epoch; every event time is minutes after it.
    package static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    package static func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    /// An engine placing cam-3 in zone Z-B (unit-B) and every other source in Z-A (unit-A).
    package static func engine(_ rules: RuleSet = RuleSet()) -> RiskEngine {
        RiskEngine(rules: rules) { e in Placement(zone: e.source == "cam-3" ? "Z-B" : "Z-A", unit: "unit-\(e.source == "cam-3" ? "B" : "A")") }
    }

    /// A camera event of `category` from `cam`, `minutes` after `t0`.
    package static func event(_ id: String, _ cam: String, _ cat: Alerts.Category, _ minutes: Double, severity: Severity? = nil) -> NormalizedEvent {
        NormalizedEvent(key: "camera:\(cam):\(id)", sourceKind: .camera, source: cam, category: cat, severity: severity, time: at(minutes))
    }

    /// A silence by op-7 from `from` to `to` minutes after `t0`, matching what its arguments name.
    package static func silence(id: String = "JM-000001", zone: String? = nil, category: Alerts.Category? = nil, source: String? = nil, drill: Bool? = nil,
                                from: Double = 0, to: Double = 30) -> Silence {
        Silence(id: id, zone: zone, category: category, source: source, drill: drill, startsAt: at(from), endsAt: at(to),
                createdBy: "op-7", comment: "camera maintenance", createdAt: at(0))
    }

    /// District D, street S (八廓街道) under it, grid G1 under the street: the case-routing tests' zones.
    package static let caseZones = ZoneDirectory([
        ZoneUnit(code: "D", name: "城关区", level: .district, unit: "城关区综治中心"),
        ZoneUnit(code: "S", name: "八廓街道", level: .street, parent: "D", unit: "八廓街道综治中心"),
        ZoneUnit(code: "G1", name: "网格1", level: .grid, parent: "S"),
    ])

    /// A hub config parsed from `yaml` as if read from `/etc/patrolhub/hub.yaml`.
    package static func config(_ yaml: String) throws(HubError) -> HubConfig {
        try HubConfig.parse(ConfigMap.parse(yaml: yaml, file: "/etc/patrolhub/hub.yaml"), file: "/etc/patrolhub/hub.yaml")
    }
}
