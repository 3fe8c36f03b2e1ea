import Foundation
import Testing

@testable import Alerts

@Suite("GB/T 28181 adapter")
struct GB28181AdapterTests {
    private let topic = "patrolhub/v1/gb28181/34020000001180000001/alarm"

    private func decode(_ adapter: GB28181Adapter, _ fixture: String) throws -> [NormalizedEvent] {
        try adapter.decode(topic: topic, payload: AdapterFixtures.bytes(fixture), receivedAt: AdapterFixtures.receivedAt)
    }

    @Test("GB2312 bytes are really GB2312, not UTF-8, and decode to the right text")
    func gb2312Bytes() throws {
        let bytes = try AdapterFixtures.bytes("gb28181-intrusion-gb2312.xml")
        #expect(!GB28181Adapter.isValidUTF8(bytes[...]))
        #expect(GB28181Adapter.isValidUTF8(Array("区域入侵".utf8)[...]))
        let text = try GB28181Adapter.text(of: bytes)
        #expect(text.contains("<AlarmDescription>区域入侵报警</AlarmDescription>"))
    }

    @Test("the channel DeviceID is tried first, then the gateway in the topic")
    func resolverFallback() throws {
        let channel = GB28181Adapter(resolver: .table(["34020000001320000001": "CAM-A"]))
        #expect(try decode(channel, "gb28181-video-loss.xml").map(\.source) == ["CAM-A"])

        let gateway = GB28181Adapter(resolver: .table(["34020000001180000001": "NVR-1"]))
        #expect(try decode(gateway, "gb28181-video-loss.xml").map(\.source) == ["NVR-1"])

        let none = GB28181Adapter(resolver: .table([:]))
        let outcome = AdapterFixtures.outcome { () throws(HubError) in
            try none.decode(
                topic: topic, payload: (try? AdapterFixtures.bytes("gb28181-video-loss.xml")) ?? [],
                receivedAt: AdapterFixtures.receivedAt)
        }
        guard case .failure(let error) = outcome else {
            Issue.record("expected unknown_source, got \(outcome)")
            return
        }
        #expect(error.reason == .unknownSource)
    }

    @Test("configurable: time zone, CRS, type table; a missing priority is no hint")
    func configuration() throws {
        var mapping = GB28181Mapping(coordinateSystem: .gcj02)
        mapping.alarmTypes[GBAlarmCode(method: 5, type: 12)] = .loitering
        let adapter = GB28181Adapter(
            mapping: mapping, options: AdapterOptions(timeZone: TimeZone(secondsFromGMT: 0)!))

        let intrusion = try #require(try decode(adapter, "gb28181-intrusion-gb2312.xml").first)
        #expect(intrusion.time == AdapterFixtures.utc("2024-01-02T15:04:05Z"))
        #expect(intrusion.location == GeoPoint(lat: 29.6604, lon: 91.1322, crs: .gcj02))

        let noPriority = try #require(try decode(adapter, "gb28181-missing-priority.xml").first)
        #expect(noPriority.vendorPriority == nil)
        #expect(noPriority.severity == noPriority.category.defaultSeverity)

        #expect(try decode(adapter, "gb28181-fast-movement.xml").map(\.category) == [.loitering])
    }

    @Test("combined methods: precedence picks the method where the type is defined")
    func combinedMethods() throws {
        #expect(try GB28181Adapter.methods("5") == [5])
        #expect(try GB28181Adapter.methods("2/5") == [2, 5])
        #expect(try GB28181Adapter.methods("25") == [2, 5])
        #expect(try GB28181Adapter.methods(" 5, 2 ") == [5, 2])
        #expect(throws: HubError.self) { try GB28181Adapter.methods("0") }
        #expect(throws: HubError.self) { try GB28181Adapter.methods("5a") }

        // Type 2 exists under both 5 (motion) and 2 (tamper): the default precedence prefers video.
        var mapping = GB28181Mapping()
        let xml = """
            <?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Alarm</CmdType><SN>1</SN>\
            <DeviceID>34020000001320000001</DeviceID><AlarmPriority>2</AlarmPriority><AlarmMethod>2/5</AlarmMethod>\
            <AlarmTime>2024-01-02T15:04:05</AlarmTime><Info><AlarmType>2</AlarmType></Info></Notify>
            """
        let video = try GB28181Adapter(mapping: mapping).decode(topic: topic, payload: Array(xml.utf8), receivedAt: .now)
        #expect(video.map(\.category) == [.motion])
        mapping.methodPrecedence = [2, 5]
        let device = try GB28181Adapter(mapping: mapping).decode(topic: topic, payload: Array(xml.utf8), receivedAt: .now)
        #expect(device.map(\.category) == [.cameraTampered])
        #expect(device.first?.key == "gb28181:34020000001320000001:2024-01-02T15:04:05:2:2/5")
    }

    @Test("a method without a default is dead-lettered, not dropped")
    func methodWithoutDefault() throws {
        let adapter = GB28181Adapter(mapping: GB28181Mapping(methodDefaults: [:]))
        let outcome = AdapterFixtures.outcome { () throws(HubError) in
            try adapter.decode(
                topic: topic, payload: (try? AdapterFixtures.bytes("gb28181-phone.xml")) ?? [], receivedAt: .now)
        }
        guard case .failure(let error) = outcome else {
            Issue.record("expected invalid_value, got \(outcome)")
            return
        }
        #expect(error.reason == .invalidValue)
        #expect(error.detail.contains("AlarmMethod 1"))
    }
}
