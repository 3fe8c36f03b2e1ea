@testable import AlertsStore
import Foundation
import GRDB
import Simulation
import Testing
import TestSupport
@testable import Alerts

/// A hub's pipeline rebuilds its engine from the store (`reload()`) when it starts
/// and, in-process, after a batch whose transaction rolled back (a full disk, a
/// read-only data folder, a lost lock). Either way the outcomes must be exactly
/// those of a hub that never stopped: every window, slip, case and item the
/// engine held in memory is what the store gives back.
///
/// The input is the fault tests' load (`scripts/faults/load.yaml`: every input
/// format, ONVIF and Frigate lifecycles, duplicates, out-of-order events,
/// broken payloads and an incident with a case), planned by the simulator for
/// the sample district, fed in batches of random sizes. The reference keeps one
/// processor; the others reload or replace it between batches. Items, slips,
/// cases, their links and dead letters are compared row by row, ids included;
/// only the processing-time stamps (issued, updated, closed, due) are left out.
@Suite("A reload mid-stream gives the outcomes of an uninterrupted run")
struct ReloadEquivalenceTests {
    struct Fixture {
        var registry: Registry
        var placer: Placer
        var rules: RuleSet
        var messages: [InboxMessage]
    }

    /// `file` (relative to the package root) planned with `seed` (the scenario's own when nil)
    /// over `minutes` (the scenario's duration when nil).
    static func fixture(_ file: String = "scripts/faults/load.yaml", seed: UInt64? = nil, minutes: Double? = nil) throws -> Fixture {
        var config = HubConfig()
        config.camerasFile = TestPaths.config("cameras.csv").path
        config.devicesFile = TestPaths.config("devices.csv").path
        config.zonesFile = TestPaths.config("zones.geojson").path
        let world = try SimulationWorld.load(config: config)
        let scenario = try ScenarioParser.load(file: TestPaths.packageRoot.appendingPathComponent(file).path)
        let clock = SimulationClock(runStart: Date(timeIntervalSince1970: 1_796_300_000), speed: scenario.speed,
                                    duration: minutes.map { $0 * 60 } ?? scenario.duration)
        let plan = try SimulationPlanner(scenario: scenario, world: world).plan(seed: seed, clock: clock)
        let registry = try Registry.load(camerasFile: config.camerasFile, devicesFile: config.devicesFile)
        let zones = try ZoneFile.load(contentsOf: TestPaths.config("zones.geojson"))
        let rules = try RuleSet.load(file: TestPaths.config("rules.yaml").path)
        let messages = plan.messages.map { InboxMessage(topic: $0.topic, payload: $0.payload, receivedAt: clock.wallTime($0.offset)) }
        return Fixture(registry: registry, placer: Placer(registry: registry, zones: zones), rules: rules, messages: messages)
    }

    /// How a run treats its processor between two batches.
    enum Between { case keep, reload, replace }

    /// Feeds `f.messages` in batches of 1…`maxBatch` (drawn from `seed`); `between(i)` says what
    /// happens before batch `i`. Returns the store's outcomes as comparable rows.
    static func run(_ f: Fixture, seed: UInt64, maxBatch: Int = 150, between: (Int) -> Between) throws -> [String: [String]] {
        final class Clock: @unchecked Sendable { var now = Date(timeIntervalSince1970: 0) }
        let clock = Clock()
        let store = try DisputeStore.inMemory()
        func processor() throws -> PipelineProcessor {
            let decode = DecodeStage(router: TopicRouter(), registry: f.registry, timeParser: TimeParser(), adapters: f.rules.adapters)
            return try PipelineProcessor(store: store, decode: decode, engine: RiskEngine(rules: f.rules, place: f.placer.place),
                                         outputPrefix: "patrolhub/v1", clock: { clock.now })
        }
        var random = SplitMix(seed: seed)
        var p = try processor()
        var next = 0
        var batch = 0
        while next < f.messages.count {
            switch between(batch) {
            case .keep: break
            case .reload: try p.reload()
            case .replace: p = try processor()
            }
            let n = Int(random.next() % UInt64(maxBatch)) + 1
            let part = Array(f.messages[next..<min(next + n, f.messages.count)])
            next += part.count
            clock.now = part.last!.receivedAt
            _ = try store.ingest(part)
            while try p.processPending(limit: 1000).messages > 0 {}
            batch += 1
        }
        return try outcomes(store)
    }

    /// Every outcome row, as text, without processing-time columns.
    static func outcomes(_ store: DisputeStore) throws -> [String: [String]] {
        // `count_after` too: a closed slip's count start is the newest occurrence the engine holds
        // for its window, and a reloaded engine holds only those a window can still see, so a
        // slip that closes long after its occurrences may get none. Either value counts the same
        // later occurrences, which the other rows show.
        let wall: Set<String> = ["issued_at", "updated_at", "closed_at", "opened_at", "due_at", "last_action_at", "at", "created_at", "count_after"]
        let tables = [
            "risk_items": "SELECT * FROM risk_items ORDER BY seq",
            "slips": "SELECT * FROM slips ORDER BY seq",
            "slip_items": "SELECT * FROM slip_items ORDER BY slip_id, risk_item_id",
            "cases": "SELECT * FROM cases ORDER BY seq",
            "case_items": "SELECT * FROM case_items ORDER BY case_id, risk_item_id",
            "dead_letters": "SELECT inbox_key, reason, detail, topic FROM dead_letters ORDER BY inbox_key, reason",
            "cameras": "SELECT id, status, status_at FROM cameras ORDER BY id",
            "events": "SELECT COUNT(*) FROM events",
        ]
        return try store.writer.read { db in
            try tables.mapValues { sql in
                try Row.fetchAll(db, sql: sql).map { row in
                    zip(row.columnNames, row.databaseValues).filter { !wall.contains($0.0) }.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                }
            }
        }
    }

    /// The rows of `got` that differ from `want`, table by table (empty when equal).
    static func differences(_ want: [String: [String]], _ got: [String: [String]]) -> [String] {
        var out: [String] = []
        for table in want.keys.sorted() {
            let w = want[table] ?? [], g = got[table] ?? []
            guard w != g else { continue }
            let missing = w.filter { !g.contains($0) }.prefix(3), extra = g.filter { !w.contains($0) }.prefix(3)
            out.append("\(table): \(w.count) rows expected, \(g.count) found; missing \(Array(missing)); unexpected \(Array(extra))")
        }
        return out
    }

    /// Runs `messages` through a hub that keeps running and through one restarted before
    /// message `restartAt`: the first one's store (for sanity checks) and how the second differs.
    static func restarted(_ messages: [OutcomeTableTests.Message], at restartAt: Int) throws -> (running: DisputeStore, differences: [String]) {
        let (running, _) = try ReviewFindingsTests.run(messages)
        let (restarted, _) = try ReviewFindingsTests.run(messages, restartAt: restartAt)
        return (running, differences(try outcomes(running), try outcomes(restarted)))
    }

    /// A small deterministic generator for batch sizes and reload points.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The fault load with three seeds, and the simulator's scenarios that need no patrol plan:
    /// camera outages (statuses that mute analytics), a correlated incident, a fault storm, a market day.
    static let inputs: [(file: String, seed: UInt64?, minutes: Double?)] = [
        ("scripts/faults/load.yaml", 11, 40), ("scripts/faults/load.yaml", 12, 40), ("scripts/faults/load.yaml", 13, 40),
        ("simulators/camera_outage.yaml", nil, nil), ("simulators/multi_source_incident.yaml", nil, nil),
        ("simulators/fault_storm.yaml", nil, nil), ("simulators/busy_market_day.yaml", nil, nil),
    ]

    @Test("A reload before every batch changes no outcome", arguments: 0..<7)
    func reloadBeforeEveryBatch(input: Int) throws {
        let (file, seed, minutes) = Self.inputs[input]
        let f = try Self.fixture(file, seed: seed, minutes: minutes)
        let reference = try Self.run(f, seed: UInt64(input), between: { _ in .keep })
        #expect((reference["slips"]?.count ?? 0) > 0, "sanity: \(file) issues slips")
        let reloaded = try Self.run(f, seed: UInt64(input), between: { $0 % 2 == 0 ? .reload : .replace })
        let diff = Self.differences(reference, reloaded)
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// A camera status newer than every detection does not move the watermark of a running
    /// engine, so it must not move a restored one's: the detection after it is not late.
    @Test("A status newer than every detection moves no watermark across a restart")
    func statusesMoveNoWatermark() throws {
        typealias O = OutcomeTableTests
        let messages = [O.camera("cam-A", "a1", "intrusion", 0), O.status("cam-B", "online", 15), O.camera("cam-C", "c1", "intrusion", 3)]
        let (running, diff) = try Self.restarted(messages, at: 2)
        #expect(try running.riskItems().map(\.late) == [false, false], "sanity: 3:00 is within the lateness bound of 0:00")
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// An NVR uploading what it buffered: events of an earlier episode arrive after a later
    /// item of the same camera and category opened. The first makes an item of its own (closed),
    /// the next folds into it, also after a restart between the two.
    @Test("An earlier episode's buffered events fold into one item across a restart")
    func earlierEpisodeAcrossARestart() throws {
        typealias O = OutcomeTableTests
        let messages = [O.camera("cam-A", "a1", "intrusion", 20), O.camera("cam-A", "a0", "intrusion", 12), O.camera("cam-A", "a01", "intrusion", 12.5)]
        let (running, diff) = try Self.restarted(messages, at: 2)
        #expect(try running.riskItems().map(\.occurrences).sorted() == [1, 2], "sanity: the buffered events fold into one earlier item")
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// A drill's `offline` mutes that camera's drill analytics (and not its live ones); after a
    /// restart the drill's status is still there, so the drill event after it is still muted.
    @Test("A drill's camera status mutes the drill's analytics across a restart")
    func drillStatusAcrossARestart() throws {
        typealias O = OutcomeTableTests
        func drill(_ m: O.Message) -> O.Message {
            var m = m
            m.payload = String(m.payload.dropLast()) + #","drill":true}"#
            return m
        }
        let messages = [drill(O.status("cam-A", "offline", 0)), drill(O.camera("cam-A", "d1", "intrusion", 1)), drill(O.camera("cam-A", "d2", "fight", 2)),
                        O.camera("cam-A", "l1", "fight", 3)]
        let (running, diff) = try Self.restarted(messages, at: 2)
        let muted = try running.riskItems().filter { $0.drill && $0.category.family == .cameraAnalytics }.map { $0.suppressedBy != nil }
        #expect(muted == [true, true], "sanity: the drill's offline mutes both drill events")
        #expect(try running.riskItems().filter { !$0.drill }.map(\.suppressedBy) == [nil], "sanity: not the live one")
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// A slip whose item a camera's health holds open stays open past the repeat interval
    /// (here 100 minutes): a restart must still hold it, so the camera's `online` closes it.
    @Test("A slip held open longer than its repeat interval closes after a restart")
    func longHeldSlipAcrossARestart() throws {
        typealias O = OutcomeTableTests
        let messages = [O.status("cam-A", "tampered", 0), O.camera("cam-C", "c1", "motion", 90), O.status("cam-A", "online", 100),
                        O.camera("cam-C", "c2", "loitering", 105)]
        let (running, diff) = try Self.restarted(messages, at: 2)
        let slips = try running.writer.read { try String.fetchAll($0, sql: "SELECT state || ' ' || COALESCE(close_reason, '') FROM slips") }
        #expect(slips == ["closed items_closed"], "sanity: the health item's slip closes once the camera is back")
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// Two cases open in one zone (a fight, then a fire); the fight's gets newer evidence.
    /// A person falling relates to both: it joins the case opened last, as the running
    /// stage keeps them in the order they opened, also after a restart.
    @Test("Evidence that fits two open cases joins the same one after a restart")
    func casesKeepTheirOrderAcrossARestart() throws {
        typealias O = OutcomeTableTests
        let messages = [O.camera("cam-A", "f1", "fight", 0), O.camera("cam-B", "s1", "fire_smoke", 1), O.camera("cam-A", "f2", "fight", 4),
                        O.camera("cam-B", "p1", "person_fall", 5)]
        let (running, diff) = try Self.restarted(messages, at: 3)
        let cases = try running.writer.read { try String.fetchAll($0, sql: "SELECT case_id || ' ' || risk_item_id FROM case_items ORDER BY 1") }
        #expect(cases == ["AJ-00000001 RI-00000001", "AJ-00000001 RI-00000003", "AJ-00000002 RI-00000002", "AJ-00000002 RI-00000004"],
                "sanity: two cases, the fall joins the second")
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    @Test("Batches of other sizes, with reloads at random points, change no outcome")
    func otherBatchesAndRandomReloads() throws {
        let f = try Self.fixture(seed: 21, minutes: 60)
        #expect(f.messages.count > 20_000, "sanity: the whole fault load")
        let reference = try Self.run(f, seed: 1, between: { _ in .keep })
        var random = SplitMix(seed: 99)
        let points = Set((0..<40).map { _ in Int(random.next() % 400) })
        let reloaded = try Self.run(f, seed: 2, maxBatch: 60, between: { points.contains($0) ? .replace : .keep })
        let diff = Self.differences(reference, reloaded)
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }
}
