import Foundation
import Testing
@testable import Alerts

/// NUL characters in the texts of a payload (`DecodeText`): trailing padding is
/// dropped, any other NUL in a text the hub reads is an `invalid_value` dead
/// letter naming the field, in every adapter, so no store ever sees one.
@Suite("NUL characters in payload texts")
struct NULTextTests {
    static let gbCamera = "34020000001320000001"
    static let stage = DecodeStage(
        router: TopicRouter(),
        registry: Registry(
            cameras: ["cam-1", "gate_north", "cam-gate", gbCamera].map { CameraRecord(id: $0, name: $0, location: nil, zone: "Z") },
            devices: [DeviceRecord(id: "dev-1", worker: "W", unit: "U", zone: "Z")]),
        timeParser: TimeParser(), maxPayloadBytes: 1 << 16, maxClockSkew: 300)
    static let now = Date(timeIntervalSince1970: 1_795_912_200) // 2026-11-29T00:30:00Z

    static func decode(_ topic: String, _ payload: String) throws(HubError) -> [NormalizedEvent] {
        try stage.decode(topic: topic, payload: Array(payload.utf8), now: now)
    }

    static func nul(_ field: String) -> HubError { HubError.decode(.invalidValue, "field '\(field)' holds a NUL character") }

    // MARK: - Payload shapes (JSON `\u0000` escapes; raw NUL bytes in XML)

    static let cameraTopic = "patrolhub/v1/camera/cam-1/event"
    static func camera(id: String, type: String = "fight", snapshot: String = "http://x/1.jpg") -> String {
        #"{"id":"\#(id)","type":"\#(type)","time":"2026-11-29T08:29:00+08:00","snapshot_url":"\#(snapshot)"}"#
    }

    static let reportTopic = "patrolhub/v1/device/dev-1/report"
    static func report(description: String, deviceID: String = "dev-1") -> String {
        #"{"id":"r1","device_id":"\#(deviceID)","category":"dispute","time":"2026-11-29T08:29:00+08:00","description":"\#(description)"}"#
    }

    static let checkinTopic = "patrolhub/v1/device/dev-1/checkin"
    static func checkin(checkpoint: String) -> String {
        #"{"id":"c1","checkpoint":"\#(checkpoint)","method":"nfc","time":"2026-11-29T08:29:00+08:00"}"#
    }

    static func frigate(camera: String = "gate_north", id: String = "1704182645.1-ab", subLabel: String = "alice") -> String {
        let state = #"{"id":"\#(id)","camera":"\#(camera)","label":"person","sub_label":"\#(subLabel)","score":0.9,"top_score":0.9,"start_time":1795912000,"frame_time":1795912100,"entered_zones":["fence"],"current_zones":["fence"]}"#
        return #"{"type":"new","before":\#(state),"after":\#(state)}"#
    }

    static let gbTopic = "patrolhub/v1/gb28181/\(gbCamera)/alarm"
    static func gb(device: String = gbCamera, description: String = "Motion detection") -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>\(device)</DeviceID><AlarmPriority>1</AlarmPriority>
        <AlarmMethod>5</AlarmMethod><AlarmTime>2026-11-29T08:29:00+08:00</AlarmTime><AlarmDescription>\(description)</AlarmDescription>
        <Info><AlarmType>2</AlarmType></Info></Notify>
        """
    }

    static let onvifTopic = "patrolhub/v1/onvif/cam-gate/tns1:RuleEngine/CellMotionDetector/Motion"
    static func onvif(rule: String) -> String {
        #"{"UtcTime":"2026-11-29T00:29:00Z","PropertyOperation":"Changed","Source":{"VideoSourceConfigurationToken":"VS1","Rule":"\#(rule)"},"Data":{"IsMotion":"true"}}"#
    }

    // MARK: - Trailing padding is dropped

    @Test("trailing NUL padding is dropped: the event equals the unpadded payload's", arguments: [
        (cameraTopic, camera(id: #"e1\u0000\u0000"#), camera(id: "e1")),
        (reportTopic, report(description: #"a gate\u0000\u0000\u0000"#, deviceID: #"dev-1\u0000"#), report(description: "a gate")),
        (checkinTopic, checkin(checkpoint: #"CP-1\u0000"#), checkin(checkpoint: "CP-1")),
        ("frigate/events", frigate(camera: #"gate_north\u0000\u0000"#, id: #"1704182645.1-ab\u0000"#, subLabel: #"alice\u0000"#), frigate()),
        (gbTopic, gb(device: gbCamera + "\u{0}\u{0}", description: "Motion detection\u{0}"), gb()),
        (onvifTopic, onvif(rule: #"MyMotionDetectorRule\u0000\u0000"#), onvif(rule: "MyMotionDetectorRule")),
    ])
    func paddingIsDropped(topic: String, padded: String, plain: String) throws {
        let events = try Self.decode(topic, padded)
        #expect(!events.isEmpty)
        #expect(events == (try Self.decode(topic, plain)))
        for e in events {
            #expect(!DecodeText.containsNUL(e.key) && !DecodeText.containsNUL(e.source))
            #expect(!DecodeText.containsNUL(e.lifecycle ?? "") && !DecodeText.containsNUL(e.description ?? ""))
        }
    }

    @Test func aCStringOnOffPayloadOfOnvif2mqtt() throws {
        let padded = try Self.stage.decode(topic: "onvif2mqtt/cam-gate/motion", payload: Array("on".utf8) + [0, 0], now: Self.now, receivedAt: Self.now)
        let plain = try Self.stage.decode(topic: "onvif2mqtt/cam-gate/motion", payload: Array("on".utf8), now: Self.now, receivedAt: Self.now)
        #expect(padded.count == 1 && padded == plain)
    }

    /// The native fast path leaves a string with a NUL to the general path, which strips or
    /// refuses it; `snapshot_url` is not kept, so neither path reads its text.
    @Test func theFastPathAgreesWithTheGeneralPathOnNULs() throws {
        let d = NativeCameraDecoder()
        let padded = Array(Self.camera(id: #"e1\u0000"#).utf8)
        #expect(d.fastEvent(camera: "cam-1", payload: padded) == nil)
        #expect(try d.decodeEvent(camera: "cam-1", payload: padded).key == "camera:cam-1:e1")
        let snapshot = Array(Self.camera(id: "e1", snapshot: #"http://x/\u0000.jpg"#).utf8)
        let fast = try #require(d.fastEvent(camera: "cam-1", payload: snapshot))
        #expect(fast == (try d.generalEvent(camera: "cam-1", payload: snapshot)))
    }

    // MARK: - Any other NUL is a dead letter naming the field

    @Test("a NUL inside a text is invalid_value naming the field", arguments: [
        (cameraTopic, camera(id: #"e\u00001"#), "id"),
        (cameraTopic, camera(id: "e1", type: #"fi\u0000ght"#), "type"),
        (reportTopic, report(description: #"a\u0000b"#), "description"),
        (reportTopic, report(description: "x", deviceID: #"dev\u0000-1"#), "device_id"),
        (checkinTopic, checkin(checkpoint: #"\u0000CP-1"#), "checkpoint"),
        ("frigate/events", frigate(camera: #"gate\u0000north"#), "after.camera"),
        ("frigate/events", frigate(subLabel: #"al\u0000ice"#), "after.sub_label"),
        (gbTopic, gb(device: "3402\u{0}0000001320000001"), "DeviceID"),
        (gbTopic, gb(description: "Motion\u{0}detection"), "AlarmDescription"),
        (gbTopic, gb(description: "Motion&#0;detection"), "AlarmDescription"),
        (onvifTopic, onvif(rule: #"My\u0000Rule"#), "Source.Rule"),
    ])
    func anInteriorNULIsRefused(topic: String, payload: String, field: String) {
        #expect(throws: Self.nul(field)) { try Self.decode(topic, payload) }
    }

    /// A detail that quotes a payload's value writes a NUL as `\u0000`: it is stored as text.
    @Test func aDetailNeverHoldsANUL() throws {
        let error = try #require(throws: HubError.self) {
            try Self.stage.decode(topic: "onvif2mqtt/cam-gate/motion", payload: [UInt8(ascii: "o"), 0, UInt8(ascii: "n")], now: Self.now)
        }
        #expect(error.deadLetterReason == .invalidValue)
        #expect(!DecodeText.containsNUL(error.detail) && !DecodeText.containsNUL(error.description))
        #expect(error.detail.contains(#"o\u0000n"#))
    }

    /// The decode stage's last check refuses what an adapter let through, whichever text holds it.
    @Test func theStageRefusesAnyEventTextWithANUL() throws {
        let clean = NormalizedEvent(key: "k", sourceKind: .camera, source: "cam-1", category: .fight, time: Self.now, lifecycle: "l", description: "d")
        try DecodeStage.refuseNUL([clean], UnmappedInput(format: "frigate", name: "dog", device: "cam-1"))
        var bad = clean
        bad.description = "a\u{0}b"
        #expect(throws: HubError.decode(.invalidValue, "the event's description holds a NUL character")) { try DecodeStage.refuseNUL([bad], nil) }
        bad = clean
        bad.lifecycle = "l\u{0}"
        #expect(throws: HubError.decode(.invalidValue, "the event's lifecycle id holds a NUL character")) { try DecodeStage.refuseNUL([clean, bad], nil) }
        bad = clean
        bad.kind = .checkin(checkpoint: "CP\u{0}1", method: nil)
        #expect(throws: HubError.decode(.invalidValue, "the check-in's checkpoint holds a NUL character")) { try DecodeStage.refuseNUL([bad], nil) }
        #expect(throws: HubError.decode(.invalidValue, "the unmapped frigate input's name holds a NUL character")) {
            try DecodeStage.refuseNUL([], UnmappedInput(format: "frigate", name: "do\u{0}g", device: "cam-1"))
        }
    }

    @Test func decodeTextHelpers() throws {
        #expect(DecodeText.withoutNULPadding("cam01\u{0}\u{0}") == "cam01")
        #expect(DecodeText.withoutNULPadding("\u{0}") == "")
        #expect(DecodeText.withoutNULPadding("中文\u{0}") == "中文")
        #expect(DecodeText.withoutNULPadding("a\u{0}b") == "a\u{0}b")
        #expect(try DecodeText.checked("cam01\u{0}", field: "x") == "cam01")
        #expect(try DecodeText.checked("plain", field: "x") == "plain")
        #expect(throws: Self.nul("x")) { try DecodeText.checked("a\u{0}b\u{0}", field: "x") }
        #expect(DecodeText.printable("a\u{0}b") == #"a\u0000b"#)
        #expect(DecodeText.printable("中文") == "中文")
        #expect(HubError.decode(.invalidValue, "found 'a\u{0}'").detail == #"found 'a\u0000'"#)
    }
}
