import Alerts
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// Payload bytes that are not UTF-8 JSON, through a real mosquitto and a
/// running hub: a GB/T 28181 alarm in GB18030 bytes, and an ONVIF property
/// deleted with a zero-byte retained message.
@Suite("Payload bytes over a real broker", .serialized)
struct PayloadBytesIntegrationTests {
    /// Publishes `messages` at QoS 1 with the retain flag, waiting for the broker's PUBACKs.
    func publishRetained(_ pub: TestPublisher, _ messages: [(String, [UInt8])]) async throws {
        try await pub.waitConnected()
        var mids: [Int32] = []
        for (topic, payload) in messages { mids.append(try pub.client.enqueue(topic: topic, payload: payload, retain: true)) }
        let acked = await pub.client.waitForAcks(mids, timeout: .seconds(30))
        guard acked.count == mids.count else { throw TestFailure("broker acknowledged \(acked.count) of \(mids.count)") }
    }

    @Test("a GB/T 28181 alarm in GB18030 bytes (Chinese text, a four-byte character, full-width spaces around a field) → its risk item; the inbox keeps the bytes as sent")
    func gb18030Alarm() async throws {
        try await withLiveHub { _, hub, pub in
            var shanghai = Calendar(identifier: .gregorian)
            shanghai.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded(.down))
            let c = shanghai.dateComponents([.year, .month, .day, .hour, .minute, .second], from: t0)
            let alarmTime = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            // GB18030 bytes written out, not made by an encoder under test:
            // 遗留物检测 (two bytes each), a space, U+20000 (four bytes), and U+3000
            // (the full-width space, A1 A1) either side of the alarm type.
            let description: [UInt8] = [0xD2, 0xC5, 0xC1, 0xF4, 0xCE, 0xEF, 0xBC, 0xEC, 0xB2, 0xE2, 0x20, 0x95, 0x32, 0x82, 0x36]
            let fullWidthSpace: [UInt8] = [0xA1, 0xA1]
            let payload = Array("""
                <?xml version="1.0" encoding="GB18030"?>\r
                <Notify>\r
                <CmdType>Alarm</CmdType>\r
                <SN>17430</SN>\r
                <DeviceID>cam-003</DeviceID>\r
                <AlarmPriority>3</AlarmPriority>\r
                <AlarmMethod>5</AlarmMethod>\r
                <AlarmTime>\(alarmTime)</AlarmTime>\r
                <AlarmDescription>
                """.utf8) + description + Array("</AlarmDescription>\r\n<Info><AlarmType>".utf8)
                + fullWidthSpace + Array("3".utf8) + fullWidthSpace
                + Array("</AlarmType><AlarmTypeParam><EventType>1</EventType></AlarmTypeParam></Info>\r\n</Notify>\r\n".utf8)
            #expect(String(validating: payload, as: UTF8.self) == nil, "the payload must not be valid UTF-8")

            let topic = "patrolhub/v1/gb28181/34020000001180000001/alarm"
            try await pub.publishAll([(topic, payload)])
            try await hub.waitProcessed(received: 1)

            let dead = try hub.store.deadLetters()
            #expect(dead.isEmpty, "\(dead.map { "\($0.reason): \($0.detail)" })")
            let items = try hub.store.riskItems()
            #expect(items.map { "\($0.source) \($0.category.rawValue) \($0.zone) \($0.state.rawValue)" } == ["cam-003 left_object Z-B open"])
            #expect(items.first?.firstSeen == t0, "AlarmTime without an offset is Asia/Shanghai time")
            #expect(items.first?.lifecycle == "gb28181:cam-003:5:3")
            let stored = try await hub.store.inboxWriter.read { db in try Data.fetchAll(db, sql: "SELECT payload FROM inbox WHERE topic = ?", arguments: [topic]) }
            #expect(stored == [Data(payload)], "the inbox holds the bytes as published")
        }
    }

    @Test("an ONVIF property set (retained), then deleted with a zero-byte retained message → one intrusion, closed by the delete")
    func onvifZeroByteDelete() async throws {
        try await withLiveHub { _, hub, pub in
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded(.down))
            let topic = "patrolhub/v1/onvif/cam-001/tns1:RuleEngine/FieldDetector/ObjectsInside"
            func objectsInside(_ time: Date, _ inside: Bool, operation: String) -> [UInt8] {
                Array("""
                    {"UtcTime": "\(time.rfc3339)", "PropertyOperation": "\(operation)", \
                    "Source": {"VideoSourceConfigurationToken": "1", "VideoAnalyticsConfigurationToken": "1", "Rule": "field-1"}, \
                    "Data": {"IsInside": "\(inside)"}}
                    """.utf8)
            }
            try await publishRetained(pub, [
                (topic, objectsInside(t0, false, operation: "Initialized")),
                (topic, objectsInside(t0.addingTimeInterval(2), true, operation: "Changed")),
            ])
            try await hub.waitProcessed(received: 2)
            let open = try hub.store.riskItems()
            #expect(open.map { "\($0.source) \($0.category.rawValue) \($0.state.rawValue)" } == ["cam-001 intrusion open"])

            // The bridge clears the retained property: zero bytes, retained.
            try await publishRetained(pub, [(topic, [])])
            try await hub.waitProcessed(received: 3)
            let stored = try await hub.store.inboxWriter.read { db in try Data.fetchAll(db, sql: "SELECT payload FROM inbox ORDER BY seq") }
            #expect(stored.last == Data(), "the delete reached the inbox as zero bytes")
            let dead = try hub.store.deadLetters()
            #expect(dead.isEmpty, "\(dead.map { "\($0.reason): \($0.detail)" })")
            let items = try hub.store.riskItems()
            #expect(items.map { "\($0.source) \($0.category.rawValue) \($0.state.rawValue)" } == ["cam-001 intrusion closed"])
            #expect(items.map(\.id) == open.map(\.id), "the delete ends the same item, it opens none")
        }
    }
}
