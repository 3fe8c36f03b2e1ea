import Foundation
import Testing

@testable import Alerts

@Suite("Frigate adapter")
struct FrigateAdapterTests {
    private let topic = "frigate/events"

    /// A Frigate tracked-object state, as Frigate 0.13/0.14 publishes it.
    private func state(
        label: String = "person", zones: [String] = [], current: [String]? = nil, score: Double = 0.8,
        frame: Double, end: Double? = nil, stationary: Bool = false, falsePositive: Bool = false
    ) -> [String: Any] {
        [
            "id": "1704182645.123456-ab12cd", "camera": "gate_north", "frame_time": frame, "label": label,
            "sub_label": NSNull(), "top_score": score, "false_positive": falsePositive,
            "start_time": 1_704_182_645.123456, "end_time": end.map { $0 as Any } ?? NSNull(), "score": score,
            "box": [424, 500, 536, 712], "area": 23744, "current_zones": current ?? zones, "entered_zones": zones,
            "has_snapshot": true, "has_clip": true, "active": end == nil, "stationary": stationary,
            "motionless_count": 0, "position_changes": 1,
        ]
    }

    private func message(_ type: String, _ before: [String: Any], _ after: [String: Any]) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: ["type": type, "before": before, "after": after]))
    }

    @Test("new + 50 updates + end yields one detection key, first raised when the zone arrives, and one end")
    func fiftyUpdates() throws {
        let adapter = FrigateAdapter()
        var messages: [[UInt8]] = []
        var previous = state(frame: 1_704_182_646)
        messages.append(try message("new", previous, previous))
        for update in 1...50 {
            let frame = 1_704_182_646 + Double(update)
            // The zone arrives late (update 7); afterwards the person walks in and out of it,
            // the score and snapshot change: none of that is a new risk.
            let zones = update >= 7 ? ["fence_line"] : []
            let current = update >= 7 && update % 3 != 0 ? ["fence_line"] : []
            let next = state(
                zones: zones, current: current, score: 0.6 + Double(update % 10) / 30, frame: frame)
            messages.append(try message("update", previous, next))
            previous = next
        }
        let last = state(zones: ["fence_line"], current: [], frame: 1_704_182_700, end: 1_704_182_701)
        messages.append(try message("end", previous, last))

        var events: [NormalizedEvent] = []
        for payload in messages {
            events += try adapter.decode(topic: topic, payload: payload, receivedAt: AdapterFixtures.receivedAt)
        }
        let detections = events.filter { $0.kind == .detection }
        let ends = events.filter { $0.kind == .end }
        // Every message whose `after` is in the zone repeats the one detection key: the pipeline keeps the first.
        #expect(Set(detections.map(\.key)).count == 1)
        #expect(detections.count == 44 + 1) // updates 7…50 and the end, whose `after` is in the zone
        #expect(ends.count == 1)
        #expect(detections.first?.time == Date(timeIntervalSince1970: 1_704_182_653))
        #expect(detections.first?.key == "frigate:gate_north:1704182645.123456-ab12cd:new")
        #expect(ends.first?.key == "frigate:gate_north:1704182645.123456-ab12cd:end")
        #expect(ends.first?.time == Date(timeIntervalSince1970: 1_704_182_701))
        #expect(Set(events.map(\.lifecycle)) == ["frigate:gate_north:1704182645.123456-ab12cd"])
        #expect(Set(events.map(\.category)) == [.intrusion])
    }

    @Test("a car that parks, moves and parks again is re-raised under the same key")
    func stationaryToggleKeepsKey() throws {
        let adapter = FrigateAdapter()
        let moving = state(label: "car", zones: ["no_parking"], frame: 1, stationary: false)
        let parked = state(label: "car", zones: ["no_parking"], frame: 2, stationary: true)
        let first = try adapter.decode(topic: topic, payload: try message("update", moving, parked), receivedAt: .now)
        let again = try adapter.decode(topic: topic, payload: try message("update", moving, parked), receivedAt: .now)
        #expect(first.count == 1)
        #expect(first.map(\.key) == again.map(\.key))
        #expect(first.first?.category == .illegalParking)
    }

    @Test("a car that drove through no_parking and parked outside it is not illegally parked: where it stands is current_zones")
    func parkedOutsideTheZoneItCrossed() throws {
        let adapter = FrigateAdapter()
        // entered_zones keeps every zone the car ever crossed; current_zones is where it stands.
        let crossing = state(label: "car", zones: ["no_parking"], current: ["no_parking"], frame: 1, stationary: false)
        let parkedOutside = state(label: "car", zones: ["no_parking", "driveway"], current: ["driveway"], frame: 2, stationary: true)
        #expect(try adapter.decode(topic: topic, payload: try message("update", crossing, parkedOutside), receivedAt: .now) == [])
        let parkedOutsideNoZone = state(label: "car", zones: ["no_parking"], current: [], frame: 3, stationary: true)
        #expect(try adapter.decode(topic: topic, payload: try message("update", crossing, parkedOutsideNoZone), receivedAt: .now) == [])
        // Parked inside it: illegal parking, at the frame it was seen parked.
        let parkedInside = state(label: "car", zones: ["no_parking", "driveway"], current: ["no_parking"], frame: 4, stationary: true)
        let raised = try adapter.decode(topic: topic, payload: try message("update", crossing, parkedInside), receivedAt: .now)
        #expect(raised.map(\.category) == [.illegalParking])
        #expect(raised.first?.time == Date(timeIntervalSince1970: 4))
        // A person who crossed a zone is an intrusion even once out of it: entering was the event.
        let walkedThrough = state(label: "person", zones: ["yard"], current: [], frame: 5)
        #expect(try adapter.decode(topic: topic, payload: try message("update", walkedThrough, walkedThrough), receivedAt: .now)
            .map(\.category) == [.intrusion])
    }

    @Test("an update whose after has an end_time is the object's end too: an item raised from it does not stay open")
    func updateAfterEnd() throws {
        let adapter = FrigateAdapter()
        let ended = state(zones: ["yard"], frame: 10, end: 12)
        let events = try adapter.decode(topic: topic, payload: try message("update", ended, ended), receivedAt: .now)
        #expect(events.map(\.kind) == [.detection, .end])
        #expect(events.last?.key == "frigate:gate_north:1704182645.123456-ab12cd:end")
        #expect(events.last?.time == Date(timeIntervalSince1970: 12))
        // Still tracked (end_time null): no end.
        let live = state(zones: ["yard"], frame: 10)
        #expect(try adapter.decode(topic: topic, payload: try message("update", live, live), receivedAt: .now).map(\.kind) == [.detection])
    }

    @Test("false positive that becomes real raises the detection on that update")
    func falsePositiveCleared() throws {
        let before = state(label: "smoke", frame: 1, falsePositive: true)
        let after = state(label: "smoke", frame: 2, falsePositive: false)
        let events = try FrigateAdapter().decode(
            topic: topic, payload: try message("update", before, after), receivedAt: .now)
        #expect(events.map(\.category) == [.fireSmoke])
        #expect(events.first?.severity == .critical)
    }

    @Test("camera names resolve through the resolver; unknown cameras are dead-lettered")
    func resolver() throws {
        let payload = try AdapterFixtures.bytes("frigate-fire-new.json")
        let mapped = FrigateAdapter(resolver: .table(["gate_north": "CAM-540102-0007"]))
        let events = try mapped.decode(topic: topic, payload: payload, receivedAt: .now)
        #expect(events.map(\.source) == ["CAM-540102-0007"])
        #expect(events.first?.key == "frigate:gate_north:1704182645.123456-ab12cd:new")

        let strict = FrigateAdapter(resolver: .table([:]))
        #expect(throws: HubError.self) { try strict.decode(topic: topic, payload: payload, receivedAt: .now) }
        do {
            _ = try strict.decode(topic: topic, payload: payload, receivedAt: .now)
        } catch {
            #expect(error.reason == .unknownSource)
            #expect(error.detail.contains("gate_north"))
        }
        // An unmapped label is nothing, even from an unregistered camera.
        #expect(try strict.decode(topic: topic, payload: AdapterFixtures.bytes("frigate-dog.json"), receivedAt: .now).isEmpty)
    }

    @Test("configured zones, score threshold, severity and topic")
    func customMapping() throws {
        let mapping = FrigateMapping(
            topic: "nvr2/events",
            rules: [
                .init(
                    labels: ["person"], category: .intrusion, zones: .named(["fence_line"]), minScore: 0.85,
                    severity: .major)
            ])
        let adapter = FrigateAdapter(mapping: mapping)
        let outside = state(zones: ["parking_lot"], score: 0.9, frame: 2)
        let inside = state(zones: ["fence_line"], score: 0.9, frame: 2)
        let weak = state(zones: ["fence_line"], score: 0.5, frame: 2)
        let empty = state(frame: 1)
        #expect(try adapter.decode(topic: "nvr2/events", payload: message("update", empty, outside), receivedAt: .now).isEmpty)
        #expect(try adapter.decode(topic: "nvr2/events", payload: message("update", empty, weak), receivedAt: .now).isEmpty)
        let events = try adapter.decode(topic: "nvr2/events", payload: message("update", empty, inside), receivedAt: .now)
        #expect(events.map(\.severity) == [.major])
        #expect(events.first?.confidence == 0.9)
        #expect(throws: HubError.decode(.unknownTopic, "frigate/events is not the Frigate events topic nvr2/events")) {
            try adapter.decode(topic: "frigate/events", payload: message("update", empty, inside), receivedAt: .now)
        }
    }

    @Test("oversized payloads are dead-lettered before parsing")
    func oversized() {
        let adapter = FrigateAdapter(options: AdapterOptions(maxPayloadBytes: 16))
        #expect(throws: HubError.decode(.oversized, "payload is 17 bytes, the limit is 16")) {
            try adapter.decode(topic: "frigate/events", payload: Array("{\"type\":\"new\"}   ".utf8), receivedAt: .now)
        }
    }
}
