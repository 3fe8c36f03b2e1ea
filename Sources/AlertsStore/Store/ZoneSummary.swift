import Alerts
import Foundation
import GRDB

extension MultiPolygon {
    /// RFC 7946 geometry: a `MultiPolygon` of `[lon, lat]` rings (WGS-84).
    public var geoJSON: JSONValue {
        .object([
            "type": .string("MultiPolygon"),
            "coordinates": .array(polygons.map { p in
                .array(p.rings.map { ring in .array(ring.map { .array([.number($0.lon), .number($0.lat)]) }) })
            }),
        ])
    }
}

/// A zone of the grid as the dispatch room sees it: its place in the
/// hierarchy, its geometry and live counts over the zone and every zone below it.
public struct ZoneSummary: Sendable, Hashable {
    /// The zone's code.
    public var code: String
    /// The zone's name.
    public var name: String
    /// `district`, `street`, `community` or `grid`.
    public var level: String
    /// The code of the zone above; nil at the top.
    public var parent: String?
    /// The unit that answers for the zone.
    public var unit: String?
    /// The zone's grid worker, when it names one.
    public var worker: String?
    /// GeoJSON geometry as stored (nil when the zone has none).
    public var geometry: JSONValue?
    /// Open risk items that are not muted.
    public var openRiskItems = 0
    /// Open risk items muted by a silence or inhibition.
    public var suppressedRiskItems = 0
    /// Cases not yet resolved, closed or a false alarm.
    public var openCases = 0
    /// Warning slips, reminder letters and supervision orders still open.
    public var openSlips = 0
    /// The most severe (lowest) severity among the open, unmuted risk items and open cases.
    public var maxSeverity: Int?

    /// The object of `GET /api/v1/zones` (snake_case).
    public func json(geometry include: Bool) -> JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var o: JSONObject = [
            "code": .string(code), "name": .string(name), "level": .string(level), "parent": opt(parent),
            "unit": opt(unit), "worker": opt(worker),
            "counts": .object([
                "open_risk_items": .number(Double(openRiskItems)), "suppressed_risk_items": .number(Double(suppressedRiskItems)),
                "open_cases": .number(Double(openCases)), "open_slips": .number(Double(openSlips)),
                "max_severity": maxSeverity.map { .number(Double($0)) } ?? .null,
            ]),
        ]
        if include { o["geometry"] = geometry ?? .null }
        return .object(o)
    }
}

extension DisputeStore {
    /// Every zone of the grid with its live counts, aggregated up the hierarchy
    /// (a street counts what is open in its communities and grids). Items placed
    /// in a code that is not in the grid (`unzoned`, registry-only codes) count
    /// only for themselves and are not listed.
    public static func zoneSummaries(db: Database) throws -> [ZoneSummary] {
        var zones: [String: ZoneSummary] = [:]
        var order: [String] = []
        for row in try Row.fetchAll(db, sql: "SELECT code, name, level, parent, unit, worker, geometry FROM zones ORDER BY code") {
            let code: String = row["code"]
            order.append(code)
            zones[code] = ZoneSummary(code: code, name: row["name"], level: row["level"], parent: row["parent"], unit: row["unit"], worker: row["worker"],
                                      geometry: (row["geometry"] as String?).flatMap { try? JSONParser.parse($0) })
        }
        func addUp(_ zone: String, _ apply: (inout ZoneSummary) -> Void) {
            var code: String? = zone
            var seen = 0
            while let c = code, zones[c] != nil, seen < 16 {
                apply(&zones[c]!)
                code = zones[c]!.parent
                seen += 1
            }
        }
        func worst(_ a: Int?, _ b: Int) -> Int { min(a ?? b, b) }
        for row in try Row.fetchAll(db, sql: """
            SELECT zone, suppressed_by IS NOT NULL, COUNT(*), MIN(severity) FROM risk_items WHERE state = 'open' GROUP BY zone, suppressed_by IS NOT NULL
            """) {
            let zone: String = row[0], muted: Bool = row[1], n: Int = row[2], sev: Int = row[3]
            addUp(zone) { z in
                if muted { z.suppressedRiskItems += n } else { z.openRiskItems += n; z.maxSeverity = worst(z.maxSeverity, sev) }
            }
        }
        let closed = Case.State.allCases.filter { !$0.isOpen }.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        for row in try Row.fetchAll(db, sql: "SELECT zone, COUNT(*), MIN(severity) FROM cases WHERE state NOT IN (\(closed)) GROUP BY zone") {
            let zone: String = row[0], n: Int = row[1], sev: Int = row[2]
            addUp(zone) { z in z.openCases += n; z.maxSeverity = worst(z.maxSeverity, sev) }
        }
        for row in try Row.fetchAll(db, sql: "SELECT zone, COUNT(*) FROM slips WHERE state = 'open' GROUP BY zone") {
            let zone: String = row[0], n: Int = row[1]
            addUp(zone) { z in z.openSlips += n }
        }
        return order.compactMap { zones[$0] }
    }
}
