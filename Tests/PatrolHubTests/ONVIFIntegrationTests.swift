import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// ONVIF as a python-onvif-zeep bridge sends it, and onvif2mqtt, through a real
/// mosquitto and a running hub into the store.
@Suite("ONVIF over a real broker", .serialized)
struct ONVIFIntegrationTests {
    static func zeep(_ items: String) -> String {
        #"{"SimpleItem": \#(items), "ElementItem": [], "Extension": null, "_attr_1": null}"#
    }

    static func onvif(_ time: Date, _ item: String, _ value: String, operation: String = "Changed") -> [UInt8] {
        // python-onvif-zeep's str(datetime): a space for the T, an offset.
        let utc = time.rfc3339.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: ".000Z", with: "+00:00")
        return Array("""
            {"UtcTime": "\(utc)", "PropertyOperation": "\(operation)", \
            "Source": \(zeep(#"[{"Name": "VideoSourceConfigurationToken", "Value": "VS1"}, {"Name": "Rule", "Value": "R1"}]"#)), \
            "Data": \(zeep(#"[{"Name": "\#(item)", "Value": "\#(value)"}]"#))}
            """.utf8)
    }

    @Test("signal loss mutes an ONVIF intrusion until recovery; a snapshot is nothing; onvif2mqtt on/off is one closed motion item; an unmapped topic is counted")
    func bridgedONVIF() async throws {
        let rulesYAML = "adapters:\n  camera_ids:\n    front_door: cam-002\n"
        try await withLiveHub(configure: { c in
            c.onvif2mqttTopic = "home/onvif2mqtt"
            c.rulesFile = (c.dataDir as NSString).appendingPathComponent("rules.yaml")
            FileManager.default.createFile(atPath: c.rulesFile!, contents: Data(rulesYAML.utf8))
        }) { _, hub, pub in
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded(.down))
            let p = "patrolhub/v1/onvif/cam-001/"
            let messages: [(String, [UInt8])] = [
                (p + "tns1:RuleEngine/FieldDetector/ObjectsInside", Self.onvif(t0, "IsInside", "false", operation: "Initialized")),
                (p + "tns1:VideoSource/SignalLoss", Self.onvif(t0, "State", "true")),
                (p + "tns1:RuleEngine/FieldDetector/ObjectsInside", Self.onvif(t0.addingTimeInterval(10), "IsInside", "true")),
                (p + "tns1:VideoSource/SignalLoss", Self.onvif(t0.addingTimeInterval(60), "State", "false")),
                (p + "tns1:RuleEngine/FieldDetector/ObjectsInside", Self.onvif(t0.addingTimeInterval(70), "IsInside", "false")),
                (p + "tns1:Monitoring/ProcessorUsage", Array(#"{"UtcTime": "0000-00-00T00:00:00Z", "Data": {"Value": "0.2"}}"#.utf8)),
                ("home/onvif2mqtt/front_door/motion", Array("on".utf8)),
                ("home/onvif2mqtt/front_door/motion", Array("off".utf8)),
            ]
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)

            let status = try hub.store.status()
            let dead = try hub.store.deadLetters()
            #expect(status.deadLettersTotal == 0, "\(dead)")
            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
            #expect(items.map { "\($0.source) \($0.category.rawValue) \($0.state.rawValue)" } == [
                "cam-001 camera_offline closed", "cam-001 intrusion closed", "cam-002 motion closed",
            ])
            #expect(items[1].suppressedBy == "inhibited: camera cam-001 is signal_lost")
            #expect(try hub.store.unmappedInputs().map { "\($0.format) \($0.name) \($0.count) \($0.device)" } == ["onvif Monitoring/ProcessorUsage 1 cam-001"])
        }
    }

    @Test("a bridge that lost the false while away resubscribes: its Initialized false snapshot closes the item, a true one never opens one")
    func resubscriptionSnapshotCloses() async throws {
        try await withLiveHub { _, hub, pub in
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded(.down))
            let inside = "patrolhub/v1/onvif/cam-001/tns1:RuleEngine/FieldDetector/ObjectsInside"
            let motion = "patrolhub/v1/onvif/cam-001/tns1:RuleEngine/CellMotionDetector/Motion"
            let messages: [(String, [UInt8])] = [
                (inside, Self.onvif(t0, "IsInside", "true")),
                // The bridge restarts; the Changed false in between is lost. Its new subscription's snapshots:
                (inside, Self.onvif(t0.addingTimeInterval(300), "IsInside", "false", operation: "Initialized")),
                (motion, Self.onvif(t0.addingTimeInterval(300), "IsMotion", "true", operation: "Initialized")),
            ]
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)
            let dead = try hub.store.deadLetters()
            #expect(dead.isEmpty, "\(dead)")
            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
            #expect(items.map { "\($0.source) \($0.category.rawValue) \($0.state.rawValue)" } == ["cam-001 intrusion closed"])
        }
    }
}
