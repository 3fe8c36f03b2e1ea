import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// `patrolhub adapters unmapped`, as an installer runs it against the hub's store.
@Suite("Command line: adapters unmapped")
struct AdaptersCLITests {
    /// A store in which the pipeline counted two unmapped ONVIF topics and a Frigate label.
    static func storeWithUnmapped(_ dir: TempDir) throws {
        let store = try DisputeStore(path: dir.file("s.sqlite"))
        // Only registered cameras' inputs are counted (anyone else's could fill the bounded table).
        let registry = Registry(cameras: ["cam-1", "nvr-2", "yard"].map { CameraRecord(id: $0, name: $0, location: nil, zone: "Z-A") })
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") }
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let p = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { at })
        let usage = Array(#"{"UtcTime": "2027-01-15T08:00:00Z", "Data": {"Value": 0.3}}"#.utf8)
        try store.ingest([
            InboxMessage(topic: "patrolhub/v1/onvif/cam-1/tns1:Monitoring/ProcessorUsage", payload: usage, receivedAt: at),
            InboxMessage(topic: "patrolhub/v1/onvif/nvr-2/tns1:Monitoring/ProcessorUsage", payload: usage, receivedAt: at.addingTimeInterval(5)),
            InboxMessage(topic: "patrolhub/v1/onvif/cam-1/tnsvendor:Vendor/Crowd", payload: usage, receivedAt: at),
            InboxMessage(topic: "frigate/events", payload: Array(#"{"type": "new", "after": {"id": "1", "camera": "yard", "label": "goat", "start_time": 1800000000}}"#.utf8), receivedAt: at),
            // Not counted: the camera is not registered.
            InboxMessage(topic: "patrolhub/v1/onvif/stranger/tns1:Junk/Topic", payload: usage, receivedAt: at),
        ])
        try p.processPending(limit: 100)
    }

    @Test func listsTopicsWithCountsLastSeenExampleDeviceAndTheConfigLine() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        try Self.storeWithUnmapped(dir)
        let config = dir.write("hub.yaml", "store:\n  path: s.sqlite\n")
        let (status, text) = try runProcess(try patrolhubExecutable(), ["adapters", "unmapped", "--config", config])
        #expect(status == 0, "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        let usage = try #require(lines.firstIndex { $0.hasSuffix("Monitoring/ProcessorUsage") }, "\(text)")
        #expect(lines[usage].hasPrefix("onvif"))
        #expect(lines[usage].contains("    2  2027-01-15 16:00:05 +08:00") && lines[usage].contains("nvr-2"), "\(lines[usage])")
        #expect(lines[usage + 1].contains(#"adapters: {onvif: {topics: {"Monitoring/ProcessorUsage": CATEGORY}}}"#))
        #expect(lines.contains { $0.hasPrefix("frigate") && $0.hasSuffix("goat") })
        #expect(lines.contains { $0.hasSuffix("Vendor/Crowd") })

        let (jsonStatus, json) = try runProcess(try patrolhubExecutable(), ["adapters", "unmapped", "--config", config, "--json"])
        #expect(jsonStatus == 0, "\(json)")
        let parsed = try JSONParser.parse(json.trimmingCharacters(in: .whitespacesAndNewlines))
        guard case .array(let rows)? = parsed["unmapped"] else {
            Issue.record("no unmapped list in \(json)")
            return
        }
        #expect(rows.count == 3)
        #expect(rows.first?["name"] == .string("Monitoring/ProcessorUsage"))
        #expect(rows.first?["count"] == .number(2))
        #expect(rows.first?["example_device"] == .string("nvr-2"))
        #expect(rows.first?["last_seen"] == .string("2027-01-15T08:00:05.000Z"))
        #expect(rows.first?["format"] == .string("onvif"))

        let (_, statusText) = try runProcess(try patrolhubExecutable(), ["status", "--config", config])
        #expect(statusText.contains("unmapped      4 messages (frigate 1, onvif 3)"), "\(statusText)")
    }

    @Test func aLabelWithControlCharactersIsPrintedEscaped() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try DisputeStore(path: dir.file("s.sqlite"))
        let registry = Registry(cameras: [CameraRecord(id: "yard", name: "yard", location: nil, zone: "Z-A")])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let p = try PipelineProcessor(store: store, decode: decode, engine: RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") },
                                      outputPrefix: "patrolhub/v1", clock: { Date(timeIntervalSince1970: 1_800_000_000) })
        let label = #"goat\u001b[2J\u001b[31m\nfrigate   99999  forged line"#
        try store.ingest([InboxMessage(topic: "frigate/events",
                                       payload: Array(#"{"type": "new", "after": {"id": "1", "camera": "yard", "label": "\#(label)", "start_time": 1800000000}}"#.utf8),
                                       receivedAt: Date(timeIntervalSince1970: 1_800_000_000))])
        try p.processPending(limit: 10)
        let (status, text) = try runProcess(try patrolhubExecutable(), ["adapters", "unmapped", "--store", dir.file("s.sqlite")])
        #expect(status == 0, "\(text)")
        #expect(!text.unicodeScalars.contains("\u{1B}"), "\(text)")
        #expect(text.contains(#"goat\u{1b}[2J\u{1b}[31m\u{a}frigate   99999  forged line"#), "\(text)")
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("frigate   99999") })
    }

    @Test func anEmptyStoreSaysSoAndAMissingStoreFails() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = try DisputeStore(path: dir.file("s.sqlite"))
        let config = dir.write("hub.yaml", "store:\n  path: s.sqlite\n")
        let (status, text) = try runProcess(try patrolhubExecutable(), ["adapters", "unmapped", "--config", config])
        #expect(status == 0)
        #expect(text.contains("no unmapped inputs"))
        let missing = dir.write("other.yaml", "store:\n  path: none.sqlite\n")
        let (failed, message) = try runProcess(try patrolhubExecutable(), ["adapters", "unmapped", "--config", missing])
        #expect(failed != 0)
        #expect(message.contains("no store at"))
    }
}
