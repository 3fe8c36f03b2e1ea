/// A coordinate reference system used by Chinese map services.
///
/// Everything is converted to WGS-84 before a zone lookup; GCJ-02 (Amap,
/// Tencent) and BD-09 (Baidu) are offset by hundreds of metres.
public enum CoordinateSystem: String, Sendable, Codable, CaseIterable, Hashable {
    case wgs84
    case gcj02
    case bd09
}

/// A point on the earth, latitude and longitude in degrees, in a named CRS.
public struct GeoPoint: Sendable, Hashable, Codable {
    /// Latitude in degrees, −90…90.
    public var lat: Double
    /// Longitude in degrees, −180…180.
    public var lon: Double
    /// The datum the coordinates are in (WGS-84, GCJ-02 or BD-09); converted to WGS-84 for zone lookups.
    public var crs: CoordinateSystem

    /// A point in `crs` (WGS-84 by default).
    public init(lat: Double, lon: Double, crs: CoordinateSystem = .wgs84) {
        self.lat = lat
        self.lon = lon
        self.crs = crs
    }

    /// Whether latitude and longitude are finite and within their ranges.
    public var isValid: Bool {
        lat.isFinite && lon.isFinite && (-90...90).contains(lat) && (-180...180).contains(lon)
    }
}
