import Foundation
import Testing
@testable import Alerts

/// Reference pairs published with the eviltransform library's tests (WGS-84 ↔
/// GCJ-02 in Shanghai, Shenzhen, Beijing) and gcoord's tests (GCJ-02
/// (123, 45) → WGS-84 and → BD-09).
@Suite struct CoordinateTransformTests {
    struct Pair: Sendable { var wgsLat, wgsLon, otherLat, otherLon: Double }

    static let wgsToGCJ: [Pair] = [
        Pair(wgsLat: 31.1774276, wgsLon: 121.5272106, otherLat: 31.17530398364597, otherLon: 121.531541859215),
        Pair(wgsLat: 22.543847, wgsLon: 113.912316, otherLat: 22.540796131694766, otherLon: 113.9171764808363),
        Pair(wgsLat: 39.911954, wgsLon: 116.377817, otherLat: 39.91334545536069, otherLon: 116.38404722455657),
    ]

    @Test(arguments: wgsToGCJ)
    func forwardGCJMatchesReference(_ p: Pair) {
        let g = CoordinateTransform.wgs84ToGCJ02(GeoPoint(lat: p.wgsLat, lon: p.wgsLon))
        #expect(g.crs == .gcj02)
        #expect(abs(g.lat - p.otherLat) < 1e-9)
        #expect(abs(g.lon - p.otherLon) < 1e-9)
    }

    @Test(arguments: wgsToGCJ)
    func inverseGCJIsWithinOneMetre(_ p: Pair) {
        let w = CoordinateTransform.toWGS84(GeoPoint(lat: p.otherLat, lon: p.otherLon, crs: .gcj02))
        #expect(w.crs == .wgs84)
        #expect(w.distance(to: GeoPoint(lat: p.wgsLat, lon: p.wgsLon)) < 0.01)
    }

    @Test func gcoordReferencePoint() {
        let gcj = GeoPoint(lat: 45, lon: 123, crs: .gcj02)
        let w = CoordinateTransform.toWGS84(gcj)
        #expect(abs(w.lon - 122.99395597) < 2e-5 && abs(w.lat - 44.99804071) < 2e-5)
        let bd = CoordinateTransform.convert(gcj, to: .bd09)
        #expect(abs(bd.lon - 123.00636499) < 1e-8 && abs(bd.lat - 45.00636899) < 1e-8)
        // And back from the published BD-09 value to within 1 m of the GCJ-02 one.
        let back = CoordinateTransform.bd09ToGCJ02(GeoPoint(lat: 45.00636899, lon: 123.00636499, crs: .bd09))
        #expect(CoordinateTransform.distance(GeoPoint(lat: back.lat, lon: back.lon),
                                             GeoPoint(lat: 45, lon: 123)) < 0.01)
    }

    @Test func roundTripsInLhasaStayWithinOneMillimetre() {
        for (lat, lon) in [(29.6530, 91.1322), (29.65, 91.13), (29.70, 91.05)] {
            let p = GeoPoint(lat: lat, lon: lon)
            for target in [CoordinateSystem.gcj02, .bd09] {
                let q = CoordinateTransform.convert(p, to: target)
                #expect(q.crs == target)
                // The raw offset (read as if WGS-84) is hundreds of metres.
                #expect(GeoPoint(lat: q.lat, lon: q.lon).distance(to: p) > 100)
                let back = CoordinateTransform.convert(q, to: .wgs84)
                let error = GeoPoint(lat: back.lat, lon: back.lon).distance(to: p)
                #expect(error < 0.001, "\(target) round trip off by \(error) m")
            }
        }
    }

    @Test func outsideChinaGCJEqualsWGS() {
        let tokyo = GeoPoint(lat: 35.6812, lon: 139.7671)
        #expect(CoordinateTransform.wgs84ToGCJ02(tokyo).lat == 35.6812)
        #expect(CoordinateTransform.wgs84ToGCJ02(tokyo).lon == 139.7671)
        #expect(CoordinateTransform.toWGS84(GeoPoint(lat: 35.6812, lon: 139.7671, crs: .gcj02)) == tokyo)
    }

    @Test func haversineDistance() {
        let a = GeoPoint(lat: 29.0, lon: 91.0), b = GeoPoint(lat: 30.0, lon: 91.0)
        #expect(abs(a.distance(to: b) - 111_195.08) < 0.01)
        #expect(a.distance(to: a) == 0)
        // Distances are measured after conversion: a point and its own GCJ-02 form are 0 m apart.
        let gcj = CoordinateTransform.convert(a, to: .gcj02)
        #expect(a.distance(to: gcj) < 0.001)
    }
}
