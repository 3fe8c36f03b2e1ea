@testable import AlertsStore
import Foundation
import GRDB
@testable import Alerts

/// Cases and stores for the case tests: the sample district's zones, cases
/// written the way the engine writes them (`DisputeStore.write(case:…)`).
enum CaseFixtures {
    static let shanghai = TimeZone(identifier: "Asia/Shanghai")!

    /// A local (Asia/Shanghai) time, `2025-05-01 10:00`.
    static func local(_ text: String) -> Date {
        TimeParser(defaultZone: shanghai).parse(text.replacingOccurrences(of: " ", with: "T") + ":00+08:00")!
    }

    /// The sample district (`config/zones.geojson`).
    static let sampleZones: ZoneIndex = try! ZoneFile.load(contentsOf: GridFixtures.sample("zones.geojson"))

    /// A wage-arrears case in 八廓社区第2网格, routed to the street with the labour bureau's joint team, 30-day deadline.
    static func wageCase(id: String = "AJ-00000001", openedAt: Date = local("2025-05-01 10:00"), days: Double = 30) -> Case {
        Case(id: id, rule: .patrolReport, zone: "540102-001-002-02", category: .wageArrears, severity: .major,
             unit: "八廓街道综治中心", worker: "gw-005", leadUnit: "区人社局", coUnits: ["区总工会", "区住建局", "区司法局"],
             openedAt: openedAt, dueAt: openedAt.addingTimeInterval(days * 86_400),
             explanation: "网格员 gw-005 上报欠薪：某工地 12 名工人被拖欠工资约 8 万元。",
             riskItemIDs: [], sources: ["dev-005"], categories: [.wageArrears])
    }

    /// A store with the sample zones saved, as the hub saves them at start.
    static func store(path: String? = nil) throws -> DisputeStore {
        let s = try path.map { try DisputeStore(path: $0) } ?? DisputeStore.inMemory()
        try s.saveZones(sampleZones)
        return s
    }

    static func write(_ c: Case, to store: DisputeStore) throws {
        try store.writer.write { db in try DisputeStore.write(case: c, evidenceAt: c.openedAt, db: db) }
    }

    static func count(_ sql: String, _ store: DisputeStore) throws -> Int {
        try store.writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }
}
