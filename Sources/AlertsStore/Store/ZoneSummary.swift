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

    /// A zone as the store holds it, its counts zero.
    public init(code: String, name: String, level: String, parent: String?, unit: String?, worker: String?, geometry: JSONValue?) {
        self.code = code
        self.name = name
        self.level = level
        self.parent = parent
        self.unit = unit
        self.worker = worker
        self.geometry = geometry
    }

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

extension ZoneSummary {
    /// Open risk items of one zone, muted or not, with the most severe (lowest) severity.
    public typealias OpenItems = (zone: String, muted: Bool, count: Int, severity: Int)
    /// Open cases of one zone with the most severe severity.
    public typealias OpenCases = (zone: String, count: Int, severity: Int)

    /// The zones (in their order, counts zero) with the open counts added to each zone and
    /// every zone above it (a street counts what is open in its communities and grids). A
    /// count of a code that is not one of `zones` counts nowhere. Both stores read the
    /// counts with one grouped query each and aggregate them here.
    public static func aggregate(zones list: [ZoneSummary], items: [OpenItems], cases: [OpenCases],
                                 slips: [(zone: String, count: Int)]) -> [ZoneSummary] {
        var zones: [String: ZoneSummary] = [:]
        for z in list { zones[z.code] = z }
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
        for i in items {
            addUp(i.zone) { z in
                if i.muted { z.suppressedRiskItems += i.count } else { z.openRiskItems += i.count; z.maxSeverity = worst(z.maxSeverity, i.severity) }
            }
        }
        for c in cases {
            addUp(c.zone) { z in z.openCases += c.count; z.maxSeverity = worst(z.maxSeverity, c.severity) }
        }
        for s in slips {
            addUp(s.zone) { z in z.openSlips += s.count }
        }
        return list.compactMap { zones[$0.code] }
    }
}

extension DisputeStore {
    /// Every zone of the grid with its live counts, aggregated up the hierarchy
    /// (a street counts what is open in its communities and grids). Items placed
    /// in a code that is not in the grid (`unzoned`, registry-only codes) count
    /// only for themselves and are not listed.
    public static func zoneSummaries(db: Database) throws -> [ZoneSummary] {
        let zones = try Row.fetchAll(db, sql: "SELECT code, name, level, parent, unit, worker, geometry FROM zones ORDER BY code").map { row in
            ZoneSummary(code: row["code"], name: row["name"], level: row["level"], parent: row["parent"], unit: row["unit"], worker: row["worker"],
                        geometry: (row["geometry"] as String?).flatMap { try? JSONParser.parse($0) })
        }
        let items = try Row.fetchAll(db, sql: """
            SELECT zone, suppressed_by IS NOT NULL, COUNT(*), MIN(severity) FROM risk_items WHERE state = 'open' GROUP BY zone, suppressed_by IS NOT NULL
            """).map { row -> ZoneSummary.OpenItems in (row[0], row[1], row[2], row[3]) }
        let closed = Case.State.allCases.filter { !$0.isOpen }.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let cases = try Row.fetchAll(db, sql: "SELECT zone, COUNT(*), MIN(severity) FROM cases WHERE state NOT IN (\(closed)) GROUP BY zone")
            .map { row -> ZoneSummary.OpenCases in (row[0], row[1], row[2]) }
        let slips = try Row.fetchAll(db, sql: "SELECT zone, COUNT(*) FROM slips WHERE state = 'open' GROUP BY zone")
            .map { row -> (zone: String, count: Int) in (row[0], row[1]) }
        return ZoneSummary.aggregate(zones: zones, items: items, cases: cases, slips: slips)
    }
}
