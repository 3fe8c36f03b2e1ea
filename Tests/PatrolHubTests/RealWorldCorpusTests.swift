import Alerts
import Foundation
@testable import Simulation
import Testing
@testable import PatrolHub

/// The reference corpus (`PATROLHUB_REALWORLD_DIR`, else `../shared/realworld` beside the repository), if present.
let realWorldCorpus: URL? = {
    let env = ProcessInfo.processInfo.environment["PATROLHUB_REALWORLD_DIR"].map { URL(fileURLWithPath: $0) }
    let sibling = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/realworld")
    for candidate in [env, sibling].compactMap({ $0 })
    where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("README.md").path) {
        return candidate
    }
    return nil
}()

/// The team's reference corpus of payloads that real software publishes
/// (Frigate's documentation, wvp-GB28181-pro's tests and cascades, the ONVIF
/// specification's examples), run through a real hub over a real broker.
/// Each scenario gets a fresh hub and store, so the corpus's old event times
/// (2008…2020) never make one another late. The corpus is not part of the
/// repository: the suite runs when `../shared/realworld` (or
/// `PATROLHUB_REALWORLD_DIR`) exists and is skipped otherwise. The repository's
/// own fixtures in the same shapes are in the adapter and field-fidelity tests.
@Suite("Reference corpus of real payloads through a real hub", .serialized, .enabled(if: realWorldCorpus != nil))
struct RealWorldCorpusTests {
    /// The foreign names in the corpus, mapped to registered cameras as the README tells an installer
    /// to (`adapters.camera_ids` in rules.yaml); otherwise the sample rules' defaults.
    static let rulesYAML = """
        adapters:
          camera_ids:
            front_door: cam-001              # Frigate cameras
            cam-testdrive: cam-003
            "55123456781381000010": cam-002  # GB/T 28181 DeviceIDs
            "34020000001320000001": cam-003
            "31010000001340000001": cam-001
            MyDevice: cam-002                # ONVIF device
        """

    /// One risk item as the scenario expects it.
    struct Item: Equatable, CustomStringConvertible {
        var source: String
        var category: Category
        var severity: Int
        var state: RiskItem.State
        var description: String { "\(source) \(category.rawValue) sev \(severity) \(state.rawValue)" }
    }

    struct Scenario: CustomStringConvertible, Sendable {
        var name: String
        /// (file in the corpus, topic); a file may be published more than once.
        var messages: [(file: String, topic: String)]
        var items: [Item]
        var slips: Int
        var cases: Int
        /// Inputs no rule maps, counted for `patrolhub adapters unmapped`: "format name count".
        var unmapped: [String] = []
        var description: String { name }
    }

    static let gb = "patrolhub/v1/gb28181"
    static let onvif = "patrolhub/v1/onvif/MyDevice"

    static let scenarios: [Scenario] = [
        Scenario(name: "F01 Frigate 0.11 update of a person already in zones → one intrusion, open",
                 messages: [("frigate/F01-docs-v0.11-update-person.json", "frigate/events")],
                 items: [Item(source: "cam-001", category: .intrusion, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "F02 Frigate 0.13 sub_label as [name, score] → one intrusion, open",
                 messages: [("frigate/F02-docs-v0.13-update-person-sublabel-list.json", "frigate/events")],
                 items: [Item(source: "cam-001", category: .intrusion, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "F03 Frigate 0.16 snapshot object and plate → one intrusion, open; repeated, still one",
                 messages: [("frigate/F03-docs-v0.16-update-person-lpr-snapshot.json", "frigate/events"),
                            ("frigate/F03-docs-v0.16-update-person-lpr-snapshot.json", "frigate/events")],
                 items: [Item(source: "cam-001", category: .intrusion, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "F10 a label no rule maps (goat) → nothing but a count for `adapters unmapped`",
                 messages: [("frigate/F10-mqttwarn-example-new-goat-unmapped-label.json", "frigate/events")],
                 items: [], slips: 0, cases: 0, unmapped: ["frigate goat 1"]),
        Scenario(name: "G02 'other' alarm (method 7) at priority 1, no CmdType, coordinates 0.0 → severity 1: a warning slip at once and a case",
                 messages: [("gb28181/G02-wvp-test-method7-no-cmdtype.xml", "\(gb)/55123456781381000010/alarm")],
                 items: [Item(source: "cam-002", category: .other, severity: 1, state: .open)], slips: 1, cases: 1),
        Scenario(name: "G03 video loss without CmdType → the camera's health item",
                 messages: [("gb28181/G03-wvp-test-method2-videoloss-notify-level-alarmtype.xml", "\(gb)/34020000001320000001/alarm")],
                 items: [Item(source: "cam-003", category: .cameraOffline, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "G03b video loss → the camera's health item, not a detection",
                 messages: [("gb28181/G03b-wvp-test-method2-videoloss-plus-cmdtype.xml", "\(gb)/34020000001320000001/alarm")],
                 items: [Item(source: "cam-003", category: .cameraOffline, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "G04 motion (Info/AlarmType 2 over the Notify-level 9) at priority 1 → severity 4, no slip",
                 messages: [("gb28181/G04-wvp-test-method5-info-alarmtype-overrides.xml", "\(gb)/34020000001320000001/alarm")],
                 items: [Item(source: "cam-003", category: .motion, severity: 4, state: .open)], slips: 0, cases: 0),
        Scenario(name: "G04b motion at priority 1 → severity 4, no slip, no case",
                 messages: [("gb28181/G04b-wvp-test-method5-info-alarmtype-plus-cmdtype.xml", "\(gb)/34020000001320000001/alarm")],
                 items: [Item(source: "cam-003", category: .motion, severity: 4, state: .open)], slips: 0, cases: 0),
        Scenario(name: "G08 wvp cascade with 'null' values, GB2312 → a device alarm (other, priority 4)",
                 messages: [("gb28181/G08-wvp-cascade-of-G07-alarmtype-null.xml", "\(gb)/31010000001340000001/alarm")],
                 items: [Item(source: "cam-001", category: .other, severity: 4, state: .open)], slips: 0, cases: 0),
        Scenario(name: "O01 ONVIF line crossed (one-shot) → one tripwire",
                 messages: [("onvif/O01-spec-onvif-ej-linedetector-crossed.json", "\(onvif)/RuleEngine/LineDetector/Crossed")],
                 items: [Item(source: "cam-002", category: .tripwire, severity: 3, state: .open)], slips: 0, cases: 0),
        Scenario(name: "O02 ONVIF temperature sensor (housekeeping) → nothing",
                 messages: [("onvif/O02-spec-onvif-ej-sensor-temperature-high.json", "\(onvif)/tns1:Device/tns1:Sensor/Temperature/High")],
                 items: [], slips: 0, cases: 0, unmapped: ["onvif Device/Sensor/Temperature/High 1"]),
        Scenario(name: "O01 and O02 on the ONVIF event broker's own topics (onvif-ej, '&' source values) → one tripwire; the sensor counted once",
                 messages: [("onvif/O01-spec-onvif-ej-linedetector-crossed.json", "\(onvif)/onvif-ej/RuleEngine/LineDetector/Crossed/&1/2/MyImportantFence1"),
                            ("onvif/O02-spec-onvif-ej-sensor-temperature-high.json", "\(onvif)/onvif-ej/Device/Sensor/Temperature/High/&temp_001")],
                 items: [Item(source: "cam-002", category: .tripwire, severity: 3, state: .open)], slips: 0, cases: 0,
                 unmapped: ["onvif Device/Sensor/Temperature/High 1"]),
        Scenario(name: "O03 ObjectsInside false, true, then deleted (zero bytes) → one intrusion, closed",
                 messages: [("onvif/O03a-spec-objectsinside-initialized-false.json", "\(onvif)/tns1:RuleEngine/FieldDetector/ObjectsInside"),
                            ("onvif/O03b-spec-objectsinside-changed-true.json", "\(onvif)/tns1:RuleEngine/FieldDetector/ObjectsInside"),
                            ("onvif/O03c-spec-objectsinside-deleted-zero-byte.json", "\(onvif)/tns1:RuleEngine/FieldDetector/ObjectsInside")],
                 items: [Item(source: "cam-002", category: .intrusion, severity: 3, state: .closed)], slips: 0, cases: 0),
        Scenario(name: "O04 ONVIF cell motion (UtcTime without offset) → motion, severity 4",
                 messages: [("onvif/O04-spec-cellmotiondetector-motion.json", "\(onvif)/tns1:RuleEngine/CellMotionDetector/Motion")],
                 items: [Item(source: "cam-002", category: .motion, severity: 4, state: .open)], slips: 0, cases: 0),
    ]

    @Test(arguments: scenarios)
    func scenario(_ s: Scenario) async throws {
        let root = try #require(realWorldCorpus)
        let messages = try s.messages.map { m in
            (m.topic, [UInt8](try Data(contentsOf: root.appendingPathComponent(m.file))))
        }
        let dir = TempDir()
        defer { dir.cleanup() }
        let rules = dir.write("rules.yaml", Self.rulesYAML)
        try await withLiveHub(configure: { $0.rulesFile = rules }) { _, hub, pub in
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)
            try await waitUntil("outcomes published") { try hub.store.outbox(limit: 10).isEmpty }
            let status = try hub.store.status()
            let deadLetters = try hub.store.deadLetters()
            #expect(status.deadLetters == [:], "\(deadLetters)")
            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
                .map { Item(source: $0.source, category: $0.category, severity: $0.severity.rawValue, state: $0.state) }
            #expect(items == s.items)
            #expect(status.slipsTotal == s.slips)
            #expect(status.casesTotal == s.cases)
            #expect(try hub.store.unmappedInputs().map { "\($0.format) \($0.name) \($0.count)" } == s.unmapped)
        }
    }

    @Test("every file of the corpus is run by a scenario")
    func everyFileIsCovered() throws {
        let root = try #require(realWorldCorpus)
        var files: Set<String> = []
        for dir in ["frigate", "gb28181", "onvif"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(dir).path) {
                files.insert("\(dir)/\(name)")
            }
        }
        let covered = Set(Self.scenarios.flatMap { $0.messages.map(\.file) })
        #expect(files.subtracting(covered).sorted() == [])
    }
}
