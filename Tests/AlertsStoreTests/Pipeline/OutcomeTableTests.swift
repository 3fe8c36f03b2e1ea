@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Issue 4's acceptance table: for each input sequence (raw payloads as the
/// sources send them), the exact slips and cases the pipeline writes —
/// decode → locate → dedup → mute → group/correlate → store — and a replay of
/// the whole sequence that changes nothing.
@Suite("Outcomes: slips and cases per input sequence")
struct OutcomeTableTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15 08:00:00 UTC

    /// Grid G1 has cameras A and B and worker device D1; grid G2 has C and E and device D2.
    static let registry = Registry(
        cameras: [
            CameraRecord(id: "cam-A", name: "A", location: nil, zone: "G1"), CameraRecord(id: "cam-B", name: "B", location: nil, zone: "G1"),
            CameraRecord(id: "cam-C", name: "C", location: nil, zone: "G2"), CameraRecord(id: "cam-E", name: "E", location: nil, zone: "G2"),
        ],
        devices: [DeviceRecord(id: "D1", worker: "W-1", unit: "unit-G1", zone: "G1"), DeviceRecord(id: "D2", worker: "W-2", unit: "unit-G2", zone: "G2")])

    // MARK: - Input builders (minutes after t0)

    struct Message { var topic: String; var payload: String; var minute: Double }

    static func time(_ m: Double) -> String { t0.addingTimeInterval(m * 60).rfc3339 }
    static func camera(_ cam: String, _ id: String, _ type: String, _ m: Double) -> Message {
        Message(topic: "patrolhub/v1/camera/\(cam)/event", payload: #"{"id":"\#(id)","type":"\#(type)","time":"\#(time(m))"}"#, minute: m)
    }
    static func status(_ cam: String, _ status: String, _ m: Double) -> Message {
        Message(topic: "patrolhub/v1/camera/\(cam)/status", payload: #"{"status":"\#(status)","time":"\#(time(m))"}"#, minute: m)
    }
    static func report(_ dev: String, _ id: String, _ category: String, _ m: Double) -> Message {
        Message(topic: "patrolhub/v1/device/\(dev)/report",
                payload: #"{"id":"\#(id)","category":"\#(category)","time":"\#(time(m))","description":"两户因占道纠纷争吵","parties":["张某","李某"]}"#, minute: m)
    }
    static func sos(_ dev: String, _ id: String, _ m: Double) -> Message {
        Message(topic: "patrolhub/v1/device/\(dev)/sos", payload: #"{"id":"\#(id)","time":"\#(time(m))","kind":"fall"}"#, minute: m)
    }
    /// One Frigate message about object `obj` (person) on camera `cam`, in zone `yard` from update 3 on.
    static func frigate(_ cam: String, _ obj: String, _ type: String, update: Int, _ m: Double) -> Message {
        let frame = t0.timeIntervalSince1970 + m * 60
        func state(_ u: Int) -> String {
            let zones = u >= 3 ? #"["yard"]"# : "[]"
            return #"{"id":"\#(obj)","camera":"\#(cam)","frame_time":\#(frame),"label":"person","top_score":0.9,"score":0.85,"#
                + #""start_time":\#(t0.timeIntervalSince1970),"end_time":null,"current_zones":\#(zones),"entered_zones":\#(zones),"stationary":false,"active":true}"#
        }
        return Message(topic: "frigate/events", payload: #"{"type":"\#(type)","before":\#(state(max(update - 1, 0))),"after":\#(state(update))}"#, minute: m)
    }

    // MARK: - Expected outcomes

    struct CaseRow: Equatable, CustomStringConvertible {
        var rule: String, zone: String, category: String, severity: Int, items: Int, sources: [String]
        var description: String { "\(rule) \(zone) \(category) s\(severity) items=\(items) \(sources)" }
    }
    struct SlipRow: Equatable, CustomStringConvertible {
        var zone: String, category: String, items: Int
        var description: String { "\(zone) \(category) items=\(items)" }
    }

    struct Scenario: CustomTestStringConvertible, Sendable {
        var name: String
        var messages: [Message]
        var rules: RuleSet = RuleSet()
        /// Silences in force (minutes after t0: start, end) on zone G1.
        var silence: (start: Double, end: Double)? = nil
        var items: Int
        var suppressed: Int = 0
        var slips: [SlipRow]
        var cases: [CaseRow]
        var testDescription: String { name }
    }

    static var intrusionAtOnce: RuleSet {
        var r = RuleSet()
        r.thresholds[.intrusion] = 1
        return r
    }

    static let scenarios: [Scenario] = [
        Scenario(
            name: "a Frigate object updating 50 times → one risk item",
            messages: [frigate("cam-A", "obj-1", "new", update: 0, 0)] + (1...50).map { frigate("cam-A", "obj-1", "update", update: $0, Double($0) * 0.2) },
            rules: intrusionAtOnce, items: 1, slips: [SlipRow(zone: "G1", category: "intrusion", items: 1)], cases: []),
        Scenario(
            name: "camera offline, then intrusion → suppressed, no slip; back online → a new intrusion raises a slip",
            messages: [status("cam-A", "offline", 0), camera("cam-A", "i1", "intrusion", 1), status("cam-A", "online", 5),
                       camera("cam-A", "i2", "intrusion", 10)],
            rules: intrusionAtOnce, items: 3, suppressed: 1,
            slips: [SlipRow(zone: "G1", category: "intrusion", items: 1)], cases: []),
        Scenario(
            name: "silence window → suppressed, then active after expiry",
            messages: [camera("cam-A", "i1", "intrusion", 1), camera("cam-A", "i2", "intrusion", 40)],
            rules: intrusionAtOnce, silence: (0, 30), items: 2, suppressed: 1,
            slips: [SlipRow(zone: "G1", category: "intrusion", items: 1)], cases: []),
        Scenario(
            name: "crowd_gathering on A + fight on B + a patrol dispute report, one grid, 15 min → exactly one case with all three",
            messages: [camera("cam-A", "c1", "crowd_gathering", 0), camera("cam-B", "f1", "fight", 4), report("D1", "r1", "dispute", 12)],
            items: 3,
            slips: [SlipRow(zone: "G1", category: "crowd_gathering", items: 1), SlipRow(zone: "G1", category: "fight", items: 1),
                    SlipRow(zone: "G1", category: "dispute", items: 1)],
            cases: [CaseRow(rule: "correlation", zone: "G1", category: "fight", severity: 1, items: 3, sources: ["cam-A", "cam-B", "D1"])]),
        Scenario(
            name: "the same in two different grids → two separate cases",
            messages: [camera("cam-A", "c1", "crowd_gathering", 0), camera("cam-C", "c2", "crowd_gathering", 1),
                       camera("cam-B", "f1", "fight", 4), camera("cam-E", "f2", "fight", 5),
                       report("D1", "r1", "dispute", 12), report("D2", "r2", "dispute", 13)],
            items: 6,
            slips: ["G1", "G2"].flatMap { z in ["crowd_gathering", "dispute", "fight"].map { SlipRow(zone: z, category: $0, items: 1) } },
            cases: [CaseRow(rule: "correlation", zone: "G1", category: "fight", severity: 1, items: 3, sources: ["cam-A", "cam-B", "D1"]),
                    CaseRow(rule: "correlation", zone: "G2", category: "fight", severity: 1, items: 3, sources: ["cam-C", "cam-E", "D2"])]),
        Scenario(
            name: "crowd in one grid, fight and dispute in another → a slip there, one case here",
            messages: [camera("cam-A", "c1", "crowd_gathering", 0), camera("cam-C", "f1", "fight", 4), report("D2", "r1", "dispute", 12)],
            items: 3,
            slips: [SlipRow(zone: "G1", category: "crowd_gathering", items: 1), SlipRow(zone: "G2", category: "dispute", items: 1),
                    SlipRow(zone: "G2", category: "fight", items: 1)],
            cases: [CaseRow(rule: "severity", zone: "G2", category: "fight", severity: 1, items: 2, sources: ["cam-C", "D2"])]),
        Scenario(
            name: "two cameras reporting crowd_gathering in one grid → a correlation case; a third source joins it",
            messages: [camera("cam-A", "c1", "crowd_gathering", 0), camera("cam-B", "c2", "crowd_gathering", 3), camera("cam-A", "b1", "banner", 9)],
            items: 3,
            slips: [SlipRow(zone: "G1", category: "banner", items: 1), SlipRow(zone: "G1", category: "crowd_gathering", items: 2)],
            cases: [CaseRow(rule: "correlation", zone: "G1", category: "crowd_gathering", severity: 2, items: 3, sources: ["cam-A", "cam-B"])]),
        Scenario(
            name: "related categories outside the window → no correlation",
            messages: [camera("cam-A", "c1", "crowd_gathering", 0), camera("cam-B", "c2", "crowd_gathering", 20)],
            items: 2, slips: [SlipRow(zone: "G1", category: "crowd_gathering", items: 2)], // one slip until its repeat interval
            cases: []),
        Scenario(
            name: "unrelated categories from two cameras (motion, garbage) → no case",
            messages: [camera("cam-A", "m1", "motion", 0), camera("cam-B", "g1", "garbage", 1)],
            items: 2, slips: [], cases: []),
        Scenario(
            name: "a wage-arrears report → a patrol_report case; an SOS → an sos case",
            messages: [report("D1", "w1", "wage_arrears", 0), sos("D2", "s1", 1)],
            items: 2,
            slips: [SlipRow(zone: "G1", category: "wage_arrears", items: 1), SlipRow(zone: "G2", category: "sos", items: 1)],
            cases: [CaseRow(rule: "patrol_report", zone: "G1", category: "wage_arrears", severity: 2, items: 1, sources: ["D1"]),
                    CaseRow(rule: "sos", zone: "G2", category: "sos", severity: 1, items: 1, sources: ["D2"])]),
        Scenario(
            name: "a fire alone → a severity case; a camera that is offline raises none",
            messages: [camera("cam-C", "x1", "fire_smoke", 0), status("cam-A", "offline", 0), camera("cam-A", "x2", "fire_smoke", 1)],
            items: 3, suppressed: 1,
            slips: [SlipRow(zone: "G2", category: "fire_smoke", items: 1)],
            cases: [CaseRow(rule: "severity", zone: "G2", category: "fire_smoke", severity: 1, items: 1, sources: ["cam-C"])]),
        Scenario(
            name: "a late fight (older than the lateness bound) is kept as an item but opens nothing",
            messages: [camera("cam-A", "i1", "intrusion", 30), camera("cam-B", "f1", "fight", 0)],
            items: 2, slips: [], cases: []),
        Scenario(
            name: "a fight 15 minutes behind the newest event (1.5 × the 10-minute lateness bound) is late too",
            messages: [camera("cam-A", "i1", "intrusion", 15), camera("cam-B", "f1", "fight", 0)],
            items: 2, slips: [], cases: []),
    ]

    /// Runs a scenario through a fresh pipeline; each message is processed at its own minute (+1 s).
    static func run(_ s: Scenario, store: DisputeStore) throws -> BatchResult {
        final class Clock: @unchecked Sendable { var now = OutcomeTableTests.t0 }
        let clock = Clock()
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: s.rules.adapters)
        let engine = RiskEngine(rules: s.rules, place: Placer(registry: registry, zones: nil).place)
        let p = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
        if let window = s.silence {
            _ = try store.addSilence(Silence(id: "", zone: "G1", startsAt: t0.addingTimeInterval(window.start * 60),
                                             endsAt: t0.addingTimeInterval(window.end * 60), createdBy: "op-1", comment: "维护", createdAt: t0))
        }
        var total = BatchResult()
        for m in s.messages {
            clock.now = t0.addingTimeInterval(m.minute * 60 + 1)
            try store.ingest([InboxMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: clock.now)])
            let r = try p.processPending(limit: 10)
            total.events += r.events
            total.deadLetters += r.deadLetters
            total.duplicates += r.duplicates
            total.itemsChanged += r.itemsChanged
            total.slipsChanged += r.slipsChanged
            total.casesChanged += r.casesChanged
        }
        return total
    }

    struct Outcomes: Equatable {
        var items: Int, suppressed: Int, slips: [SlipRow], cases: [CaseRow], outbox: Int
    }

    static func outcomes(_ store: DisputeStore) throws -> Outcomes {
        try store.writer.read { db in
            Outcomes(
                items: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items")!,
                suppressed: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE suppressed_by IS NOT NULL")!,
                slips: try Row.fetchAll(db, sql: """
                    SELECT zone, category, (SELECT COUNT(*) FROM slip_items WHERE slip_id = id) FROM slips ORDER BY zone, category, seq
                    """).map { SlipRow(zone: $0[0], category: $0[1], items: $0[2]) },
                cases: try DisputeStore.fetchCases(limit: 100, db: db).sorted { $0.id < $1.id }.map {
                    CaseRow(rule: $0.rule.rawValue, zone: $0.zone, category: $0.category.rawValue, severity: $0.severity.rawValue,
                            items: $0.riskItemIDs.count, sources: $0.sources)
                },
                outbox: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox")!)
        }
    }

    @Test(arguments: scenarios)
    func scenario(_ s: Scenario) throws {
        let store = try DisputeStore.inMemory()
        let first = try Self.run(s, store: store)
        #expect(first.deadLetters == 0)
        let after = try Self.outcomes(store)
        #expect(after.items == s.items)
        #expect(after.suppressed == s.suppressed)
        #expect(after.slips == s.slips.sorted { ($0.zone, $0.category) < ($1.zone, $1.category) })
        #expect(after.cases == s.cases)
        // Replay of the whole sequence (a restarted hub reading it again): nothing new.
        let replay = try Self.run(s, store: store)
        #expect(replay.events == 0)
        // Every event of the replay is a duplicate: those handled the first time and those already
        // dropped then (a Frigate object repeats its detection key on every update in its zone).
        #expect(replay.duplicates == first.events + first.duplicates)
        #expect(try Self.outcomes(store) == after)
    }

    @Test func theCaseExplanationNamesItsRuleEvidenceAndThresholds() throws {
        let store = try DisputeStore.inMemory()
        _ = try Self.run(Self.scenarios[3], store: store)
        let c = try #require(try store.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0) })
        #expect(c.riskItemIDs == ["RI-00000001", "RI-00000002", "RI-00000003"])
        #expect(c.categories == [.crowdGathering, .fight, .dispute])
        #expect(c.state == .new)
        #expect(c.unit == nil) // no zone file in this test: the zone has no unit
        #expect(c.worker == nil) // cameras are placed by their zone code only here: no worker
        #expect(c.dueAt == c.openedAt.addingTimeInterval(86_400), "a severity-1 case is due in one day")
        let lines = c.explanation.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("规则 correlation（多源关联）：网格 G1 在 15 分钟内有 2 个不同来源报告相关类别"))
        #expect(lines[0].contains("至少 2 个来源，窗口 900 秒"))
        #expect(lines[1] == "证据 / evidence:")
        #expect(lines[2] == "- 2027-01-15 16:00:00 摄像头 camera cam-A：人员聚集（crowd_gathering），严重程度 2，风险隐患 RI-00000001")
        #expect(lines[3] == "- 2027-01-15 16:04:00 摄像头 camera cam-B：打架斗殴（fight），严重程度 1，风险隐患 RI-00000002")
        #expect(lines[4] == "后续证据 / later evidence: 2027-01-15 16:12:00 网格员设备 device D1：矛盾纠纷（dispute），严重程度 2，风险隐患 RI-00000003")
        // The warning slips of the situation name the case.
        #expect(try store.slips().map(\.caseID) == ["AJ-00000001", "AJ-00000001", "AJ-00000001"])
        // Published on out/cases at opening and again when the report joined.
        let out = try store.outbox(limit: 100).filter { $0.topic == "patrolhub/v1/out/cases" }
        #expect(out.count == 2)
        let last = try JSONParser.parse(out[1].payload)
        #expect(last["id"] == .string("AJ-00000001"))
        #expect(last["risk_item_ids"] == .array(["RI-00000001", "RI-00000002", "RI-00000003"].map(JSONValue.string)))
    }

    @Test func evidenceNeverOverwritesWhatPeopleDecided() throws {
        let store = try DisputeStore.inMemory()
        var s = Self.scenarios[3]
        let report = s.messages.removeLast()
        _ = try Self.run(s, store: store)
        try store.writer.write { try $0.execute(sql: "UPDATE cases SET state = 'assigned', assignee = 'W-9' WHERE id = 'AJ-00000001'") }
        s.messages = [report]
        _ = try Self.run(s, store: store) // a new processor restores the case's window from the store
        let c = try #require(try store.writer.read { try DisputeStore.fetchCase(id: "AJ-00000001", db: $0) })
        #expect(c.state == .assigned)
        #expect(c.assignee == "W-9")
        #expect(c.riskItemIDs.count == 3, "the report joined the case after a restart")
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM cases") } == 1)
    }

    @Test func rulesFileConfiguresCasesCorrelationLatenessAndAdapters() throws {
        let yaml = """
            event_time:
              lateness_seconds: 60
            cases:
              due_days: 20
              open_at_severity: 0
              dispute_categories: [wage_arrears]
            correlation:
              min_sources: 3
              window_seconds: 300
              groups:
                crowd: [crowd_gathering, banner]
            adapters:
              camera_ids: {front_gate: cam-A}
              gb28181:
                alarm_types: {"5/9": crowd_gathering}
              onvif:
                topics: {"RuleEngine/CrowdDetector/Crowd": crowd_gathering}
              frigate:
                labels:
                  - labels: [person]
                    category: loitering
                    zones: [yard]
                    min_score: 0.5
            """
        let r = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml"))
        #expect(r.lateness == 60)
        #expect(r.cases.dueDays == 20)
        #expect(r.cases.openAtSeverity == 0)
        #expect(r.cases.disputeCategories == [.wageArrears])
        #expect(r.cases.minSources == 3)
        #expect(r.cases.window == 300)
        #expect(r.cases.groups == ["crowd": [.crowdGathering, .banner]])
        #expect(r.adapters.cameraIDs == ["front_gate": "cam-A"])
        #expect(r.adapters.gb28181.alarmTypes[GBAlarmCode(method: 5, type: 9)] == .crowdGathering)
        #expect(!r.adapters.gb28181.ignored.contains(GBAlarmCode(method: 5, type: 9)))
        #expect(r.adapters.onvif.rules.last?.category == .crowdGathering)
        #expect(r.adapters.frigate.rules == [.init(labels: ["person"], category: .loitering, zones: .named(["yard"]), minScore: 0.5)])

        // The mapping is used: a Frigate camera named front_gate is cam-A, and its person is loitering.
        var s = Scenario(name: "mapped", messages: [], rules: r, items: 1, slips: [], cases: [])
        s.messages = (0...3).map { u in
            var m = Self.frigate("front_gate", "obj-9", u == 0 ? "new" : "update", update: u, Double(u) * 0.1)
            m.topic = "frigate/events"
            return m
        }
        let store = try DisputeStore.inMemory()
        _ = try Self.run(s, store: store)
        let items = try store.riskItems()
        #expect(items.map(\.source) == ["cam-A"])
        #expect(items.map(\.category) == [.loitering])
    }

    @Test(arguments: [
        ("correlation:\n  min_sources: 1\n", "rules.yaml:2: key 'correlation.min_sources'"),
        ("correlation:\n  groups:\n    g: [fight, bogus]\n", "rules.yaml:3: key 'correlation.groups.g': unknown category 'bogus'"),
        ("cases:\n  dispute_categories: [nope]\n", "rules.yaml:2: key 'cases.dispute_categories': unknown category 'nope'"),
        ("adapters:\n  gb28181:\n    alarm_types: {\"9/1\": fight}\n", "rules.yaml:3: key 'adapters.gb28181.alarm_types.9/1'"),
        ("adapters:\n  frigate:\n    labels:\n      - labels: [person]\n        category: intrusion\n        zones: 5\n", "key 'adapters.frigate.labels[0].zones'"),
        ("event_time:\n  lateness: 5\n", "rules.yaml:2: key 'event_time.lateness': unknown key"),
    ])
    func badRulesNameTheKeyAndLine(yaml: String, message: String) {
        #expect {
            _ = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml"))
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}

extension OutcomeTableTests.Message: Sendable {}
extension OutcomeTableTests.SlipRow: Sendable {}
extension OutcomeTableTests.CaseRow: Sendable {}
