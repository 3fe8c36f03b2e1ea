@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Issue 12's acceptance table: payloads in the shapes real cameras, NVRs,
/// platforms and bridges send (Hikvision and Dahua over GB/T 28181,
/// wvp-GB28181-pro cascades, python-onvif-zeep bridges, TP-Link Tapo,
/// onvif2mqtt), each sequence run through decode → rules → a real SQLite store,
/// with the exact outcome: items (category, severity, open or closed, muted),
/// warning slips, cases and dead letters. The fixtures are written here in
/// those shapes; `RealWorldCorpusTests` runs the reference corpus itself.
@Suite("Field fidelity: real-shaped payloads → exact outcomes")
struct FieldFidelityTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15 08:00:00 UTC, 16:00 in Asia/Shanghai

    /// Grid G1 has cameras A and B; grid G2 camera C. Their foreign names map as an installer would map them.
    static let registry = Registry(
        cameras: [
            CameraRecord(id: "cam-A", name: "A", location: nil, zone: "G1"), CameraRecord(id: "cam-B", name: "B", location: nil, zone: "G1"),
            CameraRecord(id: "cam-C", name: "C", location: GeoPoint(lat: 29.6531, lon: 91.1342), zone: "G2"),
        ],
        devices: [])

    static var rules: RuleSet {
        var r = RuleSet()
        r.severities[.motion] = .info
        r.thresholds[.motion] = 20
        r.adapters.cameraIDs = [
            "34020000001320000001": "cam-A", "34020000001320000002": "cam-B", "34020000001320000003": "cam-C",
            "ipc-A": "cam-A", "tapo-B": "cam-B", "hik-C": "cam-C", "doorbell": "cam-A",
        ]
        return r
    }

    // MARK: - Payloads in the shapes devices send

    struct Message: Sendable { var topic: String; var payload: [UInt8]; var minute: Double }

    /// A local Asia/Shanghai time, zero-padded or not (`2027-1-15T16:5:3`, as some vendors write it).
    static func shanghai(_ m: Double, padded: Bool = true) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: t0.addingTimeInterval(m * 60))
        if padded { return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!) }
        return "\(c.year!)-\(c.month!)-\(c.day!)T\(c.hour!):\(c.minute!):\(c.second!)"
    }

    /// A GB/T 28181 alarm `Notify` as a SIP gateway forwards it (Hikvision/Dahua field shape).
    static func gb(_ device: String, method: String, type: String?, priority: String?, _ m: Double, time: String? = nil,
                   eventType: Int? = nil, lowercase: Bool = false, description: String = "视频报警", sn: Int = 1) -> Message {
        let info = lowercase ? "info" : "Info"
        let cmd = lowercase ? "cmdType" : "CmdType"
        var xml = #"<?xml version="1.0" encoding="GB2312"?>"# + "\n<Notify>\n<\(cmd)>Alarm</\(cmd)>\n<SN>\(sn)</SN>\n<DeviceID>\(device)</DeviceID>\n"
        if let priority { xml += "<AlarmPriority>\(priority)</AlarmPriority>\n" }
        xml += "<AlarmMethod>\(method)</AlarmMethod>\n<AlarmTime>\(time ?? shanghai(m))</AlarmTime>\n"
        xml += "<AlarmDescription>\(description)</AlarmDescription>\n<Longitude>0.0</Longitude>\n<Latitude>0.0</Latitude>\n"
        if type != nil || eventType != nil {
            xml += "<\(info)>\n"
            if let type { xml += "<AlarmType>\(type)</AlarmType>\n" }
            if let eventType { xml += "<AlarmTypeParam>\n<EventType>\(eventType)</EventType>\n</AlarmTypeParam>\n" }
            xml += "</\(info)>\n"
        }
        xml += "</Notify>\n"
        let bytes = xml.data(using: String.Encoding(rawValue: 0x8000_0632)).map { [UInt8]($0) } ?? Array(xml.utf8)
        return Message(topic: "patrolhub/v1/gb28181/\(device)/alarm", payload: bytes, minute: m)
    }

    /// An ONVIF event as a python-onvif-zeep bridge serialises it: `SimpleItem` lists, zeep's nulls, a space in `UtcTime`.
    static func zeep(_ device: String, _ topic: String, _ name: String, _ value: String, operation: String, _ m: Double,
                     utcTime: String? = nil) -> Message {
        let time = utcTime ?? t0.addingTimeInterval(m * 60).rfc3339.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: ".000Z", with: "+00:00")
        let json = """
            {"UtcTime": "\(time)", "PropertyOperation": "\(operation)", \
            "Source": {"SimpleItem": [{"Name": "VideoSourceConfigurationToken", "Value": "VideoSourceToken"}, {"Name": "Rule", "Value": "MyRule"}], \
            "ElementItem": [], "Extension": null, "_attr_1": null}, "Key": null, \
            "Data": {"SimpleItem": [{"Name": "\(name)", "Value": "\(value)"}], "ElementItem": [], "Extension": null, "_attr_1": null}}
            """
        return Message(topic: "patrolhub/v1/onvif/\(device)/\(topic)", payload: Array(json.utf8), minute: m)
    }

    /// onvif2mqtt's plain `on`/`off` on `onvif2mqtt/{device}/{event}`.
    static func onvif2mqtt(_ device: String, _ event: String, _ value: String, _ m: Double) -> Message {
        Message(topic: "onvif2mqtt/\(device)/\(event)", payload: Array(value.utf8), minute: m)
    }

    static func native(_ cam: String, _ id: String, _ type: String, _ m: Double, extra: String = "") -> Message {
        Message(topic: "patrolhub/v1/camera/\(cam)/event",
                payload: Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(t0.addingTimeInterval(m * 60).rfc3339)"\#(extra)}"#.utf8), minute: m)
    }

    // MARK: - Expected outcomes

    /// What an item says of how its events arrived.
    enum Mark: String, Sendable { case muted, late, receivedTime = "received_time", locationMismatch = "location_mismatch" }

    struct Item: Equatable, CustomStringConvertible, Sendable {
        var source: String, category: Category, severity: Int, state: RiskItem.State, marks: Set<Mark> = []
        init(source: String, category: Category, severity: Int, state: RiskItem.State, muted: Bool = false, marks: Set<Mark> = []) {
            self.source = source
            self.category = category
            self.severity = severity
            self.state = state
            self.marks = muted ? marks.union([.muted]) : marks
        }
        init(_ item: RiskItem) {
            var marks: Set<Mark> = []
            if item.suppressedBy != nil { marks.insert(.muted) }
            if item.late { marks.insert(.late) }
            if item.timeSource == .received { marks.insert(.receivedTime) }
            if item.locationMismatch != nil { marks.insert(.locationMismatch) }
            self.init(source: item.source, category: item.category, severity: item.severity.rawValue, state: item.state, marks: marks)
        }
        var description: String { "\(source) \(category.rawValue) sev \(severity) \(state.rawValue) \(marks.map(\.rawValue).sorted())" }
    }

    struct Scenario: CustomTestStringConvertible, Sendable {
        var name: String
        var messages: [Message]
        var items: [Item]
        var slips: Int = 0
        var cases: Int = 0
        var deadLetters: [String] = []
        /// The items' zones, when the scenario is about placement.
        var zones: [String]? = nil
        var testDescription: String { name }
    }

    static let hik = "34020000001320000001"
    static let dahua = "34020000001320000002"

    static let scenarios: [Scenario] = [
        Scenario(name: "Hikvision plain motion (method 5 type 2) at priority 1 → motion at its configured severity 4, no slip",
                 messages: [gb(hik, method: "5", type: "2", priority: "1", 0)],
                 items: [Item(source: "cam-A", category: .motion, severity: 4, state: .open)]),
        Scenario(name: "Dahua motion with lower-case <cmdType>/<info> at priority 1, repeated 5 times → one motion item, no slip",
                 messages: (0..<5).map { gb(dahua, method: "5", type: "2", priority: "1", Double($0) * 0.5, lowercase: true, sn: $0) },
                 items: [Item(source: "cam-B", category: .motion, severity: 4, state: .open)]),
        Scenario(name: "an intrusion (method 5 type 6) at priority 1 → severity 1: a slip at once and a case",
                 messages: [gb(hik, method: "5", type: "6", priority: "1", 0)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 1, state: .open)], slips: 1, cases: 1),
        Scenario(name: "an intrusion at priority 4 keeps its category's severity 3: a vendor priority never lowers it",
                 messages: [gb(hik, method: "5", type: "6", priority: "4", 0)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .open)]),
        Scenario(name: "a wvp cascade's 'null' AlarmType and AlarmDescription are absent: the method's default (motion)",
                 messages: [gb(dahua, method: "5", type: "null", priority: "2", 0, description: "null")],
                 items: [Item(source: "cam-B", category: .motion, severity: 4, state: .open)]),
        Scenario(name: "enter then leave (EventType 1, 2) → one intrusion, closed by the leave, not two detections",
                 messages: [gb(hik, method: "5", type: "6", priority: "3", 0, eventType: 1),
                            gb(hik, method: "5", type: "6", priority: "3", 1, eventType: 2, sn: 2)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .closed)]),
        Scenario(name: "an unpadded AlarmTime (2027-1-15T16:0:0) is read, not dead-lettered",
                 messages: [gb(hik, method: "5", type: "5", priority: "3", 0, time: shanghai(0, padded: false))],
                 items: [Item(source: "cam-A", category: .tripwire, severity: 3, state: .open)]),
        Scenario(name: "GB video loss mutes the camera's analytics like the native status; its end (EventType 2) recovers",
                 messages: [gb(hik, method: "2", type: "1", priority: "1", 0, eventType: 1),
                            native("cam-A", "n1", "intrusion", 1),
                            gb(hik, method: "2", type: "1", priority: "1", 2, eventType: 2, sn: 2),
                            native("cam-A", "n2", "loitering", 3)],
                 items: [Item(source: "cam-A", category: .cameraOffline, severity: 3, state: .closed),
                         Item(source: "cam-A", category: .intrusion, severity: 3, state: .open, muted: true),
                         Item(source: "cam-A", category: .loitering, severity: 3, state: .open)]),
        Scenario(name: "ONVIF Initialized snapshots raise nothing; Changed true raises, Changed false closes (zeep shape)",
                 messages: [zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "true", operation: "Initialized", 0),
                            zeep("ipc-A", "tns1:RuleEngine/CellMotionDetector/Motion", "IsMotion", "false", operation: "Initialized", 0),
                            zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "true", operation: "Changed", 1),
                            zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "false", operation: "Changed", 2)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .closed)]),
        Scenario(name: "ONVIF bridge resubscribes after losing the false: the Initialized false snapshot closes the open intrusion; a true snapshot keeps it open",
                 messages: [zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "true", operation: "Changed", 0),
                            zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "true", operation: "Initialized", 5),
                            zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "false", operation: "Initialized", 10),
                            zeep("ipc-A", "tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "false", operation: "Initialized", 11)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .closed)]),
        Scenario(name: "Hikvision's unset clock (UtcTime 0000-00-00T00:00:00Z) keeps the alarm, twice → one item, two occurrences",
                 messages: [zeep("hik-C", "tns1:RuleEngine/LineDetector/Crossed", "ObjectId", "1", operation: "Changed", 0, utcTime: "0000-00-00T00:00:00Z"),
                            zeep("hik-C", "tns1:RuleEngine/LineDetector/Crossed", "ObjectId", "2", operation: "Changed", 1, utcTime: "0000-00-00T00:00:00Z")],
                 items: [Item(source: "cam-C", category: .tripwire, severity: 3, state: .open, marks: [.receivedTime])]),
        Scenario(name: "TP-Link Tapo intrusion, line crossing and people; the misspelt VideoSoure/MotionAlarm → motion",
                 messages: [zeep("tapo-B", "tns1:RuleEngine/CellMotionDetector/Intrusion", "IsIntrusion", "true", operation: "Changed", 0),
                            zeep("tapo-B", "tns1:RuleEngine/CellMotionDetector/LineCross", "IsLineCross", "true", operation: "Changed", 0.5),
                            zeep("tapo-B", "tns1:RuleEngine/PeopleDetector/People", "IsPeople", "true", operation: "Changed", 1),
                            zeep("ipc-A", "tns1:VideoSoure/MotionAlarm", "State", "true", operation: "Changed", 1.5)],
                 items: [Item(source: "cam-B", category: .intrusion, severity: 3, state: .open),
                         Item(source: "cam-B", category: .tripwire, severity: 3, state: .open),
                         // A person anywhere in a street camera's frame is motion, not an intrusion (docs/ADAPTERS.md).
                         Item(source: "cam-B", category: .motion, severity: 4, state: .open),
                         Item(source: "cam-A", category: .motion, severity: 4, state: .open)]),
        Scenario(name: "an ONVIF topic no rule maps → nothing, no dead letter",
                 messages: [zeep("ipc-A", "tns1:Device/tns1:HardwareFailure/StorageFailure", "Failed", "true", operation: "Changed", 0)],
                 items: []),
        Scenario(name: "ONVIF signal loss → the camera's health item muting its analytics; the signal back closes it",
                 messages: [zeep("ipc-A", "tns1:VideoSource/SignalLoss", "State", "true", operation: "Changed", 0),
                            native("cam-A", "n1", "intrusion", 1),
                            zeep("ipc-A", "tns1:VideoSource/SignalLoss", "State", "false", operation: "Changed", 2)],
                 items: [Item(source: "cam-A", category: .cameraOffline, severity: 3, state: .closed),
                         Item(source: "cam-A", category: .intrusion, severity: 3, state: .open, muted: true)]),
        Scenario(name: "onvif2mqtt motion on, then off → one motion item, closed",
                 messages: [onvif2mqtt("doorbell", "motion", "on", 0), onvif2mqtt("doorbell", "motion", "off", 1)],
                 // onvif2mqtt sends no time: the hub's receive time it is, and the item says so.
                 items: [Item(source: "cam-A", category: .motion, severity: 4, state: .closed, marks: [.receivedTime])]),
        Scenario(name: "a drill fight and a live fight on one camera never fold together: two items, two cases",
                 messages: [native("cam-A", "d1", "fight", 0, extra: #","drill":true"#), native("cam-A", "l1", "fight", 1)],
                 items: [Item(source: "cam-A", category: .fight, severity: 1, state: .open),
                         Item(source: "cam-A", category: .fight, severity: 1, state: .open)],
                 slips: 2, cases: 2),
        Scenario(name: "the ONVIF event broker's own topic form (onvif-ej, tns1:, '&' source values): raised, then deleted by a zero-byte payload",
                 messages: [Message(topic: "patrolhub/v1/onvif/ipc-A/onvif-ej/tns1:RuleEngine/tns1:FieldDetector/ObjectsInside/&1/1/Field1",
                                    payload: Array(#"{"UtcTime":"2027-01-15T08:00:00Z","Source":{"VideoSourceConfigurationToken":"1","VideoAnalyticsConfigurationToken":"1","Rule":"Field1"},"Data":{"IsInside":"true"}}"#.utf8), minute: 0),
                            Message(topic: "patrolhub/v1/onvif/ipc-A/onvif-ej/tns1:RuleEngine/tns1:FieldDetector/ObjectsInside/&1/1/Field1", payload: [], minute: 1)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .closed)]),
        Scenario(name: "a fight 30 minutes older than the newest event is a late item: kept, marked, opening no slip or case",
                 messages: [native("cam-A", "i1", "intrusion", 30), native("cam-B", "f1", "fight", 0)],
                 items: [Item(source: "cam-A", category: .intrusion, severity: 3, state: .open),
                         Item(source: "cam-B", category: .fight, severity: 1, state: .open, marks: [.late])]),
        Scenario(name: "an event located 50 km from its camera is placed in the camera's grid and flagged location_mismatch",
                 messages: [native("cam-C", "x1", "loitering", 0, extra: #","location":{"lat":30.1,"lon":91.1}"#)],
                 items: [Item(source: "cam-C", category: .loitering, severity: 3, state: .open, marks: [.locationMismatch])], zones: ["G2"]),
        Scenario(name: "a GB alarm that is not a time at all is still a dead letter",
                 messages: [gb(hik, method: "5", type: "6", priority: "1", 0, time: "yesterday")],
                 items: [], deadLetters: ["invalid_value"]),
    ]

    /// Runs a scenario through a fresh pipeline; each message is processed at its own minute (+1 s).
    static func run(_ s: Scenario, store: DisputeStore) throws {
        final class Clock: @unchecked Sendable { var now = FieldFidelityTests.t0 }
        let clock = Clock()
        let rules = Self.rules
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: rules.adapters)
        let engine = RiskEngine(rules: rules, place: Placer(registry: registry, zones: nil).place)
        let p = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
        for m in s.messages {
            clock.now = t0.addingTimeInterval(m.minute * 60 + 1)
            try store.ingest([InboxMessage(topic: m.topic, payload: m.payload, receivedAt: clock.now)])
            _ = try p.processPending(limit: 10)
        }
    }

    @Test(arguments: scenarios)
    func scenario(_ s: Scenario) throws {
        let store = try DisputeStore.inMemory()
        try Self.run(s, store: store)
        let items = try store.riskItems().sorted { $0.id < $1.id }
        #expect(items.map(Item.init) == s.items)
        if let zones = s.zones { #expect(items.map(\.zone) == zones) }
        let status = try store.status()
        #expect(status.slipsTotal == s.slips)
        #expect(status.casesTotal == s.cases)
        let deadLetters = try store.deadLetters()
        #expect(deadLetters.map(\.reason).sorted() == s.deadLetters, "\(deadLetters)")
    }
}
