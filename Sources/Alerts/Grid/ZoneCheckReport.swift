import Foundation

/// What `patrolhub zones check FILE` prints: the number of features, zones
/// and total area per level, and every problem found.
///
/// ```swift
/// let report = ZoneCheckReport(contentsOf: URL(fileURLWithPath: "config/zones.geojson"))
/// print(report.render())
/// exit(report.isValid ? 0 : 1)
/// ```
public struct ZoneCheckReport: Sendable {
    /// The file checked, as given.
    public var file: String
    /// Entries in the `features` array (valid or not).
    public var featureCount: Int
    /// Zones read per level (features with problems in their properties or
    /// geometry are not counted).
    public var countsByLevel: [ZoneLevel: Int]
    /// Total area per level in km² (of the zones counted).
    public var areaSquareKilometresByLevel: [ZoneLevel: Double]
    /// Every problem, in feature order.
    public var problems: [ZoneProblem]

    /// Whether the file has no problem.
    public var isValid: Bool { problems.isEmpty }

    /// Checks GeoJSON bytes.
    public init(data: Data, file: String = "<data>", options: ZoneFile.Options = ZoneFile.Options()) {
        let result = ZoneFile.validate(data, options: options)
        self.file = file
        featureCount = result.featureCount
        problems = result.problems
        var counts: [ZoneLevel: Int] = [:]
        var areas: [ZoneLevel: Double] = [:]
        for z in result.zones {
            counts[z.level, default: 0] += 1
            areas[z.level, default: 0] += z.areaSquareMetres / 1_000_000
        }
        countsByLevel = counts
        areaSquareKilometresByLevel = areas
    }

    /// Reads and checks a file; an unreadable file is reported as a problem.
    public init(contentsOf url: URL, options: ZoneFile.Options = ZoneFile.Options()) {
        do {
            self.init(data: try Data(contentsOf: url), file: url.path, options: options)
        } catch {
            self.init(data: Data(), file: url.path, options: options)
            problems = [ZoneProblem(featureIndex: nil, code: nil, kind: .unreadableFile,
                                    message: "cannot read \(url.path): \(ZoneFile.unreadable(url.path, error))")]
        }
    }

    /// Human-readable text, e.g.
    /// ```
    /// config/zones.geojson: 43 features, OK
    ///   level       zones   area km²
    ///   district        1     43.412
    ///   ...
    /// ```
    public func render() -> String {
        var lines: [String] = []
        let verdict = isValid ? "OK" : "\(problems.count) problem\(problems.count == 1 ? "" : "s")"
        lines.append("\(file): \(featureCount) feature\(featureCount == 1 ? "" : "s"), \(verdict)")
        lines.append("  level       zones   area km²")
        for level in ZoneLevel.allCases {
            let count = countsByLevel[level] ?? 0
            let area = areaSquareKilometresByLevel[level] ?? 0
            lines.append("  " + level.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                         + HubFormat.spacePadded(String(count), width: 6, alignment: .right) + " " + HubFormat.fixed(area, digits: 3, width: 10))
        }
        if !problems.isEmpty {
            lines.append("problems:")
            lines += problems.map { "  \($0.description)" }
        }
        return lines.joined(separator: "\n")
    }
}
