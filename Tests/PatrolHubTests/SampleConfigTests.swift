import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// The repository's `config/` describes an invented district: `serve` on it must
/// not issue reminder letters for invented patrol routes, and must say it runs
/// sample data (log, `status`, board); the demo and the tests still use the plan.
@Suite("Sample config", .serialized)
struct SampleConfigTests {
    @Test func theShippedConfigIsMarkedAsASampleAndKeepsItsPlanForTheDemo() throws {
        let c = try HubConfig.load(file: packageRoot.appendingPathComponent("config/patrolhub.yaml").path)
        #expect(c.sample, "config/patrolhub.yaml says sample: true")
        #expect(c.patrolFile == packageRoot.appendingPathComponent("config/patrol.yaml").standardizedFileURL.path, "the demo's plan is beside it")
        #expect(try HubConfig.parse(ConfigMap.parse(yaml: "timezone: UTC\n", file: "x.yaml"), file: "x.yaml").sample == false, "a district's config is not a sample")
    }

    /// A config for `serve` on the sample district's registry and patrol plan, against an external broker.
    static func config(_ dir: TempDir, brokerPort: Int, sample: Bool) -> String {
        let sampleDir = packageRoot.appendingPathComponent("config").path
        return dir.write("hub.yaml", """
            \(sample ? "sample: true" : "")
            data_dir: .
            broker:
              mode: external
              host: 127.0.0.1
              port: \(brokerPort)
              client_id: sample-\(sample)
            store:
              path: hub.sqlite
            registry:
              zones: \(sampleDir)/zones.geojson
              cameras: \(sampleDir)/cameras.csv
              devices: \(sampleDir)/devices.csv
              patrol: \(sampleDir)/patrol.yaml
            http:
              listen: 127.0.0.1:0
            rules: \(sampleDir)/rules.yaml
            """)
    }

    @Test("serve on a sample config runs without the patrol plan and says so in its log, status and board; without the key the plan runs")
    func serveOnTheSampleRunsNoPatrolPlanAndSaysSo() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir("patrolhub-sample")
        defer { dir.cleanup() }

        let sample = Self.config(dir, brokerPort: broker.port, sample: true)
        let hub = try HubProcess(config: sample, logLevel: "info")
        try await waitUntil("the hub listens", timeout: 60) { hub.log.contains("http.started") || !hub.isRunning }
        let log = hub.log
        #expect(log.contains("hub.sample_config"), "\(log)")
        #expect(log.contains("SAMPLE DATA: this config describes an invented district"), "\(log)")
        #expect(log.contains("patrol.routes=0"), "no patrol plan, so no reminder letter for an invented route: \(log)")
        let port = try #require(log.range(of: #"http.address=127\.0\.0\.1:(\d+)"#, options: .regularExpression).flatMap { Int(log[$0].split(separator: ":").last!) })
        let page = try await TestHTTPClient(port: port).get("/")
        #expect(page.text.contains(#""sample":true"#), "the board is built with the banner on")
        let (status, text) = try runProcess(try patrolhubExecutable(), ["status", "--config", sample])
        #expect(status == 0, "\(text)")
        #expect(text.hasPrefix("SAMPLE CONFIG \(sample): invented district data (sample: true); serve runs without the patrol plan\n"), "\(text)")
        let (_, json) = try runProcess(try patrolhubExecutable(), ["status", "--config", sample, "--json"])
        #expect(try JSONParser.parse(json.trimmingCharacters(in: .whitespacesAndNewlines))["sample_config"] == .bool(true), "\(json)")
        hub.stop()

        // The same files without `sample: true`: the plan runs, nothing is said.
        let own = Self.config(dir, brokerPort: broker.port, sample: false)
        let second = try HubProcess(config: own, logLevel: "info")
        try await waitUntil("the hub listens", timeout: 60) { second.log.contains("http.started") || !second.isRunning }
        let ownLog = second.log
        #expect(!ownLog.contains("hub.sample_config"), "\(ownLog)")
        #expect(ownLog.range(of: #"patrol\.routes=[1-9]"#, options: .regularExpression) != nil, "\(ownLog)")
        let (_, ownStatus) = try runProcess(try patrolhubExecutable(), ["status", "--config", own])
        #expect(!ownStatus.contains("SAMPLE CONFIG"), "\(ownStatus)")
        second.stop()
    }

    @Test("log lines are stamped in the configured timezone with its offset")
    func logLinesUseTheConfiguredZone() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir("patrolhub-log-zone")
        defer { dir.cleanup() }
        for (n, (zone, offset)) in [("Asia/Shanghai", "+0800"), ("America/Sao_Paulo", "-0300")].enumerated() {
            let config = writeHubConfig(dir, name: "zone\(n).yaml", brokerPort: broker.port, clientID: "log-zone-\(n)", store: "zone\(n).sqlite",
                                        extra: "timezone: \(zone)")
            let hub = try HubProcess(config: config, logLevel: "info")
            try await waitUntil("the hub listens", timeout: 60) { hub.log.contains("http.started") || !hub.isRunning }
            let line = try #require(hub.log.split(separator: "\n").first { $0.contains("http.started") }, "\(hub.log)")
            #expect(line.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"# + NSRegularExpression.escapedPattern(for: offset) + " ", options: .regularExpression) != nil, "\(zone): \(line)")
            hub.stop()
        }
    }
}
