/// The levels of the grid hierarchy of SPEC.md ("Registry and grid"):
/// district (区) → street (街道) → community (社区) → grid (网格).
///
/// Levels compare by specificity: `.district < .street < .community < .grid`,
/// so "the most specific zone" is the one with the greatest level.
public enum ZoneLevel: String, Sendable, Codable, CaseIterable, Hashable, Comparable {
    case district
    case street
    case community
    case grid

    /// 0 for district … 3 for grid.
    public var depth: Int {
        switch self {
        case .district: return 0
        case .street: return 1
        case .community: return 2
        case .grid: return 3
        }
    }

    /// The level a zone of this level must have as parent; nil for a district,
    /// which has no parent.
    public var parentLevel: ZoneLevel? {
        switch self {
        case .district: return nil
        case .street: return .district
        case .community: return .street
        case .grid: return .community
        }
    }

    /// The Chinese term used on reports (区, 街道, 社区, 网格).
    public var chineseName: String {
        switch self {
        case .district: return "区"
        case .street: return "街道"
        case .community: return "社区"
        case .grid: return "网格"
        }
    }

    /// District < street < community < grid: outer levels first.
    public static func < (lhs: ZoneLevel, rhs: ZoneLevel) -> Bool { lhs.depth < rhs.depth }
}

/// One zone of the grid hierarchy: a district, street, community or grid,
/// with its responsible unit and grid worker, and its geometry in WGS-84.
///
/// The geometry is always WGS-84: a feature imported with `crs: gcj02` or
/// `bd09` is converted when the file is read. The bounding box and the area
/// are computed once, when the zone is made.
public struct Zone: Sendable, Hashable, Identifiable {
    /// Hierarchical code, e.g. `540102-001-003-07`. Unique in a zone file.
    public let code: String
    /// Display name, e.g. `冲赛康社区`.
    public let name: String
    /// District, street, community or grid.
    public let level: ZoneLevel
    /// The code of the enclosing zone; nil for a district.
    public let parent: String?
    /// The responsible unit (e.g. `八廓街道综治中心`), if the file names one.
    public let unit: String?
    /// The grid worker id (e.g. `gw-001`), if the file names one.
    public let worker: String?
    /// The zone's area: one or more polygons, each an outer ring plus holes.
    public let geometry: MultiPolygon
    /// The smallest longitude/latitude box around `geometry`.
    public let boundingBox: GeoBoundingBox
    /// The area in square metres (outer rings minus holes), on a local
    /// equirectangular projection: accurate to well under 1 % at the size of a district.
    public let areaSquareMetres: Double

    /// The code: zones are `Identifiable` by it.
    public var id: String { code }

    /// Makes a zone; the bounding box and area are derived from `geometry`.
    ///
    /// - Parameters:
    ///   - geometry: WGS-84 polygons, `[lon, lat]` rings, closed or not, either winding.
    public init(
        code: String, name: String, level: ZoneLevel, parent: String? = nil,
        unit: String? = nil, worker: String? = nil, geometry: MultiPolygon
    ) {
        self.code = code
        self.name = name
        self.level = level
        self.parent = parent
        self.unit = unit
        self.worker = worker
        self.geometry = geometry
        self.boundingBox = geometry.boundingBox
        self.areaSquareMetres = geometry.areaSquareMetres
    }

    /// Convenience for a zone made of one polygon.
    public init(
        code: String, name: String, level: ZoneLevel, parent: String? = nil,
        unit: String? = nil, worker: String? = nil, polygon: Polygon
    ) {
        self.init(code: code, name: name, level: level, parent: parent, unit: unit,
                  worker: worker, geometry: MultiPolygon([polygon]))
    }

    /// Whether the closed zone (boundary included, holes excluded) contains
    /// the WGS-84 point. Slow path for one-off checks; lookups go through `ZoneIndex`.
    public func contains(_ position: GeoPosition) -> Bool {
        boundingBox.contains(position) && geometry.contains(position)
    }
}
