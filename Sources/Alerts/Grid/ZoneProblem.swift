/// One thing wrong in a zone file, tied to the feature it was found in.
///
/// `description` is the line an operator reads, e.g.
/// `feature 12 (540102-001-002-03): ring 0 is not closed`.
public struct ZoneProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem. Stable raw values: scripts may filter on them.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// The file could not be read.
        case unreadableFile = "unreadable_file"
        /// The bytes are not JSON.
        case malformedJSON = "malformed_json"
        /// Valid JSON but not a GeoJSON FeatureCollection of Features.
        case invalidStructure = "invalid_structure"
        /// A geometry other than Polygon or MultiPolygon, or a missing geometry.
        case unsupportedGeometry = "unsupported_geometry"
        /// A required property (`code`, `name`, `level`, `parent`) is absent.
        case missingProperty = "missing_property"
        /// A property has the wrong type or an unknown value (`level`, `crs`).
        case invalidProperty = "invalid_property"
        /// A position that is not two numbers, or is NaN or out of range.
        case invalidCoordinate = "invalid_coordinate"
        /// A ring whose last position differs from its first.
        case unclosedRing = "unclosed_ring"
        /// A ring with fewer than 4 positions.
        case tooFewPositions = "too_few_positions"
        /// A ring with more than `GeoJSONZoneReader.maxRingPositions` positions.
        case tooManyPositions = "too_many_positions"
        /// A ring that crosses or touches itself.
        case selfIntersection = "self_intersection"
        /// Two features with the same `code`.
        case duplicateCode = "duplicate_code"
        /// A `parent` that names no feature of the file.
        case unknownParent = "unknown_parent"
        /// A parent of the wrong level (grid → community → street → district),
        /// or a district with a parent.
        case levelOutOfOrder = "level_out_of_order"
        /// A zone reaching outside its parent by more than the tolerance.
        case outsideParent = "outside_parent"
        /// Two zones with the same parent whose interiors overlap by more than the tolerance.
        case overlap = "overlap"
    }

    /// 0-based index of the feature in the `features` array; nil for
    /// problems of the whole file (unreadable, malformed JSON).
    public var featureIndex: Int?
    /// The feature's `code`, when it has a readable one.
    public var code: String?
    /// Which rule the problem breaks.
    public var kind: Kind
    /// What is wrong, in words, with the numbers that locate it.
    public var message: String

    /// A problem with the feature it concerns, when there is one.
    public init(featureIndex: Int?, code: String?, kind: Kind, message: String) {
        self.featureIndex = featureIndex
        self.code = code
        self.kind = kind
        self.message = message
    }

    /// `feature N (CODE): MESSAGE`, or `file: MESSAGE` for the file as a whole.
    public var description: String {
        guard let featureIndex else { return "file: \(message)" }
        if let code { return "feature \(featureIndex) (\(code)): \(message)" }
        return "feature \(featureIndex): \(message)"
    }
}

extension HubError.Code {
    /// A zone file that cannot be loaded; the description lists every problem found in it.
    public static let zoneFile = Self("zone_file")
}

extension HubError {
    /// A zone file that cannot be loaded, with every problem found in it.
    ///
    /// Loading never stops at the first problem and never half-loads: either the
    /// whole file becomes a `ZoneIndex`, or this error lists everything to fix:
    /// a header line (the message), then one line per problem, in feature order
    /// (file-level problems first). `context.file` is the file (nil for data),
    /// `context.values["problems"]` the count; `ZoneFile.validate` gives the
    /// problems as values.
    public static func zoneFile(file: String?, problems: [ZoneProblem], fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        let n = problems.count
        let header = "zone file \(file ?? "<data>") has \(n) problem\(n == 1 ? "" : "s"):"
        return HubError(.zoneFile, header, context: Context(file: file, values: ["problems": String(n)]),
                        description: ([header] + problems.map { "  \($0.description)" }).joined(separator: "\n"),
                        fileID: fileID, line: line)
    }
}
