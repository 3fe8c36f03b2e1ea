import Foundation

/// Where a point is in the grid hierarchy: the most specific zone that
/// contains it and the chain of enclosing zones from the district down.
///
/// A value type; its contents live in one shared immutable object made when
/// the index is built, so `ZoneIndex.locate` returns it without allocating
/// and with a single reference-count operation.
public struct ZoneLocation: Sendable, Hashable, CustomStringConvertible {
    private final class Storage: Sendable {
        let zone: String
        let chain: [String]
        let zones: [Zone]
        let level: ZoneLevel?
        init(zone: String, chain: [String], zones: [Zone]) {
            self.zone = zone
            self.chain = chain
            self.zones = zones
            self.level = zones.last?.level
        }
    }

    private let storage: Storage

    /// The `zone` of a point outside every zone.
    public static let unzonedCode = "unzoned"

    /// The location of a point in no zone.
    public static let unzoned = ZoneLocation(zone: unzonedCode, chain: [], zones: [])

    /// - Parameters:
    ///   - zone: the most specific code, or `"unzoned"`.
    ///   - chain: codes from the district down to `zone`.
    ///   - zones: the zones of `chain`, in the same order.
    public init(zone: String, chain: [String], zones: [Zone]) {
        storage = Storage(zone: zone, chain: chain, zones: zones)
    }

    /// The code of the most specific zone containing the point, or `"unzoned"`.
    public var zone: String { storage.zone }
    /// Codes from the district down to `zone` (e.g. district, street,
    /// community, grid); empty when unzoned.
    public var chain: [String] { storage.chain }
    /// The zones of `chain`, in the same order.
    public var zones: [Zone] { storage.zones }
    /// The level of `zone`, nil when unzoned.
    public var level: ZoneLevel? { storage.level }
    /// Whether a zone contains the point.
    public var isZoned: Bool { storage.level != nil }
    /// The zone named by `zone`, nil when unzoned.
    public var mostSpecific: Zone? { storage.zones.last }
    /// The enclosing zone at `level` (e.g. the street, for routing), if any.
    public func zone(at level: ZoneLevel) -> Zone? { storage.zones.first { $0.level == level } }

    /// Equal when they name the same zones (shared storage short-cuts the comparison).
    public static func == (a: ZoneLocation, b: ZoneLocation) -> Bool {
        a.storage === b.storage || (a.zone == b.zone && a.chain == b.chain && a.zones == b.zones)
    }

    /// Hashes the zone chain, consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(chain) }

    /// `540102 > 540102-001 > 540102-001-001 > 540102-001-001-01`, or `unzoned`.
    public var description: String { isZoned ? chain.joined(separator: " > ") : zone }
}

/// All zones of a file, indexed for point lookups.
///
/// Each level has its own STR-packed `RTree` over the bounding boxes of its
/// polygons; candidates are confirmed by an exact even-odd point-in-polygon
/// test over flat coordinate arrays (holes included). The polygons of a
/// level are stored in the tree's leaf order, so a lookup touches few cache
/// lines. A lookup allocates nothing: it returns a `ZoneLocation`
/// precomputed per zone.
///
/// **Boundary rule.** Zones are closed sets: a point exactly on a zone's
/// outer ring, on one of its vertices or on the ring of one of its holes
/// counts as inside that zone. `locate` returns the most specific level that
/// has a zone containing the point; when several zones of that level contain
/// it (a shared border or vertex), the one with the lexicographically
/// smallest `code` (Swift `String` `<`) wins. The result therefore does not
/// depend on file order, on the tree or on the query order. Points in no
/// grid fall back to the containing community, street or district, in that
/// order, and to `"unzoned"` when no zone contains them.
///
/// Coordinates are compared in fixed point at 1e-7 degree (about 1.1 cm,
/// as OpenStreetMap stores them): vertices and the query point are rounded
/// to that grid first, so "exactly on the border" means within about half a
/// centimetre, and the test itself is exact integer arithmetic.
public struct ZoneIndex: Sendable {
    /// All zones, sorted by code; a zone's position here is its id.
    public let zones: [Zone]
    private let byCode: [String: Int]
    private let childrenByCode: [String: [Int]]
    private let locations: [ZoneLocation]
    private let store: ZoneGeometryStore

    /// Indexes zones. Does not validate them: use `ZoneFile.load` for files.
    /// If two zones share a code, `zone(code:)` returns the first in code order.
    public init(zones input: [Zone]) {
        let sorted = input.enumerated().sorted { a, b in
            a.element.code != b.element.code ? a.element.code < b.element.code : a.offset < b.offset
        }.map(\.element)
        zones = sorted
        var byCode: [String: Int] = [:]
        byCode.reserveCapacity(sorted.count)
        for (i, z) in sorted.enumerated() where byCode[z.code] == nil { byCode[z.code] = i }
        self.byCode = byCode
        var children: [String: [Int]] = [:]
        for (i, z) in sorted.enumerated() {
            if let p = z.parent { children[p, default: []].append(i) }
        }
        childrenByCode = children

        // Chains by parent links, district first; guarded against cycles.
        locations = sorted.map { zone in
            var chain: [Zone] = [zone]
            var seen: Set<String> = [zone.code]
            var current = zone
            while let p = current.parent, let pi = byCode[p], !seen.contains(p), chain.count < 16 {
                current = sorted[pi]
                seen.insert(p)
                chain.append(current)
            }
            chain.reverse()
            return ZoneLocation(zone: zone.code, chain: chain.map(\.code), zones: chain)
        }
        store = ZoneGeometryStore(sorted)
    }

    // MARK: - Queries

    /// The most specific zone containing `point` (converted to WGS-84 first)
    /// and its chain; see the type's boundary rule. Invalid points are unzoned.
    public func locate(_ point: GeoPoint) -> ZoneLocation {
        let p = point.crs == .wgs84 ? point : CoordinateTransform.toWGS84(point)
        guard p.isValid else { return .unzoned }
        let id = store.zoneID(x: p.lon, y: p.lat)
        return id < 0 ? .unzoned : locations[id]
    }

    /// The id (position in `zones`) of the zone `locate` would return, or
    /// nil when unzoned: the cheapest lookup, for callers that keep their own
    /// per-zone tables.
    public func zoneID(for point: GeoPoint) -> Int? {
        let p = point.crs == .wgs84 ? point : CoordinateTransform.toWGS84(point)
        guard p.isValid else { return nil }
        let id = store.zoneID(x: p.lon, y: p.lat)
        return id < 0 ? nil : id
    }

    /// The same answer as `locate`, found by testing the point exactly
    /// against every polygon of every zone, with no bounding-box or tree
    /// pruning at all. For benchmarks and tests: O(total vertices) per call.
    public func locateByScan(_ point: GeoPoint) -> ZoneLocation {
        let p = CoordinateTransform.toWGS84(point)
        guard p.isValid else { return .unzoned }
        let id = store.zoneIDByScan(x: p.lon, y: p.lat)
        return id < 0 ? .unzoned : locations[id]
    }

    /// The zone with this code, if any.
    public func zone(code: String) -> Zone? { byCode[code].map { zones[$0] } }

    /// The precomputed location (chain) of a zone, as `locate` returns it.
    public func location(code: String) -> ZoneLocation? { byCode[code].map { locations[$0] } }

    /// The zones whose `parent` is `code`, sorted by code.
    public func children(of code: String) -> [Zone] {
        (childrenByCode[code] ?? []).map { zones[$0] }
    }

    /// The zones of one level, sorted by code.
    public func zones(at level: ZoneLevel) -> [Zone] { zones.filter { $0.level == level } }

    /// Number of zones per level (levels with none are absent).
    public var countsByLevel: [ZoneLevel: Int] {
        zones.reduce(into: [:]) { $0[$1.level, default: 0] += 1 }
    }

    /// Number of zones of `level`.
    public func count(at level: ZoneLevel) -> Int { zones.lazy.filter { $0.level == level }.count }

    /// Number of polygons indexed (a MultiPolygon counts each part).
    public var polygonCount: Int { store.polygonCount }

    /// Approximate bytes of the lookup structures: the flat coordinate and
    /// offset arrays and the trees (not the `Zone` values and their strings).
    public var memoryBytes: Int { store.memoryBytes }
}

/// The flat, immutable lookup structures of a `ZoneIndex`.
///
/// **Fixed-point coordinates.** Vertices and query points are stored as
/// integers of 1e-7 degree (about 1.1 cm), the representation OpenStreetMap
/// uses. It halves the memory a lookup touches compared with `Double` (the
/// 100 000-polygon lookup is bound by cache misses), and it makes the
/// point-in-polygon test exact integer arithmetic: a vertex shared by two
/// zones is the same integer in both, so borders never leave gaps or
/// overlaps, and "on the border" is decided exactly (after rounding the
/// query point to the same 1e-7 degree grid).
///
/// Layout: polygon `p` has a header (vertex range, ring range, zone id);
/// ring `r` owns vertices `ringVertexStart[r] ..< ringVertexStart[r+1]`
/// (closed: the last repeats the first); vertex `v` is `coords[2v], coords[2v+1]`
/// (lon, lat). Polygons are numbered level by level, deepest level first,
/// each level in its tree's leaf order, so leaf entry `k` of a tree is
/// polygon `polygonBase + k` and neighbours sit close in memory.
///
/// The arrays live in raw buffers, so the hot path is plain pointer
/// arithmetic with no bounds checks, reference counting or dynamic dispatch.
/// `@unchecked Sendable` is sound: nothing is written after `init`, and
/// `deinit` frees the buffers.
final class ZoneGeometryStore: @unchecked Sendable {
    /// 1e-7 degree per unit.
    static let scale = 10_000_000.0

    struct PolygonHeader {
        var vertexStart: Int32
        var vertexEnd: Int32
        var ringStart: Int32
        var ringEnd: Int32
        var zone: Int32
        var level: Int32
    }

    /// One STR tree in fixed point. Nodes `0 ..< leafCount` are the leaf
    /// entries (boxes of polygons `polygonBase + k`); an inner node's
    /// children are the nodes `first ..< first + count`.
    struct Tree {
        var boxes: UnsafeMutableBufferPointer<Int32>
        var first: UnsafeMutableBufferPointer<Int32>
        var count: UnsafeMutableBufferPointer<Int32>
        var leafCount: Int
        var polygonBase: Int
        var root: Int
    }

    private let coords: UnsafeMutableBufferPointer<Int32>
    private let ringVertexStart: UnsafeMutableBufferPointer<Int32>
    private let headers: UnsafeMutableBufferPointer<PolygonHeader>
    /// Trees ordered grid, community, street, district (the lookup order).
    private let trees: UnsafeMutableBufferPointer<Tree>
    private let stackCapacity: Int
    let polygonCount: Int

    @inline(__always) static func fixed(_ degrees: Double) -> Int32 {
        Int32((degrees * scale).rounded())
    }

    init(_ zones: [Zone]) {
        struct Item { var zone: Int32; var polygon: [[SIMD2<Int32>]]; var box: GeoBoundingBox }
        var perLevel: [[Item]] = Array(repeating: [], count: ZoneLevel.allCases.count)
        for (zi, zone) in zones.enumerated() {
            for poly in zone.geometry.polygons {
                var box = GeoBoundingBox.empty
                let rings: [[SIMD2<Int32>]] = poly.rings.filter { !$0.isEmpty }.map { ring in
                    var r = ring.map { SIMD2(Self.fixed($0.lon), Self.fixed($0.lat)) }
                    if r.first != r.last { r.append(r[0]) }
                    for v in r {
                        box = box.union(GeoBoundingBox(minLon: Double(v.x), minLat: Double(v.y),
                                                       maxLon: Double(v.x), maxLat: Double(v.y)))
                    }
                    return r
                }
                if rings.isEmpty { continue }
                perLevel[zone.level.depth].append(Item(zone: Int32(zi), polygon: rings, box: box))
            }
        }
        var coords: [Int32] = []
        coords.reserveCapacity(2 * (zones.reduce(0) { $0 + $1.geometry.positionCount } + 64))
        var ringVertexStart: [Int32] = [0]
        var headers: [PolygonHeader] = []
        var trees: [Tree] = []
        func copy<T>(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: Swift.max(1, a.count))
            _ = b.initialize(from: a)
            return b
        }
        for depth in (0..<perLevel.count).reversed() {
            let items = perLevel[depth]
            let tree = RTree(boxes: items.map(\.box))
            let base = headers.count
            for item in tree.leafOrder.map({ items[Int($0)] }) {
                let ringStart = Int32(ringVertexStart.count - 1)
                let vertexStart = Int32(coords.count / 2)
                for ring in item.polygon {
                    for v in ring { coords.append(v.x); coords.append(v.y) }
                    ringVertexStart.append(Int32(coords.count / 2))
                }
                headers.append(PolygonHeader(
                    vertexStart: vertexStart, vertexEnd: Int32(coords.count / 2),
                    ringStart: ringStart, ringEnd: Int32(ringVertexStart.count - 1),
                    zone: item.zone, level: Int32(depth)))
            }
            // Tree boxes are exact integers held in Doubles; narrow them back.
            trees.append(Tree(
                boxes: copy(tree.boxes.map { Int32($0) }), first: copy(Array(tree.first)),
                count: copy(Array(tree.childCount)), leafCount: tree.count, polygonBase: base,
                root: Int(tree.root)))
        }
        self.coords = copy(coords)
        self.ringVertexStart = copy(ringVertexStart)
        self.headers = copy(headers)
        self.trees = copy(trees)
        stackCapacity = Swift.max(2, (RTree.fanout - 1) * 8 + 2)
        polygonCount = headers.count
    }

    deinit {
        for t in trees {
            t.boxes.deallocate()
            t.first.deallocate()
            t.count.deallocate()
        }
        coords.deallocate()
        ringVertexStart.deallocate()
        headers.deallocate()
        trees.deallocate()
    }

    /// Bytes of the index's arrays (`bench grid`).
    package var memoryBytes: Int {
        coords.count * 4 + ringVertexStart.count * 4 + headers.count * MemoryLayout<PolygonHeader>.stride
            + trees.reduce(0) { $0 + ($1.boxes.count + $1.first.count + $1.count.count) * 4 }
    }

    /// The winning zone id, or -1: deepest level first, smallest zone id
    /// (= smallest code) among the polygons of that level containing the point.
    func zoneID(x lon: Double, y lat: Double) -> Int {
        let x = Self.fixed(lon), y = Self.fixed(lat)
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: stackCapacity) { stack in
            for t in 0..<trees.count {
                let tree = trees[t]
                if tree.root < 0 { continue }
                let bx = tree.boxes.baseAddress!, fc = tree.first.baseAddress!, cc = tree.count.baseAddress!
                let root = tree.root
                if x < bx[4 * root] || y < bx[4 * root + 1] || x > bx[4 * root + 2] || y > bx[4 * root + 3] {
                    continue
                }
                let leafCount = tree.leafCount
                var best = Int32.max
                stack[0] = Int32(root)
                var sp = 1
                while sp > 0 {
                    sp -= 1
                    let node = Int(stack[sp])
                    var c = Int(fc[node])
                    let end = c + Int(cc[node])
                    if c < leafCount {
                        // Children are leaf entries: polygons polygonBase + c.
                        while c < end {
                            let b = 4 * c
                            if x >= bx[b] && y >= bx[b + 1] && x <= bx[b + 2] && y <= bx[b + 3] {
                                let poly = tree.polygonBase + c
                                let z = headers[poly].zone
                                if z < best && contains(poly, x, y) { best = z }
                            }
                            c += 1
                        }
                    } else {
                        while c < end {
                            let b = 4 * c
                            if x >= bx[b] && y >= bx[b + 1] && x <= bx[b + 2] && y <= bx[b + 3] {
                                stack[sp] = Int32(c)
                                sp += 1
                            }
                            c += 1
                        }
                    }
                }
                if best != Int32.max { return Int(best) }
            }
            return -1
        }
    }

    /// Brute force: every polygon tested exactly, no boxes.
    func zoneIDByScan(x lon: Double, y lat: Double) -> Int {
        let x = Self.fixed(lon), y = Self.fixed(lat)
        var bestLevel: Int32 = -1
        var best = Int32.max
        for poly in 0..<polygonCount where contains(poly, x, y) {
            let h = headers[poly]
            if h.level > bestLevel || (h.level == bestLevel && h.zone < best) {
                bestLevel = h.level
                best = h.zone
            }
        }
        return best == Int32.max ? -1 : Int(best)
    }

    /// Exact closed point-in-polygon test in integers (even-odd over all
    /// rings; a point on any ring is inside). One cross product decides both
    /// "on the edge" and "crossing to the right", so boundary answers are
    /// consistent. Products fit in Int64 for any polygon narrower than about
    /// 250° of longitude.
    @inline(__always)
    private func contains(_ poly: Int, _ x: Int32, _ y: Int32) -> Bool {
        let h = headers[poly]
        if h.ringEnd - h.ringStart == 1 {
            return ringParity(Int(h.vertexStart), Int(h.vertexEnd), x, y) != 0
        }
        var parity: Int32 = 0
        for r in Int(h.ringStart)..<Int(h.ringEnd) {
            let p = ringParity(Int(ringVertexStart[r]), Int(ringVertexStart[r + 1]), x, y)
            if p == 2 { return true }
            parity ^= p
        }
        return parity == 1
    }

    /// 0 outside, 1 inside, 2 on the ring.
    @inline(__always)
    private func ringParity(_ start: Int, _ end: Int, _ x: Int32, _ y: Int32) -> Int32 {
        let c = coords.baseAddress!
        let px = Int64(x), py = Int64(y)
        var inside: Int32 = 0
        var v = start
        var ax = Int64(c[2 * v]), ay = Int64(c[2 * v + 1])
        v += 1
        while v < end {
            let bx = Int64(c[2 * v]), by = Int64(c[2 * v + 1])
            v += 1
            defer { ax = bx; ay = by }
            if (ay > py && by > py) || (ay < py && by < py) { continue }
            let cross = (bx - ax) &* (py - ay) &- (px - ax) &* (by - ay)
            if cross == 0 {
                if (px >= ax || px >= bx) && (px <= ax || px <= bx) { return 2 }
                continue
            }
            if (ay > py) != (by > py) && (cross > 0) == (by > ay) { inside ^= 1 }
        }
        return inside
    }
}
