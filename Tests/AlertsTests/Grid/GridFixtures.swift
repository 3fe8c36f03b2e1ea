import Foundation
@testable import Alerts

/// Paths of the grid fixtures and of the sample config, relative to this file.
enum GridFixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()

    static func url(_ name: String) -> URL {
        testsDirectory.appendingPathComponent("Fixtures/grid/\(name)")
    }

    static func sample(_ name: String) -> URL {
        packageRoot.appendingPathComponent("config/\(name)")
    }

    /// Problems of a fixture file, as `zones check` would list them.
    static func problems(_ name: String) -> [ZoneProblem] {
        ZoneCheckReport(contentsOf: url(name)).problems
    }

    static func wgs(_ lon: Double, _ lat: Double) -> GeoPoint { GeoPoint(lat: lat, lon: lon) }
}
