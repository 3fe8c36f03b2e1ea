@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Camera health from ONVIF topics acts exactly as the native status topic
/// (health item, inhibition, recovery), and ONVIF topics, Frigate labels and
/// onvif2mqtt events no rule maps are counted in the store, bounded.
@Suite("ONVIF health and unmapped inputs")
struct ONVIFHealthAndUnmappedTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }
    static let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A")])

    static func onvif(_ topic: String, _ data: String, _ seconds: Double, operation: String = "Changed") -> (topic: String, payload: [UInt8]) {
        ("patrolhub/v1/onvif/cam-1/\(topic)",
         Array(#"{"UtcTime": "\#(at(seconds).rfc3339)", "PropertyOperation": "\#(operation)", "Source": {"Source": "VS1"}, "Data": {\#(data)}}"#.utf8))
    }

    static func native(_ status: CameraStatus, _ seconds: Double) -> (topic: String, payload: [UInt8]) {
        ("patrolhub/v1/camera/cam-1/status", Array(#"{"status": "\#(status.rawValue)", "time": "\#(at(seconds).rfc3339)"}"#.utf8))
    }

    static func intrusion(_ id: String, _ seconds: Double) -> (topic: String, payload: [UInt8]) {
        ("patrolhub/v1/camera/cam-1/event", Array(#"{"id": "\#(id)", "type": "intrusion", "time": "\#(at(seconds).rfc3339)"}"#.utf8))
    }

    /// Decodes and runs messages through one engine; the items as they end, by category and state.
    static func run(_ messages: [(topic: String, payload: [UInt8])]) throws -> [String] {
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        var engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") }
        var items: [String: RiskItem] = [:]
        for (topic, payload) in messages {
            for event in try decode.decode(topic: topic, payload: payload, now: at(3600)) {
                for case .item(let item) in engine.handle(event, now: event.time) { items[item.id] = item }
            }
        }
        return items.values.sorted { $0.id < $1.id }.map { "\($0.category.rawValue) \($0.state.rawValue) \($0.suppressedBy ?? "-")" }
    }

    @Test("ONVIF SignalLoss opens the health item and mutes the camera's analytics; false recovers — as the native status topic")
    func signalLossActsAsNativeStatus() throws {
        let viaONVIF = try Self.run([
            Self.onvif("tns1:VideoSource/SignalLoss", #""State": "true""#, 0),
            Self.intrusion("a", 10),
            Self.onvif("tns1:VideoSource/SignalLoss", #""State": "false""#, 60),
            Self.intrusion("b", 400),
        ])
        let viaNative = try Self.run([Self.native(.signalLost, 0), Self.intrusion("a", 10), Self.native(.online, 60), Self.intrusion("b", 400)])
        #expect(viaONVIF == [
            "camera_offline closed -",
            "intrusion closed inhibited: camera cam-1 is signal_lost", // closed by the next intrusion, out of the dedup window
            "intrusion open -",
        ])
        #expect(viaONVIF == viaNative)
    }

    @Test("ONVIF tamper (Tapo, Hikvision) and image quality mute like the native statuses; Deleted recovers")
    func tamperAndDegradedActAsNativeStatus() throws {
        let tapo = try Self.run([
            Self.onvif("tns1:RuleEngine/CellMotionDetector/Tamper", #""IsTamper": "true""#, 0),
            Self.intrusion("a", 10),
            Self.onvif("tns1:RuleEngine/CellMotionDetector/Tamper", "", 60, operation: "Deleted"),
            Self.intrusion("b", 400),
        ])
        let native = try Self.run([Self.native(.tampered, 0), Self.intrusion("a", 10), Self.native(.online, 60), Self.intrusion("b", 400)])
        #expect(tapo == native)
        #expect(tapo.first == "camera_tampered closed -")
        #expect(tapo[1] == "intrusion closed inhibited: camera cam-1 is tampered")
        #expect(tapo[2] == "intrusion open -")

        let dark = try Self.run([
            Self.onvif("tns1:VideoSource/ImageTooDark/ImagingService", #""State": true"#, 0),
            Self.intrusion("a", 10),
        ])
        #expect(dark == ["camera_degraded open -", "intrusion open inhibited: camera cam-1 is image_too_dark"])
    }

    @Test("an Initialized snapshot of a health property changes nothing")
    func healthSnapshotIsNothing() throws {
        let r = try Self.run([
            Self.onvif("tns1:VideoSource/SignalLoss", #""State": "true""#, 0, operation: "Initialized"),
            Self.intrusion("a", 10),
        ])
        #expect(r == ["intrusion open -"])
    }

    // MARK: - Unmapped inputs in the store

    static func processor(_ store: DisputeStore) throws -> PipelineProcessor {
        var rules = AdapterRules()
        // Only registered cameras' inputs are counted: these names map to one.
        rules.cameraIDs = ["front_door": "cam-1", "nvr-7": "cam-1", "yard": "cam-1", String(repeating: "d", count: 300): "cam-1"]
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: rules)
        let engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") }
        return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { at(3600) })
    }

    static func message(_ topic: String, _ payload: String, _ seconds: Double) -> InboxMessage {
        InboxMessage(topic: topic, payload: Array(payload.utf8), receivedAt: at(seconds))
    }

    static let frigateGoat = #"{"type": "new", "after": {"id": "1.5-x", "camera": "yard", "label": "goat", "start_time": 1800000000}}"#

    @Test("unmapped topics, labels and events are counted per format and name, kept across a reopen, and are no dead letters")
    func unmappedCountsSurvive() throws {
        let dir = NSTemporaryDirectory() + "patrolhub-unmapped-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/store.sqlite"
        do {
            let store = try DisputeStore(path: path)
            let p = try Self.processor(store)
            try store.ingest([
                Self.message("patrolhub/v1/onvif/cam-1/tns1:Monitoring/ProcessorUsage", #"{"UtcTime": "2027-01-15T08:00:00Z", "Data": {"Value": 0.3}}"#, 1),
                Self.message("patrolhub/v1/onvif/nvr-7/tns1:Monitoring/ProcessorUsage", #"{"UtcTime": "2027-01-15T08:00:00Z", "Data": {"Value": 0.4}}"#, 2),
                Self.message("patrolhub/v1/onvif/cam-1/tns1:Device/Trigger/DigitalInput", #"{"UtcTime": "2027-01-15T08:00:00Z", "Data": {"LogicalState": "true"}}"#, 3),
                Self.message("frigate/events", Self.frigateGoat, 4),
                Self.message("onvif2mqtt/front_door/doorbell", "on", 5),
                // Not counted: no registered camera sent it.
                Self.message("patrolhub/v1/onvif/stranger/tns1:Junk/Topic", #"{"UtcTime": "2027-01-15T08:00:00Z"}"#, 6),
                Self.message("frigate/events", Self.frigateGoat.replacingOccurrences(of: "yard", with: "stranger"), 7),
            ])
            #expect(try p.processPending(limit: 100).deadLetters == 0)
            try store.ingest([Self.message("patrolhub/v1/onvif/cam-1/tns1:Monitoring/ProcessorUsage", #"{"UtcTime": "2027-01-15T08:00:00Z", "Data": {"Value": 0.5}}"#, 9)])
            try p.processPending(limit: 100)
        }
        let store = try DisputeStore(path: path)
        let rows = try store.unmappedInputs()
        #expect(rows.map { "\($0.format) \($0.name) \($0.count) \($0.device)" } == [
            "onvif Monitoring/ProcessorUsage 3 cam-1",
            "frigate goat 1 yard",
            "onvif Device/Trigger/DigitalInput 1 cam-1",
            "onvif2mqtt doorbell 1 front_door",
        ])
        let usage = try #require(rows.first)
        #expect(usage.firstSeen == Self.at(1) && usage.lastSeen == Self.at(9))
        #expect(usage.configHint == #"adapters: {onvif: {topics: {"Monitoring/ProcessorUsage": CATEGORY}}}"#)
        let status = try store.status()
        #expect(status.deadLettersTotal == 0)
        #expect(status.unmappedByFormat == ["onvif": 4, "frigate": 1, "onvif2mqtt": 1])
        #expect(status.json["unmapped"]?["total"] == .number(6))
    }

    @Test("an attacker's endless new topics stay bounded: names are cut, at most maxNames per format, the rest in one overflow row")
    func unmappedRowsAreBounded() throws {
        let store = try DisputeStore.inMemory()
        let p = try Self.processor(store)
        let extra = 7
        var messages: [InboxMessage] = []
        for i in 0..<(UnmappedInputs.maxNames + extra) {
            messages.append(Self.message("patrolhub/v1/onvif/cam-1/tns1:Garbage/T\(i)", #"{"UtcTime": "2027-01-15T08:00:00Z"}"#, Double(i)))
        }
        messages.append(Self.message("patrolhub/v1/onvif/" + String(repeating: "d", count: 300) + "/" + String(repeating: "x", count: 5000),
                                     #"{"UtcTime": "2027-01-15T08:00:00Z"}"#, 5000))
        try store.ingest(messages)
        while try p.processPending(limit: 256).messages > 0 {}
        let rows = try store.unmappedInputs()
        #expect(rows.count == UnmappedInputs.maxNames + 1)
        let overflow = try #require(rows.first { $0.isOverflow })
        #expect(overflow.count == extra + 1)
        #expect(overflow.displayName == "(other)")
        #expect(overflow.configHint == nil)
        #expect(rows.allSatisfy { $0.name.utf8.count <= UnmappedInput.maxNameBytes && $0.device.utf8.count <= UnmappedInput.maxDeviceBytes })
        // A name already counted keeps counting after the cap is reached.
        try store.ingest([Self.message("patrolhub/v1/onvif/cam-1/tns1:Garbage/T0", #"{"UtcTime": "2027-01-15T08:00:00Z"}"#, 6000)])
        try p.processPending(limit: 10)
        #expect(try store.unmappedInputs().first { $0.name == "Garbage/T0" }?.count == 2)
        #expect(UnmappedInput(format: "onvif", name: String(repeating: "é", count: 300), device: "d").name.utf8.count <= UnmappedInput.maxNameBytes)
    }
}
