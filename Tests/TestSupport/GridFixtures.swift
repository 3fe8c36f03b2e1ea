import Foundation
import Alerts

/// Paths of the grid fixtures (`Tests/Fixtures/grid`) and of the sample config.
package enum GridFixtures {
    package static func url(_ name: String) -> URL {
        TestPaths.fixture("grid/\(name)")
    }

    package static func sample(_ name: String) -> URL {
        TestPaths.config(name)
    }

    /// Problems of a fixture file, as `zones check` would list them.
    package static func problems(_ name: String) -> [ZoneProblem] {
        ZoneCheckReport(contentsOf: url(name)).problems
    }

    package static func wgs(_ lon: Double, _ lat: Double) -> GeoPoint { GeoPoint(lat: lat, lon: lon) }
}
