import Foundation
import Testing
@testable import Alerts
import TestSupport

/// The invented sample in `config/` (made by `config/generate_sample.py`).
@Suite struct SampleDataTests {
    let index: ZoneIndex

    init() throws {
        index = try ZoneFile.load(contentsOf: GridFixtures.sample("zones.geojson"))
    }

    /// Rows of a CSV whose first line is a `#` comment, as dictionaries.
    static func csv(_ name: String) throws -> [[String: String]] {
        let text = try String(contentsOf: GridFixtures.sample(name), encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        #expect(lines.first?.hasPrefix("# INVENTED") == true)
        lines.removeAll { $0.hasPrefix("#") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(header, cells))
        }
    }

    @Test func sampleChecksClean() {
        let report = ZoneCheckReport(contentsOf: GridFixtures.sample("zones.geojson"))
        #expect(report.problems.isEmpty, "\(report.render())")
        #expect(report.featureCount == 43)
        #expect(report.countsByLevel == [.district: 1, .street: 3, .community: 8, .grid: 31])
        #expect(report.render().contains(": 43 features, OK"))
    }

    @Test func sampleHasAHoleAndAMultiPolygon() throws {
        let bakuo = try #require(index.zone(code: "540102-001-002"))
        #expect(bakuo.name == "八廓社区")
        #expect(bakuo.geometry.polygons[0].rings.count == 2)
        let zhaxi = try #require(index.zone(code: "540102-002-002"))
        #expect(zhaxi.geometry.polygons.count == 2)
        #expect(index.children(of: "540102-001").map(\.name) == ["冲赛康社区", "八廓社区", "鲁固社区"])
        #expect(index.zone(code: "540102-001-001-01")?.unit == "冲赛康社区居委会")
        #expect(index.zone(code: "540102-001")?.unit == "八廓街道综治中心")
    }

    @Test func knownPointsLandWhereExpected() {
        func at(_ lon: Double, _ lat: Double) -> String { index.locate(GeoPoint(lat: lat, lon: lon)).zone }
        #expect(at(91.1221488, 29.6510592) == "540102-001")         // the temple compound (hole)
        #expect(at(91.1441354, 29.6699154) == "540102-002-002-04")  // the exclave of 扎细社区
        #expect(at(91.1555999, 29.6718513) == "540102-002")         // the park: street only
        #expect(at(91.1450, 29.6300) == "540102")                   // inside the district, outside the streets
        #expect(at(91.30, 29.65) == "unzoned")
        // Lattice point (3, 5) is a vertex of grids -001-002-01 and -02 only: the smaller code wins.
        #expect(at(91.1159602, 29.6510929) == "540102-001-002-01")
        // Lattice point (2, 2) lies on the border of -001-001-01 and -02 (between their corners).
        #expect(at(91.109085, 29.64128) == "540102-001-001-01")
        // Lattice point (4, 4): corner of -001-001-02, -03 and -001-002-01, -02.
        #expect(at(91.1190439, 29.6485106) == "540102-001-001-02")
    }

    @Test func everyCameraSitsInAGridAndDeclaredZonesMatch() throws {
        let cameras = try Self.csv("cameras.csv")
        #expect(cameras.count == 40)
        #expect(cameras.first?["id"] == "cam-001" && cameras.last?["id"] == "cam-040")
        var crsSeen: Set<String> = []
        var declared = 0
        for row in cameras {
            let crs = try #require(CoordinateSystem(rawValue: row["crs"] ?? ""))
            crsSeen.insert(crs.rawValue)
            let p = GeoPoint(lat: Double(row["lat"]!)!, lon: Double(row["lon"]!)!, crs: crs)
            let loc = index.locate(p)
            #expect(loc.level == .grid, "\(row["id"]!) at \(loc.zone)")
            if let zone = row["zone"], !zone.isEmpty {
                declared += 1
                #expect(loc.zone == zone, "\(row["id"]!)")
            }
        }
        #expect(crsSeen == ["wgs84", "gcj02", "bd09"])
        #expect(declared == 5)
        // cam-008 is written in GCJ-02 and cam-013 in BD-09 (see generate_sample.py).
        let byID = Dictionary(uniqueKeysWithValues: cameras.map { ($0["id"]!, $0) })
        func zone(_ id: String) -> String {
            let r = byID[id]!
            return index.locate(GeoPoint(lat: Double(r["lat"]!)!, lon: Double(r["lon"]!)!,
                                         crs: CoordinateSystem(rawValue: r["crs"]!)!)).zone
        }
        #expect(zone("cam-008") == "540102-003-002-03")
        #expect(zone("cam-013") == "540102-003-003-03")
        #expect(zone("cam-016") == "540102-002-002-04")
    }

    @Test func oneDevicePerGridWorker() throws {
        let devices = try Self.csv("devices.csv")
        let grids = index.zones(at: .grid)
        #expect(devices.count == grids.count)
        for d in devices {
            let grid = try #require(index.zone(code: d["zone"] ?? ""))
            #expect(grid.level == .grid)
            #expect(grid.worker == d["worker"])
            #expect(grid.unit == d["unit"])
        }
    }
}
