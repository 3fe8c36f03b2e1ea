import Foundation
import Alerts

/// Cases for the case tests: the sample district's zones and a case as the engine
/// opens one. The store half (`CaseFixtures.store`, `write`, `count`) is in StoreTestSupport.
package enum CaseFixtures {
    package static let shanghai = TimeZone(identifier: "Asia/Shanghai")!

    /// A local (Asia/Shanghai) time, `2025-05-01 10:00`.
    package static func local(_ text: String) -> Date {
        TimeParser(defaultZone: shanghai).parse(text.replacingOccurrences(of: " ", with: "T") + ":00+08:00")!
    }

    /// The sample district (`config/zones.geojson`).
    package static let sampleZones: ZoneIndex = try! ZoneFile.load(contentsOf: GridFixtures.sample("zones.geojson"))

    /// A wage-arrears case in 八廓社区第2网格, routed to the street with the labour bureau's joint team, 30-day deadline.
    package static func wageCase(id: String = "AJ-00000001", openedAt: Date = local("2025-05-01 10:00"), days: Double = 30) -> Case {
        Case(id: id, rule: .patrolReport, zone: "540102-001-002-02", category: .wageArrears, severity: .major,
             unit: "八廓街道综治中心", worker: "gw-005", leadUnit: "区人社局", coUnits: ["区总工会", "区住建局", "区司法局"],
             openedAt: openedAt, dueAt: openedAt.addingTimeInterval(days * 86_400),
             explanation: "网格员 gw-005 上报欠薪：某工地 12 名工人被拖欠工资约 8 万元。",
             riskItemIDs: [], sources: ["dev-005"], categories: [.wageArrears])
    }
}
