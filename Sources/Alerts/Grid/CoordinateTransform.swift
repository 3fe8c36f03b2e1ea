import Foundation

/// Conversions between WGS-84 (GPS), GCJ-02 (the "Mars" datum of Amap and
/// Tencent maps) and BD-09 (Baidu maps).
///
/// The forward formulas (WGS-84 → GCJ-02 on the Krasovsky ellipsoid, and
/// GCJ-02 → BD-09) are the widely published ones; they are the de-facto
/// reference used by every open-source converter. GCJ-02 → WGS-84 has no
/// closed form and is solved by fixed-point iteration until the forward
/// image matches to 1e-9 degrees (about 0.1 mm), so a round trip is exact
/// to far better than 1 m. Outside China (the usual rough rectangle)
/// GCJ-02 equals WGS-84.
///
/// ```swift
/// let wgs = CoordinateTransform.toWGS84(GeoPoint(lat: 39.915, lon: 116.404, crs: .bd09))
/// ```
public enum CoordinateTransform {
    private static let krasovskyA = 6_378_245.0
    private static let krasovskyEE = 0.006_693_421_622_965_943_23
    private static let baiduXPi = Double.pi * 3000.0 / 180.0

    /// Whether GCJ-02 leaves a point unchanged (the conventional bounding
    /// rectangle of mainland China, as in the published reference code).
    public static func isOutsideChina(lat: Double, lon: Double) -> Bool {
        lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
    }

    /// The point in WGS-84, whatever its CRS. Invalid points are returned unchanged.
    @inline(__always)
    public static func toWGS84(_ p: GeoPoint) -> GeoPoint {
        switch p.crs {
        case .wgs84: return p
        case .gcj02: return gcj02ToWGS84(p)
        case .bd09: return gcj02ToWGS84(bd09ToGCJ02(p))
        }
    }

    /// The point expressed in `target`.
    public static func convert(_ p: GeoPoint, to target: CoordinateSystem) -> GeoPoint {
        if p.crs == target { return p }
        let wgs = toWGS84(p)
        switch target {
        case .wgs84: return wgs
        case .gcj02: return wgs84ToGCJ02(wgs)
        case .bd09: return gcj02ToBD09(wgs84ToGCJ02(wgs))
        }
    }

    /// WGS-84 → GCJ-02 (the published forward formula).
    public static func wgs84ToGCJ02(_ p: GeoPoint) -> GeoPoint {
        let (dLat, dLon) = gcjOffset(lat: p.lat, lon: p.lon)
        return GeoPoint(lat: p.lat + dLat, lon: p.lon + dLon, crs: .gcj02)
    }

    /// GCJ-02 → WGS-84 by iteration: start from the GCJ point, subtract the
    /// residual of the forward transform until it is below 1e-9 degrees.
    public static func gcj02ToWGS84(_ p: GeoPoint) -> GeoPoint {
        guard p.isValid, !isOutsideChina(lat: p.lat, lon: p.lon) else {
            return GeoPoint(lat: p.lat, lon: p.lon, crs: .wgs84)
        }
        var lat = p.lat, lon = p.lon
        for _ in 0..<30 {
            let (dLat, dLon) = gcjOffset(lat: lat, lon: lon)
            let errLat = lat + dLat - p.lat
            let errLon = lon + dLon - p.lon
            lat -= errLat
            lon -= errLon
            if abs(errLat) < 1e-9 && abs(errLon) < 1e-9 { break }
        }
        return GeoPoint(lat: lat, lon: lon, crs: .wgs84)
    }

    /// GCJ-02 → BD-09 (Baidu's published formula).
    public static func gcj02ToBD09(_ p: GeoPoint) -> GeoPoint {
        let x = p.lon, y = p.lat
        let z = (x * x + y * y).squareRoot() + 0.000_02 * sin(y * baiduXPi)
        let theta = atan2(y, x) + 0.000_003 * cos(x * baiduXPi)
        return GeoPoint(lat: z * sin(theta) + 0.006, lon: z * cos(theta) + 0.0065, crs: .bd09)
    }

    /// BD-09 → GCJ-02: Baidu's published inverse (good to a few
    /// centimetres), refined by a few fixed-point steps against the forward
    /// formula so a round trip is exact to about 1e-9 degrees.
    public static func bd09ToGCJ02(_ p: GeoPoint) -> GeoPoint {
        let x = p.lon - 0.0065, y = p.lat - 0.006
        let z = (x * x + y * y).squareRoot() - 0.000_02 * sin(y * baiduXPi)
        let theta = atan2(y, x) - 0.000_003 * cos(x * baiduXPi)
        var g = GeoPoint(lat: z * sin(theta), lon: z * cos(theta), crs: .gcj02)
        guard p.isValid else { return g }
        for _ in 0..<5 {
            let f = gcj02ToBD09(g)
            let errLat = f.lat - p.lat, errLon = f.lon - p.lon
            g.lat -= errLat
            g.lon -= errLon
            if abs(errLat) < 1e-10 && abs(errLon) < 1e-10 { break }
        }
        return g
    }

    /// Great-circle (haversine) distance in metres on the mean earth sphere;
    /// both points are converted to WGS-84 first.
    public static func distance(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let p = toWGS84(a), q = toWGS84(b)
        let rad = Double.pi / 180
        let dLat = (q.lat - p.lat) * rad
        let dLon = (q.lon - p.lon) * rad
        let h = sin(dLat / 2) * sin(dLat / 2)
            + cos(p.lat * rad) * cos(q.lat * rad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadiusMetres * asin(Swift.min(1, h.squareRoot()))
    }

    private static func gcjOffset(lat: Double, lon: Double) -> (Double, Double) {
        if isOutsideChina(lat: lat, lon: lon) { return (0, 0) }
        var dLat = transformLat(lon - 105.0, lat - 35.0)
        var dLon = transformLon(lon - 105.0, lat - 35.0)
        let radLat = lat / 180.0 * .pi
        var magic = sin(radLat)
        magic = 1 - krasovskyEE * magic * magic
        let sqrtMagic = magic.squareRoot()
        dLat = (dLat * 180.0) / ((krasovskyA * (1 - krasovskyEE)) / (magic * sqrtMagic) * .pi)
        dLon = (dLon * 180.0) / (krasovskyA / sqrtMagic * cos(radLat) * .pi)
        return (dLat, dLon)
    }

    private static func transformLat(_ x: Double, _ y: Double) -> Double {
        var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * abs(x).squareRoot()
        r += (20.0 * sin(6.0 * x * .pi) + 20.0 * sin(2.0 * x * .pi)) * 2.0 / 3.0
        r += (20.0 * sin(y * .pi) + 40.0 * sin(y / 3.0 * .pi)) * 2.0 / 3.0
        r += (160.0 * sin(y / 12.0 * .pi) + 320 * sin(y * .pi / 30.0)) * 2.0 / 3.0
        return r
    }

    private static func transformLon(_ x: Double, _ y: Double) -> Double {
        var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * abs(x).squareRoot()
        r += (20.0 * sin(6.0 * x * .pi) + 20.0 * sin(2.0 * x * .pi)) * 2.0 / 3.0
        r += (20.0 * sin(x * .pi) + 40.0 * sin(x / 3.0 * .pi)) * 2.0 / 3.0
        r += (150.0 * sin(x / 12.0 * .pi) + 300.0 * sin(x / 30.0 * .pi)) * 2.0 / 3.0
        return r
    }
}

extension GeoPoint {
    /// Great-circle (haversine) distance in metres to `other`, after
    /// converting both to WGS-84. Used for checkpoint radii.
    public func distance(to other: GeoPoint) -> Double {
        CoordinateTransform.distance(self, other)
    }

    /// This point in WGS-84.
    public var wgs84: GeoPoint { CoordinateTransform.toWGS84(self) }
}
