@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport

/// Issue 12, "rules that must mean what they say": warning slips end, late
/// events are visible, far-away locations are flagged, and an item says
/// where its time came from.
@Suite("Visible outcomes: slips end, late, location mismatch, time source")
struct VisibleOutcomesTests {
    typealias E = EngineFixtures
    typealias O = OutcomeTableTests

    static func lifecycle(_ id: String, _ cam: String, _ cat: Category, _ minutes: Double, _ l: String, end: Bool = false) -> NormalizedEvent {
        NormalizedEvent(key: "frigate:\(cam):\(id)", kind: end ? .end : .detection, sourceKind: .camera, source: cam, category: cat,
                        time: E.at(minutes), lifecycle: l, format: "frigate")
    }

    /// Runs events through one engine; returns every slip effect in order and the final items.
    static func run(_ events: [NormalizedEvent], rules: RuleSet = RuleSet()) -> (slips: [Slip], items: [String: RiskItem]) {
        var e = E.engine(rules)
        var slips: [Slip] = []
        var items: [String: RiskItem] = [:]
        for ev in events {
            for effect in e.handle(ev, now: ev.time) {
                switch effect {
                case .slip(let s, _, _): slips.append(s)
                case .item(let i): items[i.id] = i
                default: break
                }
            }
        }
        return (slips, items)
    }

    static func last(_ slips: [Slip], _ id: String) -> Slip? { slips.last { $0.id == id } }

    // MARK: - Slips end (engine)

    @Test func aSlipClosesWhenItsLastItemsLifecycleEnds() {
        let r = Self.run([
            Self.lifecycle("1", "cam-1", .fight, 0, "frigate:cam-1:obj"),
            Self.lifecycle("2", "cam-1", .fight, 3, "frigate:cam-1:obj"),
            Self.lifecycle("3", "cam-1", .fight, 4, "frigate:cam-1:obj", end: true),
            E.event("x", "cam-3", .loitering, 5), // within the dedup window of the end: still open
        ])
        #expect(Self.last(r.slips, "YJ-00000001")?.state == .open, "an item may still join within the dedup window")
        let later = Self.run([
            Self.lifecycle("1", "cam-1", .fight, 0, "frigate:cam-1:obj"),
            Self.lifecycle("2", "cam-1", .fight, 3, "frigate:cam-1:obj"),
            Self.lifecycle("3", "cam-1", .fight, 4, "frigate:cam-1:obj", end: true),
            E.event("x", "cam-3", .loitering, 7), // the watermark passes the end + 120 s
        ])
        let slip = Self.last(later.slips, "YJ-00000001")
        #expect(slip?.state == .closed)
        #expect(slip?.closeReason == "items_closed")
        #expect(slip?.closedAt == E.at(7))
        #expect(slip?.json["close_reason"] == .string("items_closed"))
        #expect(later.slips.filter { $0.state == .closed }.count == 1, "closed once")
    }

    @Test func aThresholdSlipClosesWhenTheItemsStillOpenAtIssueEnd() {
        let r = Self.run([
            Self.lifecycle("1", "cam-1", .intrusion, 0, "frigate:cam-1:a"),
            Self.lifecycle("2", "cam-1", .intrusion, 1, "frigate:cam-1:a", end: true), // closed before the slip is issued
            Self.lifecycle("3", "cam-2", .intrusion, 2, "frigate:cam-2:b"),
            Self.lifecycle("4", "cam-4", .intrusion, 3, "frigate:cam-4:c"), // the third occurrence: the slip
            Self.lifecycle("5", "cam-2", .intrusion, 4, "frigate:cam-2:b", end: true),
            Self.lifecycle("6", "cam-4", .intrusion, 5, "frigate:cam-4:c", end: true),
            E.event("x", "cam-3", .loitering, 8),
        ])
        let slip = Self.last(r.slips, "YJ-00000001")
        #expect(slip?.riskItemIDs == ["RI-00000001", "RI-00000002", "RI-00000003"])
        #expect(slip?.state == .closed)
        #expect(slip?.closeReason == "items_closed")
        #expect(slip?.closedAt == E.at(8))
    }

    @Test func aSlipWithAnItemStillHeldOpenStaysOpen() {
        let r = Self.run([
            Self.lifecycle("1", "cam-1", .fight, 0, "frigate:cam-1:a"),
            Self.lifecycle("2", "cam-2", .fight, 1, "frigate:cam-2:b"),
            Self.lifecycle("3", "cam-1", .fight, 2, "frigate:cam-1:a", end: true),
            E.event("x", "cam-3", .loitering, 200), // the watermark moves far on: a lifecycle still holds cam-2's item
        ])
        #expect(Self.last(r.slips, "YJ-00000001")?.state == .open)
    }

    @Test func aSlipOfOneShotItemsClosesOnceItTakesNoMoreItemsAndTheyAreQuiet() {
        let before = Self.run([E.event("a", "cam-1", .fight, 0), E.event("x", "cam-3", .loitering, 59)])
        #expect(Self.last(before.slips, "YJ-00000001")?.state == .open, "within the repeat interval the slip still takes items")
        let r = Self.run([E.event("a", "cam-1", .fight, 0), E.event("x", "cam-3", .loitering, 61)])
        let slip = Self.last(r.slips, "YJ-00000001")
        #expect(slip?.state == .closed)
        #expect(slip?.closeReason == "items_quiet")
        #expect(slip?.closedAt == E.at(61))
    }

    @Test func aSlipStillFiringAfterTheRepeatIntervalIsClosedAsRepeated() {
        let r = Self.run([E.event("a", "cam-1", .fight, 0), E.event("b", "cam-1", .fight, 59.5), E.event("c", "cam-1", .fight, 61)])
        #expect(Self.last(r.slips, "YJ-00000001")?.closeReason == "repeated")
        #expect(Self.last(r.slips, "YJ-00000002")?.state == .open)
    }

    @Test func aSourceThatFlapsKeepsOneSlipAndAClosedSlipTakesNoMoreItems() {
        let r = Self.run([
            Self.lifecycle("1", "cam-1", .fight, 0, "frigate:cam-1:a"),
            Self.lifecycle("2", "cam-1", .fight, 1, "frigate:cam-1:a", end: true),
            Self.lifecycle("3", "cam-1", .fight, 2, "frigate:cam-1:b"), // within the dedup window of the end: joins
            Self.lifecycle("4", "cam-1", .fight, 3, "frigate:cam-1:b", end: true),
            E.event("x", "cam-3", .loitering, 6), // the end + 120 s has passed: the slip closes
            Self.lifecycle("5", "cam-1", .fight, 7, "frigate:cam-1:c"),
        ])
        #expect(Self.last(r.slips, "YJ-00000001")?.riskItemIDs == ["RI-00000001", "RI-00000002"])
        #expect(Self.last(r.slips, "YJ-00000001")?.state == .closed)
        #expect(Self.last(r.slips, "YJ-00000001")?.closeReason == "items_closed")
        #expect(Self.last(r.slips, "YJ-00000002")?.riskItemIDs == ["RI-00000004"], "a new slip links only what came after the closed one")
        #expect(Self.last(r.slips, "YJ-00000002")?.state == .open)
    }

    @Test func thirtyEnterLeavePairsTenSecondsApartMakeOneSlip() {
        var events: [NormalizedEvent] = []
        for n in 0..<30 {
            events.append(Self.lifecycle("e\(n)", "cam-1", .intrusion, Double(n) / 6, "gb28181:cam-1:5:6"))
            events.append(Self.lifecycle("l\(n)", "cam-1", .intrusion, Double(n) / 6 + 0.05, "gb28181:cam-1:5:6", end: true))
        }
        var rules = RuleSet()
        rules.thresholds[.intrusion] = 3
        let r = Self.run(events, rules: rules)
        #expect(Set(r.slips.map(\.id)) == ["YJ-00000001"])
        #expect(r.items.count == 30)
    }

    @Test func aThresholdSlipClosedByItsItemsIsNotReissuedByTheOccurrencesItCovered() {
        var rules = RuleSet()
        rules.thresholds[.intrusion] = 3
        var events: [NormalizedEvent] = []
        for n in 0..<3 {
            events.append(Self.lifecycle("e\(n)", "cam-\(n)", .intrusion, Double(n), "frigate:cam-\(n):o"))
            events.append(Self.lifecycle("l\(n)", "cam-\(n)", .intrusion, Double(n) + 0.5, "frigate:cam-\(n):o", end: true))
        }
        events.append(E.event("x", "cam-9", .loitering, 5)) // closes the slip (items closed 120 s ago)
        events.append(Self.lifecycle("e9", "cam-5", .intrusion, 6, "frigate:cam-5:o")) // one new occurrence: under the threshold
        let r = Self.run(events, rules: rules)
        #expect(Set(r.slips.map(\.id)) == ["YJ-00000001"])
        #expect(Self.last(r.slips, "YJ-00000001")?.state == .closed)
    }

    @Test func aSlipClosedByItsCaseIsForgotten() {
        var e = E.engine()
        let first = e.handle(E.event("a", "cam-1", .fight, 0), now: E.at(0))
        let id = first.compactMap { if case .slip(let s, _, true) = $0 { return s.id }; return nil }.first
        #expect(id == "YJ-00000001")
        e.forgetClosedSlips(["YJ-00000001"])
        let next = e.handle(E.event("b", "cam-2", .fight, 1), now: E.at(1))
        let slips = next.compactMap { if case .slip(let s, _, _) = $0 { return s }; return nil }
        #expect(Set(slips.map(\.id)) == ["YJ-00000002"], "the closed slip is not joined: a new one is issued")
    }

    @Test func restoringAClosedSlipDoesNotReviveIt() {
        var e = E.engine()
        var s = RiskEngine.Snapshot()
        var slip = Slip(id: "YJ-00000003", kind: .warning, zone: "Z-A", category: .fight, severity: .critical, unit: nil, issuedAt: E.at(0),
                        text: "", riskItemIDs: ["RI-00000001"], occurrences: 1)
        slip.close(.caseClosed, at: E.at(1))
        s.recentSlips = [(slip, E.at(0))]
        s.lastSlipSeq = 3
        s.lastItemSeq = 1
        e.restore(s)
        let effects = e.handle(E.event("b", "cam-2", .fight, 2), now: E.at(2))
        let slips = effects.compactMap { if case .slip(let s, _, _) = $0 { return s }; return nil }
        #expect(Set(slips.map(\.id)) == ["YJ-00000004"])
        #expect(slips.allSatisfy { $0.state == .open })
    }

    // MARK: - Late

    @Test func aLateEventBecomesALateItemThatOpensNothing() {
        var e = E.engine()
        _ = e.handle(E.event("a", "cam-1", .loitering, 30), now: E.at(30))
        let effects = e.handle(E.event("b", "cam-3", .fight, 5), now: E.at(30))
        let item = effects.compactMap { if case .item(let i) = $0 { return i }; return nil }.last
        #expect(item?.late == true)
        #expect(item?.lateReason?.contains("lateness_seconds (600)") == true)
        #expect(item?.json["late"] == .bool(true))
        #expect(!effects.contains { if case .slip = $0 { return true }; return false }, "a late fight opens no slip")
        #expect(!effects.contains { if case .caseChanged = $0 { return true }; return false }, "nor a case")
        #expect(e.lateEvents == 1)
    }

    @Test func anEventThatIsNotLateClearsTheMark() {
        var e = E.engine()
        _ = e.handle(E.event("a", "cam-1", .loitering, 30), now: E.at(30))
        _ = e.handle(Self.lifecycle("1", "cam-3", .fight, 5, "frigate:cam-3:x"), now: E.at(30))
        let effects = e.handle(Self.lifecycle("2", "cam-3", .fight, 25, "frigate:cam-3:x"), now: E.at(31))
        let item = effects.compactMap { if case .item(let i) = $0 { return i }; return nil }.last
        #expect(item?.late == false)
        #expect(item?.lateReason == nil)
        #expect(effects.contains { if case .slip(_, _, true) = $0 { return true }; return false }, "once on time, it raises its slip")
    }

    // MARK: - Time source

    @Test func anyEventTimedByTheHubMarksTheItem() {
        var received = E.event("a", "cam-1", .loitering, 0)
        received.timeSource = .received
        let r = Self.run([E.event("b", "cam-1", .loitering, 0.5), received, E.event("c", "cam-1", .loitering, 1)])
        #expect(r.items.count == 1)
        #expect(r.items.values.first?.timeSource == .received)
        #expect(r.items.values.first?.json["time_source"] == .string("received"))
        let plain = Self.run([E.event("b", "cam-1", .loitering, 0.5)])
        #expect(plain.items.values.first?.json["time_source"] == .string("device"))
    }

    // MARK: - Far-away locations (placement)

    static let zones: ZoneIndex = try! ZoneFile.load(contentsOf: GridFixtures.url("valid_small.geojson"))
    static let placer = Placer(
        registry: Registry(cameras: [CameraRecord(id: "cam-L", name: "L", location: GeoPoint(lat: 29.625, lon: 91.075), zone: nil)],
                           devices: [DeviceRecord(id: "D9", worker: "W-9", unit: "unit-9", zone: "540102-001-001-01")]),
        zones: zones)

    static func located(_ source: String, _ kind: SourceKind, lat: Double, lon: Double) -> NormalizedEvent {
        NormalizedEvent(key: "k", sourceKind: kind, source: source, category: .fight, time: E.t0, location: GeoPoint(lat: lat, lon: lon))
    }

    @Test func aCameraEventFarFromItsCameraIsPlacedInTheCamerasZoneAndFlagged() {
        let far = Self.located("cam-L", .camera, lat: 29.66, lon: 91.075) // ≈ 3.9 km north, inside another zone
        #expect(Self.zones.locate(far.location!).zone != "540102-001-001-02", "sanity: the reported point lies in another zone")
        let p = Self.placer.place(far)
        #expect(p.zone == "540102-001-001-02")
        #expect(p.locationMismatch?.contains("from camera cam-L's registered location") == true)
        #expect((3800...4000).contains(p.locationDistance ?? 0))
        let near = Self.placer.place(Self.located("cam-L", .camera, lat: 29.6255, lon: 91.0755))
        #expect(near.zone == "540102-001-001-02")
        #expect(near.locationMismatch == nil)
        let unchecked = Placer(registry: Registry(cameras: [CameraRecord(id: "cam-L", name: "L", location: GeoPoint(lat: 29.625, lon: 91.075), zone: nil)]),
                               zones: Self.zones, maxCameraDistance: 0)
        #expect(unchecked.place(far).locationMismatch == nil, "0 turns the distance check off")
    }

    @Test func anEventOutsideEveryZoneIsPlacedInItsSourcesZoneAndFlagged() {
        let p = Self.placer.place(Self.located("D9", .device, lat: 29.0, lon: 95.0))
        #expect(p.zone == "540102-001-001-01")
        #expect(p.locationMismatch?.contains("outside every zone") == true)
        #expect(p.locationDistance == nil)
        let inside = Self.placer.place(Self.located("D9", .device, lat: 29.625, lon: 91.075))
        #expect(inside.zone == "540102-001-001-02", "a patrol device's located event goes where it is")
        #expect(inside.locationMismatch == nil)
    }

    @Test func theItemCarriesTheMismatch() {
        var e = RiskEngine(rules: RuleSet(), place: Self.placer.place)
        let effects = e.handle(Self.located("cam-L", .camera, lat: 29.66, lon: 91.075), now: E.t0)
        let item = effects.compactMap { if case .item(let i) = $0 { return i }; return nil }.last
        #expect(item?.zone == "540102-001-001-02")
        #expect(item?.locationMismatch != nil)
        #expect(item?.json["location_mismatch"]?.stringValue?.contains("m from camera cam-L") == true)
    }

    @Test func rulesReadTheMaximumCameraDistance() throws {
        let rules = try RuleSet.parse(ConfigMap.parse(yaml: "placement:\n  max_camera_distance_m: 250\n", file: "rules.yaml"))
        #expect(rules.maxCameraDistance == 250)
        #expect(RuleSet().maxCameraDistance == 1000)
    }

    // MARK: - Through the pipeline and the store

    /// A processor on an in-memory store with O's registry; `clock` is the processing time.
    final class Hub: @unchecked Sendable {
        let store: DisputeStore
        var now = OutcomeTableTests.t0
        var processor: PipelineProcessor!

        init(rules: RuleSet = RuleSet(), store: DisputeStore? = nil) throws {
            self.store = try store ?? DisputeStore.inMemory()
            try restart(rules: rules)
        }

        func restart(rules: RuleSet = RuleSet()) throws {
            let decode = DecodeStage(router: TopicRouter(), registry: O.registry, timeParser: TimeParser(), adapters: rules.adapters)
            let engine = RiskEngine(rules: rules, place: Placer(registry: O.registry, zones: nil).place)
            processor = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { [unowned self] in self.now })
        }

        func send(_ messages: OutcomeTableTests.Message...) throws {
            for m in messages {
                now = O.t0.addingTimeInterval(m.minute * 60 + 1)
                try store.ingest([InboxMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: now)])
                try processor.processPending(limit: 10)
            }
        }

        func slip(_ id: String) throws -> Slip? { try store.writer.read { try DisputeStore.fetchSlip(id: id, db: $0) } }

        /// The slip objects published on out/slips, in order.
        func publishedSlips() throws -> [JSONValue] {
            try store.outbox(limit: 1000).filter { $0.topic == "patrolhub/v1/out/slips" }.map { try JSONParser.parse(String(decoding: $0.payload, as: UTF8.self)) }
        }
    }

    @Test func aQuietSlipIsClosedInTheStoreAndPublishedOnceAcrossARestart() throws {
        let hub = try Hub()
        try hub.send(O.camera("cam-A", "a1", "fight", 0))
        #expect(try hub.slip("YJ-00000001")?.state == .open)
        try hub.send(O.camera("cam-C", "c1", "loitering", 30))
        try hub.restart()
        try hub.send(O.camera("cam-C", "c2", "loitering", 61))
        let slip = try #require(try hub.slip("YJ-00000001"))
        #expect(slip.state == .closed)
        #expect(slip.closeReason == "items_quiet")
        #expect(slip.closedAt == O.t0.addingTimeInterval(61 * 60 + 1))
        try hub.restart()
        try hub.send(O.camera("cam-C", "c3", "loitering", 70), O.camera("cam-A", "a2", "fight", 71))
        let closed = try hub.publishedSlips().filter { $0["id"] == .string("YJ-00000001") && $0["state"] == .string("closed") }
        #expect(closed.count == 1, "published once when it closed, never again")
        #expect(closed.first?["closed_at"] == .string(O.t0.addingTimeInterval(61 * 60 + 1).rfc3339))
        #expect(try hub.slip("YJ-00000002")?.state == .open, "a new fight opens a new slip")
        #expect(try hub.store.status().slips["warning"] == ["open": 1, "closed": 1])
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func slipsEndTheSameWithARestartAnywhere(restartAt: Int) throws {
        let messages = [
            O.camera("cam-A", "a1", "fight", 0), O.camera("cam-C", "c1", "intrusion", 1), O.camera("cam-C", "c2", "intrusion", 4),
            O.camera("cam-E", "e1", "intrusion", 5), O.camera("cam-C", "c3", "loitering", 66), O.camera("cam-A", "a2", "fight", 67),
        ]
        func states(_ store: DisputeStore) throws -> [String] {
            try store.writer.read { try String.fetchAll($0, sql: "SELECT id || ' ' || state || ' ' || COALESCE(close_reason, '-') FROM slips ORDER BY id") }
        }
        let (running, outcomes) = try ReviewFindingsTests.run(messages)
        #expect(try states(running) == ["YJ-00000001 closed items_quiet", "YJ-00000002 closed items_quiet", "YJ-00000003 open -"], "sanity")
        let (restarted, restartedOutcomes) = try ReviewFindingsTests.run(messages, restartAt: restartAt)
        #expect(try states(restarted) == states(running))
        #expect(restartedOutcomes == outcomes, "the same publications: nothing closed twice")
    }

    @Test func closingTheCaseClosesItsSlipInTheSameTransactionAndPublishesIt() throws {
        let hub = try Hub()
        try hub.send(O.camera("cam-A", "a1", "fight", 0))
        let caseID = try #require(try hub.slip("YJ-00000001")?.caseID, "a severity-1 fight opens a case the slip names")
        hub.now = O.t0.addingTimeInterval(120)
        try hub.store.act(on: caseID, CaseAction(.falseAlarm, by: "dispatcher-1", note: "a rehearsal, not a fight"), now: hub.now, outputPrefix: "patrolhub/v1")
        let slip = try #require(try hub.slip("YJ-00000001"))
        #expect(slip.state == .closed)
        #expect(slip.closeReason == "case_false_alarm")
        #expect(slip.closedAt == O.t0.addingTimeInterval(120))
        let published = try hub.publishedSlips().last
        #expect(published?["id"] == .string("YJ-00000001"))
        #expect(published?["state"] == .string("closed"))
        #expect(published?["close_reason"] == .string("case_false_alarm"))
        // The running pipeline learns of it: a new fight in the zone does not join the closed slip.
        try hub.send(O.camera("cam-B", "b1", "fight", 3))
        #expect(try hub.slip("YJ-00000001")?.state == .closed)
        #expect(try hub.slip("YJ-00000001")?.riskItemIDs == ["RI-00000001"])
        #expect(try hub.slip("YJ-00000002")?.state == .open)
        let closedAgain = try hub.publishedSlips().filter { $0["id"] == .string("YJ-00000001") && $0["state"] == .string("closed") }
        #expect(closedAgain.count == 1)
    }

    @Test func aLateEventIsAStoredLateItemAndCounted() throws {
        let hub = try Hub()
        try hub.send(O.camera("cam-A", "a1", "loitering", 30), O.camera("cam-C", "c1", "fight", 5))
        let items = try hub.store.writer.read { try DisputeStore.riskItems(ListQuery(), db: $0).items }
        let late = try #require(items.first { $0.source == "cam-C" })
        #expect(late.late)
        #expect(late.lateReason?.hasPrefix("late: event time") == true)
        #expect(late.json["late"] == .bool(true))
        #expect(try hub.store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM slips WHERE zone = 'G2'") } == 0)
        #expect(try hub.store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM cases WHERE zone = 'G2'") } == 0)
        let status = try hub.store.status()
        #expect(status.lateEvents == 1)
        #expect(status.newestEventTime == O.t0.addingTimeInterval(30 * 60))
        var q = ListQuery()
        q.late = true
        #expect(try hub.store.writer.read { try DisputeStore.riskItems(q, db: $0).items.map(\.source) } == ["cam-C"])
    }

    @Test func newItemFieldsSurviveTheStore() throws {
        let store = try DisputeStore.inMemory()
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, first_seen, last_seen, occurrences, state,
                                       late, late_reason, location_mismatch, location_distance_m, time_source)
                VALUES (1, 'RI-00000001', 'cam-A', 'camera', 'fight', 1, 'G1', 0, 0, 1, 'open', 1, 'late: …', 'far', 4321.4, 'received')
                """)
        }
        let item = try #require(try store.writer.read { try DisputeStore.fetchRiskItem(id: "RI-00000001", db: $0) })
        let o = item.json
        #expect(o["late"] == .bool(true))
        #expect(o["late_reason"] == .string("late: …"))
        #expect(o["location_mismatch"] == .string("far"))
        #expect(o["location_distance_m"] == .number(4321))
        #expect(o["time_source"] == .string("received"))
    }

    @Test func simulateCanReadTheHubsNewestEventTime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("visible-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hub.sqlite").path
        #expect(try DisputeStore.newestEventTime(path: path) == nil, "no store: nothing to warn about")
        let hub = try Hub(store: DisputeStore(path: path))
        try hub.send(O.camera("cam-A", "a1", "loitering", 30))
        #expect(try DisputeStore.newestEventTime(path: path) == O.t0.addingTimeInterval(30 * 60))
    }
}

