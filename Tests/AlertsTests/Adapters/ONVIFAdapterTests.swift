import Foundation
import Testing

@testable import Alerts

@Suite("ONVIF adapter")
struct ONVIFAdapterTests {
    private let topic = "patrolhub/v1/onvif/cam-market-01/tns1:RuleEngine/FieldDetector/ObjectsInside"

    private func payload(_ time: String, _ operation: String, inside: Bool) -> [UInt8] {
        Array(
            """
            {"UtcTime":"\(time)","PropertyOperation":"\(operation)",\
            "Source":{"VideoSourceConfigurationToken":"VST","Rule":"Fence"},"Data":{"IsInside":"\(inside)"}}
            """.utf8)
    }

    @Test("a property's life folds into one lifecycle: the false snapshot ends it (never raises), then detection, end")
    func propertyLifecycle() throws {
        let adapter = ONVIFAdapter()
        let sequence = [
            payload("2024-01-02T07:00:00Z", "Initialized", inside: false),
            payload("2024-01-02T07:01:00Z", "Changed", inside: true),
            payload("2024-01-02T07:02:00Z", "Changed", inside: false),
            payload("2024-01-02T07:03:00Z", "Changed", inside: true),
            payload("2024-01-02T07:04:00Z", "Deleted", inside: false),
        ]
        let decoded = try sequence.map { try adapter.decode(topic: topic, payload: $0, receivedAt: .now) }
        #expect(decoded.map(\.count) == [1, 1, 1, 1, 1])
        let events = decoded.flatMap { $0 }
        #expect(events.map(\.kind) == [.end, .detection, .end, .detection, .end])
        #expect(
            Set(events.map(\.lifecycle))
                == ["onvif:cam-market-01:RuleEngine/FieldDetector/ObjectsInside|Rule=Fence,VideoSourceConfigurationToken=VST"])
        #expect(Set(events.map(\.key)).count == 5)
    }

    @Test("keys spelled otherwise (utctime, UTCTIME) read as the canonical ones, the canonical spelling winning; thousands of other keys change nothing")
    func keysInOtherSpellings() throws {
        let adapter = ONVIFAdapter()
        let canonical = try adapter.decode(topic: topic, payload: payload("2024-01-02T07:01:00Z", "Changed", inside: true), receivedAt: .now)
        // The same message with its keys spelled otherwise, behind 20 000 keys of no meaning
        // (read in one pass: a payload within the size limit decodes in the time of its size).
        let filler = (0..<20_000).map { #""k\#($0)":0"# }.joined(separator: ",")
        let spelled = Array(#"{\#(filler),"utctime":"2024-01-02T07:01:00Z","PROPERTYOPERATION":"Changed","source":{"VideoSourceConfigurationToken":"VST","Rule":"Fence"},"data":{"IsInside":"true"}}"#.utf8)
        let other = try adapter.decode(topic: topic, payload: spelled, receivedAt: .now)
        #expect(other.map(\.kind) == canonical.map(\.kind))
        #expect(other.map(\.time) == canonical.map(\.time))
        #expect(other.map(\.lifecycle) == canonical.map(\.lifecycle))
        // Both spellings present: the canonical one is read.
        let both = Array(#"{"utctime":"2030-01-01T00:00:00Z","UtcTime":"2024-01-02T07:01:00Z","PropertyOperation":"Changed","Data":{"IsInside":"true"}}"#.utf8)
        #expect(try adapter.decode(topic: topic, payload: both, receivedAt: .now).map(\.time) == canonical.map(\.time))
    }

    @Test("the same message twice has the same key; object and list forms share a lifecycle")
    func stableKeys() throws {
        let adapter = ONVIFAdapter()
        let message = payload("2024-01-02T07:01:00Z", "Changed", inside: true)
        let first = try adapter.decode(topic: topic, payload: message, receivedAt: .now)
        let again = try adapter.decode(topic: topic, payload: message, receivedAt: .now.addingTimeInterval(5))
        #expect(first == again)

        let list = Array(
            """
            {"UtcTime":"2024-01-02T07:02:00Z","PropertyOperation":"Changed",\
            "Source":[{"Name":"Rule","Value":"Fence"},{"Name":"VideoSourceConfigurationToken","Value":"VST"}],\
            "Data":[{"Name":"IsInside","Value":false}]}
            """.utf8)
        let end = try adapter.decode(topic: topic, payload: list, receivedAt: .now)
        #expect(end.map(\.kind) == [.end])
        #expect(end.first?.lifecycle == first.first?.lifecycle)
    }

    @Test("the longest matching pattern wins; custom rules and severities apply")
    func mappingMatch() throws {
        var rules = ONVIFMapping.defaultRules
        rules.append(.init(pattern: "VideoSource", category: .motion))
        rules.append(.init(pattern: "tnsvendor:Vendor/Smoke", category: .fireSmoke, stateItem: "Alarm", severity: .major))
        let mapping = ONVIFMapping(rules: rules)
        #expect(mapping.rule(forTopic: "tns1:VideoSource/ImageTooDark/ImagingService")?.category == .cameraDegraded)
        #expect(mapping.rule(forTopic: "tns1:VideoSource/Other")?.category == .motion)
        #expect(mapping.rule(forTopic: "tns1:Monitoring/ProcessorUsage") == nil)
        #expect(ONVIFMapping().rule(forTopic: "tns1:RuleEngine/ObjectAbandoned/Detected")?.category == .leftObject)

        let adapter = ONVIFAdapter(mapping: mapping)
        let events = try adapter.decode(
            topic: "patrolhub/v1/onvif/cam-market-01/tnsvendor:Vendor/Smoke",
            payload: Array(#"{"UtcTime":"2024-01-02T07:01:00Z","Data":{"Alarm":"1","Level":"true"}}"#.utf8),
            receivedAt: .now)
        #expect(events.map(\.category) == [.fireSmoke])
        #expect(events.map(\.severity) == [.major])
        #expect(events.map(\.kind) == [.detection])
    }

    @Test("unknown devices are dead-lettered; topics without an ONVIF tail are not ONVIF topics")
    func sourcesAndTopics() throws {
        let strict = ONVIFAdapter(resolver: .table(["cam-market-02": "CAM-2"]))
        #expect(throws: HubError.decode(.unknownSource, "ONVIF device \"cam-market-01\" is not registered")) {
            try strict.decode(topic: topic, payload: payload("2024-01-02T07:01:00Z", "Changed", inside: true), receivedAt: .now)
        }
        #expect(
            try strict.decode(
                topic: "patrolhub/v1/onvif/cam-market-01/tns1:Monitoring/ProcessorUsage",
                payload: AdapterFixtures.bytes("onvif-processor-usage.json"), receivedAt: .now
            ).isEmpty)
        #expect(throws: HubError.self) {
            try ONVIFAdapter().decode(topic: "patrolhub/v1/onvif/cam-market-01", payload: [], receivedAt: .now)
        }
        let otherPrefix = ONVIFAdapter(options: AdapterOptions(topicPrefix: "lhasa/chengguan/"))
        let events = try otherPrefix.decode(
            topic: "lhasa/chengguan/onvif/cam-market-01/tns1:RuleEngine/FieldDetector/ObjectsInside",
            payload: payload("2024-01-02T07:01:00Z", "Changed", inside: true), receivedAt: .now)
        #expect(events.count == 1)
    }
}
