import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// `patrolhub simulate` and `patrolhub drill` as an operator runs them.
@Suite("simulate and drill on the command line")
struct SimulateCLITests {
    static var config: String { packageRoot.appendingPathComponent("config/patrolhub.yaml").path }
    static func scenario(_ name: String) -> String { packageRoot.appendingPathComponent("simulators/\(name)").path }

    @Test("simulate --dry-run --dump: the same seed and start write byte-identical sequences; another seed does not")
    func dryRunDump() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func dump(_ name: String, seed: String) throws -> Data {
            let (status, output) = try runProcess(try patrolhubExecutable(), [
                "simulate", "--scenario", Self.scenario("fault_storm.yaml"), "--config", Self.config, "--seed", seed,
                "--start", "2026-11-29T08:00:00+08:00", "--dry-run", "--dump", dir.file(name),
            ])
            #expect(status == 0, "\(output)")
            #expect(output.contains("scenario time 2026-11-29 07:30:15 +08:00 + 30m"), "\(output)")
            #expect(output.contains("malformed 20"), "\(output)")
            return try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
        }
        let a = try dump("a.jsonl", seed: "5"), b = try dump("b.jsonl", seed: "5"), c = try dump("c.jsonl", seed: "6")
        #expect(a.count > 100_000)
        #expect(a == b)
        #expect(a != c)
    }

    @Test("A bad scenario or option ends with one clear line and a non-zero status")
    func badInput() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let bad = dir.write("bad.yaml", "name: x\nduration: 10m\nincidents:\n  - id: a\n    steps:\n      - {at: 1m, camera: cam-404, type: fight}\n")
        var (status, output) = try runProcess(try patrolhubExecutable(), ["simulate", "--scenario", bad, "--config", Self.config, "--dry-run"])
        #expect(status != 0)
        #expect(output.contains("invalid scenario: \(bad):6: key 'incidents[0].steps[0].camera': camera 'cam-404' is not in the hub's registry (registry.cameras)"), "\(output)")
        (status, output) = try runProcess(try patrolhubExecutable(), ["simulate", "--scenario", Self.scenario("demo.yaml"), "--config", Self.config])
        #expect(status != 0)
        #expect(output.contains("runs an embedded broker on a port chosen at start: pass --broker 127.0.0.1:PORT"), "\(output)")
        (status, output) = try runProcess(try patrolhubExecutable(), ["drill", "--scenario", Self.scenario("demo.yaml"), "--config", Self.config,
                                                                      "--broker", "127.0.0.1:1", "--hub", "http://127.0.0.1:1"])
        #expect(status != 0)
        #expect(output.contains("the hub's API at http://127.0.0.1:1 did not answer GET /healthz"), "\(output)")
    }

    @Test("simulate publishes a scenario to a real broker and reports what it sent")
    func publishes() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let (status, output) = try runProcess(try patrolhubExecutable(), [
            "simulate", "--scenario", Self.scenario("camera_outage.yaml"), "--config", Self.config, "--broker", "127.0.0.1:\(broker.port)",
            "--speed", "7200", "--log-level", "error",
        ], timeout: 60)
        #expect(status == 0, "\(output)")
        #expect(output.contains("1 camera connection(s) cut for their last will"), "\(output)")
        #expect(output.range(of: #"published (\d+) messages \(\1 acknowledged, 0 republished"#, options: .regularExpression) != nil, "\(output)")
    }

    @Test("patrolhub drill against a running hub: exit 1 and a FAILED line naming the expectation the hub does not meet")
    func drillFailsClearly() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.write("fight.yaml", """
            name: one fight
            duration: 2m
            speed: 60
            incidents:
              - id: brawl
                steps:
                  - {id: fight, at: 30s, camera: cam-038, type: fight}
            expect:
              - {kind: case, zone: 540102-002-002-03, category: fight, severity: 1, after: fight, within: 30s}
              - {kind: supervision, zone: 540102-002-002-03, after: fight, within: 5s}
            """)
        try await withLiveHub(configure: SimulatorIntegrationTests.sampleDistrict) { broker, hub, _ in
            let port = try #require(try await hub.hub.http?.waitForPort())
            let (status, output) = try runProcess(try patrolhubExecutable(), [
                "drill", "--scenario", file, "--config", Self.config, "--broker", "127.0.0.1:\(broker.port)",
                "--hub", "http://127.0.0.1:\(port)", "--settle", "2", "--format", "md", "--log-level", "error",
            ], timeout: 60)
            #expect(status == 1, "\(output)")
            #expect(output.contains("FAILED \(file):10: expected supervision zone 540102-002-002-03 within 5s of fight — none within 5s of fight"), "\(output)")
            #expect(output.contains("| matched | 9 | case zone 540102-002-002-03 fight sev 1 within 30s of fight | AJ-00000001 |"), "\(output)")
            #expect(output.contains("**FAILED: 1 matched, 1 missed, 0 not run"), "\(output)")
        }
    }
}
