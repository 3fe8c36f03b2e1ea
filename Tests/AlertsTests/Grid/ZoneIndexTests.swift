import Foundation
import Testing
@testable import Alerts
import TestSupport

/// Lookups on `valid_small.geojson`: district 540102 = [91.00, 91.20] × [29.60, 29.70];
/// streets -001 = [91.00, 91.10] × [29.60, 29.68] and -002 = [91.10, 91.20] × [29.60, 29.68];
/// community -001-001 = [91.00, 91.10] × [29.60, 29.65] minus the hole
/// [91.02, 91.03] × [29.62, 29.63], tiled by grids -01 (with the same hole)
/// and -02 split at 91.05; community -001-002 = [91.00, 91.10] × [29.65, 29.68]
/// with one grid on its western half; community -002-001 and its grid -01
/// are MultiPolygons [91.10, 91.15] × [29.60, 29.64] + [91.17, 91.19] × [29.66, 29.67].
@Suite struct ZoneIndexTests {
    let index: ZoneIndex

    init() throws {
        index = try ZoneFile.load(contentsOf: GridFixtures.url("valid_small.geojson"))
    }

    private func at(_ lon: Double, _ lat: Double) -> ZoneLocation {
        index.locate(GridFixtures.wgs(lon, lat))
    }

    @Test func interiorPointGivesGridAndFullChain() {
        let loc = at(91.075, 29.625)
        #expect(loc.zone == "540102-001-001-02")
        #expect(loc.chain == ["540102", "540102-001", "540102-001-001", "540102-001-001-02"])
        #expect(loc.zones.map(\.level) == [.district, .street, .community, .grid])
        #expect(loc.mostSpecific?.worker == "gw-002")
        #expect(loc.zone(at: .street)?.unit == "八廓街道综治中心")
        #expect(loc.zone(at: .street)?.code == "540102-001")
        #expect(loc.description == "540102 > 540102-001 > 540102-001-001 > 540102-001-001-02")
    }

    @Test func pointInHoleIsInNeitherTheGridNorTheCommunity() {
        let loc = at(91.025, 29.625)
        #expect(loc.zone == "540102-001")
        #expect(loc.level == .street)
        #expect(loc.chain == ["540102", "540102-001"])
    }

    @Test func pointOnHoleRingCountsAsInside() {
        #expect(at(91.02, 29.625).zone == "540102-001-001-01")
        #expect(at(91.03, 29.63).zone == "540102-001-001-01")  // a vertex of the hole
    }

    @Test func sharedBorderGoesToSmallestCode() {
        #expect(at(91.05, 29.62).zone == "540102-001-001-01")
        #expect(index.locateByScan(GridFixtures.wgs(91.05, 29.62)).zone == "540102-001-001-01")
    }

    @Test func sharedVertexOfThreeGridsGoesToSmallestCode() {
        // (91.05, 29.65) is a corner of -001-001-01, -001-001-02 and -001-002-01.
        #expect(at(91.05, 29.65).zone == "540102-001-001-01")
    }

    @Test func borderBetweenGridAndCommunityOnlyAreaGoesToTheGrid() {
        // On the top edge of grid -001-001-02; above it, community -001-002 has no grid.
        #expect(at(91.07, 29.65).zone == "540102-001-001-02")
        #expect(at(91.07, 29.6500001).zone == "540102-001-002")
    }

    @Test func outerVertexOfTheDistrictIsInside() {
        #expect(at(91.20, 29.70).zone == "540102")
        #expect(at(91.00, 29.60).zone == "540102-001-001-01")
    }

    @Test func multiPolygonPartsBothResolve() {
        let a = at(91.12, 29.62), b = at(91.18, 29.665)
        #expect(a.zone == "540102-002-001-01")
        #expect(b.zone == "540102-002-001-01")
        #expect(b.chain == ["540102", "540102-002", "540102-002-001", "540102-002-001-01"])
        // Between the parts: street only.
        #expect(at(91.16, 29.65).zone == "540102-002")
    }

    @Test func fallsBackToCommunityStreetDistrictOrUnzoned() {
        #expect(at(91.07, 29.66).zone == "540102-001-002")
        #expect(at(91.07, 29.66).level == .community)
        #expect(at(91.16, 29.67).zone == "540102-002")
        #expect(at(91.10, 29.69).zone == "540102")
        #expect(at(91.10, 29.69).chain == ["540102"])
        let out = at(90.0, 29.0)
        #expect(out.zone == "unzoned")
        #expect(out.chain.isEmpty)
        #expect(!out.isZoned)
        #expect(out == .unzoned)
    }

    @Test func invalidPointIsUnzoned() {
        #expect(index.locate(GeoPoint(lat: 95, lon: 91.05)).zone == "unzoned")
        #expect(index.locate(GeoPoint(lat: .nan, lon: 91.05)).zone == "unzoned")
    }

    @Test func gcj02AndBD09PointsAreConvertedBeforeLookup() {
        let wgs = GridFixtures.wgs(91.0499, 29.625)  // 10 m west of the 01/02 border
        let gcj = CoordinateTransform.convert(wgs, to: .gcj02)
        let bd = CoordinateTransform.convert(wgs, to: .bd09)
        #expect(gcj.lon > 91.05)  // raw GCJ-02 would land in grid 02
        #expect(index.locate(gcj).zone == "540102-001-001-01")
        #expect(index.locate(bd).zone == "540102-001-001-01")
    }

    @Test func indexAgreesWithBruteForceEverywhere() {
        var checked = 0
        for i in 0...40 {
            for j in 0...25 {
                let p = GridFixtures.wgs(90.995 + Double(i) * 0.005, 29.595 + Double(j) * 0.0045)
                #expect(index.locate(p) == index.locateByScan(p), "at \(p)")
                checked += 1
            }
        }
        #expect(checked == 41 * 26)
    }

    @Test func registryQueries() {
        #expect(index.zone(code: "540102-001-001-01")?.worker == "gw-001")
        #expect(index.zone(code: "540102-001-001-01")?.unit == "冲赛康社区居委会")
        #expect(index.zone(code: "nope") == nil)
        #expect(index.children(of: "540102").map(\.code) == ["540102-001", "540102-002"])
        #expect(index.children(of: "540102-001-001").map(\.code) == ["540102-001-001-01", "540102-001-001-02"])
        #expect(index.countsByLevel == [.district: 1, .street: 2, .community: 3, .grid: 4])
        #expect(index.count(at: .grid) == 4)
        #expect(index.zones.map(\.code) == index.zones.map(\.code).sorted())
        #expect(index.polygonCount == 12)
        #expect(index.location(code: "540102-002-001")?.chain == ["540102", "540102-002", "540102-002-001"])
    }

    @Test func zoneGeometryFacts() throws {
        let grid = try #require(index.zone(code: "540102-002-001-01"))
        #expect(grid.geometry.polygons.count == 2)
        #expect(grid.boundingBox == GeoBoundingBox(minLon: 91.10, minLat: 29.60, maxLon: 91.19, maxLat: 29.67))
        // 0.05° × 0.04° at 29.60° N plus 0.02° × 0.01° at 29.66° N, equirectangular.
        #expect(abs(grid.areaSquareMetres - 23650339) < 10)
        let withHole = try #require(index.zone(code: "540102-001-001-01"))
        let full = Polygon(outer: withHole.geometry.polygons[0].outer).areaSquareMetres
        #expect(abs(full - withHole.areaSquareMetres - 1075074) < 10)  // the 0.01° × 0.01° hole
        #expect(withHole.contains(GeoPosition(lon: 91.01, lat: 29.61)))
        #expect(!withHole.contains(GeoPosition(lon: 91.025, lat: 29.625)))
    }

    @Test func levelsCompareBySpecificity() {
        #expect(ZoneLevel.district < .street && ZoneLevel.street < .community && ZoneLevel.community < .grid)
        #expect(ZoneLevel.allCases.max() == .grid)
        #expect(ZoneLevel(rawValue: "community") == .community)
        #expect(ZoneLevel.grid.parentLevel == .community)
        #expect(ZoneLevel.district.parentLevel == nil)
    }

    @Test func rTreeFindsExactlyTheBoxesContainingAPoint() {
        let boxes: [GeoBoundingBox] = (0..<1000).map { (i: Int) -> GeoBoundingBox in
            let x = Double(i % 40), y = Double(i / 40)
            return GeoBoundingBox(minLon: x, minLat: y, maxLon: x + 1.5, maxLat: y + 1.5)
        }
        let tree = RTree(boxes: boxes)
        #expect(tree.count == 1000)
        #expect(tree.height == 3)
        #expect(tree.items(containingLon: 10.2, lat: 3.7) == [129, 130])
        #expect(tree.items(containingLon: 0, lat: 0) == [0])
        #expect(tree.items(containingLon: -1, lat: 0).isEmpty)
        let empty = RTree(boxes: [])
        #expect(empty.items(containingLon: 0, lat: 0).isEmpty)
        let one = RTree(boxes: [boxes[0]])
        #expect(one.items(containingLon: 1, lat: 1) == [0])
    }
}
