import Foundation

/// One feature of a zone file as read, before the cross-feature checks.
/// Fields are nil when absent or invalid (the problem is already recorded).
struct ZoneFeatureDraft: Sendable {
    var index: Int
    var code: String?
    var name: String?
    var level: ZoneLevel?
    var parent: String?
    var hasParentProperty = false
    var unit: String?
    var worker: String?
    /// WGS-84 geometry, nil if the geometry has any problem.
    var geometry: MultiPolygon?

    /// A complete zone, if every required field was valid.
    var zone: Zone? {
        guard let code, let name, let level, let geometry else { return nil }
        return Zone(code: code, name: name, level: level, parent: parent, unit: unit,
                    worker: worker, geometry: geometry)
    }
}

/// Reads an RFC 7946 FeatureCollection of zone features.
///
/// JSON is parsed by the hub's `JSONParser` (fast enough for 100 000 features of
/// 20 vertices in about a second, and its errors name line and column); every structural, property and ring
/// problem is recorded instead of thrown, so one pass reports everything.
/// Foreign members (such as `"_comment"`) are ignored, as RFC 7946 allows.
enum GeoJSONZoneReader {
    static func read(_ data: Data) -> (features: [ZoneFeatureDraft], problems: [ZoneProblem]) {
        let root: JSONValue
        do {
            root = try JSONParser.parse([UInt8](data))
        } catch {
            return ([], [fileProblem(.malformedJSON, "not valid JSON: \(error.message) at line \(error.line ?? 1), column \(error.column ?? 1)")])
        }
        guard case .object = root else {
            return ([], [fileProblem(.invalidStructure, "the top level must be a GeoJSON object")])
        }
        guard root["type"]?.stringValue == "FeatureCollection" else {
            return ([], [fileProblem(.invalidStructure,
                                     "the top level must have \"type\": \"FeatureCollection\"")])
        }
        guard let features = root["features"]?.arrayValue else {
            return ([], [fileProblem(.invalidStructure,
                                     "a FeatureCollection needs a \"features\" array")])
        }
        var drafts: [ZoneFeatureDraft] = []
        drafts.reserveCapacity(features.count)
        var problems: [ZoneProblem] = []
        for (i, f) in features.enumerated() {
            drafts.append(readFeature(f, index: i, problems: &problems))
        }
        return (drafts, problems)
    }

    private static func fileProblem(_ kind: ZoneProblem.Kind, _ message: String) -> ZoneProblem {
        ZoneProblem(featureIndex: nil, code: nil, kind: kind, message: message)
    }

    private static func readFeature(_ feature: JSONValue, index: Int,
                                    problems: inout [ZoneProblem]) -> ZoneFeatureDraft {
        var draft = ZoneFeatureDraft(index: index)
        func report(_ kind: ZoneProblem.Kind, _ message: String) {
            problems.append(ZoneProblem(featureIndex: index, code: draft.code, kind: kind, message: message))
        }
        guard feature.objectValue != nil, feature["type"]?.stringValue == "Feature" else {
            report(.invalidStructure, "is not a GeoJSON Feature object")
            return draft
        }
        // Properties first, so geometry problems can name the code.
        guard let props = feature["properties"]?.objectValue else {
            report(.missingProperty, "has no \"properties\" object")
            _ = readGeometry(feature["geometry"], crs: .wgs84, report: report)  // report its problems too
            return draft
        }
        func string(_ key: String, required: Bool) -> String? {
            guard let value = props[key], !value.isNull else {
                if required { report(.missingProperty, "property \"\(key)\" is missing") }
                return nil
            }
            guard let s = value.stringValue else {
                report(.invalidProperty, "property \"\(key)\" must be a string, not \(value.typeName)")
                return nil
            }
            if s.trimmingCharacters(in: .whitespaces).isEmpty {
                report(.invalidProperty, "property \"\(key)\" is empty")
                return nil
            }
            return s
        }
        draft.code = string("code", required: true)
        draft.name = string("name", required: true)
        if let raw = string("level", required: true) {
            if let level = ZoneLevel(rawValue: raw) {
                draft.level = level
            } else {
                report(.invalidProperty,
                       "property \"level\" is \"\(raw)\"; expected district, street, community or grid")
            }
        }
        if let value = props["parent"], !value.isNull { draft.hasParentProperty = true }
        draft.parent = string("parent", required: draft.level.map { $0 != .district } ?? false)
        draft.unit = string("unit", required: false)
        draft.worker = string("worker", required: false)
        var crs = CoordinateSystem.wgs84
        if let raw = string("crs", required: false) {
            if let c = CoordinateSystem(rawValue: raw.lowercased()) {
                crs = c
            } else {
                report(.invalidProperty, "property \"crs\" is \"\(raw)\"; expected wgs84, gcj02 or bd09")
            }
        }
        draft.geometry = readGeometry(feature["geometry"], crs: crs, report: report)
        return draft
    }

    private static func readGeometry(
        _ node: JSONValue?, crs: CoordinateSystem, report: (ZoneProblem.Kind, String) -> Void
    ) -> MultiPolygon? {
        guard let geometry = node, geometry.objectValue != nil else {
            report(.unsupportedGeometry, "has no geometry object")
            return nil
        }
        let type = geometry["type"]?.stringValue ?? "<none>"
        let polygonsRaw: [JSONValue]
        switch type {
        case "Polygon", "MultiPolygon":
            guard let coordinates = geometry["coordinates"]?.arrayValue else {
                report(.invalidStructure, "\(type) has no \"coordinates\" array")
                return nil
            }
            polygonsRaw = type == "Polygon" ? [.array(coordinates)] : coordinates
        default:
            report(.unsupportedGeometry, "geometry type \(type) is not supported; use Polygon or MultiPolygon")
            return nil
        }
        if polygonsRaw.isEmpty {
            report(.invalidStructure, "MultiPolygon has no polygons")
            return nil
        }
        let multi = type == "MultiPolygon"
        var ok = true
        var polygons: [Polygon] = []
        polygons.reserveCapacity(polygonsRaw.count)
        for (pi, polyNode) in polygonsRaw.enumerated() {
            let prefix = multi ? "polygon \(pi) " : ""
            guard let ringsRaw = polyNode.arrayValue, !ringsRaw.isEmpty else {
                report(.invalidStructure, multi ? "polygon \(pi) has no rings" : "Polygon has no rings")
                ok = false
                continue
            }
            var rings: [[GeoPosition]] = []
            rings.reserveCapacity(ringsRaw.count)
            for (ri, ringNode) in ringsRaw.enumerated() {
                guard let ring = readRing(ringNode, name: "\(prefix)ring \(ri)", crs: crs, report: report) else {
                    ok = false
                    continue
                }
                rings.append(ring)
            }
            polygons.append(Polygon(rings: rings))
        }
        return ok ? MultiPolygon(polygons) : nil
    }

    /// The most positions one ring may have (a district's grid cells have tens to hundreds).
    static let maxRingPositions = 20_000

    /// One ring: positions valid, at least 4, closed, simple. Converted to WGS-84.
    private static func readRing(
        _ node: JSONValue, name: String, crs: CoordinateSystem, report: (ZoneProblem.Kind, String) -> Void
    ) -> [GeoPosition]? {
        guard let raw = node.arrayValue else {
            report(.invalidStructure, "\(name) is not an array of positions")
            return nil
        }
        // The check for self-intersection compares edges pairwise where they overlap in
        // longitude: a comb-shaped ring of 80 000 positions took 14 s, a 25 MB file half an hour.
        if raw.count > maxRingPositions {
            report(.tooManyPositions, "\(name) has \(raw.count) positions; at most \(maxRingPositions) per ring (simplify the shape, e.g. with mapshaper or QGIS)")
            return nil
        }
        var ring: [GeoPosition] = []
        ring.reserveCapacity(raw.count)
        for (k, posNode) in raw.enumerated() {
            guard let pos = posNode.arrayValue, pos.count >= 2,
                  let lon = number(pos[0]), let lat = number(pos[1]) else {
                report(.invalidCoordinate, "position \(k) of \(name) is not a [lon, lat] pair of numbers")
                return nil
            }
            guard lon.isFinite, lat.isFinite, (-180...180).contains(lon), (-90...90).contains(lat) else {
                report(.invalidCoordinate,
                       "position \(k) of \(name) is out of range: [\(lon), \(lat)] (lon -180…180, lat -90…90)")
                return nil
            }
            ring.append(GeoPosition(lon: lon, lat: lat))
        }
        if ring.count < 4 {
            report(.tooFewPositions, "\(name) has \(ring.count) positions; a ring needs at least 4 (closed)")
            return nil
        }
        if ring.first != ring.last {
            report(.unclosedRing, "\(name) is not closed")
            return nil
        }
        if GeoMath.openRing(ring).count < 3 {
            report(.tooFewPositions, "\(name) has fewer than 3 distinct positions")
            return nil
        }
        if let (i, j) = GeoMath.selfIntersection(ring) {
            report(.selfIntersection, "\(name) intersects itself (edge \(i) meets edge \(j))")
            return nil
        }
        if crs != .wgs84 {
            ring = ring.map {
                let w = CoordinateTransform.toWGS84(GeoPoint(lat: $0.lat, lon: $0.lon, crs: crs))
                return GeoPosition(lon: w.lon, lat: w.lat)
            }
        }
        return ring
    }

    /// A coordinate: a JSON number, or the string "NaN"/"Infinity" some
    /// exporters write (accepted here only to be reported as out of range).
    @inline(__always)
    private static func number(_ node: JSONValue) -> Double? {
        switch node {
        case .number(let d): return d
        case .string(let s): return Double(s).flatMap { $0.isFinite ? nil : $0 }
        default: return nil
        }
    }
}
