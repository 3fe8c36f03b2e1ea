import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// Issue 3's acceptance over the broker: an event whose location is given in
/// GCJ-02 near a grid border lands in the grid its WGS-84 position is in.
@Suite("Grid placement over a real broker", .serialized)
struct GridPlacementIntegrationTests {
    @Test func gcj02EventNearABorderLandsInItsWGS84Grid() async throws {
        let zonesFile = packageRoot.appendingPathComponent("config/zones.geojson").path
        let index = try ZoneFile.load(contentsOf: URL(fileURLWithPath: zonesFile))
        // Find a point whose GCJ-02 coordinates, read naively as WGS-84, fall in another grid.
        var found: (wgs: GeoPoint, gcj: GeoPoint, grid: String, naive: String)?
        for lon in stride(from: 91.100, to: 91.170, by: 0.0001) where found == nil {
            let p = GeoPoint(lat: 29.655, lon: lon)
            let g = CoordinateTransform.convert(p, to: .gcj02)
            let right = index.locate(p), naive = index.locate(GeoPoint(lat: g.lat, lon: g.lon))
            if right.level == .grid, naive.level == .grid, right.zone != naive.zone { found = (p, g, right.zone, naive.zone) }
        }
        let f = try #require(found, "the sample has a grid border where the GCJ-02 offset matters")
        #expect(f.wgs.distance(to: GeoPoint(lat: f.gcj.lat, lon: f.gcj.lon)) > 100, "GCJ-02 is offset by hundreds of metres here")

        // The camera nearest the point reports it: an event far from its camera is placed in the camera's zone instead.
        let camerasFile = packageRoot.appendingPathComponent("config/cameras.csv").path
        let cameras = try Registry.loadCameras(file: camerasFile).compactMap { c in c.location.map { (c.id, $0.distance(to: f.wgs)) } }
        let camera = try #require(cameras.min { $0.1 < $1.1 })
        #expect(camera.1 < Placer.defaultMaxCameraDistance, "a sample camera within placement.max_camera_distance_m of the point")

        try await withLiveHub(configure: { c in
            c.zonesFile = zonesFile
            c.camerasFile = camerasFile
        }) { _, hub, pub in
            let time = Date().addingTimeInterval(-60)
            let location = String(format: #","location":{"lat":%.7f,"lon":%.7f,"crs":"gcj02"}"#, f.gcj.lat, f.gcj.lon)
            try await pub.publishAll([(eventTopic(camera.0), cameraEvent("border-1", type: "fight", time: time, extra: location))])
            try await hub.waitProcessed(received: 1)
            let item = try #require(try hub.store.riskItems().first)
            #expect(item.zone == f.grid)
            #expect(item.zone != f.naive)
            let grid = try #require(index.zone(code: f.grid))
            #expect(item.unit == grid.unit)
            #expect(item.worker == grid.worker)
            let slip = try #require(try hub.store.slips().first)
            #expect(slip.zone == f.grid)
            #expect(slip.unit == grid.unit)
            #expect(slip.worker == grid.worker)
        }
    }
}
