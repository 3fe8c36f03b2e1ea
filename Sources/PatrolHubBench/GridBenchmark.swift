import Alerts
import Foundation
import Simulation

/// Measures zone lookups through `ZoneIndex` against a brute-force scan.
///
/// The data is a synthetic city: `polygonCount` grid polygons tiling a
/// square region near Lhasa (29.65 N, 91.13 E). Lattice corners are jittered
/// and each cell side carries 4 extra vertices offset sideways, so every
/// polygon has 20 vertices, neighbours share their borders exactly, and no
/// polygon is an axis-aligned box. Query points are uniform over the region
/// grown by 5 % on each side, so some fall outside every grid.
///
/// Figures, all on one core, in one run:
/// - index lookups/s: `ZoneIndex.locate` (R-tree, then exact test of the candidates);
/// - brute-force lookups/s: `ZoneIndex.locateByScan`, which tests the point
///   **exactly against every polygon** (even-odd over all edges) with no
///   bounding-box check and no tree: the cost of not having an index;
/// - the speed-up ratio of the two medians;
/// - index build time (median), and the bytes of the index's arrays.
/// Both paths are checked to return the same zone for every brute-force query.
///
/// Rerun with `swift run -c release gridbench`.
public enum GridBenchmark {
    /// What to measure.
    public struct Configuration: Sendable, Hashable {
        /// Grid polygons in the synthetic city.
        public var polygonCount: Int
        /// Queries per repetition through the index.
        public var queryCount: Int = 200_000
        /// Queries per repetition by brute force; nil chooses about 0.3 s worth.
        public var bruteForceQueryCount: Int? = nil
        /// Repetitions; figures are medians.
        public var repetitions: Int = 5
        /// Seed of the jitter and of the query points, so runs are comparable.
        public var seed: UInt64 = 20_240_601
        /// Also time `ZoneFile.validate` on the polygons written as GeoJSON.
        public var measureImport = false

        /// A benchmark of `polygonCount` grids with the given query counts, repetitions and seed.
        public init(polygonCount: Int, queryCount: Int = 200_000, bruteForceQueryCount: Int? = nil,
                    repetitions: Int = 5, seed: UInt64 = 20_240_601, measureImport: Bool = false) {
            self.polygonCount = polygonCount
            self.queryCount = queryCount
            self.bruteForceQueryCount = bruteForceQueryCount
            self.repetitions = repetitions
            self.seed = seed
            self.measureImport = measureImport
        }
    }

    /// The figures of one run.
    public struct Result: Sendable, Hashable {
        /// Grid polygons measured.
        public var polygonCount: Int
        /// Vertices over all polygons.
        public var vertexCount: Int
        /// Queries per repetition through the index.
        public var queryCount: Int
        /// Queries per repetition by brute force.
        public var bruteForceQueryCount: Int
        /// Repetitions the medians are over.
        public var repetitions: Int
        /// Median lookups per second through the R-tree.
        public var indexLookupsPerSecond: Double
        /// Median lookups per second testing every polygon.
        public var bruteForceLookupsPerSecond: Double
        /// index ÷ brute force.
        public var speedup: Double { indexLookupsPerSecond / bruteForceLookupsPerSecond }
        /// Median seconds to build the index.
        public var buildSeconds: Double
        /// Bytes of the index's arrays.
        public var indexMemoryBytes: Int
        /// Brute-force queries where the index answered differently (must be 0).
        public var mismatches: Int
        /// Share of index queries that landed in a grid.
        public var zonedFraction: Double
        /// Seconds to parse and validate the polygons as a GeoJSON file, if measured.
        public var importSeconds: Double?
        /// Problems reported by that validation (must be 0), if measured.
        public var importProblems: Int?

        /// One table row (see `markdownTable`).
        public var markdownRow: String {
            func f(_ x: Double) -> String { HubFormat.fixed(x, digits: 0) }
            let imp = importSeconds.map { (HubFormat.fixed($0, digits: 2) + " s, " + String(importProblems ?? 0) + " problems") } ?? "–"
            return "| \(polygonCount) | \(vertexCount) | \(f(indexLookupsPerSecond)) | "
                + "\(f(bruteForceLookupsPerSecond)) | \((HubFormat.fixed(speedup, digits: 0) + "×")) | "
                + "\((HubFormat.fixed(buildSeconds * 1000, digits: 1) + " ms")) | "
                + "\((HubFormat.fixed(Double(indexMemoryBytes) / 1_048_576, digits: 1) + " MiB")) | "
                + "\(imp) | \(mismatches) |"
        }

        /// This result as a one-row markdown table.
        public var markdown: String { Result.markdownTable([self]) }

        /// Results as one markdown table with a header, one row each (BENCHMARKS.md).
        public static func markdownTable(_ results: [Result]) -> String {
            var lines = [
                "| polygons | vertices | index lookups/s | brute-force lookups/s | speed-up | build | index memory | GeoJSON import + validation | mismatches |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            lines += results.map(\.markdownRow)
            if let r = results.first {
                lines.append("")
                lines.append("Medians of \(r.repetitions) repetitions; \(r.queryCount) index queries and "
                             + "\(r.bruteForceQueryCount)+ brute-force queries per repetition; one core. "
                             + "Brute force = exact point-in-polygon test of every polygon, no bounding boxes.")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// The synthetic region: about 0.5° × 0.5° around Lhasa.
    public static let region = GeoBoundingBox(minLon: 90.88, minLat: 29.40, maxLon: 91.38, maxLat: 29.90)

    /// `count` grid zones (rounded to a full lattice: cols × rows ≥ count,
    /// then trimmed) of 20 vertices each, codes `g000000` …; deterministic in `seed`.
    public static func generatePolygons(count: Int, seed: UInt64) -> [Zone] {
        let cols = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + cols - 1) / cols
        let dx = (region.maxLon - region.minLon) / Double(cols)
        let dy = (region.maxLat - region.minLat) / Double(rows)
        func unit(_ a: Int, _ b: Int, _ c: Int) -> Double {  // deterministic in [-1, 1]
            var h = seed &+ UInt64(truncatingIfNeeded: a) &* 0x9E37_79B9_7F4A_7C15
            h = (h ^ UInt64(truncatingIfNeeded: b) &* 0xC2B2_AE3D_27D4_EB4F) &+ UInt64(truncatingIfNeeded: c)
            var rng = SeededRandom(seed: h)
            return rng.unit() * 2 - 1
        }
        func corner(_ i: Int, _ j: Int) -> GeoPosition {
            let border = i == 0 || j == 0 || i == cols || j == rows
            let jx = border ? 0 : unit(i, j, 1) * 0.2 * dx
            let jy = border ? 0 : unit(i, j, 2) * 0.2 * dy
            return GeoPosition(lon: region.minLon + Double(i) * dx + jx, lat: region.minLat + Double(j) * dy + jy)
        }
        // Points strictly between corner a and b of an edge; identical for both neighbours.
        func edgePoints(_ i0: Int, _ j0: Int, horizontal: Bool) -> [GeoPosition] {
            let a = corner(i0, j0)
            let b = horizontal ? corner(i0 + 1, j0) : corner(i0, j0 + 1)
            let onBorder = horizontal ? (j0 == 0 || j0 == rows) : (i0 == 0 || i0 == cols)
            return (1...4).map { k in
                let t = Double(k) / 5
                let off = onBorder ? 0 : unit(i0 * 2 + (horizontal ? 0 : 1), j0, 10 + k) * 0.08
                return horizontal
                    ? GeoPosition(lon: a.lon + (b.lon - a.lon) * t, lat: a.lat + (b.lat - a.lat) * t + off * dy)
                    : GeoPosition(lon: a.lon + (b.lon - a.lon) * t + off * dx, lat: a.lat + (b.lat - a.lat) * t)
            }
        }
        var zones: [Zone] = []
        zones.reserveCapacity(count)
        outer: for j in 0..<rows {
            for i in 0..<cols {
                if zones.count == count { break outer }
                var ring: [GeoPosition] = [corner(i, j)]
                ring += edgePoints(i, j, horizontal: true)
                ring.append(corner(i + 1, j))
                ring += edgePoints(i + 1, j, horizontal: false)
                ring.append(corner(i + 1, j + 1))
                ring += edgePoints(i, j + 1, horizontal: true).reversed()
                ring.append(corner(i, j + 1))
                ring += edgePoints(i, j, horizontal: false).reversed()
                ring.append(ring[0])
                let code = "g" + String(zones.count).leftPadded(to: 6)
                zones.append(Zone(code: code, name: "网格 \(zones.count)", level: .grid,
                                  parent: benchCommunity, polygon: Polygon(outer: ring)))
            }
        }
        return zones
    }

    /// `count` WGS-84 points uniform over `region` grown by 5 % per side.
    public static func generateQueries(count: Int, seed: UInt64) -> [GeoPoint] {
        var rng = SeededRandom(seed: seed ^ 0x5151_5151)
        let w = region.maxLon - region.minLon, h = region.maxLat - region.minLat
        return (0..<count).map { _ in
            GeoPoint(lat: region.minLat - 0.05 * h + rng.unit() * 1.1 * h,
                     lon: region.minLon - 0.05 * w + rng.unit() * 1.1 * w)
        }
    }

    /// Runs the benchmark.
    public static func run(_ config: Configuration) -> Result {
        let zones = generatePolygons(count: config.polygonCount, seed: config.seed)
        let queries = generateQueries(count: config.queryCount, seed: config.seed)
        let reps = Swift.max(1, config.repetitions)

        var buildTimes: [Double] = []
        var index = ZoneIndex(zones: [])
        for _ in 0..<Swift.max(3, reps / 2) {
            let (t, built) = time { ZoneIndex(zones: zones) }
            buildTimes.append(t)
            index = built
        }

        var indexRates: [Double] = []
        var zoned = 0
        for _ in 0..<reps {
            var hits = 0
            let (t, _) = time {
                for q in queries where index.locate(q).isZoned { hits += 1 }
            }
            zoned = hits
            indexRates.append(Double(queries.count) / t)
        }

        // Brute force: aim at ~0.3 s per repetition (200 000 edges per query at 10 000 polygons).
        let vertexCount = zones.reduce(0) { $0 + $1.geometry.positionCount }
        let bruteCount = config.bruteForceQueryCount
            ?? Swift.max(50, Swift.min(queries.count, Int(300_000_000 / Double(Swift.max(1, vertexCount)))))
        let bruteQueries = Array(queries.prefix(bruteCount))
        var bruteRates: [Double] = []
        var mismatches = 0
        for rep in 0..<reps {
            var found: [String] = []
            found.reserveCapacity(bruteQueries.count)
            let (t, _) = time {
                for q in bruteQueries { found.append(index.locateByScan(q).zone) }
            }
            bruteRates.append(Double(bruteQueries.count) / t)
            if rep == 0 {
                for (q, z) in zip(bruteQueries, found) where index.locate(q).zone != z { mismatches += 1 }
            }
        }

        var importSeconds: Double?
        var importProblems: Int?
        if config.measureImport {
            let data = geoJSON(zones)
            let (t, result) = time { ZoneFile.validate(data) }
            importSeconds = t
            importProblems = result.problems.count + (result.zones.count == zones.count + 3 ? 0 : 1)
        }

        return Result(
            polygonCount: zones.count, vertexCount: vertexCount, queryCount: queries.count,
            bruteForceQueryCount: bruteQueries.count, repetitions: reps,
            indexLookupsPerSecond: median(indexRates), bruteForceLookupsPerSecond: median(bruteRates),
            buildSeconds: median(buildTimes), indexMemoryBytes: index.memoryBytes,
            mismatches: mismatches, zonedFraction: Double(zoned) / Double(Swift.max(1, queries.count)),
            importSeconds: importSeconds, importProblems: importProblems)
    }

    /// The community code that generated grids name as parent.
    public static let benchCommunity = "bench-001-001"

    /// Zones written as a GeoJSON FeatureCollection, preceded by a district,
    /// a street and a community covering `region`, so the file validates.
    public static func geoJSON(_ grids: [Zone]) -> Data {
        let box = Polygon(outer: [
            GeoPosition(lon: region.minLon, lat: region.minLat), GeoPosition(lon: region.maxLon, lat: region.minLat),
            GeoPosition(lon: region.maxLon, lat: region.maxLat), GeoPosition(lon: region.minLon, lat: region.maxLat),
            GeoPosition(lon: region.minLon, lat: region.minLat),
        ])
        let zones = [
            Zone(code: "bench", name: "区", level: .district, polygon: box),
            Zone(code: "bench-001", name: "街道", level: .street, parent: "bench", polygon: box),
            Zone(code: benchCommunity, name: "社区", level: .community, parent: "bench-001", polygon: box),
        ] + grids
        var s = "{\"type\":\"FeatureCollection\",\"features\":[\n"
        s.reserveCapacity(zones.count * 900)
        for (i, z) in zones.enumerated() {
            if i > 0 { s += ",\n" }
            s += "{\"type\":\"Feature\",\"properties\":{\"code\":\"\(z.code)\",\"name\":\"\(z.name)\","
            s += "\"level\":\"\(z.level.rawValue)\"\(z.parent.map { ",\"parent\":\"\($0)\"" } ?? "")},"
            s += "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":["
            s += z.geometry.polygons.map { poly in
                "[" + poly.rings.map { ring in
                    "[" + ring.map { "[\($0.lon),\($0.lat)]" }.joined(separator: ",") + "]"
                }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            s += "]}}"
        }
        s += "\n]}\n"
        return Data(s.utf8)
    }

    private static func time<T>(_ body: () -> T) -> (Double, T) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = body()
        let end = DispatchTime.now().uptimeNanoseconds
        return (Double(end - start) / 1e9, value)
    }

    private static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
