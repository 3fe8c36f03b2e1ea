import Foundation
@testable import Simulation
import Testing
@testable import Alerts
import TestSupport

private let repoRoot = TestPaths.packageRoot

/// The sample district of `config/`, as the simulator sees it.
private func sampleWorld() throws -> (SimulationWorld, Registry, ZoneIndex) {
    let config = repoRoot.appendingPathComponent("config")
    var c = HubConfig()
    c.camerasFile = config.appendingPathComponent("cameras.csv").path
    c.devicesFile = config.appendingPathComponent("devices.csv").path
    c.zonesFile = config.appendingPathComponent("zones.geojson").path
    let registry = try Registry.load(camerasFile: c.camerasFile, devicesFile: c.devicesFile)
    let zones = try ZoneFile.load(contentsOf: URL(fileURLWithPath: c.zonesFile!))
    return (SimulationWorld(config: c, registry: registry, zones: zones), registry, zones)
}

/// The sample patrol plan (`config/patrol.yaml`).
private func samplePatrolPlan() throws -> PatrolPlan {
    let (_, registry, zones) = try sampleWorld()
    return try PatrolPlan.load(file: repoRoot.appendingPathComponent("config/patrol.yaml").path, registry: registry, zones: zones,
                               timeZone: TimeZone(identifier: "Asia/Shanghai")!)
}

private func scenarioFiles() -> [String] {
    let dir = repoRoot.appendingPathComponent("simulators").path
    return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
}

@Suite("Seeded random numbers")
struct SeededRandomTests {
    @Test("SplitMix64 gives the reference sequence for seed 0")
    func referenceSequence() {
        var r = SeededRandom(seed: 0)
        #expect(r.next() == 0xe220_a839_7b1d_cdaf)
        #expect(r.next() == 0x6e78_9e6a_a1b9_65f4)
        #expect(r.next() == 0x06c4_5d18_8009_454f)
    }

    @Test("Streams are independent and repeatable; bounded draws stay in bounds and cover them")
    func streams() {
        var a = SeededRandom(seed: 7, stream: "background/cam-001")
        var b = SeededRandom(seed: 7, stream: "background/cam-001")
        var c = SeededRandom(seed: 7, stream: "background/cam-002")
        let xa = (0..<8).map { _ in a.next() }
        #expect(xa == (0..<8).map { _ in b.next() })
        #expect(xa != (0..<8).map { _ in c.next() })
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let v = a.int(below: 16)
            #expect((0..<16).contains(v))
            seen.insert(v)
            let u = a.unit()
            #expect(u >= 0 && u < 1)
        }
        #expect(seen.count == 16)
    }
}

@Suite("Scenario files")
struct ScenarioParserTests {
    @Test("Every scenario in simulators/ parses and plans against the sample district")
    func shippedScenarios() throws {
        let (world, _, _) = try sampleWorld()
        let files = scenarioFiles()
        #expect(files.count >= 6)
        for f in files {
            let s = try ScenarioParser.load(file: repoRoot.appendingPathComponent("simulators/\(f)").path)
            #expect(!s.expectations.isEmpty, "\(f) lists no expectation")
            let clock = SimulationClock(runStart: Date(timeIntervalSince1970: 1_795_900_000), speed: s.speed, duration: s.duration)
            let plan = try SimulationPlanner(scenario: s, world: world, patrolPlan: try samplePatrolPlan()).plan(clock: clock)
            #expect(!plan.messages.isEmpty)
            for e in s.expectations { if let after = e.after { #expect(plan.triggers[after] != nil || plan.controlTriggers[after] != nil, "\(f): \(after)") } }
        }
    }

    @Test("Bad scenarios are refused with file, line and key", arguments: [
        ("name: x\nduration: 10m\nspeed: 5\nbogus: 1\n", "x.yaml:4: key 'bogus': unknown key"),
        ("name: x\nduration: ten minutes\n", "x.yaml:2: key 'duration': expected a duration such as 90s, 12m, 2h or 1h30m, found 'ten minutes'"),
        ("duration: 10m\n", "key 'name': is required"),
        ("name: x\nduration: 10m\nincidents:\n  - id: a\n    steps:\n      - {at: 20m, camera: cam-001, type: fight}\n",
         "x.yaml:6: key 'incidents[0].steps[0].at': 20m is after the scenario's end (duration 10m)"),
        ("name: x\nduration: 10m\nincidents:\n  - id: a\n    steps:\n      - {at: 1m, camera: cam-001}\n",
         "x.yaml:6: key 'incidents[0].steps[0].type': a camera step needs a type (a detection) or a status"),
        ("name: x\nduration: 10m\nexpect:\n  - {kind: case, after: nothing}\n", "x.yaml:4: key 'expect[0].after': no step or outage is called 'nothing'"),
        ("name: x\nduration: 10m\nexpect:\n  - {kind: letter}\n", "x.yaml:4: key 'expect[0].kind': must be one of case, warning, reminder, supervision, risk_item, found 'letter'"),
        ("name: x\nduration: 10m\nbackground: {rate: often, categories: {loitering: 1}}\n", "x.yaml:3: key 'background.rate': expected a rate such as 4/h"),
    ])
    func badScenario(yaml: String, message: String) {
        do {
            _ = try ScenarioParser.parse(yaml: yaml, file: "x.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("A step the camera's format cannot carry, or an unknown camera, is refused naming the key")
    func registryChecks() throws {
        let (world, _, _) = try sampleWorld()
        let clock = SimulationClock(runStart: Date(), speed: 10, duration: 600)
        let frigateFight = try ScenarioParser.parse(yaml: """
            name: x
            duration: 10m
            formats: {cam-020: frigate}
            incidents:
              - id: a
                steps:
                  - {at: 1m, camera: cam-020, type: fight}
            """, file: "x.yaml")
        #expect(throws: HubError.self) { try SimulationPlanner(scenario: frigateFight, world: world).plan(clock: clock) }
        do {
            _ = try SimulationPlanner(scenario: frigateFight, world: world).plan(clock: clock)
        } catch {
            #expect(error.description == "x.yaml:7: key 'incidents[0].steps[0].type': camera cam-020 publishes frigate, which cannot carry fight (it can: intrusion, fire_smoke, illegal_parking)")
        }
        let unknown = try ScenarioParser.parse(yaml: "name: x\nduration: 10m\noutages:\n  - {camera: cam-999, at: 1m}\n", file: "x.yaml")
        do {
            _ = try SimulationPlanner(scenario: unknown, world: world).plan(clock: clock)
            Issue.record("accepted an unknown camera")
        } catch {
            #expect(error.description == "x.yaml:4: key 'outages[0].camera': camera 'cam-999' is not in the hub's registry (registry.cameras)")
        }
    }
}

@Suite("Simulation plans")
struct SimulationPlanTests {
    static let start = Date(timeIntervalSince1970: 1_795_900_000)

    static func plan(_ file: String, seed: UInt64? = nil, speed: Double? = nil) throws -> SimulationPlan {
        let (world, _, _) = try sampleWorld()
        let s = try ScenarioParser.load(file: repoRoot.appendingPathComponent("simulators/\(file)").path)
        let clock = SimulationClock(runStart: start, speed: speed ?? s.speed, duration: s.duration)
        return try SimulationPlanner(scenario: s, world: world, patrolPlan: try samplePatrolPlan()).plan(seed: seed, clock: clock)
    }

    @Test("Same seed and start: byte-identical plan; another seed: another plan", arguments: scenarioFiles())
    func deterministic(file: String) throws {
        let a = try Self.plan(file), b = try Self.plan(file), c = try Self.plan(file, seed: 1234)
        #expect(a.transcript == b.transcript)
        #expect(a.messages.map(\.payload) == b.messages.map(\.payload))
        if a.counts[.background, default: 0] > 0 { #expect(a.transcript != c.transcript) }
    }

    @Test("The scenario's end is the run's end: no event time is ahead of the wall clock when it is sent")
    func timeAxis() throws {
        for speed in [1.0, 60, 3600] {
            let plan = try Self.plan("fault_storm.yaml", speed: speed)
            let clock = plan.clock
            #expect(clock.scenarioStart == Self.start.addingTimeInterval(-(1800 * (1 - 1 / speed)).rounded(.up)) || speed == 1)
            var checked = 0
            for m in plan.messages where m.origin != .clockSkew {
                guard let v = try? JSONParser.parse(m.payload) else { continue }
                let text = v["time"]?.stringValue ?? v["UtcTime"]?.stringValue
                guard let text, let t = TimeParser.utc.parse(text) else { continue }
                #expect(t <= clock.wallTime(m.offset).addingTimeInterval(0.001), "\(m.topic) at \(m.offset): \(text)")
                checked += 1
            }
            #expect(checked > 300)
        }
    }

    @Test("Every planned message decodes through the hub's own decoders: intended category, drill marked, or the planned dead letter")
    func payloadsDecode() throws {
        let (world, registry, _) = try sampleWorld()
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        for file in ["fault_storm.yaml", "busy_market_day.yaml", "multi_source_incident.yaml", "camera_outage.yaml"] {
            let plan = try Self.plan(file)
            let now = plan.clock.wallTime(plan.clock.duration)
            var formats = Set<String>()
            var dead: [String: Int] = [:]
            for m in plan.messages {
                do {
                    let events = try decode.decode(topic: m.topic, payload: m.payload, now: now)
                    #expect(m.expectedDeadLetter == nil, "\(file): \(m.topic) decoded but should be \(m.expectedDeadLetter ?? "")")
                    for e in events {
                        #expect(e.drill, "\(file): \(m.topic) is not marked as a drill")
                        formats.insert(e.format)
                    }
                } catch {
                    if m.origin != .duplicate { dead[error.deadLetterReason.rawValue, default: 0] += 1 }
                    #expect(m.expectedDeadLetter == error.deadLetterReason.rawValue || m.origin == .duplicate, "\(file): \(m.topic): \(error)")
                }
            }
            #expect(dead == plan.expectedDeadLetters)
            if file != "camera_outage.yaml" { #expect(formats == ["native", "frigate", "gb28181", "onvif"] || file == "multi_source_incident.yaml") }
            _ = world
        }
    }

    @Test("Incidents land where the scenario puts them: the step's camera, category and trigger label")
    func incidentMessages() throws {
        let plan = try Self.plan("multi_source_incident.yaml")
        let fight = try #require(plan.triggers["fight"])
        #expect(plan.messages[fight].topic == "patrolhub/v1/camera/cam-038/event")
        #expect(String(decoding: plan.messages[fight].payload, as: UTF8.self).contains(#""type":"fight""#))
        #expect(plan.messages[fight].offset == 540)
        let crowd = try #require(plan.triggers["crowd"])
        #expect(plan.messages[crowd].topic == "patrolhub/v1/gb28181/sim-gw/alarm")
        let report = try #require(plan.triggers["report"])
        #expect(plan.messages[report].topic == "patrolhub/v1/device/dev-019/report")
        let will = try #require(try Self.plan("camera_outage.yaml").controls.first)
        guard case .lastWill(let offset, let camera, let topic, _, _) = will else { Issue.record("no last will"); return }
        #expect(offset == 1200 && camera == "cam-012" && topic == "patrolhub/v1/camera/cam-012/status")
    }
}

@Suite("Patrol rounds")
struct PatrolRoundsTests {
    @Test("A day of rounds on the sample plan: every visit becomes a check-in of its intended kind, or none")
    func rounds() throws {
        let (world, registry, zones) = try sampleWorld()
        let plan = try PatrolPlan.load(file: repoRoot.appendingPathComponent("config/patrol.yaml").path, registry: registry, zones: zones,
                                       timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let scenario = try ScenarioParser.load(file: repoRoot.appendingPathComponent("simulators/patrol_with_gaps.yaml").path)
        // Monday 2026-11-30 00:00 in Shanghai: a whole weekday of rounds.
        let clock = SimulationClock(runStart: Date(timeIntervalSince1970: 1_796_054_400), speed: 1, duration: 86_400)
        let sim = try SimulationPlanner(scenario: scenario, world: world, patrolPlan: plan).plan(clock: clock)
        let visits = try plan.visits(routes: nil, from: clock.scenarioStart, duration: 86_400, file: "x", line: 0)
        #expect(visits.count > 100)
        var kinds: [String: Int] = [:]
        for v in visits {
            guard let i = sim.triggers["patrol:\(v.route):\(v.checkpoint)@\(Int(v.slot))"] else { kinds["missed", default: 0] += 1; continue }
            let payload = try JSONParser.parse(sim.messages[i].payload)
            #expect(sim.messages[i].topic == "patrolhub/v1/device/\(v.device)/checkin")
            let time = try #require(payload["time"]?.stringValue.flatMap(TimeParser.utc.parse))
            guard case .slot(let slot, let status) = plan.match(device: v.device, checkpoint: v.checkpoint, at: time) else {
                Issue.record("\(v.route) \(v.checkpoint): the check-in matches no slot"); continue
            }
            #expect(slot.due == clock.eventTime(v.slot))
            var kind = status.rawValue
            if let lat = payload["location"]?["lat"]?.doubleValue, let lon = payload["location"]?["lon"]?.doubleValue, let cp = v.location,
               CoordinateTransform.distance(GeoPoint(lat: lat, lon: lon), cp) > v.radius {
                #expect(status == .onTime)
                kind = "outside_radius"
            }
            kinds[kind, default: 0] += 1
        }
        let n = Double(visits.count)
        #expect(kinds.keys.sorted() == ["late", "missed", "on_time", "outside_radius"])
        #expect(abs(Double(kinds["on_time", default: 0]) / n - 0.70) < 0.1)
        #expect(abs(Double(kinds["late", default: 0]) / n - 0.15) < 0.07)
        #expect(abs(Double(kinds["missed", default: 0]) / n - 0.10) < 0.06)
        #expect(kinds["outside_radius", default: 0] > 0)
    }
}

@Suite("Drill scoring")
struct DrillScoringTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_900_000)
    static let clock = SimulationClock(runStart: t0, speed: 60, duration: 600)

    static func timeline(skipped: Set<String> = []) -> DrillTimeline {
        DrillTimeline(clock: clock, startedAt: t0, finishedAt: t0.addingTimeInterval(10), triggerSent: ["fight": t0.addingTimeInterval(5)],
                      progress: (0...600).map { (Double($0), t0.addingTimeInterval(Double($0) / 60)) }, skipped: skipped, settle: 5, tolerance: 1)
    }

    static func scenario(_ e: [DrillExpectation]) -> Scenario {
        Scenario(file: "s.yaml", name: "s", duration: 600, expectations: e)
    }

    static func slip(_ id: String, _ category: Category, zone: String = "Z", at: Double) -> ObservedOutcome {
        ObservedOutcome(kind: .warning, id: id, zone: zone, category: category, severity: .critical, stampedAt: t0.addingTimeInterval(at),
                        observedAt: t0.addingTimeInterval(at + 0.2))
    }

    @Test("A matched expectation reports its outcome and latency; a missed one names itself and the nearest candidate")
    func matchedAndMissed() {
        let e1 = DrillExpectation(kind: .warning, zone: "Z", category: .fight, after: "fight", within: 2, line: 10)
        let e2 = DrillExpectation(kind: .warning, zone: "Z", category: .fight, severity: .major, after: "fight", within: 2, line: 11)
        let r = DrillScorer.score(scenario: Self.scenario([e1, e2]), seed: 1, messages: 5, acknowledged: 5, timeline: Self.timeline(),
                                  outcomes: [Self.slip("YJ-1", .fight, at: 5.4), Self.slip("YJ-2", .garbage, at: 6)])
        #expect(r.results.map(\.status) == [.matched, .missed])
        #expect(abs((r.results[0].latency ?? -1) - 0.4) < 0.001)
        #expect(r.unexpected.map(\.id) == ["YJ-2"])
        #expect(r.score == 50)
        #expect(!r.passed)
        #expect(r.failureLines == ["FAILED s.yaml:11: expected warning zone Z fight sev 2 within 2s of fight — none within 2s of fight (the hub produced 2 warnings in all)"])
    }

    @Test("count: exactly n, none at all, and a late outcome outside 'within'")
    func counts() {
        let exactlyOne = DrillExpectation(kind: .warning, zone: "Z", count: 1, line: 1)
        let none = DrillExpectation(kind: .warning, category: .garbage, count: 0, line: 2)
        let tooLate = DrillExpectation(kind: .warning, category: .fight, after: "fight", within: 1, line: 3)
        let r = DrillScorer.score(scenario: Self.scenario([exactlyOne, none, tooLate]), seed: 1, messages: 5, acknowledged: 5, timeline: Self.timeline(),
                                  outcomes: [Self.slip("YJ-1", .fight, at: 7), Self.slip("YJ-2", .garbage, at: 8)])
        #expect(r.results.map(\.status) == [.missed, .missed, .missed])
        #expect(r.results[0].detail == "found 2: YJ-1, YJ-2 during the run")
        #expect(r.results[1].detail == "found 1: YJ-2 during the run")
        #expect(r.results[2].detail == "none within 1s of fight; nearest YJ-1 at +2.0 s")
    }

    @Test("during windows: slips by how far the run had got, risk items by event time; skipped triggers are not run")
    func windows() {
        let early = DrillExpectation(kind: .warning, count: 0, during: 0...120, line: 1)
        let item = DrillExpectation(kind: .riskItem, source: "cam-1", suppressed: true, during: 300...360, line: 2)
        let skipped = DrillExpectation(kind: .case, after: "fire", within: 10, line: 3)
        let muted = ObservedOutcome(kind: .riskItem, id: "RI-1", zone: "Z", category: .intrusion, severity: .minor, source: "cam-1", suppressed: true,
                                    firstSeen: Self.clock.eventTime(310), lastSeen: Self.clock.eventTime(320), observedAt: Self.t0.addingTimeInterval(6))
        // Stamped at wall +3 s: the run was at scenario second 180, after the window.
        let r = DrillScorer.score(scenario: Self.scenario([early, item, skipped]), seed: 1, messages: 5, acknowledged: 5,
                                  timeline: Self.timeline(skipped: ["fire"]), outcomes: [Self.slip("YJ-1", .fight, at: 3), muted])
        #expect(r.results.map(\.status) == [.matched, .matched, .notRun])
        #expect(r.passed)
        #expect(r.score == 100)
        #expect(r.markdown.contains("| matched | 2 | risk_item from cam-1 suppressed during 5m–6m | RI-1 | – |"))
        #expect(r.html.contains("<tr class=\"skip\">"))
    }
}
