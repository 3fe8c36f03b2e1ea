import Alerts
import Foundation
import GRDB
@testable import PatrolHubMQTT
@testable import Simulation
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

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

    /// The sample district with its patrol plan (`config/patrol.yaml`), for scenarios that walk patrol rounds.
    static func samplePatrol(_ c: inout HubConfig) {
        sampleDistrict(&c)
        c.patrolFile = packageRoot.appendingPathComponent("config/patrol.yaml").path
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
        // Patrol rounds follow the hub's own patrol plan, as `patrolhub drill` reads it from the hub's config.
        let config = hub.hub.config
        let patrol = try config.patrolFile.map { try PatrolPlan.load(file: $0, registry: hub.hub.registry, zones: hub.hub.placer.zones, timeZone: config.timezone) }
        let plan = try SimulationPlanner(scenario: scenario, world: world, patrolPlan: patrol).plan(clock: clock)
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
          arguments: ["quiet_day.yaml", "busy_market_day.yaml", "camera_outage.yaml", "multi_source_incident.yaml", "fault_storm.yaml", "demo.yaml",
                      "patrol_with_gaps.yaml"])
    func scenarioMeetsExpectations(file: String) async throws {
        let scenario = try Self.scenario(file)
        try await withLiveHub(configure: scenario.patrol == nil ? Self.sampleDistrict : Self.samplePatrol) { broker, hub, _ in
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

    @Test("Patrol with gaps, far faster than real time: exactly the slots missed between two check-ins of their device get a letter and an item")
    func patrolGapsExactly() async throws {
        let scenario = try Self.scenario("patrol_with_gaps.yaml")
        // The hub's wall-clock scheduler only ever decides slots whose grace ends after its first tick, later than this.
        let beforeHub = Date()
        try await withLiveHub(configure: Self.samplePatrol) { broker, hub, _ in
            let config = hub.hub.config
            let patrol = try PatrolPlan.load(file: try #require(config.patrolFile), registry: hub.hub.registry, zones: hub.hub.placer.zones, timeZone: config.timezone)
            let (result, plan) = try await Self.drill(scenario, hub: hub, brokerPort: broker.port)
            #expect(result.passed, "\(result.text)")
            try await hub.waitProcessed(received: plan.messages.count)

            // The check-ins as planned: each device's event times, and each slot's own check-in.
            var times: [String: [Date]] = [:]
            var own: [String: Date] = [:]
            for m in plan.messages where m.topic.hasSuffix("/checkin") {
                let device = String(m.topic.split(separator: "/").dropLast().last!)
                let json = try JSONParser.parse(m.payload)
                let time = try #require(json["time"]?.stringValue.flatMap(TimeParser.utc.parse))
                let checkpoint = try #require(json["checkpoint"]?.stringValue)
                times[device, default: []].append(time)
                if case .slot(let slot, _) = patrol.match(device: device, checkpoint: checkpoint, at: time) { own[slot.id] = time }
            }
            // Missed on event time: the grace ended between the device's first and last check-in, and the
            // slot had no check-in of its own by then (none, or a late one: missed first, then made up).
            var expected: Set<String> = [], late: Set<String> = []
            var day = patrol.localDay(of: plan.clock.scenarioStart).adding(days: -1)
            while day <= patrol.localDay(of: plan.clock.eventTime(plan.clock.duration)) {
                for slot in patrol.slots(on: day) where slot.graceEnds < beforeHub {
                    guard let ts = times[slot.device], let first = ts.min(), let last = ts.max(), first <= slot.graceEnds, slot.graceEnds < last else { continue }
                    if let c = own[slot.id], c <= slot.graceEnds { continue }
                    expected.insert(slot.id)
                    if own[slot.id] != nil { late.insert(slot.id) }
                }
                day = day.adding(days: 1)
            }
            #expect(expected.count > late.count && !late.isEmpty, "the day has misses and late check-ins: \(expected.count), \(late.count)")
            let (missed, status, letters, items) = try await hub.store.writer.read { db in
                (Set(try String.fetchAll(db, sql: "SELECT id FROM patrol_slots WHERE missed_at IS NOT NULL AND grace_ends_at < ?", arguments: [beforeHub.timeIntervalSince1970])),
                 Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, status FROM patrol_slots").map { ($0[0] as String, $0[1] as String) }),
                 Dictionary(grouping: try Row.fetchAll(db, sql: "SELECT p.id, s.state FROM patrol_slots p JOIN slips s ON s.id = p.slip_id WHERE s.kind = 'reminder' AND s.category = 'missed_checkpoint'"),
                            by: { $0[1] as String }).mapValues { Set($0.map { $0[0] as String }) },
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE category = 'missed_checkpoint'") ?? -1)
            }
            #expect(missed == expected)
            #expect(late.allSatisfy { status[$0] == "late" })
            #expect(expected.subtracting(late).allSatisfy { status[$0] == "missed" })
            // One letter and one item per miss: open while missed, closed once made up.
            let all = try await hub.store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM patrol_slots WHERE missed_at IS NOT NULL") ?? -1 }
            #expect(items == all)
            #expect((letters["open"] ?? []).union(letters["closed"] ?? []).count == all)
            #expect((letters["open"] ?? []).isSuperset(of: expected.subtracting(late)))
            #expect((letters["closed"] ?? []).isSuperset(of: late))
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
            // Every message of the run must be captured: wait for the subscription itself, not the connection.
            let probe = "patrolhub/v1/device/_subscription_probe/probe"
            let prober = try TestPublisher(port: broker.port)
            defer { prober.stop() }
            try await waitSubscribed("the capture client", publisher: prober, probeTopic: probe) { sink.messages.contains { $0.topic == probe } }
            var options = SimulatorRunner.Options()
            options.mqtt.port = broker.port
            options.mqtt.clientID = "sim-\(seed)"
            let report = try await SimulatorRunner(options: options, logger: testLogger).run(plan)
            let expected = plan.messages.filter { !$0.topic.hasSuffix("/status") }.count
            #expect(report.acknowledged == plan.messages.count)
            func captured() -> [ReceivedMessage] { sink.messages.filter { $0.topic != probe } } // a late second probe too
            try await waitUntil("\(expected) messages captured") { captured().count >= expected }
            return captured()
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
