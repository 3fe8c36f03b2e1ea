import Foundation

/// A GeoJSON position: longitude then latitude, in degrees (WGS-84 unless
/// stated otherwise). Kept apart from `GeoPoint`, which is `lat, lon` plus a
/// CRS, because zone geometry is always WGS-84 and stored in GeoJSON order.
public struct GeoPosition: Sendable, Hashable, Codable {
    /// Longitude in degrees, first as in GeoJSON.
    public var lon: Double
    /// Latitude in degrees.
    public var lat: Double

    /// A position in GeoJSON order (longitude first).
    public init(lon: Double, lat: Double) {
        self.lon = lon
        self.lat = lat
    }

    /// The same place as a WGS-84 `GeoPoint`.
    public var point: GeoPoint { GeoPoint(lat: lat, lon: lon, crs: .wgs84) }
}

/// A longitude/latitude box. `contains` and `intersects` include the edges.
public struct GeoBoundingBox: Sendable, Hashable, Codable {
    /// Western edge, degrees.
    public var minLon: Double
    /// Southern edge, degrees.
    public var minLat: Double
    /// Eastern edge, degrees.
    public var maxLon: Double
    /// Northern edge, degrees.
    public var maxLat: Double

    /// A box from its four edges.
    public init(minLon: Double, minLat: Double, maxLon: Double, maxLat: Double) {
        self.minLon = minLon
        self.minLat = minLat
        self.maxLon = maxLon
        self.maxLat = maxLat
    }

    /// An empty box (min > max) that any `union` replaces.
    public static let empty = GeoBoundingBox(
        minLon: .infinity, minLat: .infinity, maxLon: -.infinity, maxLat: -.infinity)

    /// Whether the box holds no point (`empty`, or a union of nothing).
    public var isEmpty: Bool { minLon > maxLon || minLat > maxLat }

    /// Whether `p` is inside or on the edge: the cheap test before a polygon test.
    public func contains(_ p: GeoPosition) -> Bool {
        p.lon >= minLon && p.lon <= maxLon && p.lat >= minLat && p.lat <= maxLat
    }

    /// Whether the boxes share a point (edges included): the R-tree's search test.
    public func intersects(_ o: GeoBoundingBox) -> Bool {
        minLon <= o.maxLon && o.minLon <= maxLon && minLat <= o.maxLat && o.minLat <= maxLat
    }

    /// The smallest box holding both.
    public func union(_ o: GeoBoundingBox) -> GeoBoundingBox {
        GeoBoundingBox(minLon: Swift.min(minLon, o.minLon), minLat: Swift.min(minLat, o.minLat),
                       maxLon: Swift.max(maxLon, o.maxLon), maxLat: Swift.max(maxLat, o.maxLat))
    }

    /// The box grown by `degrees` on every side.
    public func expanded(by degrees: Double) -> GeoBoundingBox {
        GeoBoundingBox(minLon: minLon - degrees, minLat: minLat - degrees,
                       maxLon: maxLon + degrees, maxLat: maxLat + degrees)
    }

    /// The box around a list of positions.
    public init<S: Sequence>(positions: S) where S.Element == GeoPosition {
        var b = GeoBoundingBox.empty
        for p in positions {
            b.minLon = Swift.min(b.minLon, p.lon); b.maxLon = Swift.max(b.maxLon, p.lon)
            b.minLat = Swift.min(b.minLat, p.lat); b.maxLat = Swift.max(b.maxLat, p.lat)
        }
        self = b
    }
}

/// A polygon: `rings[0]` is the outer ring, the others are holes. Rings are
/// lists of positions as in GeoJSON (normally closed: last == first); either
/// winding is accepted.
public struct Polygon: Sendable, Hashable {
    /// The outer ring first, then the holes, as GeoJSON lists them.
    public var rings: [[GeoPosition]]

    /// A polygon from its rings as stored.
    public init(rings: [[GeoPosition]]) { self.rings = rings }

    /// A polygon from an outer ring and holes.
    public init(outer: [GeoPosition], holes: [[GeoPosition]] = []) {
        self.rings = [outer] + holes
    }

    /// Convenience: rings as `[lon, lat]` pairs, the GeoJSON way.
    public init(lonLat rings: [[(Double, Double)]]) {
        self.rings = rings.map { $0.map { GeoPosition(lon: $0.0, lat: $0.1) } }
    }

    /// The outer boundary (empty for a polygon without rings).
    public var outer: [GeoPosition] { rings.first ?? [] }
    /// The holes: points inside them are outside the polygon.
    public var holes: ArraySlice<[GeoPosition]> { rings.dropFirst() }

    /// The outer ring's bounding box.
    public var boundingBox: GeoBoundingBox { GeoBoundingBox(positions: outer) }

    /// Area in m²: outer ring minus holes, on a local equirectangular projection.
    public var areaSquareMetres: Double {
        guard let first = outer.first else { return 0 }
        let proj = LocalProjection(origin: first)
        var a = abs(proj.ringArea(outer))
        for h in holes { a -= abs(proj.ringArea(h)) }
        return Swift.max(0, a)
    }

    /// Whether the closed polygon contains `p`: a point on the outer ring or
    /// on a hole's ring counts as inside, a point strictly inside a hole does not.
    public func contains(_ p: GeoPosition) -> Bool {
        var inside = false
        for ring in rings {
            switch GeoMath.ringLocate(p, ring) {
            case .boundary: return true
            case .inside: inside.toggle()
            case .outside: break
            }
        }
        return inside
    }
}

/// One or more polygons: the geometry of a zone (a GeoJSON `Polygon` becomes
/// a one-element `MultiPolygon`).
public struct MultiPolygon: Sendable, Hashable {
    /// The parts, in file order.
    public var polygons: [Polygon]

    /// A multipolygon of `polygons`.
    public init(_ polygons: [Polygon]) { self.polygons = polygons }

    /// The box holding every part.
    public var boundingBox: GeoBoundingBox {
        polygons.reduce(GeoBoundingBox.empty) { $0.union($1.boundingBox) }
    }

    /// The sum of the parts' areas, m².
    public var areaSquareMetres: Double { polygons.reduce(0) { $0 + $1.areaSquareMetres } }

    /// Whether any polygon contains `p` (boundary included).
    public func contains(_ p: GeoPosition) -> Bool { polygons.contains { $0.contains(p) } }

    /// Number of positions over all rings.
    public var positionCount: Int { polygons.reduce(0) { $0 + $1.rings.reduce(0) { $0 + $1.count } } }
}

// MARK: - Geometry helpers (internal)

/// Mean earth radius in metres (IUGG), used for distances and areas.
let earthRadiusMetres = 6_371_008.8

/// A local equirectangular projection to metres around an origin: good to
/// well under 1 % over a district, and cheap.
struct LocalProjection: Sendable {
    let lon0: Double
    let lat0: Double
    let kx: Double
    let ky: Double

    init(origin: GeoPosition) {
        lon0 = origin.lon
        lat0 = origin.lat
        ky = earthRadiusMetres * .pi / 180
        kx = ky * cos(origin.lat * .pi / 180)
    }

    @inline(__always) func x(_ p: GeoPosition) -> Double { (p.lon - lon0) * kx }
    @inline(__always) func y(_ p: GeoPosition) -> Double { (p.lat - lat0) * ky }

    /// Signed shoelace area in m² (positive counter-clockwise).
    func ringArea(_ ring: [GeoPosition]) -> Double {
        guard ring.count >= 3 else { return 0 }
        var s = 0.0
        var prev = ring[ring.count - 1]
        for p in ring {
            s += x(prev) * y(p) - x(p) * y(prev)
            prev = p
        }
        return s / 2
    }

    func project(_ ring: [GeoPosition]) -> [SIMD2<Double>] {
        ring.map { SIMD2(x($0), y($0)) }
    }
}

enum RingLocation { case inside, outside, boundary }

enum GeoMath {
    /// Even-odd location of `p` against one ring (closed or not), with exact
    /// boundary detection: the same cross product decides "on the edge" and
    /// "crossing to the right", so the answer is consistent.
    static func ringLocate(_ p: GeoPosition, _ ring: [GeoPosition]) -> RingLocation {
        let n = ring.count
        guard n >= 2 else { return .outside }
        var inside = false
        var a = ring[n - 1]
        for b in ring {
            defer { a = b }
            if p.lat < Swift.min(a.lat, b.lat) || p.lat > Swift.max(a.lat, b.lat) { continue }
            let cross = (b.lon - a.lon) * (p.lat - a.lat) - (p.lon - a.lon) * (b.lat - a.lat)
            if cross == 0 && p.lon >= Swift.min(a.lon, b.lon) && p.lon <= Swift.max(a.lon, b.lon) {
                return .boundary
            }
            if (a.lat > p.lat) != (b.lat > p.lat) && (cross > 0) == (b.lat > a.lat) {
                inside.toggle()
            }
        }
        return inside ? .inside : .outside
    }

    @inline(__always)
    static func orient(_ a: SIMD2<Double>, _ b: SIMD2<Double>, _ c: SIMD2<Double>) -> Double {
        (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
    }

    @inline(__always)
    static func onSegment(_ a: SIMD2<Double>, _ b: SIMD2<Double>, _ p: SIMD2<Double>) -> Bool {
        p.x >= Swift.min(a.x, b.x) && p.x <= Swift.max(a.x, b.x)
            && p.y >= Swift.min(a.y, b.y) && p.y <= Swift.max(a.y, b.y)
    }

    /// Whether closed segments ab and cd share at least one point.
    static func segmentsIntersect(_ a: SIMD2<Double>, _ b: SIMD2<Double>,
                                  _ c: SIMD2<Double>, _ d: SIMD2<Double>) -> Bool {
        let d1 = orient(c, d, a), d2 = orient(c, d, b)
        let d3 = orient(a, b, c), d4 = orient(a, b, d)
        if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
            return true
        }
        if d1 == 0 && onSegment(c, d, a) { return true }
        if d2 == 0 && onSegment(c, d, b) { return true }
        if d3 == 0 && onSegment(a, b, c) { return true }
        if d4 == 0 && onSegment(a, b, d) { return true }
        return false
    }

    /// Distance in metres from `p` to segment ab (all in projected metres).
    static func distance(_ p: SIMD2<Double>, _ a: SIMD2<Double>, _ b: SIMD2<Double>) -> Double {
        let ab = b - a
        let len2 = (ab * ab).sum()
        var t = len2 > 0 ? ((p - a) * ab).sum() / len2 : 0
        t = Swift.min(1, Swift.max(0, t))
        let q = a + ab * t
        let d = p - q
        return (d * d).sum().squareRoot()
    }

    /// Removes a closing duplicate and consecutive duplicates: the ring as a
    /// cycle of distinct consecutive vertices.
    static func openRing(_ ring: [GeoPosition]) -> [GeoPosition] {
        var out: [GeoPosition] = []
        out.reserveCapacity(ring.count)
        for p in ring where out.last != p { out.append(p) }
        while out.count > 1 && out.first == out.last { out.removeLast() }
        return out
    }

    /// The first pair of non-adjacent edges of a ring that touch or cross, or
    /// nil if the ring is simple. Edges are swept in order of their minimum x,
    /// so only edges whose x-ranges overlap are compared (about n log n for
    /// ordinary rings). Adjacent edges are reported only if they fold back on
    /// each other (a spike).
    static func selfIntersection(_ ringIn: [GeoPosition]) -> (Int, Int)? {
        let ring = openRing(ringIn)
        let n = ring.count
        guard n >= 3, let first = ring.first else { return nil }
        let proj = LocalProjection(origin: first)
        let pts = proj.project(ring)
        var order = Array(0..<n)
        @inline(__always) func minX(_ i: Int) -> Double { Swift.min(pts[i].x, pts[(i + 1) % n].x) }
        @inline(__always) func maxX(_ i: Int) -> Double { Swift.max(pts[i].x, pts[(i + 1) % n].x) }
        let mins = (0..<n).map(minX)
        let maxs = (0..<n).map(maxX)
        order.sort { mins[$0] < mins[$1] }
        for (k, i) in order.enumerated() {
            let a = pts[i], b = pts[(i + 1) % n]
            let iMinY = Swift.min(a.y, b.y), iMaxY = Swift.max(a.y, b.y)
            var m = k + 1
            while m < n {
                let j = order[m]
                m += 1
                if mins[j] > maxs[i] { break }
                let c = pts[j], d = pts[(j + 1) % n]
                if Swift.max(c.y, d.y) < iMinY || Swift.min(c.y, d.y) > iMaxY { continue }
                let adjacentNext = (i + 1) % n == j
                let adjacentPrev = (j + 1) % n == i
                if adjacentNext || adjacentPrev {
                    // Shared vertex is fine; a fold back (collinear overlap) is not.
                    let (shared, p, q) = adjacentNext ? (b, a, d) : (a, b, c)
                    if n > 3, orient(p, shared, q) == 0,
                       ((p - shared) * (q - shared)).sum() > 0 {
                        return (Swift.min(i, j), Swift.max(i, j))
                    }
                    continue
                }
                if segmentsIntersect(a, b, c, d) { return (Swift.min(i, j), Swift.max(i, j)) }
            }
        }
        return nil
    }

    /// Area in m² of the intersection of two polygons (holes honoured).
    ///
    /// Uses the signed-triangle decomposition: the indicator of a ring is the
    /// signed sum of the triangles (v0, vi, vi+1), so the overlap area is a
    /// signed sum of areas of (ring ∩ triangle), each computed by clipping
    /// the (possibly concave) ring against the convex triangle
    /// (Sutherland–Hodgman, which is exact in area for a convex clip window).
    /// Shared borders contribute zero.
    static func intersectionArea(_ p: Polygon, _ q: Polygon, _ proj: LocalProjection) -> Double {
        var total = 0.0
        for (ip, rp) in p.rings.enumerated() {
            let a = proj.project(openRing(rp))
            guard a.count >= 3 else { continue }
            let aCCW = signedArea(a) >= 0 ? a : a.reversed()
            for (iq, rq) in q.rings.enumerated() {
                let b = proj.project(openRing(rq))
                guard b.count >= 3 else { continue }
                let sign: Double = (ip == 0) == (iq == 0) ? 1 : -1
                total += sign * ringIntersectionArea(aCCW, b)
            }
        }
        return total
    }

    static func signedArea(_ r: [SIMD2<Double>]) -> Double {
        var s = 0.0
        var prev = r[r.count - 1]
        for p in r {
            s += prev.x * p.y - p.x * prev.y
            prev = p
        }
        return s / 2
    }

    /// Area of (ring a ∩ ring b); `a` must be counter-clockwise.
    static func ringIntersectionArea(_ a: [SIMD2<Double>], _ b: [SIMD2<Double>]) -> Double {
        let orientationB: Double = signedArea(b) >= 0 ? 1 : -1
        var aMin = a[0], aMax = a[0]
        for v in a { aMin = pointwiseMin(aMin, v); aMax = pointwiseMax(aMax, v) }
        let o = b[0]
        var total = 0.0
        for i in 1..<(b.count - 1) {
            let t1 = b[i], t2 = b[i + 1]
            let s = orient(o, t1, t2)
            if s == 0 { continue }
            let tMin = pointwiseMin(o, pointwiseMin(t1, t2)), tMax = pointwiseMax(o, pointwiseMax(t1, t2))
            if any(tMax .< aMin) || any(tMin .> aMax) { continue }
            let tri = s > 0 ? [o, t1, t2] : [o, t2, t1]
            let clipped = clip(a, by: tri)
            guard clipped.count >= 3 else { continue }
            total += (s > 0 ? 1 : -1) * orientationB * signedArea(clipped)
        }
        return total
    }

    /// Sutherland–Hodgman: `subject` clipped by the convex CCW polygon `window`.
    static func clip(_ subject: [SIMD2<Double>], by window: [SIMD2<Double>]) -> [SIMD2<Double>] {
        var output = subject
        for i in 0..<window.count {
            guard !output.isEmpty else { break }
            let e1 = window[i], e2 = window[(i + 1) % window.count]
            let input = output
            output = []
            output.reserveCapacity(input.count + 4)
            var s = input[input.count - 1]
            var sIn = orient(e1, e2, s) >= 0
            for e in input {
                let eIn = orient(e1, e2, e) >= 0
                if eIn {
                    if !sIn { output.append(lineIntersection(s, e, e1, e2)) }
                    output.append(e)
                } else if sIn {
                    output.append(lineIntersection(s, e, e1, e2))
                }
                s = e
                sIn = eIn
            }
        }
        return output
    }

    static func lineIntersection(_ p1: SIMD2<Double>, _ p2: SIMD2<Double>,
                                 _ q1: SIMD2<Double>, _ q2: SIMD2<Double>) -> SIMD2<Double> {
        let r = p2 - p1, s = q2 - q1
        let denom = r.x * s.y - r.y * s.x
        if denom == 0 { return p1 }
        let t = ((q1.x - p1.x) * s.y - (q1.y - p1.y) * s.x) / denom
        return p1 + r * t
    }
}
