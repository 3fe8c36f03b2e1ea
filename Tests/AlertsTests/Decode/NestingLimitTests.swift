import Foundation
@testable import Simulation
import Testing
@testable import Alerts

/// Every recursive reader of outside input stops at a nesting limit with an
/// error, instead of recursing until the stack overflows. Each input here is
/// 100 000 levels deep: without the limit it kills the test process.
@Suite("Nesting limits")
struct NestingLimitTests {
    static let deep = 100_000

    @Test func xmlScannerRefusesDeepNesting() {
        let closed = String(repeating: "<a>", count: Self.deep) + String(repeating: "</a>", count: Self.deep)
        let open = String(repeating: "<a>", count: Self.deep)
        for xml in [closed, open, "<Notify>" + String(repeating: "<x:b c='1'>", count: Self.deep)] {
            #expect {
                _ = try XMLElementTree.parse(xml)
            } throws: { e in
                guard let e = e as? HubError else { return false }
                return e.reason == .malformed && e.detail.contains("nested too deeply")
            }
        }
    }

    @Test func xmlScannerReadsUpToItsLimit() throws {
        let depth = XMLScanner.maxDepth
        let xml = String(repeating: "<a>", count: depth) + "x" + String(repeating: "</a>", count: depth)
        var node = try XMLElementTree.parse(xml)
        for _ in 1..<depth { node = try #require(node.child("a")) }
        #expect(node.content == "x")
        #expect(throws: HubError.self) { try XMLElementTree.parse("<a>" + xml + "</a>") }
    }

    /// The issue's payload: 6 KB of `<a>` on the GB/T 28181 topic.
    @Test func gb28181AdapterDeadLettersTheNestedPayload() {
        let adapter = GB28181Adapter(resolver: SourceResolver { $0 })
        let payload = Array(String(repeating: "<a>", count: 2000).utf8)
        #expect(payload.count == 6000)
        #expect {
            _ = try adapter.decode(topic: "patrolhub/v1/gb28181/gw-1/alarm", payload: payload, receivedAt: Date())
        } throws: { e in
            (e as? HubError)?.reason == .malformed && "\(e)".contains("nested too deeply")
        }
    }

    @Test func jsonParserRefusesDeepNestingOnEveryPath() {
        let arrays = String(repeating: "[", count: Self.deep) + String(repeating: "]", count: Self.deep)
        let objects = String(repeating: #"{"a":"#, count: Self.deep) + "1" + String(repeating: "}", count: Self.deep)
        for text in [arrays, objects, String(repeating: "[", count: Self.deep)] {
            #expect(throws: HubError.self) { try JSONParser.parse(text) }
            // Selective parse: the deep value is a wanted member, and a skipped one.
            for selection: JSONSelection in [.fields(["x"]), .fields(["y"]), .members([.init("x", .fields(["a"]))])] {
                #expect(throws: HubError.self) { try JSONParser.parse(Array(#"{"x":\#(text)}"#.utf8), selecting: selection) }
            }
        }
    }

    @Test func everyDecoderDeadLettersDeepJSON() {
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z")],
                                devices: [DeviceRecord(id: "dev-1", worker: "W", unit: "U", zone: nil)])
        let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 20)
        let deep = String(repeating: "[", count: 50_000)
        let payloads = [deep, #"{"id":"e1","type":"fight","x":"# + deep, #"{"type":"new","after":"# + deep]
        for topic in ["patrolhub/v1/camera/cam-1/event", "patrolhub/v1/camera/cam-1/status", "patrolhub/v1/device/dev-1/sos",
                      "patrolhub/v1/device/dev-1/report", "frigate/events", "patrolhub/v1/onvif/cam-1/tns1:VideoSource/MotionAlarm"] {
            for p in payloads {
                #expect {
                    _ = try stage.decode(topic: topic, payload: Array(p.utf8), now: Date())
                } throws: { e in
                    (e as? HubError)?.reason == .malformed
                }
            }
        }
    }

    @Test func geoJSONReaderRefusesDeepNesting() {
        for text in [String(repeating: "[", count: Self.deep), String(repeating: #"{"a":"#, count: Self.deep)] {
            let read = GeoJSONZoneReader.read(Data(text.utf8))
            #expect(read.features.isEmpty)
            #expect(read.problems.contains { $0.message.contains("nested too deeply") })
        }
    }

    /// libyaml (inside Yams) stops at 1000 levels; the config, rules, patrol and scenario readers all go through `ConfigMap`.
    @Test func yamlReadersRefuseDeepNesting() {
        let inputs = [
            String(repeating: "[", count: Self.deep),
            String(repeating: "{a: ", count: Self.deep),
            String(repeating: "- ", count: Self.deep) + "x",
            (0..<1500).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n"),
        ]
        for yaml in inputs {
            #expect(throws: HubError.self) { _ = try ConfigMap.parse(yaml: yaml, file: "deep.yaml") }
            #expect(throws: HubError.self) { _ = try ScenarioParser.parse(yaml: yaml, file: "deep.yaml") }
        }
    }
}

/// Numbers from outside that no date arithmetic survives.
@Suite("Event time bounds")
struct EventTimeBoundTests {
    @Test(arguments: ["1e300", "-1e300", "1e308", "-62135596801", "253402300800"])
    func aFrigateTimeOutsideTheCalendarIsOutOfRange(time: String) {
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z")])
        let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let state = #"{"id":"x","camera":"cam-1","label":"person","top_score":0.9,"score":0.9,"start_time":\#(time),"frame_time":\#(time),"current_zones":["yard"],"entered_zones":["yard"]}"#
        let payload = Array(#"{"type":"new","before":\#(state),"after":\#(state)}"#.utf8)
        #expect {
            _ = try stage.decode(topic: "frigate/events", payload: payload, now: Date())
        } throws: { e in
            (e as? HubError)?.reason == .outOfRange
        }
    }
}
