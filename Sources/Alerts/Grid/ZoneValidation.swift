import Foundation

/// Reading and validating `config/zones.geojson`.
///
/// ```swift
/// let index = try ZoneFile.load(contentsOf: URL(fileURLWithPath: "config/zones.geojson"))
/// let place = index.locate(GeoPoint(lat: 29.6530, lon: 91.1322))
/// ```
///
/// Checks, per feature: GeoJSON structure, required properties (`code`,
/// `name`, `level`, `parent` unless a district), `crs`, every position a
/// finite in-range `[lon, lat]`, rings closed with at least 4 positions and
/// not self-intersecting. Across features: duplicate codes, unknown parents,
/// levels out of order (grid → community → street → district; a district has
/// no parent), a child reaching outside its parent by more than
/// `Options.containmentToleranceMetres`, and siblings (same parent) whose
/// interiors overlap by more than `Options.overlapToleranceSquareMetres`.
/// A shared border is not an overlap.
public enum ZoneFile {
    /// Tolerances of the geometric checks.
    public struct Options: Sendable, Hashable {
        /// How far a vertex of a zone may lie outside its parent, in metres
        /// (digitising noise along a shared border). Default 5 m.
        public var containmentToleranceMetres: Double = 5
        /// How much two siblings may overlap, in m², before it is a problem.
        /// Default 100 m² (a 1 m sliver along a 100 m border).
        public var overlapToleranceSquareMetres: Double = 100
        /// Whether to run the sibling overlap check at all.
        public var checkOverlaps = true

        /// Options with the default tolerances: 5 m of containment, 100 m² of overlap.
        public init(containmentToleranceMetres: Double = 5, overlapToleranceSquareMetres: Double = 100,
                    checkOverlaps: Bool = true) {
            self.containmentToleranceMetres = containmentToleranceMetres
            self.overlapToleranceSquareMetres = overlapToleranceSquareMetres
            self.checkOverlaps = checkOverlaps
        }
    }

    /// What a validation pass found.
    public struct Result: Sendable {
        /// Number of entries in the `features` array.
        public var featureCount: Int
        /// The zones that could be read (all of them if `problems` is empty).
        public var zones: [Zone]
        /// Every problem found, sorted by feature index (file-level first).
        public var problems: [ZoneProblem]
        /// Whether the file has no problem (the hub refuses to start otherwise).
        public var isValid: Bool { problems.isEmpty }
    }

    /// Validates GeoJSON bytes; never throws, reports everything.
    public static func validate(_ data: Data, options: Options = Options()) -> Result {
        let (drafts, readProblems) = GeoJSONZoneReader.read(data)
        var problems = readProblems
        problems += crossCheck(drafts, options: options)
        problems.sort { ($0.featureIndex ?? -1) < ($1.featureIndex ?? -1) }
        return Result(featureCount: drafts.count, zones: drafts.compactMap(\.zone), problems: problems)
    }

    /// Validates and indexes GeoJSON bytes.
    /// - Throws: `HubError.zoneFile` with every problem; nothing is half-loaded.
    public static func load(_ data: Data, file: String? = nil,
                            options: Options = Options()) throws(HubError) -> ZoneIndex {
        let result = validate(data, options: options)
        guard result.isValid else { throw HubError.zoneFile(file: file, problems: result.problems) }
        return ZoneIndex(zones: result.zones)
    }

    /// Reads, validates and indexes a zone file.
    /// - Throws: `HubError.zoneFile` naming the file and every problem.
    public static func load(contentsOf url: URL, options: Options = Options()) throws(HubError) -> ZoneIndex {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw HubError.zoneFile(file: url.path, problems: [ZoneProblem(
                featureIndex: nil, code: nil, kind: .unreadableFile,
                message: "cannot read \(url.path): \(unreadable(url.path, error))")])
        }
        return try load(data, file: url.path, options: options)
    }

    /// Why `path` could not be read, in words (Foundation's own text is "NSCocoaErrorDomain error 256").
    static func unreadable(_ path: String, _ error: any Error) -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return "no such file" }
        if isFolder.boolValue { return "it is a folder, not a file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "not readable by this user (check its permissions)" }
        return "\(error)"
    }

    // MARK: - Cross-feature checks

    static func crossCheck(_ drafts: [ZoneFeatureDraft], options: Options) -> [ZoneProblem] {
        var problems: [ZoneProblem] = []
        func report(_ d: ZoneFeatureDraft, _ kind: ZoneProblem.Kind, _ message: String) {
            problems.append(ZoneProblem(featureIndex: d.index, code: d.code, kind: kind, message: message))
        }
        // Codes: first occurrence wins.
        var byCode: [String: Int] = [:]
        byCode.reserveCapacity(drafts.count)
        for d in drafts {
            guard let code = d.code else { continue }
            if let first = byCode[code] {
                report(d, .duplicateCode, "code \(code) is already used by feature \(first)")
            } else {
                byCode[code] = d.index
            }
        }
        // Parents and levels.
        var parentOf: [Int: Int] = [:]  // child draft index → parent draft index, when consistent
        for d in drafts {
            guard let level = d.level else { continue }
            guard let expected = level.parentLevel else {
                if d.hasParentProperty {
                    report(d, .levelOutOfOrder, "a district has no parent, but parent is \(d.parent ?? "set")")
                }
                continue
            }
            guard let parent = d.parent else { continue }  // missing: already reported
            guard let p = byCode[parent] else {
                report(d, .unknownParent, "parent \(parent) is not a code of this file")
                continue
            }
            guard let parentLevel = drafts[p].level else { continue }
            if parentLevel != expected {
                report(d, .levelOutOfOrder,
                       "a \(level.rawValue)'s parent must be a \(expected.rawValue), but \(parent) is a \(parentLevel.rawValue)")
                continue
            }
            parentOf[d.index] = p
        }
        // Containment: every vertex inside the parent, or within the tolerance of its boundary.
        for (child, p) in parentOf.sorted(by: { $0.key < $1.key }) {
            guard let cg = drafts[child].geometry, let pg = drafts[p].geometry else { continue }
            if let (distance, label) = worstOutside(cg, of: pg, tolerance: options.containmentToleranceMetres) {
                report(drafts[child], .outsideParent, String(
                    format: "%@ lies %.1f m outside parent %@ (tolerance %.0f m)",
                    label, distance, drafts[p].code ?? "?", options.containmentToleranceMetres))
            }
        }
        // Overlaps between siblings.
        if options.checkOverlaps {
            var groups: [Int: [Int]] = [:]
            for (child, p) in parentOf where drafts[child].geometry != nil { groups[p, default: []].append(child) }
            var roots: [Int] = []
            for d in drafts where d.level == .district && d.geometry != nil && !d.hasParentProperty {
                roots.append(d.index)
            }
            if roots.count > 1 { groups[-1] = roots }
            for (_, members) in groups.sorted(by: { $0.key < $1.key }) {
                for (a, b, area) in overlaps(members.sorted(), drafts, tolerance: options.overlapToleranceSquareMetres) {
                    report(drafts[b], .overlap, String(
                        format: "overlaps %@ (feature %d) by %.0f m² (tolerance %.0f m²)",
                        drafts[a].code ?? "?", a, area, options.overlapToleranceSquareMetres))
                }
            }
        }
        return problems
    }

    /// The vertex of `child` farthest outside `parent`, if beyond `tolerance` metres.
    static func worstOutside(_ child: MultiPolygon, of parent: MultiPolygon,
                             tolerance: Double) -> (Double, String)? {
        let parentBox = parent.boundingBox
        guard let origin = parent.polygons.first?.outer.first else { return nil }
        let proj = LocalProjection(origin: origin)
        let edges: [(SIMD2<Double>, SIMD2<Double>)] = parent.polygons.flatMap { poly in
            poly.rings.flatMap { ring -> [(SIMD2<Double>, SIMD2<Double>)] in
                let pts = proj.project(ring)
                return pts.indices.map { (pts[$0], pts[($0 + 1) % pts.count]) }
            }
        }
        var worst: (Double, String)?
        let multi = child.polygons.count > 1
        for (pi, poly) in child.polygons.enumerated() {
            for (ri, ring) in poly.rings.enumerated() {
                for (k, v) in ring.enumerated() {
                    if parentBox.contains(v) && parent.contains(v) { continue }
                    let q = SIMD2(proj.x(v), proj.y(v))
                    var d = Double.infinity
                    for (a, b) in edges { d = Swift.min(d, GeoMath.distance(q, a, b)) }
                    if d > tolerance && d > (worst?.0 ?? -1) {
                        worst = (d, "position \(k) of \(multi ? "polygon \(pi) " : "")ring \(ri)")
                    }
                }
            }
        }
        return worst
    }

    /// Pairs (earlier, later, area m²) of sibling features overlapping by more than `tolerance`.
    /// Pairs are pruned by bounding boxes with a sweep over minimum longitude.
    static func overlaps(_ members: [Int], _ drafts: [ZoneFeatureDraft],
                         tolerance: Double) -> [(Int, Int, Double)] {
        struct Item { var draft: Int; var polygon: Polygon; var box: GeoBoundingBox }
        var items: [Item] = []
        for m in members {
            for poly in drafts[m].geometry?.polygons ?? [] {
                items.append(Item(draft: m, polygon: poly, box: poly.boundingBox))
            }
        }
        items.sort { $0.box.minLon < $1.box.minLon }
        var areas: [Pair: Double] = [:]
        for i in items.indices {
            var j = i + 1
            while j < items.count && items[j].box.minLon <= items[i].box.maxLon {
                defer { j += 1 }
                let a = items[i], b = items[j]
                guard a.draft != b.draft, a.box.intersects(b.box) else { continue }
                guard let origin = a.polygon.outer.first else { continue }
                let area = GeoMath.intersectionArea(a.polygon, b.polygon, LocalProjection(origin: origin))
                if area > 0 {
                    areas[Pair(Swift.min(a.draft, b.draft), Swift.max(a.draft, b.draft)), default: 0] += area
                }
            }
        }
        return areas.filter { $0.value > tolerance }
            .map { ($0.key.a, $0.key.b, $0.value) }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
    }

    private struct Pair: Hashable {
        var a: Int, b: Int
        init(_ a: Int, _ b: Int) { self.a = a; self.b = b }
    }
}
