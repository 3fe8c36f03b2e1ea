@testable import AlertsStore
import Foundation
import Testing
@testable import Alerts

/// The ONVIF files of the reference corpus (`../shared/realworld/onvif`, beside
/// the repository; not copied into it) through the decode stage, the engine and
/// the store, with the outcomes its README gives. Skipped when the folder is absent.
@Suite("Reference corpus: ONVIF", .enabled(if: realWorldONVIFFolder != nil))
struct RealWorldONVIFTests {
    @Test("line crossed: one tripwire; temperature: nothing, counted unmapped; ObjectsInside: one intrusion, closed; cell motion: motion")
    func corpusOutcomes() throws {
        let dir = try #require(realWorldONVIFFolder)
        // The topics the README names, under the hub's ONVIF prefix; MyDevice is the camera's ONVIF name.
        let files: [(String, String)] = [
            ("O01-spec-onvif-ej-linedetector-crossed.json", "MyDevice/onvif-ej/RuleEngine/LineDetector/Crossed/&1/2/MyImportantFence1"),
            ("O02-spec-onvif-ej-sensor-temperature-high.json", "MyDevice/onvif-ej/Device/Sensor/Temperature/High"),
            ("O03a-spec-objectsinside-initialized-false.json", "MyDevice/tns1:RuleEngine/FieldDetector/ObjectsInside"),
            ("O03b-spec-objectsinside-changed-true.json", "MyDevice/tns1:RuleEngine/FieldDetector/ObjectsInside"),
            ("O03c-spec-objectsinside-deleted-zero-byte.json", "MyDevice/tns1:RuleEngine/FieldDetector/ObjectsInside"),
            ("O04-spec-cellmotiondetector-motion.json", "MyDevice/tns1:RuleEngine/CellMotionDetector/Motion"),
        ]
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let store = try DisputeStore.inMemory()
        var adapters = AdapterRules()
        adapters.cameraIDs = ["MyDevice": "cam-1"]
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A")])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: adapters)
        let engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-A") }
        let p = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { now })
        for (file, topic) in files {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(file)))
            try store.ingest([InboxMessage(topic: "patrolhub/v1/onvif/\(topic)", payload: bytes, receivedAt: now)])
            try p.processPending(limit: 10)
        }
        let status = try store.status()
        let dead = try store.deadLetters()
        #expect(status.deadLettersTotal == 0, "\(dead)")
        let items = try store.riskItems().sorted { $0.id < $1.id }.map { "\($0.category.rawValue) \($0.state.rawValue) \($0.occurrences)" }
        #expect(items == ["tripwire open 1", "intrusion closed 1", "motion open 1"])
        #expect(try store.unmappedInputs().map { "\($0.name) \($0.count)" } == ["Device/Sensor/Temperature/High 1"])
    }
}

/// `../shared/realworld/onvif` beside the repository, nil when absent.
let realWorldONVIFFolder: URL? = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/realworld/onvif", isDirectory: true)
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}()
