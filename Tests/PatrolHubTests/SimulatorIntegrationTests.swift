import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// The simulator's scenarios (`simulators/*.yaml`) as drills against a real
/// hub (the repository's sample district) over a real mosquitto: every
/// expectation of every scenario must be met. Scenarios run at a few times
/// their own speed, so the suite stays fast.
@Suite("Simulator and drills over a real broker", .serialized)
struct SimulatorIntegrationTests {
    static func sampleDistrict(_ c: inout HubConfig) {
        let config = packageRoot.appendingPathComponent("config")
        c.camerasFile = config.appendingPathComponent("cameras.csv").path
        c.devicesFile = config.appendingPathComponent("devices.csv").path
        c.zonesFile = config.appendingPathComponent("zones.geojson").path
        c.rulesFile = config.appendingPathComponent("rules.yaml").path
    }

    static func scenario(_ name: String) throws -> Scenario {
        try ScenarioParser.load(file: packageRoot.appendingPathComponent("simulators/\(name)").path)
    }

    /// Plans `scenario` for the hub's registry and runs it as a drill through the hub's store.
    static func drill(_ scenario: Scenario, hub: TestHub, brokerPort: Int, speedFactor: Double = 4, settle: TimeInterval = 10)
        async throws -> (DrillResult, SimulationPlan)
    {
        let world = SimulationWorld(config: hub.hub.config, registry: hub.hub.registry, zones: hub.hub.placer.zones)
        let clock = SimulationClock(runStart: Date(), speed: scenario.speed * speedFactor, duration: scenario.duration)
        let plan = try SimulationPlanner(scenario: scenario, world: world).plan(clock: clock)
        var options = SimulatorRunner.Options()
        options.mqtt.port = brokerPort
        options.mqtt.clientID = "sim-under-test"
        options.mqtt.cleanSession = true
        options.mqtt.reconnectDelayMin = 0.05
        options.mqtt.reconnectDelayMax = 0.5
        // Through the hub's HTTP API, as `patrolhub drill` does.
        let port = try #require(try await hub.hub.http?.waitForPort())
        let source = HTTPOutcomeSource(base: URL(string: "http://127.0.0.1:\(port)")!, token: nil)
        try await source.checkHealth()
        let runner = DrillRunner(scenario: scenario, plan: plan, runner: options, source: source, settle: settle, logger: testLogger)
        return (try await runner.run(), plan)
    }

    @Test("Each scenario in simulators/ meets all its expectations against a real hub",
          arguments: ["quiet_day.yaml", "busy_market_day.yaml", "camera_outage.yaml", "multi_source_incident.yaml", "fault_storm.yaml", "demo.yaml"])
    func scenarioMeetsExpectations(file: String) async throws {
        let scenario = try Self.scenario(file)
        try await withLiveHub(configure: Self.sampleDistrict) { broker, hub, _ in
            let (result, plan) = try await Self.drill(scenario, hub: hub, brokerPort: broker.port)
            #expect(result.passed, "\(result.text)")
            #expect(result.missed == 0 && result.notRun == 0)
            #expect(result.matched == scenario.expectations.count)
            #expect(result.acknowledged == plan.messages.count)
            // Every message reached the hub (wills included), and every broken one is a dead letter with its reason.
            let wills = plan.controls.filter { if case .lastWill = $0 { return true }; return false }.count
            try await hub.waitProcessed(received: plan.messages.count + wills)
            let status = try hub.store.status()
            #expect(status.deadLetters == plan.expectedDeadLetters, "dead letters \(status.deadLetters) vs planned \(plan.expectedDeadLetters)")
        }
    }

    @Test("The fault storm: duplicates, republished messages and broken payloads change no outcome")
    func faultStormDeadLetters() async throws {
        let scenario = try Self.scenario("fault_storm.yaml")
        try await withLiveHub(configure: Self.sampleDistrict) { broker, hub, _ in
            let (result, plan) = try await Self.drill(scenario, hub: hub, brokerPort: broker.port)
            #expect(result.passed, "\(result.text)")
            #expect(plan.expectedDeadLetters == ["clock_skew": 5, "invalid_value": 4, "malformed": 6, "missing_field": 4, "out_of_range": 2,
                                                  "unknown_source": 2, "wrong_type": 2])
            #expect(plan.counts[.duplicate, default: 0] > 0)
            #expect(plan.counts[.late, default: 0] > 0)
            #expect(plan.counts[.burst] == 2000)
            let status = try hub.store.status()
            #expect(status.deadLetters == plan.expectedDeadLetters)
            #expect(status.casesTotal == 2)
        }
    }

    @Test("A drill expecting an outcome the hub does not produce fails, naming the expectation")
    func failingDrill() async throws {
        var scenario = try Self.scenario("multi_source_incident.yaml")
        let impossible = DrillExpectation(kind: .supervision, zone: "540102-002-002-03", category: .fight, after: "fight", within: 5, line: 999)
        scenario.expectations.append(impossible)
        try await withLiveHub(configure: Self.sampleDistrict) { broker, hub, _ in
            let (result, _) = try await Self.drill(scenario, hub: hub, brokerPort: broker.port, speedFactor: 8, settle: 3)
            #expect(!result.passed)
            #expect(result.missed == 1)
            #expect(result.matched == scenario.expectations.count - 1)
            let line = try #require(result.failureLines.first)
            #expect(line.hasPrefix("FAILED \(scenario.file):999: expected supervision zone 540102-002-002-03 fight within 5s of fight — none within 5s of fight"))
            #expect(result.text.contains("FAILED: \(scenario.expectations.count - 1) matched, 1 missed"))
        }
    }

    @Test("The same seed and start publish byte-identical message sequences over a real broker")
    func sameSeedSameBytes() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let scenario = try Self.scenario("busy_market_day.yaml")
        var config = HubConfig()
        Self.sampleDistrict(&config)
        let world = try SimulationWorld.load(config: config)
        let start = Date(timeIntervalSince1970: 1_795_900_000)
        func capture(seed: UInt64) async throws -> [ReceivedMessage] {
            let clock = SimulationClock(runStart: start, speed: 1_000_000, duration: 2 * 3600)
            let plan = try SimulationPlanner(scenario: scenario, world: world).plan(seed: seed, clock: clock)
            let sink = Sink()
            var o = MQTTClient.Options()
            o.port = broker.port
            o.clientID = "capture-\(seed)-\(UUID().uuidString.prefix(4))"
            o.cleanSession = true
            o.subscriptions = ["patrolhub/v1/camera/+/event", "patrolhub/v1/device/#", "patrolhub/v1/gb28181/#", "patrolhub/v1/onvif/#", "frigate/events"]
            let sub = MQTTClient(options: o, logger: testLogger) { batch in sink.add(batch); return true }
            try sub.start()
            defer { sub.stop() }
            try await waitUntil("capture connected") { sub.isConnected }
            try await Task.sleep(for: .milliseconds(100))
            var options = SimulatorRunner.Options()
            options.mqtt.port = broker.port
            options.mqtt.clientID = "sim-\(seed)"
            let report = try await SimulatorRunner(options: options, logger: testLogger).run(plan)
            let expected = plan.messages.filter { !$0.topic.hasSuffix("/status") }.count
            #expect(report.acknowledged == plan.messages.count)
            try await waitUntil("\(expected) messages captured") { sink.count >= expected }
            return sink.messages
        }
        let a = try await capture(seed: 11)
        let b = try await capture(seed: 11)
        let c = try await capture(seed: 12)
        #expect(a.count > 200)
        #expect(a.map(\.topic) == b.map(\.topic))
        #expect(a.map(\.payload) == b.map(\.payload))
        #expect(a.map(\.payload) != c.map(\.payload))
    }
}

/// Collects what a subscriber receives.
final class Sink: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ReceivedMessage] = []
    func add(_ batch: [ReceivedMessage]) { lock.withLock { list.append(contentsOf: batch) } }
    var messages: [ReceivedMessage] { lock.withLock { list } }
    var count: Int { lock.withLock { list.count } }
}
