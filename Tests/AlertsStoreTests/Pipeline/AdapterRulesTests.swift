@testable import AlertsStore
import Foundation
import Testing
@testable import Alerts

/// What the rules make of the adapters' events: Frigate and ONVIF lifecycles,
/// check-ins and SOS, decoded by the real `DecodeStage` and run through the
/// `RiskEngine` the way `PipelineProcessor` does (a key seen once is skipped).
@Suite("Risk engine: adapter events")
struct AdapterRulesTests {
    static let registry = Registry(
        cameras: [
            CameraRecord(id: "cam-001", name: "North gate", location: nil, zone: "Z-A"),
            CameraRecord(id: "cam-002", name: "Market", location: nil, zone: "Z-B"),
        ],
        devices: [DeviceRecord(id: "pda-0417", worker: "W-0417", unit: "unit-A", zone: "Z-A")])

    /// The pipeline's decode + dedup + engine, recording every effect.
    struct Harness {
        var decode = DecodeStage(router: TopicRouter(), registry: AdapterRulesTests.registry, timeParser: TimeParser())
        var engine = RiskEngine(rules: RuleSet(), place: Placer(registry: AdapterRulesTests.registry, zones: nil).place)
        var seen: Set<String> = []
        var effects: [EngineEffect] = []
        var items: [String: RiskItem] = [:]
        var slips: [String: Slip] = [:]

        mutating func publish(_ topic: String, _ payload: [UInt8], at now: Date) throws {
            for event in try decode.decode(topic: topic, payload: payload, now: now) where seen.insert(event.key).inserted {
                for effect in engine.handle(event, now: now) {
                    effects.append(effect)
                    switch effect {
                    case .item(let item): items[item.id] = item
                    case .slip(let slip, _, _): slips[slip.id] = slip
                    default: break
                    }
                }
            }
        }

        var accepted: [(key: String, itemID: String, counted: Bool)] {
            effects.compactMap {
                if case .accepted(let key, let itemID, _, _, _, let counted) = $0 { return (key, itemID, counted) }
                return nil
            }
        }
    }

    static let objectID = "1704182645.123456-ab12cd"
    static let start = 1_704_182_645.0

    /// A Frigate tracked-object state, as Frigate 0.14 publishes it.
    static func state(zones: [String], current: [String], frame: Double, end: Double? = nil) -> [String: Any] {
        [
            "id": objectID, "camera": "cam-001", "frame_time": frame, "label": "person", "sub_label": NSNull(),
            "top_score": 0.9, "score": 0.85, "false_positive": false, "start_time": start,
            "end_time": end.map { $0 as Any } ?? NSNull(), "current_zones": current, "entered_zones": zones,
            "stationary": false, "active": end == nil,
        ]
    }

    static func frigate(_ type: String, _ before: [String: Any], _ after: [String: Any]) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: ["type": type, "before": before, "after": after]))
    }

    @Test func aFrigateObjectWithFiftyUpdatesIsOneItemClosedAtItsEnd() throws {
        var h = Harness()
        var previous = Self.state(zones: [], current: [], frame: Self.start + 1)
        try h.publish("frigate/events", try Self.frigate("new", previous, previous), at: Date(timeIntervalSince1970: Self.start + 1))
        // 50 updates, 10 s apart (500 s, far beyond the 120 s dedup window): the zone is
        // entered at update 7, then the person walks in and out of it.
        for update in 1...50 {
            let frame = Self.start + 1 + Double(update) * 10
            let next = Self.state(
                zones: update >= 7 ? ["fence_line"] : [], current: update >= 7 && update % 3 != 0 ? ["fence_line"] : [], frame: frame)
            try h.publish("frigate/events", try Self.frigate("update", previous, next), at: Date(timeIntervalSince1970: frame))
            previous = next
            if update == 49 {
                #expect(h.items.values.map(\.state) == [.open], "still open before the end")
            }
        }
        let endTime = Self.start + 520
        let last = Self.state(zones: ["fence_line"], current: [], frame: endTime, end: endTime)
        try h.publish("frigate/events", try Self.frigate("end", previous, last), at: Date(timeIntervalSince1970: endTime + 1))

        let lifecycle = "frigate:cam-001:\(Self.objectID)"
        #expect(h.items.count == 1)
        let item = try #require(h.items["RI-00000001"])
        #expect(item.state == .closed)
        #expect(item.source == "cam-001")
        #expect(item.category == .intrusion)
        #expect(item.zone == "Z-A")
        #expect(item.occurrences == 1)
        #expect(item.lifecycle == lifecycle)
        #expect(item.firstSeen == Date(timeIntervalSince1970: Self.start + 71))
        #expect(item.lastSeen == Date(timeIntervalSince1970: endTime))
        #expect(h.accepted.map(\.key) == ["\(lifecycle):new", "\(lifecycle):end"])
        #expect(h.accepted.map(\.itemID) == ["RI-00000001", "RI-00000001"])
        #expect(h.accepted.map(\.counted) == [true, false])
    }

    @Test func aLiveLifecycleFoldsDetectionsBeyondTheDedupWindowUntilItsEnd() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        func event(_ key: String, _ minutes: Double, kind: NormalizedEvent.Kind = .detection, lifecycle: String? = "L1") -> NormalizedEvent {
            NormalizedEvent(key: key, kind: kind, sourceKind: .camera, source: "cam-001", category: .loitering,
                            time: t0.addingTimeInterval(minutes * 60), lifecycle: lifecycle, format: "onvif")
        }
        var engine = Harness().engine
        var items: [String: RiskItem] = [:]
        for e in [event("a", 0), event("b", 5), event("one-shot", 12, lifecycle: nil), event("c", 20), event("end", 21, kind: .end),
                  event("again", 22)] {
            for case .item(let item) in engine.handle(e, now: e.time) { items[item.id] = item }
        }
        #expect(items.count == 2)
        #expect(items["RI-00000001"]?.occurrences == 4)
        #expect(items["RI-00000001"]?.state == .closed)
        #expect(items["RI-00000001"]?.lastSeen == t0.addingTimeInterval(21 * 60))
        #expect(items["RI-00000002"]?.state == .open)
        #expect(items["RI-00000002"]?.firstSeen == t0.addingTimeInterval(22 * 60))
    }

    @Test func anONVIFPropertyOpensAnItemAndAZeroByteDeleteClosesEveryRuleOfItsTopic() throws {
        var h = Harness()
        let topic = "patrolhub/v1/onvif/cam-001/tns1:RuleEngine/FieldDetector/ObjectsInside"
        func inside(_ rule: String, _ time: String) -> [UInt8] {
            Array(#"{"UtcTime":"\#(time)","PropertyOperation":"Changed","Source":{"Rule":"\#(rule)"},"Data":{"IsInside":"true"}}"#.utf8)
        }
        let now = Date(timeIntervalSince1970: 1_704_182_700)
        try h.publish(topic, inside("Fence", "2024-01-02T07:04:05Z"), at: now)
        try h.publish(topic, inside("Gate", "2024-01-02T07:09:05Z"), at: now.addingTimeInterval(300))
        // Another camera's property on the same ONVIF topic is not touched by cam-001's delete.
        try h.publish("patrolhub/v1/onvif/cam-002/tns1:RuleEngine/FieldDetector/ObjectsInside", inside("Fence", "2024-01-02T07:04:05Z"), at: now)
        #expect(h.items["RI-00000001"]?.state == .open)
        #expect(h.items["RI-00000001"]?.occurrences == 2)

        let deletedAt = now.addingTimeInterval(600)
        try h.publish(topic, [], at: deletedAt)
        #expect(h.items.count == 2)
        let closed = try #require(h.items["RI-00000001"])
        #expect(closed.state == .closed)
        #expect(closed.source == "cam-001")
        #expect(closed.category == .intrusion)
        #expect(closed.lifecycle == "onvif:cam-001:RuleEngine/FieldDetector/ObjectsInside|Rule=Fence")
        #expect(closed.lastSeen == deletedAt)
        #expect(h.items["RI-00000002"]?.source == "cam-002")
        #expect(h.items["RI-00000002"]?.state == .open)
        let end = try #require(h.accepted.last)
        #expect(end.key == "onvif:cam-001:RuleEngine/FieldDetector/ObjectsInside:deleted:\(Int64(deletedAt.timeIntervalSince1970 * 1000))")
        #expect(end.itemID == "RI-00000001")
        #expect(end.counted == false)
    }

    @Test func aCheckinIsRecordedButIsNoRiskItem() throws {
        var h = Harness()
        let payload = Array(#"{"id":"ck-1","checkpoint":"CP-07","time":"2024-01-02T09:30:12+08:00","method":"nfc"}"#.utf8)
        try h.publish("patrolhub/v1/device/pda-0417/checkin", payload, at: Date(timeIntervalSince1970: 1_704_159_100))
        #expect(h.items.isEmpty)
        #expect(h.slips.isEmpty)
        #expect(h.effects == [.accepted(key: "device:pda-0417:checkin:ck-1", itemID: "", zone: "Z-A", category: .other,
                                        time: Date(timeIntervalSince1970: 1_704_159_012), counted: false)])
    }

    @Test func anSOSRaisesASeverityOneItemAndAWarningSlipAtOnce() throws {
        var h = Harness()
        let payload = Array(#"{"id":"sos-3","time":"2024-01-02T11:00:00+08:00","kind":"fall"}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_704_164_401)
        try h.publish("patrolhub/v1/device/pda-0417/sos", payload, at: now)
        let item = try #require(h.items["RI-00000001"])
        #expect(item.category == .sos)
        #expect(item.severity == .critical)
        #expect(item.sourceKind == .device)
        #expect(item.zone == "Z-A")
        #expect(item.unit == "unit-A")
        #expect(item.worker == "W-0417")
        let slip = try #require(h.slips["YJ-00000001"])
        #expect(h.slips.count == 1)
        #expect(slip.kind == .warning)
        #expect(slip.category == .sos)
        #expect(slip.severity == .critical)
        #expect(slip.riskItemIDs == ["RI-00000001"])
        #expect(slip.unit == "unit-A")
        #expect(slip.issuedAt == now)
        #expect(slip.text == "预警单：网格 Z-A 出现紧急求助（sos），严重程度 1 级，立即预警。请 unit-A 核查处置。")
    }
}
