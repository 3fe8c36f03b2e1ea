import Foundation
import Testing

@testable import Alerts

/// onvif2mqtt's default output: `on`/`off` on `{base}/{device}/{event}`.
@Suite("onvif2mqtt adapter")
struct ONVIF2MQTTAdapterTests {
    static let receivedAt = Date(timeIntervalSince1970: 1_736_592_000)
    static let registry = Registry(cameras: [CameraRecord(id: "CAM-0001", name: "Door", location: nil, zone: "Z-A")])

    static func stage(base: String = "onvif2mqtt") -> DecodeStage {
        var rules = AdapterRules()
        rules.cameraIDs = ["doorbell": "CAM-0001"]
        return DecodeStage(router: TopicRouter(onvif2mqttBase: base), registry: registry, timeParser: TimeParser(), adapters: rules)
    }

    static func decode(_ topic: String, _ payload: String, stage: DecodeStage = stage(), unmapped: inout UnmappedInput?) -> Result<[NormalizedEvent], HubError> {
        AdapterFixtures.outcome { () throws(HubError) in
            try stage.decode(topic: topic, payload: Array(payload.utf8), now: receivedAt, receivedAt: receivedAt, unmapped: &unmapped)
        }
    }

    @Test("on opens a motion lifecycle at the receive time, off ends it; the device resolves through camera_ids")
    func onOff() throws {
        var unmapped: UnmappedInput?
        let on = try Self.decode("onvif2mqtt/doorbell/motion", "on", unmapped: &unmapped).get()
        let off = try Self.decode("onvif2mqtt/doorbell/motion", " OFF\n", unmapped: &unmapped).get()
        #expect(unmapped == nil)
        #expect(on.map(\.kind) == [.detection] && off.map(\.kind) == [.end])
        for e in on + off {
            #expect(e.source == "CAM-0001")
            #expect(e.category == .motion)
            #expect(e.lifecycle == "onvif2mqtt:CAM-0001:motion")
            #expect(e.time == Self.receivedAt)
            #expect(e.timeSource == .received)
            #expect(e.format == "onvif2mqtt")
        }
        #expect(on.first?.key == "onvif2mqtt:CAM-0001:motion:on:1736592000000")
        #expect(on.first?.key != off.first?.key)
    }

    @Test("unknown device, bad payload, unmapped event, other base and deeper topics")
    func refusals() throws {
        var unmapped: UnmappedInput?
        #expect(throws: HubError.decode(.unknownSource, "onvif2mqtt device \"garage\" is not registered")) {
            try Self.decode("onvif2mqtt/garage/motion", "on", unmapped: &unmapped).get()
        }
        guard case .failure(let bad) = Self.decode("onvif2mqtt/doorbell/motion", "{\"state\": true}", unmapped: &unmapped) else {
            Issue.record("a JSON payload must be refused")
            return
        }
        #expect(bad.reason == .invalidValue)
        #expect(try Self.decode("onvif2mqtt/garage/doorbell_press", "on", unmapped: &unmapped).get() == [])
        #expect(unmapped == nil, "an unregistered device's unmapped events are not counted")
        #expect(try Self.decode("onvif2mqtt/doorbell/doorbell_press", "on", unmapped: &unmapped).get() == [])
        #expect(unmapped == UnmappedInput(format: "onvif2mqtt", name: "doorbell_press", device: "doorbell"))
        // A custom template's nested subtopic is not the default shape: no route.
        guard case .failure(let deep) = Self.decode("onvif2mqtt/doorbell/motion/json", "on", unmapped: &unmapped) else {
            Issue.record("a nested subtopic has no route")
            return
        }
        #expect(deep.reason == .unknownTopic)
        var none: UnmappedInput?
        let custom = try Self.decode("cams/onvif/doorbell/motion", "on", stage: Self.stage(base: "cams/onvif"), unmapped: &none).get()
        #expect(custom.map(\.kind) == [.detection])
        #expect(TopicRouter(onvif2mqttBase: "cams/onvif").subscriptions.contains("cams/onvif/+/+"))
    }

    @Test("onvif2mqtt_topic is configurable and must stay apart from topic_prefix")
    func config() throws {
        let good = try HubConfig.parse(try ConfigMap.parse(yaml: "onvif2mqtt_topic: home/onvif\n", file: "hub.yaml"), file: "hub.yaml")
        #expect(good.onvif2mqttTopic == "home/onvif")
        #expect(HubConfig().onvif2mqttTopic == "onvif2mqtt")
        for bad in ["patrolhub/v1/onvif", "onvif/#", "", "patrolhub"] {
            #expect(throws: HubError.self, "\(bad)") {
                try HubConfig.parse(try ConfigMap.parse(yaml: "onvif2mqtt_topic: \"\(bad)\"\n", file: "hub.yaml"), file: "hub.yaml")
            }
        }
    }
}
