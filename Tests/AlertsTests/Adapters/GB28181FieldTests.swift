import Foundation
import Testing

@testable import Alerts

/// GB/T 28181 alarms in the shapes real cameras, NVRs and wvp-GB28181-pro send
/// (issue 12): each payload through the adapter and a risk engine with the
/// repository's `config/rules.yaml`, with the exact outcome.
@Suite("GB/T 28181 field fidelity")
struct GB28181FieldTests {
    static let topic = "patrolhub/v1/gb28181/34020000001180000001/alarm"
    /// The hub's receive time: 2026-06-05T02:31:00Z (10:31:00 in Asia/Shanghai).
    static let receivedAt = Date(timeIntervalSince1970: 1_780_626_660)
    /// `2026-06-05T10:30:00` read in Asia/Shanghai.
    static let alarmTime = "2026-06-05T02:30:00Z"

    /// The sample rules shipped in `config/rules.yaml` (motion: severity 4).
    static let sampleRules: RuleSet = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("config/rules.yaml").path
        do { return try RuleSet.load(file: file) } catch { fatalError("config/rules.yaml: \(error)") }
    }()

    /// A `Notify` in the layout of the wvp-GB28181-pro test alarms: `fields` go in as written.
    static func notify(_ fields: String, declaration: String = "UTF-8") -> String {
        """
        <?xml version="1.0" encoding="\(declaration)"?>
        <Notify>
            \(fields)
        </Notify>
        """
    }

    /// The common head of a camera's alarm: DeviceID, priority, method, time.
    static func alarm(priority: String? = "1", method: String = "5", time: String = "2026-06-05T10:30:00", cmdType: String? = "Alarm",
                      device: String = "34020000001320000001", extra: String) -> String {
        var s = ""
        if let cmdType { s += "<CmdType>\(cmdType)</CmdType>\n" }
        s += "<SN>17</SN>\n<DeviceID>\(device)</DeviceID>\n"
        if let priority { s += "<AlarmPriority>\(priority)</AlarmPriority>\n" }
        s += "<AlarmMethod>\(method)</AlarmMethod>\n<AlarmTime>\(time)</AlarmTime>\n" + extra
        return notify(s)
    }

    /// What one decoded event must be.
    struct Want: Sendable {
        /// `detection`, `end`, or `status:{status}`.
        var kind: String
        var category: Category
        var vendorPriority: Severity?
        var key: String
        var lifecycle: String? = nil
        var time: String = GB28181FieldTests.alarmTime
        var timeSource: TimeSource = .device
        var description: String? = nil
    }

    /// What the engine (sample rules) makes of it: the item's severity and state, and whether a slip was issued.
    struct Outcome: Sendable, Equatable {
        var category: Category
        var severity: Severity
        var state: RiskItem.State
        var slip: Bool
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var xml: String
        /// nil: a dead letter (`deadLetter`); empty: decoded to nothing.
        var events: [Want]?
        var outcome: Outcome? = nil
        var deadLetter: (DeadLetterReason, String)? = nil
        var testDescription: String { name }
    }

    static let cam = "34020000001320000001"
    static func key(_ type: String, _ method: String, _ tail: String = "", time: String = "2026-06-05T10:30:00") -> String {
        "gb28181:\(cam):\(time):\(type):\(method)\(tail)"
    }

    static let cases: [Case] = [
        // wvp-GB28181-pro's own test alarms (G02–G04): no CmdType.
        Case(
            name: "wvp test: motion, Info/AlarmType 2 wins over the Notify-level 9, no CmdType, priority 1",
            xml: alarm(cmdType: nil, extra: """
                <AlarmDescription>Motion detection</AlarmDescription>
                <Longitude>116.397</Longitude>
                <Latitude>39.908</Latitude>
                <AlarmType>9</AlarmType>
                <Info>
                    <AlarmType>2</AlarmType>
                </Info>
                """),
            events: [Want(kind: "detection", category: .motion, vendorPriority: .critical, key: key("2", "5"), description: "Motion detection")],
            outcome: Outcome(category: .motion, severity: .info, state: .open, slip: false)),
        Case(
            name: "wvp test with CmdType: motion at priority 1 stays severity 4",
            xml: alarm(extra: "<AlarmDescription>Motion detection</AlarmDescription>\n<AlarmType>9</AlarmType>\n<Info><AlarmType>2</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .motion, vendorPriority: .critical, key: key("2", "5"), description: "Motion detection")],
            outcome: Outcome(category: .motion, severity: .info, state: .open, slip: false)),
        Case(
            name: "wvp test: video loss, AlarmType at the Notify level, no CmdType: camera health",
            xml: alarm(method: "2", cmdType: nil, extra: "<AlarmDescription>Video loss alarm</AlarmDescription>\n<AlarmType>1</AlarmType>"),
            events: [Want(kind: "status:signal_lost", category: .cameraOffline, vendorPriority: .critical, key: key("1", "2"), description: "Video loss alarm")],
            outcome: Outcome(category: .cameraOffline, severity: .minor, state: .open, slip: false)),
        Case(
            name: "wvp test: method 7 'other', coordinates 0.0, no CmdType, priority 1",
            xml: alarm(method: "7", cmdType: nil, extra: "<AlarmDescription>1001,1780623964994529058</AlarmDescription>\n<Longitude>0.0</Longitude>\n<Latitude>0.0</Latitude>"),
            events: [Want(kind: "detection", category: .other, vendorPriority: .critical, key: key("", "7"), description: "1001,1780623964994529058")],
            outcome: Outcome(category: .other, severity: .critical, state: .open, slip: true)),
        // wvp cascade (G08): `null` values, lower-case <info>, GB2312 declaration, CRLF.
        Case(
            name: "wvp cascade: AlarmType and AlarmDescription null, <info>: the method's default",
            xml: notify("<CmdType>Alarm</CmdType>\r\n<SN>523417</SN>\r\n<DeviceID>\(cam)</DeviceID>\r\n<AlarmPriority>4</AlarmPriority>\r\n<AlarmMethod>2</AlarmMethod>\r\n<AlarmTime>2026-06-05T10:30:00</AlarmTime>\r\n<AlarmDescription>null</AlarmDescription>\r\n<Longitude>0.0</Longitude>\r\n<Latitude>0.0</Latitude>\r\n<info>\r\n<AlarmType>null</AlarmType>\r\n</info>\r\n", declaration: "GB2312"),
            events: [Want(kind: "detection", category: .other, vendorPriority: .info, key: key("", "2"))],
            outcome: Outcome(category: .other, severity: .info, state: .open, slip: false)),
        Case(
            name: "null in any case and padded, Info null falls back to the Notify-level type",
            xml: alarm(method: "5", extra: "<AlarmType>6</AlarmType>\n<Info><AlarmType> NULL </AlarmType></Info>\n<AlarmDescription>Null</AlarmDescription>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .critical, state: .open, slip: true)),
        Case(
            name: "Hikvision/Dahua: lower-case <cmdType> and <info>, motion 5/2 at priority 1",
            xml: notify("<cmdType>Alarm</cmdType><SN>9</SN><DeviceID>\(cam)</DeviceID><AlarmPriority>1</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2026-06-05T10:30:00</AlarmTime><info><alarmType>2</alarmType></info>"),
            events: [Want(kind: "detection", category: .motion, vendorPriority: .critical, key: key("2", "5"))],
            outcome: Outcome(category: .motion, severity: .info, state: .open, slip: false)),
        // The priority rule (sample rules: intrusion is severity 3).
        Case(
            name: "intrusion 5/6 at priority 1: severity 1, a slip at once",
            xml: alarm(extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .critical, state: .open, slip: true)),
        Case(
            name: "intrusion at priority 4: a priority never lowers the configured severity",
            xml: alarm(priority: "4", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .info, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .minor, state: .open, slip: false)),
        Case(
            name: "intrusion without AlarmPriority: the category's severity, not a dead letter",
            xml: alarm(priority: nil, extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: nil, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .minor, state: .open, slip: false)),
        Case(
            name: "AlarmPriority null is no priority",
            xml: alarm(priority: "null", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: nil, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .minor, state: .open, slip: false)),
        Case(
            name: "AlarmPriority 0 (sent by devices with no priority set) is no priority, not a dead letter",
            xml: alarm(priority: "0", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: nil, key: key("6", "5"))],
            outcome: Outcome(category: .intrusion, severity: .minor, state: .open, slip: false)),
        Case(
            name: "crowd gathering 5/10 at priority 4 stays severity 2",
            xml: alarm(priority: "4", method: "5", extra: "<Info><AlarmType>10</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .crowdGathering, vendorPriority: .info, key: key("10", "5"))],
            outcome: Outcome(category: .crowdGathering, severity: .major, state: .open, slip: true)),
        // Times as devices write them.
        Case(
            name: "unpadded AlarmTime (2023-8-9T7:38:35)",
            xml: alarm(time: "2026-6-5T7:38:5", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", time: "2026-6-5T7:38:5"), time: "2026-06-04T23:38:05Z")]),
        Case(
            name: "fractional seconds and +08:00",
            xml: alarm(time: "2026-06-05T10:30:00.250+08:00", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", time: "2026-06-05T10:30:00.250+08:00"), time: "2026-06-05T02:30:00.250Z")]),
        Case(
            name: "+0800 and a space for T",
            xml: alarm(time: "2026-06-05 10:30:00+0800", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", time: "2026-06-05 10:30:00+0800"))]),
        Case(
            name: "Z offset",
            xml: alarm(time: "2026-06-05T02:30:00Z", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", time: "2026-06-05T02:30:00Z"))]),
        Case(
            name: "unset clock: the receive time, marked, in the key",
            xml: alarm(time: "0000-00-00T00:00:00", extra: "<Info><AlarmType>6</AlarmType></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", time: "received-1780626660000"),
                          time: "2026-06-05T02:31:00Z", timeSource: .received)],
            outcome: Outcome(category: .intrusion, severity: .critical, state: .open, slip: true)),
        Case(name: "month 13 is invalid_value", xml: alarm(time: "2026-13-05T10:30:00", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "hour 25 is invalid_value", xml: alarm(time: "2026-6-5T25:00:00", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "29 February 2026 is invalid_value", xml: alarm(time: "2026-2-29T10:00:00", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "words are invalid_value", xml: alarm(time: "yesterday", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "three-digit fields are invalid_value", xml: alarm(time: "2026-006-05T10:30:00", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "+08 alone is invalid_value", xml: alarm(time: "2026-06-05T10:30:00+08", extra: ""), events: nil, deadLetter: (.invalidValue, "AlarmTime")),
        Case(name: "AlarmTime null is missing_field", xml: alarm(time: "null", extra: ""), events: nil, deadLetter: (.missingField, "AlarmTime")),
        // Camera health.
        Case(
            name: "tamper 2/2: status tampered",
            xml: alarm(priority: "3", method: "2", extra: "<Info><AlarmType>2</AlarmType></Info>"),
            events: [Want(kind: "status:tampered", category: .cameraTampered, vendorPriority: .minor, key: key("2", "2"))],
            outcome: Outcome(category: .cameraTampered, severity: .major, state: .open, slip: true)),
        Case(
            name: "disk fault 6/1: status degraded",
            xml: alarm(method: "6", extra: "<Info><AlarmType>1</AlarmType></Info>"),
            events: [Want(kind: "status:degraded", category: .cameraDegraded, vendorPriority: .critical, key: key("1", "6"))],
            outcome: Outcome(category: .cameraDegraded, severity: .info, state: .open, slip: false)),
        Case(
            name: "fault without a type (method 6 default): status degraded",
            xml: alarm(method: "6", extra: ""),
            events: [Want(kind: "status:degraded", category: .cameraDegraded, vendorPriority: .critical, key: key("", "6"))],
            outcome: Outcome(category: .cameraDegraded, severity: .info, state: .open, slip: false)),
        Case(
            name: "video anomaly 5/11: status degraded",
            xml: alarm(extra: "<Info><AlarmType>11</AlarmType></Info>"),
            events: [Want(kind: "status:degraded", category: .cameraDegraded, vendorPriority: .critical, key: key("11", "5"))]),
        Case(
            name: "storage full 2/3: status degraded",
            xml: alarm(method: "2", extra: "<Info><AlarmType>3</AlarmType></Info>"),
            events: [Want(kind: "status:degraded", category: .cameraDegraded, vendorPriority: .critical, key: key("3", "2"))]),
        // Enter and leave.
        Case(
            name: "EventType 1 under Info/AlarmTypeParam: an intrusion enters",
            xml: alarm(extra: "<Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>1</EventType></AlarmTypeParam></Info>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5", ":enter"), lifecycle: "gb28181:\(cam):5:6")]),
        Case(
            name: "EventType 2 under Info: the intrusion leaves",
            xml: alarm(extra: "<Info><AlarmType>6</AlarmType><EventType>2</EventType></Info>"),
            events: [Want(kind: "end", category: .intrusion, vendorPriority: .critical, key: key("6", "5", ":leave"), lifecycle: "gb28181:\(cam):5:6")]),
        Case(
            name: "EventType 2 of a video loss: the camera is back online",
            xml: alarm(method: "2", extra: "<Info><AlarmType>1</AlarmType><AlarmTypeParam><EventType>2</EventType></AlarmTypeParam></Info>"),
            events: [Want(kind: "status:online", category: .cameraOffline, vendorPriority: .critical, key: key("1", "2", ":leave"))]),
        Case(
            name: "EventType null or another number: one-shot",
            xml: alarm(extra: "<Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>null</EventType></AlarmTypeParam></Info><EventType>7</EventType>"),
            events: [Want(kind: "detection", category: .intrusion, vendorPriority: .critical, key: key("6", "5"))]),
        Case(name: "EventType not a number is wrong_type", xml: alarm(extra: "<Info><AlarmType>6</AlarmType><EventType>enter</EventType></Info>"),
             events: nil, deadLetter: (.wrongType, "EventType")),
        // Refused as before.
        Case(name: "a CmdType other than Alarm is refused", xml: alarm(cmdType: "Keepalive", extra: ""), events: nil, deadLetter: (.invalidValue, "CmdType")),
        Case(name: "DeviceID null is missing_field", xml: alarm(device: "null", extra: ""), events: nil, deadLetter: (.missingField, "DeviceID")),
        Case(name: "priority 5 is out_of_range", xml: alarm(priority: "5", extra: ""), events: nil, deadLetter: (.outOfRange, "AlarmPriority")),
        Case(name: "traffic counting 5/9 stays ignored", xml: alarm(extra: "<Info><AlarmType>9</AlarmType></Info>"), events: []),
        // Numbers no device writes: refused, not read as something else.
        Case(name: "a negative AlarmType is out_of_range, not the unmapped-type fallback", xml: alarm(extra: "<Info><AlarmType>-6</AlarmType></Info>"),
             events: nil, deadLetter: (.outOfRange, "AlarmType")),
        Case(name: "hexadecimal coordinates are wrong_type",
             xml: alarm(extra: "<Longitude>0x1.6ep+6</Longitude><Latitude>0x1Dp0</Latitude><Info><AlarmType>6</AlarmType></Info>"),
             events: nil, deadLetter: (.wrongType, "Longitude")),
        Case(name: "inf and nan coordinates are wrong_type", xml: alarm(extra: "<Longitude>91.13</Longitude><Latitude>nan</Latitude><Info><AlarmType>6</AlarmType></Info>"),
             events: nil, deadLetter: (.wrongType, "Latitude")),
    ]

    static func decode(_ xml: String, adapter: GB28181Adapter = GB28181Adapter()) -> Result<[NormalizedEvent], HubError> {
        AdapterFixtures.outcome { () throws(HubError) in
            try adapter.decode(topic: topic, payload: Array(xml.utf8), receivedAt: receivedAt)
        }
    }

    static func kind(_ kind: NormalizedEvent.Kind) -> String {
        switch kind {
        case .detection: return "detection"
        case .end: return "end"
        case .cameraStatus(let s): return "status:\(s.rawValue)"
        case .checkin: return "checkin"
        }
    }

    static func engine(_ rules: RuleSet = sampleRules) -> RiskEngine {
        RiskEngine(rules: rules) { _ in Placement(zone: "Z-1", unit: "unit-1") }
    }

    /// Items (last state by id) and slips the events make, in one engine.
    static func run(_ events: [NormalizedEvent], rules: RuleSet = sampleRules) -> (items: [RiskItem], slips: [Slip]) {
        var e = engine(rules)
        var items: [String: RiskItem] = [:]
        var slips: [String: Slip] = [:]
        for ev in events {
            for effect in e.handle(ev, now: ev.time) {
                switch effect {
                case .item(let i): items[i.id] = i
                case .slip(let s, _, _): slips[s.id] = s
                default: break
                }
            }
        }
        return (items.values.sorted { $0.id < $1.id }, slips.values.sorted { $0.id < $1.id })
    }

    @Test("real-shaped payload → exact event and outcome", arguments: cases)
    func payload(_ c: Case) throws {
        let outcome = Self.decode(c.xml)
        guard let wanted = c.events else {
            guard case .failure(let error) = outcome, let deadLetter = c.deadLetter else {
                Issue.record("expected a dead letter, got \(outcome)")
                return
            }
            #expect(error.reason == deadLetter.0, "\(error)")
            #expect(error.detail.contains(deadLetter.1), "\(error.detail)")
            return
        }
        let events = try outcome.get()
        try #require(events.count == wanted.count, "\(events)")
        for (event, want) in zip(events, wanted) {
            #expect(Self.kind(event.kind) == want.kind)
            #expect(event.category == want.category)
            #expect(event.severity == want.category.defaultSeverity, "the adapter leaves the severity to the rules")
            #expect(event.vendorPriority == want.vendorPriority)
            #expect(event.key == want.key)
            #expect(event.lifecycle == want.lifecycle)
            #expect(event.time == AdapterFixtures.utc(want.time), "\(event.time.rfc3339)")
            #expect(event.timeSource == want.timeSource)
            #expect(event.description == want.description)
            #expect(event.source == Self.cam)
            #expect(event.format == "gb28181")
        }
        if let expected = c.outcome {
            let run = Self.run(events)
            try #require(run.items.count == 1, "\(run.items)")
            let item = run.items[0]
            #expect(Outcome(category: item.category, severity: item.severity, state: item.state, slip: !run.slips.isEmpty) == expected)
        }
    }

    // MARK: - Enter and leave

    static func intrusion(_ eventType: Int?, time: String, type: Int = 6) -> NormalizedEvent? {
        let param = eventType.map { "<AlarmTypeParam><EventType>\($0)</EventType></AlarmTypeParam>" } ?? ""
        return try? decode(alarm(priority: "3", time: time, extra: "<Info><AlarmType>\(type)</AlarmType>\(param)</Info>")).get().first
    }

    @Test("a leave ends the item its enter opened, and is not a second detection")
    func enterThenLeave() throws {
        let enter = try #require(Self.intrusion(1, time: "2026-06-05T10:30:00"))
        let again = try #require(Self.intrusion(1, time: "2026-06-05T10:36:00"))
        let leave = try #require(Self.intrusion(2, time: "2026-06-05T10:40:00"))
        #expect(enter.key != leave.key)
        #expect(enter.lifecycle == leave.lifecycle)
        let r = Self.run([enter, again, leave])
        try #require(r.items.count == 1, "\(r.items)")
        #expect(r.items[0].state == .closed)
        #expect(r.items[0].occurrences == 2, "the repeated enter folds in (lifecycle live past the dedup window); the leave counts nothing")
        #expect(r.items[0].lastSeen == AdapterFixtures.utc("2026-06-05T02:40:00Z"))
        #expect(r.slips.isEmpty)

        // Without EventType the same alarms are one-shots: 10 minutes apart, outside the dedup window, two items.
        let oneShots = [Self.intrusion(nil, time: "2026-06-05T10:30:00"), Self.intrusion(nil, time: "2026-06-05T10:40:00")].compactMap { $0 }
        let plain = Self.run(oneShots)
        #expect(plain.items.map(\.occurrences) == [1, 1])
        #expect(plain.items.map(\.lifecycle) == [nil, nil])
    }

    @Test("a leave without its enter changes no item")
    func leaveAlone() throws {
        let other = try #require(Self.intrusion(nil, time: "2026-06-05T10:30:00"))
        let leave = try #require(Self.intrusion(2, time: "2026-06-05T10:31:00"))
        let r = Self.run([other, leave])
        #expect(r.items.map(\.state) == [.open])
        #expect(r.items.map(\.occurrences) == [1])
    }

    // MARK: - Camera health, as the native status topic

    /// The same outage told by the native status topic and by GB/T 28181 video loss
    /// (enter, then leave): the same items, mutes and recovery.
    @Test("GB video loss opens camera_offline, mutes the camera's analytics, and its leave recovers it, as the status topic does")
    func videoLossAsNativeStatus() throws {
        let cam = Self.cam
        func at(_ minute: Int) -> Date { Self.receivedAt.addingTimeInterval(Double(minute) * 60) }
        func gbTime(_ minute: Int) -> String {
            // Asia/Shanghai local time of `at(minute)`.
            let local = at(minute).addingTimeInterval(8 * 3600).rfc3339
            return String(local.prefix(19))
        }
        func gb(_ type: Int, method: Int, eventType: Int?, _ minute: Int) throws -> NormalizedEvent {
            let param = eventType.map { "<AlarmTypeParam><EventType>\($0)</EventType></AlarmTypeParam>" } ?? ""
            return try #require(try Self.decode(Self.alarm(priority: "1", method: String(method), time: gbTime(minute),
                                                           extra: "<Info><AlarmType>\(type)</AlarmType>\(param)</Info>")).get().first)
        }
        func native(_ status: CameraStatus, _ minute: Int) -> NormalizedEvent {
            NormalizedEvent(key: "status:\(cam):\(minute)", kind: .cameraStatus(status), sourceKind: .camera, source: cam,
                            category: status.healthCategory ?? .cameraOffline, time: at(minute))
        }
        func fight(_ id: String, _ minute: Int) -> NormalizedEvent {
            NormalizedEvent(key: "camera:\(cam):\(id)", sourceKind: .camera, source: cam, category: .fight, time: at(minute))
        }
        let viaGB = Self.run([try gb(1, method: 2, eventType: 1, 0), fight("a", 1), try gb(1, method: 2, eventType: 2, 5), fight("b", 6)])
        let viaStatus = Self.run([native(.signalLost, 0), fight("a", 1), native(.online, 5), fight("b", 6)])

        #expect(viaGB.items.map(\.category) == [.cameraOffline, .fight, .fight])
        #expect(viaGB.items[0].state == .closed, "the leave closes the health item")
        #expect(viaGB.items[0].lastSeen == at(5))
        #expect(viaGB.items[1].suppressedBy == "inhibited: camera \(cam) is signal_lost")
        #expect(viaGB.items[2].suppressedBy == nil)
        #expect(viaGB.items.map(\.severity) == [.minor, .critical, .critical], "priority 1 does not raise camera_offline")
        #expect(viaGB.items == viaStatus.items)
        #expect(viaGB.slips.map(\.riskItemIDs) == [[viaGB.items[2].id]], "only the unmuted fight raises a slip")
        #expect(viaGB.slips == viaStatus.slips)
    }

    @Test("a GB device fault mutes the camera's analytics until it reports online")
    func deviceFaultMutes() throws {
        let fault = try #require(try Self.decode(Self.alarm(method: "6", extra: "<Info><AlarmType>2</AlarmType></Info>")).get().first)
        let motion = try #require(try Self.decode(Self.alarm(time: "2026-06-05T10:31:00", extra: "<Info><AlarmType>6</AlarmType></Info>")).get().first)
        let r = Self.run([fault, motion])
        #expect(r.items.map(\.category) == [.cameraDegraded, .intrusion])
        #expect(r.items[1].suppressedBy == "inhibited: camera \(Self.cam) is degraded")
    }

    // MARK: - Configuration

    @Test("adapters.gb28181.priority: ignore drops the hint: the category's severity alone")
    func priorityIgnored() throws {
        let rules = try RuleSet.parse(ConfigMap.parse(yaml: "adapters:\n  gb28181:\n    priority: ignore\n", file: "rules.yaml"))
        #expect(rules.adapters.gb28181.priority == .ignore)
        let adapter = GB28181Adapter(mapping: rules.adapters.gb28181)
        let event = try #require(try Self.decode(Self.alarm(extra: "<Info><AlarmType>6</AlarmType></Info>"), adapter: adapter).get().first)
        #expect(event.vendorPriority == nil)
        #expect(Self.run([event], rules: rules).items.map(\.severity) == [.minor])
    }

    @Test("vendor_priority.low_risk_categories is configurable")
    func lowRiskConfigurable() throws {
        let rules = try RuleSet.parse(ConfigMap.parse(yaml: "vendor_priority:\n  low_risk_categories: [intrusion]\n", file: "rules.yaml"))
        #expect(rules.vendorPriority.lowRiskCategories == [.intrusion])
        let intrusion = try #require(try Self.decode(Self.alarm(extra: "<Info><AlarmType>6</AlarmType></Info>")).get().first)
        let motion = try #require(try Self.decode(Self.alarm(extra: "<Info><AlarmType>2</AlarmType></Info>")).get().first)
        #expect(Self.run([intrusion], rules: rules).items.map(\.severity) == [.minor], "now a ceiling")
        #expect(Self.run([motion], rules: rules).items.map(\.severity) == [.critical], "no longer low-risk: the priority raises it")
        #expect(RuleSet().vendorPriority.lowRiskCategories == [.motion, .cameraOffline, .cameraTampered, .cameraDegraded])
    }

    @Test("bad vendor-priority settings name the file, line and key")
    func badSettings() {
        let cases = [
            ("vendor_priority:\n  low_risk_categories: [ufo]\n", "vendor_priority.low_risk_categories"),
            ("vendor_priority:\n  ceiling: 2\n", "vendor_priority.ceiling"),
            ("adapters:\n  gb28181:\n    priority: sometimes\n", "adapters.gb28181.priority"),
        ]
        for (yaml, key) in cases {
            do {
                _ = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml"))
                Issue.record("\(yaml) loaded")
            } catch {
                #expect("\(error)".contains("rules.yaml:"), "\(error)")
                #expect("\(error)".contains(key), "\(error)")
            }
        }
    }
}

/// The real payloads of `../shared/realworld/gb28181` (read where they are, never
/// copied), each with the meaning its README gives; skipped when the folder is absent.
enum GBReferenceCorpus {
    /// `../shared/realworld/gb28181` beside the repository, nil when absent.
    static let folder: URL? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/realworld/gb28181", isDirectory: true)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }()
}

@Suite("GB/T 28181 reference corpus", .enabled(if: GBReferenceCorpus.folder != nil))
struct GB28181ReferenceCorpusTests {
    static var folder: URL? { GBReferenceCorpus.folder }

    /// File → (what it decodes to, the item's category and severity with the sample rules, slip or not).
    static let meanings: [(file: String, kind: String, category: Category, severity: Severity, slip: Bool)] = [
        ("G02-wvp-test-method7-no-cmdtype.xml", "detection", .other, .critical, true),
        ("G03-wvp-test-method2-videoloss-notify-level-alarmtype.xml", "status:signal_lost", .cameraOffline, .minor, false),
        ("G03b-wvp-test-method2-videoloss-plus-cmdtype.xml", "status:signal_lost", .cameraOffline, .minor, false),
        ("G04-wvp-test-method5-info-alarmtype-overrides.xml", "detection", .motion, .info, false),
        ("G04b-wvp-test-method5-info-alarmtype-plus-cmdtype.xml", "detection", .motion, .info, false),
        ("G08-wvp-cascade-of-G07-alarmtype-null.xml", "detection", .other, .info, false),
    ]

    @Test("every reference payload has its meaning", arguments: meanings)
    func meaning(_ m: (file: String, kind: String, category: Category, severity: Severity, slip: Bool)) throws {
        let folder = try #require(Self.folder)
        let payload = [UInt8](try Data(contentsOf: folder.appendingPathComponent(m.file)))
        // Received just after the alarm, so no clock-skew question arises.
        let events = try GB28181Adapter().decode(topic: "patrolhub/v1/gb28181/34020000002000000001/alarm", payload: payload,
                                                 receivedAt: Date(timeIntervalSince1970: 1_900_000_000))
        try #require(events.count == 1)
        #expect(GB28181FieldTests.kind(events[0].kind) == m.kind)
        #expect(events[0].category == m.category)
        #expect(events[0].timeSource == .device)
        let run = GB28181FieldTests.run(events)
        #expect(run.items.map(\.category) == [m.category])
        #expect(run.items.map(\.severity) == [m.severity])
        #expect(!run.slips.isEmpty == m.slip)
    }

    @Test("every file of the folder is covered")
    func covered() throws {
        let folder = try #require(Self.folder)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".xml") }.sorted()
        #expect(files == Self.meanings.map(\.file).sorted())
    }
}
