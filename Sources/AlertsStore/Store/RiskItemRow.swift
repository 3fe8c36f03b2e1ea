import Alerts
import Foundation
import GRDB

/// A row of `risk_items`, for the reads (lists, the change log's objects, a
/// case's evidence, the engine's open items at start). The batch writes its
/// items with prepared statements (`SQLiteBatch.write(items:)`).
struct RiskItemRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "risk_items"

    var id: String
    var source: String
    var sourceKind: String
    var category: String
    var severity: Int
    var zone: String
    var unit: String?
    var worker: String?
    var firstSeen: Double
    var lastSeen: Double
    var occurrences: Int
    var state: String
    var suppressedBy: String?
    var lifecycle: String?
    var lat: Double?
    var lon: Double?
    var drill: Bool
    var late: Bool?
    var lateReason: String?
    var locationMismatch: String?
    var locationDistance: Double?
    var timeSource: String?

    enum CodingKeys: String, CodingKey {
        case id, source, category, severity, zone, unit, worker, occurrences, state, lifecycle, lat, lon, drill, late
        case sourceKind = "source_kind", firstSeen = "first_seen", lastSeen = "last_seen", suppressedBy = "suppressed_by",
             lateReason = "late_reason", locationMismatch = "location_mismatch", locationDistance = "location_distance_m",
             timeSource = "time_source"
    }

    /// The risk item (an unknown kind, category, severity, state or time source reads as the default).
    var item: RiskItem {
        RiskItem(
            id: id, source: source, sourceKind: SourceKind(rawValue: sourceKind) ?? .camera,
            category: Category(rawValue: category) ?? .other, severity: Severity(rawValue: severity) ?? .info,
            zone: zone, unit: unit, worker: worker,
            firstSeen: Date(timeIntervalSince1970: firstSeen), lastSeen: Date(timeIntervalSince1970: lastSeen),
            occurrences: occurrences, state: RiskItem.State(rawValue: state) ?? .open,
            suppressedBy: suppressedBy, lifecycle: lifecycle,
            location: lat.flatMap { la in lon.map { GeoPoint(lat: la, lon: $0) } }, drill: drill,
            late: late ?? false, lateReason: lateReason, locationMismatch: locationMismatch,
            locationDistance: locationDistance, timeSource: timeSource.flatMap(TimeSource.init(rawValue:)) ?? .device)
    }

    /// The items of `sql`'s rows (a `SELECT` of `risk_items` columns), in their order.
    static func items(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [RiskItem] {
        try fetchAll(db, sql: sql, arguments: arguments).map(\.item)
    }
}
