import Foundation
import Testing

@testable import Alerts

/// ONVIF as cameras and bridges send it in the field (issue 12): payloads written
/// in the shapes of `../shared/realworld/onvif` (the ONVIF spec's examples) and of
/// the variants seen from real devices and python-onvif-zeep bridges, each with
/// the exact outcome: kind, category, lifecycle, time and its source, or nothing
/// (and whether it is counted as unmapped), or the dead-letter reason.
@Suite("ONVIF field payloads")
struct ONVIFFieldTests {
    static let receivedAt = Date(timeIntervalSince1970: 1_736_592_000) // 2025-01-11T10:40:00Z
    static let camera = "cam-gate"

    /// What one payload must become.
    enum Outcome: Sendable, CustomStringConvertible {
        /// No event; `unmapped` is the name counted as unmapped (nil: mapped, nothing happened).
        case nothing(unmapped: String?)
        case events([Expected])
        case deadLetter(DeadLetterReason)

        var description: String {
            switch self {
            case .nothing(let u): return "nothing\(u.map { " (unmapped \($0))" } ?? "")"
            case .events(let e): return e.map(\.kind).joined(separator: ", ")
            case .deadLetter(let r): return "dead letter \(r.rawValue)"
            }
        }
    }

    struct Expected: Sendable {
        /// `detection`, `end`, or `status:{camera status}`.
        var kind: String
        var category: Category
        /// The exact lifecycle, nil for none.
        var lifecycle: String?
        /// Event time (RFC 3339 UTC).
        var time: String
        var timeSource: TimeSource = .device
        /// A fragment the key must contain.
        var keyContains: String? = nil
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// The ONVIF topic after `patrolhub/v1/onvif/{device}/`.
        var onvifTopic: String
        var payload: String
        var device: String = ONVIFFieldTests.camera
        var outcome: Outcome
        var testDescription: String { name }
    }

    static let fieldSource = "Rule=MyField,VideoAnalyticsConfigurationToken=VA1,VideoSourceConfigurationToken=VS1"
    static let fieldLifecycle = "onvif:cam-gate:RuleEngine/FieldDetector/ObjectsInside|\(fieldSource)"
    static let specSource = #""Source": {"VideoSourceConfigurationToken": "VS1", "VideoAnalyticsConfigurationToken": "VA1", "Rule": "MyField"}"#

    /// python-onvif-zeep's serialisation of a `tt:ItemList`.
    static func zeep(_ items: String) -> String {
        #"{"SimpleItem": \#(items), "ElementItem": [], "Extension": null, "_attr_1": null}"#
    }

    static let motionSource = zeep(#"[{"Name": "VideoSourceConfigurationToken", "Value": "VS1"}, {"Name": "VideoAnalyticsConfigurationToken", "Value": "VA1"}, {"Name": "Rule", "Value": "MyMotionDetectorRule"}]"#)
    static let motionLifecycle = "onvif:cam-gate:RuleEngine/CellMotionDetector/Motion|Rule=MyMotionDetectorRule,VideoAnalyticsConfigurationToken=VA1,VideoSourceConfigurationToken=VS1"
    static let tapoSource = zeep(#"[{"Name": "VideoSourceConfigurationToken", "Value": "vsconf"}, {"Name": "VideoAnalyticsConfigurationToken", "Value": "VideoAnalyticsToken"}, {"Name": "Rule", "Value": "MyTPSmartEventDetectorRule"}]"#)
    static let tapoKey = "Rule=MyTPSmartEventDetectorRule,VideoAnalyticsConfigurationToken=VideoAnalyticsToken,VideoSourceConfigurationToken=vsconf"
    static let videoSource = zeep(#"{"Name": "Source", "Value": "VideoSource_1"}"#)

    static let cases: [Case] = [
        // The ONVIF spec's ObjectsInside property (realworld O03a–c), onvif-ej form.
        // A false snapshot raises nothing; it ends the lifecycle, closing an item whose false was lost while the bridge was away.
        Case(name: "spec ObjectsInside Initialized false: the lifecycle's end, never a detection", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:01.000Z", "PropertyOperation": "Initialized", \#(specSource), "Data": {"IsInside": "false"}}"#,
             outcome: .events([Expected(kind: "end", category: .intrusion, lifecycle: fieldLifecycle, time: "2008-10-10T12:25:01Z",
                                        keyContains: ":Initialized:false")])),
        Case(name: "ObjectsInside Initialized true: a snapshot, nothing", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:01.000Z", "PropertyOperation": "Initialized", \#(specSource), "Data": {"IsInside": "true"}}"#,
             outcome: .nothing(unmapped: nil)),
        Case(name: "spec ObjectsInside Changed true: intrusion opens", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:03.000Z", "PropertyOperation": "Changed", \#(specSource), "Data": {"IsInside": "true"}}"#,
             outcome: .events([Expected(kind: "detection", category: .intrusion, lifecycle: fieldLifecycle, time: "2008-10-10T12:25:03Z")])),
        Case(name: "spec ObjectsInside without PropertyOperation, true: intrusion opens", onvifTopic: "RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:03.000Z", \#(specSource), "Data": {"IsInside": "true"}}"#,
             outcome: .events([Expected(kind: "detection", category: .intrusion, lifecycle: fieldLifecycle, time: "2008-10-10T12:25:03Z")])),
        Case(name: "ObjectsInside Changed false: intrusion ends", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:09Z", "PropertyOperation": "Changed", \#(specSource), "Data": {"IsInside": false}}"#,
             outcome: .events([Expected(kind: "end", category: .intrusion, lifecycle: fieldLifecycle, time: "2008-10-10T12:25:09Z")])),
        Case(name: "ObjectsInside Deleted: ends", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2008-10-10T12:25:10Z", "PropertyOperation": "Deleted", \#(specSource)}"#,
             outcome: .events([Expected(kind: "end", category: .intrusion, lifecycle: fieldLifecycle, time: "2008-10-10T12:25:10Z")])),
        Case(name: "spec zero-byte retained delete: ends every lifecycle of the topic", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: "",
             outcome: .events([Expected(kind: "end", category: .intrusion, lifecycle: "onvif:cam-gate:RuleEngine/FieldDetector/ObjectsInside",
                                        time: "2025-01-11T10:40:00Z", timeSource: .received, keyContains: ":deleted:1736592000000")])),
        // realworld O01: a line crossing is a one-shot event (no state item).
        Case(name: "spec LineDetector Crossed: one-shot tripwire", onvifTopic: "tns1:RuleEngine/LineDetector/Crossed",
             payload: #"{"UtcTime": "2008-10-10T12:24:57.321Z", "Source": {"VideoSource": "1", "AnalyticsConfiguration": "2", "Rule": "MyImportantFence1"}, "Data": {"ObjectId": "15"}}"#,
             outcome: .events([Expected(kind: "detection", category: .tripwire, lifecycle: nil, time: "2008-10-10T12:24:57.321Z")])),
        // realworld O02: housekeeping, counted as unmapped.
        Case(name: "spec sensor temperature: unmapped", onvifTopic: "tns1:Device/Sensor/Temperature/High",
             payload: #"{"UtcTime": "2025-07-15T14:30:00Z", "Source": {"SensorID": "temp_001"}, "Data": {"Value": 28.65, "Threshold": 25.15}}"#,
             outcome: .nothing(unmapped: "Device/Sensor/Temperature/High")),
        Case(name: "unmapped topic: counted, not a dead letter", onvifTopic: "tns1:Monitoring/ProcessorUsage",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "Data": {"Value": 0.2}}"#,
             outcome: .nothing(unmapped: "Monitoring/ProcessorUsage")),
        Case(name: "unmapped topic from an unregistered device: nothing, not even counted (junk names could fill the table)",
             onvifTopic: "tns1:Monitoring/ProcessorUsage",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "Data": {"Value": 0.2}}"#, device: "nvr-lobby-7",
             outcome: .nothing(unmapped: nil)),
        // realworld O04: UtcTime without offset is UTC.
        Case(name: "spec CellMotionDetector, UtcTime without offset", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2010-10-20T12:24:57.628", "Source": {"VideoSourceConfigurationToken": "1", "VideoAnalyticsConfigurationToken": "1", "Rule": "MotionInDefinedCells"}, "Data": {"IsMotion": "true"}}"#,
             outcome: .events([Expected(kind: "detection", category: .motion,
                                        lifecycle: "onvif:cam-gate:RuleEngine/CellMotionDetector/Motion|Rule=MotionInDefinedCells,VideoAnalyticsConfigurationToken=1,VideoSourceConfigurationToken=1",
                                        time: "2010-10-20T12:24:57.628Z")])),
        // python-onvif-zeep bridges.
        Case(name: "zeep Initialized false: the lifecycle's end", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11 10:40:45+00:00", "PropertyOperation": "Initialized", "Source": \#(motionSource), "Data": \#(zeep(#"[{"Name": "IsMotion", "Value": "false"}]"#))}"#,
             outcome: .events([Expected(kind: "end", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:40:45Z")])),
        Case(name: "zeep Changed true, space-separated UtcTime with offset", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11 10:40:45+00:00", "PropertyOperation": "Changed", "Source": \#(motionSource), "Data": \#(zeep(#"[{"Name": "IsMotion", "Value": "true"}]"#))}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:40:45Z")])),
        Case(name: "zeep Changed false with microseconds: ends the same lifecycle", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11 10:40:52.123456+00:00", "PropertyOperation": "Changed", "Source": \#(motionSource), "Data": \#(zeep(#"{"Name": "IsMotion", "Value": "false"}"#))}"#,
             outcome: .events([Expected(kind: "end", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:40:52.123456Z")])),
        Case(name: "zeep single SimpleItem, value \"1\"", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11T10:41:00Z", "PropertyOperation": "Changed", "Source": \#(motionSource), "Data": \#(zeep(#"{"Name": "IsMotion", "Value": "1"}"#))}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:41:00Z")])),
        Case(name: "zeep JSON boolean false: ends", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11T10:41:05Z", "PropertyOperation": "Changed", "Source": \#(motionSource), "Data": \#(zeep(#"[{"Name": "IsMotion", "Value": false}]"#))}"#,
             outcome: .events([Expected(kind: "end", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:41:05Z")])),
        Case(name: "zeep state \"0\": ends", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"UtcTime": "2025-01-11T10:41:06Z", "PropertyOperation": "Changed", "Source": \#(motionSource), "Data": \#(zeep(#"[{"Name": "IsMotion", "Value": "0"}]"#))}"#,
             outcome: .events([Expected(kind: "end", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:41:06Z")])),
        Case(name: "zeep whole NotificationMessage (Message._value_1)", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
             payload: #"{"SubscriptionReference": {"Address": {"_value_1": "http://192.0.2.10:2020/event-0_2020", "_attr_1": null}}, "Topic": {"_value_1": "tns1:RuleEngine/CellMotionDetector/Motion", "Dialect": "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"}, "ProducerReference": null, "Message": {"_value_1": {"Source": \#(motionSource), "Key": null, "Data": \#(zeep(#"[{"Name": "IsMotion", "Value": "true"}]"#)), "Extension": null, "UtcTime": "2025-01-11 10:41:10+00:00", "PropertyOperation": "Changed", "_attr_1": {}}}}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: motionLifecycle, time: "2025-01-11T10:41:10Z")])),
        // TP-Link Tapo.
        Case(name: "Tapo intrusion", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Intrusion",
             payload: #"{"UtcTime": "2025-01-11 10:40:45+00:00", "PropertyOperation": "Changed", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsIntrusion", "Value": "true"}]"#))}"#,
             outcome: .events([Expected(kind: "detection", category: .intrusion, lifecycle: "onvif:cam-gate:RuleEngine/CellMotionDetector/Intrusion|\(tapoKey)", time: "2025-01-11T10:40:45Z")])),
        Case(name: "Tapo line cross ends", onvifTopic: "tns1:RuleEngine/CellMotionDetector/LineCross",
             payload: #"{"UtcTime": "2025-01-11 10:40:46+00:00", "PropertyOperation": "Changed", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsLineCross", "Value": "false"}]"#))}"#,
             outcome: .events([Expected(kind: "end", category: .tripwire, lifecycle: "onvif:cam-gate:RuleEngine/CellMotionDetector/LineCross|\(tapoKey)", time: "2025-01-11T10:40:46Z")])),
        Case(name: "Tapo people: motion", onvifTopic: "tns1:RuleEngine/PeopleDetector/People",
             payload: #"{"UtcTime": "2025-01-11 10:40:47+00:00", "PropertyOperation": "Changed", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsPeople", "Value": "true"}]"#))}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: "onvif:cam-gate:RuleEngine/PeopleDetector/People|\(tapoKey)", time: "2025-01-11T10:40:47Z")])),
        Case(name: "Tapo tamper: camera tampered", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Tamper",
             payload: #"{"UtcTime": "2025-01-11 10:40:48+00:00", "PropertyOperation": "Changed", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsTamper", "Value": "true"}]"#))}"#,
             outcome: .events([Expected(kind: "status:tampered", category: .cameraTampered, lifecycle: nil, time: "2025-01-11T10:40:48Z")])),
        Case(name: "Tapo tamper false: camera online", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Tamper",
             payload: #"{"UtcTime": "2025-01-11 10:40:58+00:00", "PropertyOperation": "Changed", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsTamper", "Value": "false"}]"#))}"#,
             outcome: .events([Expected(kind: "status:online", category: .cameraTampered, lifecycle: nil, time: "2025-01-11T10:40:58Z")])),
        Case(name: "Tapo tamper Initialized false: nothing (one healthy property does not report the camera online)",
             onvifTopic: "tns1:RuleEngine/CellMotionDetector/Tamper",
             payload: #"{"UtcTime": "2025-01-11 10:40:40+00:00", "PropertyOperation": "Initialized", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsTamper", "Value": "false"}]"#))}"#,
             outcome: .nothing(unmapped: nil)),
        Case(name: "Tapo tamper Initialized true: a snapshot, nothing", onvifTopic: "tns1:RuleEngine/CellMotionDetector/Tamper",
             payload: #"{"UtcTime": "2025-01-11 10:40:40+00:00", "PropertyOperation": "Initialized", "Source": \#(tapoSource), "Data": \#(zeep(#"[{"Name": "IsTamper", "Value": "true"}]"#))}"#,
             outcome: .nothing(unmapped: nil)),
        // Hikvision / Dahua.
        Case(name: "Hikvision unset clock: the receive time, marked", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "0000-00-00T00:00:00Z", "PropertyOperation": "Changed", \#(specSource), "Data": {"IsInside": "true"}}"#,
             outcome: .events([Expected(kind: "detection", category: .intrusion, lifecycle: fieldLifecycle, time: "2025-01-11T10:40:00Z",
                                        timeSource: .received, keyContains: ":received-1736592000000:Changed:true")])),
        Case(name: "Hikvision tamper detector: camera tampered", onvifTopic: "tns1:RuleEngine/TamperDetector/Tamper",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": {"VideoSourceConfigurationToken": "VS1", "Rule": "MyTamperDetectorRule"}, "Data": {"IsTamper": "true"}}"#,
             outcome: .events([Expected(kind: "status:tampered", category: .cameraTampered, lifecycle: nil, time: "2025-01-11T10:40:45Z")])),
        Case(name: "misspelt VideoSoure/MotionAlarm: motion", onvifTopic: "tns1:VideoSoure/MotionAlarm",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": \#(videoSource), "Data": \#(zeep(#"{"Name": "State", "Value": "true"}"#))}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: "onvif:cam-gate:VideoSoure/MotionAlarm|Source=VideoSource_1", time: "2025-01-11T10:40:45Z")])),
        Case(name: "VideoSource/MotionAlarm: motion", onvifTopic: "tns1:VideoSource/MotionAlarm",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": {"Source": "VideoSource_1"}, "Data": {"State": true}}"#,
             outcome: .events([Expected(kind: "detection", category: .motion, lifecycle: "onvif:cam-gate:VideoSource/MotionAlarm|Source=VideoSource_1", time: "2025-01-11T10:40:45Z")])),
        // Camera health.
        Case(name: "SignalLoss true: signal lost", onvifTopic: "tns1:VideoSource/SignalLoss",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": \#(videoSource), "Data": \#(zeep(#"{"Name": "State", "Value": "true"}"#))}"#,
             outcome: .events([Expected(kind: "status:signal_lost", category: .cameraOffline, lifecycle: nil, time: "2025-01-11T10:40:45Z")])),
        Case(name: "SignalLoss false: online", onvifTopic: "tns1:VideoSource/SignalLoss",
             payload: #"{"UtcTime": "2025-01-11T10:42:45Z", "PropertyOperation": "Changed", "Source": \#(videoSource), "Data": \#(zeep(#"{"Name": "State", "Value": "false"}"#))}"#,
             outcome: .events([Expected(kind: "status:online", category: .cameraOffline, lifecycle: nil, time: "2025-01-11T10:42:45Z")])),
        Case(name: "SignalLoss Deleted: online", onvifTopic: "tns1:VideoSource/SignalLoss",
             payload: #"{"UtcTime": "2025-01-11T10:43:45Z", "PropertyOperation": "Deleted", "Source": \#(videoSource)}"#,
             outcome: .events([Expected(kind: "status:online", category: .cameraOffline, lifecycle: nil, time: "2025-01-11T10:43:45Z")])),
        Case(name: "SignalLoss zero-byte delete: online", onvifTopic: "tns1:VideoSource/SignalLoss", payload: " \n",
             outcome: .events([Expected(kind: "status:online", category: .cameraOffline, lifecycle: nil, time: "2025-01-11T10:40:00Z", timeSource: .received)])),
        Case(name: "ImageTooBright: degraded", onvifTopic: "tns1:VideoSource/ImageTooBright/ImagingService",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": \#(videoSource), "Data": \#(zeep(#"{"Name": "State", "Value": "true"}"#))}"#,
             outcome: .events([Expected(kind: "status:image_too_bright", category: .cameraDegraded, lifecycle: nil, time: "2025-01-11T10:40:45Z")])),
        Case(name: "ImageTooBlurry: degraded", onvifTopic: "tns1:VideoSource/ImageTooBlurry/AnalyticsService",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Source": \#(videoSource), "Data": \#(zeep(#"{"Name": "State", "Value": "true"}"#))}"#,
             outcome: .events([Expected(kind: "status:image_blurry", category: .cameraDegraded, lifecycle: nil, time: "2025-01-11T10:40:45Z")])),
        // Refused.
        Case(name: "a state that is not boolean", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "PropertyOperation": "Changed", "Data": \#(zeep(#"[{"Name": "IsInside", "Value": "maybe"}]"#))}"#,
             outcome: .deadLetter(.invalidValue)),
        Case(name: "a SimpleItem list entry without Name", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "Data": \#(zeep(#"[{"Value": "true"}]"#))}"#,
             outcome: .deadLetter(.wrongType)),
        Case(name: "a mapped topic from an unregistered device", onvifTopic: "tns1:RuleEngine/FieldDetector/ObjectsInside",
             payload: #"{"UtcTime": "2025-01-11T10:40:45Z", "Data": {"IsInside": "true"}}"#, device: "nvr-lobby-7",
             outcome: .deadLetter(.unknownSource)),
    ]

    static let adapter = ONVIFAdapter(resolver: .table([camera: camera]))

    @Test("field payload", arguments: cases)
    func fieldPayload(_ c: Case) throws {
        var unmapped: UnmappedInput?
        let result = AdapterFixtures.outcome { () throws(HubError) in
            try Self.adapter.decode(topic: "patrolhub/v1/onvif/\(c.device)/\(c.onvifTopic)", payload: Array(c.payload.utf8),
                                    receivedAt: Self.receivedAt, unmapped: &unmapped)
        }
        switch c.outcome {
        case .deadLetter(let reason):
            guard case .failure(let error) = result else { Issue.record("expected dead letter \(reason), got \(result)"); return }
            #expect(error.reason == reason, "\(error)")
        case .nothing(let name):
            #expect(try result.get() == [])
            #expect(unmapped?.name == name)
            if name != nil { #expect(unmapped?.format == "onvif" && unmapped?.device == c.device) }
        case .events(let expected):
            let events = try result.get()
            #expect(unmapped == nil)
            try #require(events.count == expected.count, "got \(events)")
            for (e, want) in zip(events, expected) {
                let kind: String
                switch e.kind {
                case .detection: kind = "detection"
                case .end: kind = "end"
                case .cameraStatus(let s): kind = "status:\(s.rawValue)"
                case .checkin: kind = "checkin"
                }
                #expect(kind == want.kind)
                #expect(e.category == want.category)
                #expect(e.source == Self.camera)
                #expect(e.lifecycle == want.lifecycle)
                let time = try #require(TimeParser.utc.parse(want.time))
                #expect(abs(e.time.timeIntervalSince(time)) < 1e-6, "time \(e.time.rfc3339)")
                #expect(e.timeSource == want.timeSource)
                #expect(e.format == "onvif")
                if let fragment = want.keyContains { #expect(e.key.contains(fragment), "key \(e.key)") }
            }
        }
    }

    @Test("an unset clock never deduplicates two alarms into one: the receive time is in the key")
    func unsetClockKeys() throws {
        let payload = Array(#"{"UtcTime": "0000-00-00T00:00:00Z", "PropertyOperation": "Changed", "Data": {"IsInside": "true"}}"#.utf8)
        let topic = "patrolhub/v1/onvif/cam-gate/tns1:RuleEngine/FieldDetector/ObjectsInside"
        let first = try Self.adapter.decode(topic: topic, payload: payload, receivedAt: Self.receivedAt)
        let second = try Self.adapter.decode(topic: topic, payload: payload, receivedAt: Self.receivedAt.addingTimeInterval(30))
        #expect(first.count == 1 && second.count == 1)
        #expect(first.first?.key != second.first?.key)
        #expect(second.first?.time == Self.receivedAt.addingTimeInterval(30))
        #expect(second.first?.timeSource == .received)
    }

    @Test("every default topic rule maps the topic it names, with or without namespace prefixes")
    func defaultRulesMatch() {
        let mapping = ONVIFMapping()
        for rule in ONVIFMapping.defaultRules {
            #expect(mapping.rule(forTopic: "tns1:" + rule.pattern)?.pattern == rule.pattern)
            #expect(mapping.rule(forTopic: rule.pattern.split(separator: "/").map { "tt:\($0)" }.joined(separator: "/"))?.pattern == rule.pattern)
        }
        // Health rules report a status; analytics rules do not.
        #expect(mapping.rule(forTopic: "tns1:VideoSource/SignalLoss")?.healthStatus == .signalLost)
        #expect(mapping.rule(forTopic: "tns1:VideoSource/GlobalSceneChange/AnalyticsService")?.healthStatus == .tampered)
        #expect(mapping.rule(forTopic: "tns1:VideoSource/ImageTooDark/ImagingService")?.healthStatus == .imageTooDark)
        #expect(mapping.rule(forTopic: "tns1:RuleEngine/CellMotionDetector/Motion")?.healthStatus == nil)
    }
}
