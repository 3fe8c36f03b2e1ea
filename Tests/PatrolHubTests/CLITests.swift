import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// The `patrolhub` executable as an operator runs it.
@Suite("Command line")
struct CLITests {
    @Test func zonesCheckPassesOnTheSample() throws {
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "check", packageRoot.appendingPathComponent("config/zones.geojson").path,
                                                                           "--cameras", packageRoot.appendingPathComponent("config/cameras.csv").path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("43 features, OK"))
        #expect(output.contains("every camera is in a zone"))
    }

    @Test func zonesCheckFailsNamingTheFeatureAndProblem() throws {
        let bad = packageRoot.appendingPathComponent("Tests/AlertsTests/Fixtures/grid/err_unclosed.geojson").path
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "check", bad])
        #expect(status != 0)
        #expect(output.contains("feature "), "\(output)")
        #expect(output.contains("not closed"), "\(output)")
    }

    @Test func zonesLocateJSON() throws {
        let zones = packageRoot.appendingPathComponent("config/zones.geojson").path
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "locate", "--lat", "29.655", "--lon", "91.13", "--zones", zones, "--json"])
        #expect(status == 0)
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"chain":["540102","540102-001","540102-001-002","540102-001-002-02"],"zone":"540102-001-002-02"}"#)
        let (_, outside) = try runProcess(try patrolhubExecutable(), ["zones", "locate", "--lat", "39.9", "--lon", "116.4", "--zones", zones, "--json"])
        #expect(outside.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"chain":[],"zone":"unzoned"}"#)
    }

    @Test func statusJSONHasTheDocumentedKeys() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try DisputeStore(path: dir.file("s.sqlite"))
        try store.ingest([InboxMessage(topic: "patrolhub/v1/camera/x/event", payload: Array("{}".utf8), receivedAt: Date())])
        let config = dir.write("hub.yaml", "store:\n  path: s.sqlite\n")
        let (status, output) = try runProcess(try patrolhubExecutable(), ["status", "--config", config, "--json"])
        #expect(status == 0, "\(output)")
        let json = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["inbox"] == .object(["received": .number(1), "processed": .number(0), "pending": .number(1)]))
        for key in ["dead_letters", "risk_items", "slips", "cases"] { #expect(json[key] != nil, "\(key)") }
    }
}
