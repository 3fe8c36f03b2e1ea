import Foundation
import Testing
@testable import Alerts
import TestSupport

/// One fixture per problem; every assertion names the exact feature, code,
/// kind and message an operator would read.
@Suite struct ZoneValidationTests {
    private func lines(_ name: String) -> [String] { GridFixtures.problems(name).map(\.description) }

    @Test func unclosedRing() {
        let p = GridFixtures.problems("err_unclosed.geojson")
        #expect(p == [ZoneProblem(featureIndex: 2, code: "540102-001-001", kind: .unclosedRing,
                                  message: "ring 0 is not closed")])
        #expect(p[0].description == "feature 2 (540102-001-001): ring 0 is not closed")
    }

    @Test func tooShortRing() {
        #expect(lines("err_too_short.geojson") == [
            "feature 2 (540102-001-001): ring 0 has 3 positions; a ring needs at least 4 (closed)"])
        #expect(GridFixtures.problems("err_too_short.geojson").map(\.kind) == [.tooFewPositions])
    }

    @Test func tooManyPositionsInARing() throws {
        // A circle of 20 001 positions (closed): refused before its edges are compared pairwise.
        let n = GeoJSONZoneReader.maxRingPositions
        let ring = (0...n).map { i -> String in
            let a = Double(i % n) / Double(n) * 2 * Double.pi
            return "[\(91.13 + 0.01 * cos(a)),\(29.65 + 0.01 * sin(a))]"
        }.joined(separator: ",")
        let json = #"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"540102","name":"城关区","level":"district"},"geometry":{"type":"Polygon","coordinates":[["# + ring + "]]}}]}"
        let problems = ZoneCheckReport(data: Data(json.utf8)).problems
        #expect(problems.map(\.kind) == [.tooManyPositions])
        #expect(problems.first?.description == "feature 0 (540102): ring 0 has 20001 positions; at most 20000 per ring (simplify the shape, e.g. with mapshaper or QGIS)")
    }

    @Test func aFolderOrAMissingFileIsNamedAsSuch() {
        let folder = FileManager.default.temporaryDirectory.path
        #expect(ZoneCheckReport(contentsOf: URL(fileURLWithPath: folder)).problems.map(\.message) == ["cannot read \(folder): it is a folder, not a file"])
        let missing = folder + "/patrolhub-no-such-zones.geojson"
        #expect(ZoneCheckReport(contentsOf: URL(fileURLWithPath: missing)).problems.map(\.message) == ["cannot read \(missing): no such file"])
    }

    @Test func selfIntersection() {
        #expect(lines("err_self_intersection.geojson") == [
            "feature 2 (540102-001-001): ring 0 intersects itself (edge 0 meets edge 2)"])
        #expect(GridFixtures.problems("err_self_intersection.geojson").map(\.kind) == [.selfIntersection])
    }

    @Test func nanAndOutOfRangeCoordinates() {
        #expect(lines("err_coordinates.geojson") == [
            "feature 2 (540102-001-001): position 1 of ring 0 is out of range: [91.1, 95.0] (lon -180…180, lat -90…90)",
            "feature 3 (540102-001-002): position 1 of ring 0 is out of range: [nan, 29.65] (lon -180…180, lat -90…90)",
            "feature 4 (540102-001-003): position 0 of ring 0 is out of range: [200.0, 29.65] (lon -180…180, lat -90…90)",
        ])
        #expect(Set(GridFixtures.problems("err_coordinates.geojson").map(\.kind)) == [.invalidCoordinate])
    }

    @Test func duplicateCode() {
        #expect(GridFixtures.problems("err_duplicate_code.geojson") == [
            ZoneProblem(featureIndex: 2, code: "540102-001", kind: .duplicateCode,
                        message: "code 540102-001 is already used by feature 1")])
    }

    @Test func unknownParent() {
        #expect(GridFixtures.problems("err_unknown_parent.geojson") == [
            ZoneProblem(featureIndex: 2, code: "540102-001-001", kind: .unknownParent,
                        message: "parent 540102-009 is not a code of this file")])
    }

    @Test func levelOutOfOrder() {
        #expect(GridFixtures.problems("err_level_order.geojson") == [
            ZoneProblem(featureIndex: 2, code: "540102-001-001-01", kind: .levelOutOfOrder,
                        message: "a grid's parent must be a community, but 540102-001 is a street"),
            ZoneProblem(featureIndex: 3, code: "540102-009", kind: .levelOutOfOrder,
                        message: "a district has no parent, but parent is 540102"),
        ])
    }

    @Test func childOutsideParentBeyondTolerance() {
        // 0.001° east (96.7 m) is reported; 0.00003° north (3.3 m) is within the 5 m tolerance.
        #expect(GridFixtures.problems("err_outside_parent.geojson") == [
            ZoneProblem(featureIndex: 2, code: "540102-001-001", kind: .outsideParent,
                        message: "position 1 of ring 0 lies 96.7 m outside parent 540102-001 (tolerance 5 m)")])
    }

    @Test func overlappingGridsButNotSharedBorders() {
        #expect(lines("err_overlap.geojson") == [
            "feature 4 (540102-001-001-02): overlaps 540102-001-001-01 (feature 3) by 3225221 m² (tolerance 100 m²)",
            "feature 5 (540102-001-001-03): overlaps 540102-001-001-02 (feature 4) by 2149507 m² (tolerance 100 m²)",
        ])
    }

    @Test func overlapToleranceIsConfigurable() throws {
        let data = try Data(contentsOf: GridFixtures.url("err_overlap.geojson"))
        let lenient = ZoneFile.validate(data, options: .init(overlapToleranceSquareMetres: 3_000_000))
        #expect(lenient.problems.map(\.featureIndex) == [4])
        #expect(ZoneFile.validate(data, options: .init(checkOverlaps: false)).isValid)
    }

    @Test func malformedJSONNamesLineAndColumn() {
        #expect(GridFixtures.problems("err_malformed.geojson") == [
            ZoneProblem(featureIndex: nil, code: nil, kind: .malformedJSON,
                        message: "not valid JSON: unexpected end of input in an object at line 4, column 1")])
    }

    @Test func propertyProblems() {
        #expect(lines("err_properties.geojson") == [
            "feature 1 (540102-001): property \"name\" is missing",
            "feature 2 (540102-002): property \"level\" is \"town\"; expected district, street, community or grid",
            "feature 3: property \"code\" must be a string, not a number",
            "feature 3: property \"crs\" is \"utm\"; expected wgs84, gcj02 or bd09",
            "feature 3: geometry type Point is not supported; use Polygon or MultiPolygon",
        ])
    }

    @Test func notAFeatureCollection() {
        let r = ZoneFile.validate(Data(#"{"type": "Feature", "features": []}"#.utf8))
        #expect(r.problems.map(\.description) == [
            "file: the top level must have \"type\": \"FeatureCollection\""])
        #expect(r.problems.first?.kind == .invalidStructure)
    }

    @Test func badFileNeverHalfLoadsAndListsEveryProblem() throws {
        let url = GridFixtures.url("err_level_order.geojson")
        #expect(throws: HubError.self) { try ZoneFile.load(contentsOf: url) }
        do {
            _ = try ZoneFile.load(contentsOf: url)
            Issue.record("a bad file loaded")
        } catch {
            #expect(error.code == .zoneFile)
            #expect(error.file == url.path)
            #expect(error.context.values["problems"] == "2")
            #expect(error.description == """
                zone file \(url.path) has 2 problems:
                  feature 2 (540102-001-001-01): a grid's parent must be a community, but 540102-001 is a street
                  feature 3 (540102-009): a district has no parent, but parent is 540102
                """)
        }
    }

    @Test func unreadableFile() {
        let url = GridFixtures.url("does_not_exist.geojson")
        let report = ZoneCheckReport(contentsOf: url)
        #expect(report.problems.map(\.kind) == [.unreadableFile])
        #expect(!report.isValid)
    }

    @Test func crsPropertyConvertsTheFeatureToWGS84() throws {
        // A district written in GCJ-02: after import its corner is back at the WGS-84 value.
        let wgs = [(91.0, 29.6), (91.2, 29.6), (91.2, 29.7), (91.0, 29.7), (91.0, 29.6)]
        let gcj = wgs.map { CoordinateTransform.convert(GeoPoint(lat: $0.1, lon: $0.0), to: .gcj02) }
        let coords = gcj.map { "[\($0.lon), \($0.lat)]" }.joined(separator: ",")
        let json = """
            {"type":"FeatureCollection","features":[{"type":"Feature",
             "properties":{"code":"540102","name":"城关区","level":"district","crs":"gcj02"},
             "geometry":{"type":"Polygon","coordinates":[[\(coords)]]}}]}
            """
        let index = try ZoneFile.load(Data(json.utf8))
        let corner = try #require(index.zone(code: "540102")?.geometry.polygons.first?.outer.first)
        #expect(abs(corner.lon - 91.0) < 1e-8 && abs(corner.lat - 29.6) < 1e-8)
        #expect(index.locate(GeoPoint(lat: 29.6005, lon: 91.0005)).zone == "540102")
    }

    @Test func checkReportRendersCountsAreasAndProblems() {
        let report = ZoneCheckReport(contentsOf: GridFixtures.url("err_unknown_parent.geojson"))
        #expect(report.featureCount == 3)
        #expect(report.countsByLevel == [.district: 1, .street: 1, .community: 1])
        let rendered = report.render()
        #expect(rendered == """
            \(GridFixtures.url("err_unknown_parent.geojson").path): 3 features, 1 problem
              level       zones   area km²
              district       1    215.015
              street         1     86.006
              community      1     53.754
              grid           0      0.000
            problems:
              feature 2 (540102-001-001): parent 540102-009 is not a code of this file
            """)
    }
}
