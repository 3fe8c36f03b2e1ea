import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// The foreign formats end to end: Frigate, GB/T 28181 and a patrol device's
/// SOS published to a real mosquitto, through the hub's adapters and rules,
/// into the SQLite store.
@Suite("Adapters over a real broker", .serialized)
struct AdapterIntegrationTests {
    static let devicesCSV = """
        id,worker,unit,zone
        pda-0417,W-0417,unit-B,Z-B
        """

    @Test("A Frigate lifecycle, a GB/T 28181 alarm and an SOS → exactly the expected items and slips")
    func foreignFormats() async throws {
        try await withLiveHub(devicesCSV: Self.devicesCSV) { _, hub, pub in

            // Whole seconds, 30 min ago: event times are in the past, as the clock-skew check wants.
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded(.down))
            let start = t0.timeIntervalSince1970
            func frigate(_ type: String, zones: String, frame: Double, end: Double? = nil) -> [UInt8] {
                let state = """
                    {"id":"\(start)-ab12cd","camera":"cam-001","frame_time":\(frame),"label":"person","sub_label":null,\
                    "top_score":0.9,"score":0.88,"false_positive":false,"start_time":\(start),"end_time":\(end.map { "\($0)" } ?? "null"),\
                    "current_zones":\(zones),"entered_zones":\(zones),"stationary":false}
                    """
                return Array(#"{"type":"\#(type)","before":\#(state),"after":\#(state)}"#.utf8)
            }
            // GB/T 28181 AlarmTime has no offset: it is read in Asia/Shanghai (the default timezone).
            var shanghai = Calendar(identifier: .gregorian)
            shanghai.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            let gbTime = t0.addingTimeInterval(60)
            let c = shanghai.dateComponents([.year, .month, .day, .hour, .minute, .second], from: gbTime)
            let alarmTime = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            let gb = """
                <?xml version="1.0" encoding="GB2312"?>
                <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>cam-003</DeviceID><AlarmPriority>3</AlarmPriority>\
                <AlarmMethod>5</AlarmMethod><AlarmTime>\(alarmTime)</AlarmTime><Info><AlarmType>10</AlarmType></Info></Notify>
                """
            let sosTime = t0.addingTimeInterval(120)
            let sos = #"{"id":"sos-1","time":"\#(sosTime.rfc3339)","kind":"fall"}"#

            let zones = #"["fence_line"]"#
            var messages: [(String, [UInt8])] = [("frigate/events", frigate("new", zones: zones, frame: start))]
            for i in 1...5 { messages.append(("frigate/events", frigate("update", zones: zones, frame: start + Double(i) * 60))) }
            messages.append(("frigate/events", frigate("end", zones: zones, frame: start + 400, end: start + 400)))
            messages.append(("patrolhub/v1/gb28181/34020000001180000001/alarm", Array(gb.utf8)))
            messages.append(("patrolhub/v1/device/pda-0417/sos", Array(sos.utf8)))
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)
            try await waitUntil("slips published") { try hub.store.outbox(limit: 10).isEmpty }

            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
            #expect(items.map(\.id) == ["RI-00000001", "RI-00000002", "RI-00000003"])
            #expect(items.map(\.source) == ["cam-001", "cam-003", "pda-0417"])
            #expect(items.map(\.sourceKind) == [.camera, .camera, .device])
            #expect(items.map(\.category) == [.intrusion, .crowdGathering, .sos])
            // GB priority 3 is a hint: it does not lower crowd_gathering's severity 2.
            #expect(items.map(\.severity) == [.minor, .major, .critical])
            #expect(items.map(\.zone) == ["Z-A", "Z-B", "Z-B"])
            #expect(items.map(\.state) == [.closed, .open, .open])
            #expect(items.map(\.occurrences) == [1, 1, 1])
            #expect(items.map(\.firstSeen) == [t0, gbTime, sosTime])
            #expect(items.map(\.lastSeen) == [t0.addingTimeInterval(400), gbTime, sosTime])
            #expect(items[0].lifecycle == "frigate:cam-001:\(start)-ab12cd")

            let slips = try hub.store.slips().sorted { $0.id < $1.id }
            #expect(slips.map(\.id) == ["YJ-00000001", "YJ-00000002"])
            #expect(slips.map(\.kind) == [.warning, .warning])
            #expect(slips.map(\.category) == [.crowdGathering, .sos])
            #expect(slips.map(\.zone) == ["Z-B", "Z-B"])
            #expect(slips.map(\.unit) == [nil, "unit-B"], "the zones name no unit; the device does")
            #expect(slips.map(\.severity) == [.major, .critical])
            #expect(slips.map(\.riskItemIDs) == [["RI-00000002"], ["RI-00000003"]])

            let status = try hub.store.status()
            #expect(status.deadLettersTotal == 0)
            #expect(status.riskItemsTotal == 3)
            #expect(status.slipsTotal == 2)
        }
    }
}
