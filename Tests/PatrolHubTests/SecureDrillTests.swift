import Alerts
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `patrolhub serve` with its embedded broker locked (the default), and a
/// drill against it from another process: the simulator logs in with the
/// simulator account of the hub's credentials file, a dying camera with its
/// own account (its last will), and the drill passes.
@Suite("A drill against a hub whose broker has a lock")
struct SecureDrillTests {
    @Test func simulateAndDrillLogInWithTheHubsCredentials() async throws {
        let dir = TempDir("patrolhub-secure-drill")
        defer { dir.cleanup() }
        let root = packageRoot.appendingPathComponent("config").path
        let brokerPort = try EmbeddedBroker.freePort(), httpPort = try EmbeddedBroker.freePort()
        let config = dir.write("hub.yaml", """
            data_dir: .
            broker:
              port: \(brokerPort)
            registry:
              zones: \(root)/zones.geojson
              cameras: \(root)/cameras.csv
              devices: \(root)/devices.csv
              patrol: \(root)/patrol.yaml
            rules: \(root)/rules.yaml
            http:
              listen: 127.0.0.1:\(httpPort)
            """)
        let hub = Process()
        hub.executableURL = URL(fileURLWithPath: try patrolhubExecutable())
        hub.arguments = ["serve", "--config", config, "--log-level", "error"]
        hub.standardOutput = FileHandle.nullDevice
        hub.standardError = FileHandle.nullDevice
        try hub.run()
        defer {
            if hub.isRunning { kill(hub.processIdentifier, SIGTERM); hub.waitUntilExit() }
        }
        try await waitUntil("the hub's broker and HTTP server listen", timeout: 30) {
            EmbeddedBroker.canConnect(host: "127.0.0.1", port: brokerPort) && EmbeddedBroker.canConnect(host: "127.0.0.1", port: httpPort)
        }
        // Anonymous clients are refused by this broker: the drill can only pass with the accounts.
        #expect(try RawMQTT(port: brokerPort).connect(clientID: "anyone") == 5)
        let scenario = packageRoot.appendingPathComponent("simulators/camera_outage.yaml").path
        let (status, output) = try runProcess(try patrolhubExecutable(), [
            "drill", "--scenario", scenario, "--config", config, "--hub", "http://127.0.0.1:\(httpPort)", "--settle", "10", "--log-level", "error",
        ], timeout: 120)
        #expect(status == 0, "\(output)")
        #expect(output.contains("PASSED"), "\(output)")
        let log = (try? String(contentsOfFile: dir.file("broker/mosquitto.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("u'patrolhub-sim'"), "the simulator logged in with its account")
        #expect(log.contains("as cam-012 (") && log.contains("u'cam-012'"), "the dying camera logged in as itself")
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
        #expect(hub.terminationStatus == 0)
    }
}
