import Foundation
@testable import Simulation
import Testing

@testable import Alerts

/// Replays the fuzz seed corpora (`Fuzz/Corpus/TARGET/`, which also keeps every
/// input a fuzz run found) through the same entry points as the fuzz targets in
/// `Fuzz/Sources`, so the normal suite (and its AddressSanitizer run) proves
/// each of them is answered with a result or an error, never a trap.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus", isDirectory: true)

    static let now = Date(timeIntervalSince1970: 1_704_182_400)
    static let stage = DecodeStage(
        router: TopicRouter(),
        registry: Registry(
            cameras: ["cam-1", "cam-market-01", "gate_north", "front_door", "34020000001320000001", "34020000001180000001"].map {
                CameraRecord(id: $0, name: $0, location: nil, zone: nil)
            },
            devices: ["dev-1", "pda-0417"].map { DeviceRecord(id: $0, worker: "w", unit: "u", zone: nil) }),
        timeParser: TimeParser())

    /// The inputs of one target's corpus, by file name.
    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let dir = corpus.appendingPathComponent(target, isDirectory: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }

    /// Decodes through the stage: events or a dead-letter reason.
    static func decode(_ topic: String, _ payload: [UInt8]) -> Result<[NormalizedEvent], HubError> {
        do { return .success(try stage.decode(topic: topic, payload: payload, now: now)) } catch { return .failure(error) }
    }

    @Test(arguments: ["FuzzNativeCamera", "FuzzDevice", "FuzzFrigate", "FuzzGB28181", "FuzzONVIF", "FuzzGeoJSON", "FuzzScenario", "FuzzConfig"])
    func everyCorpusHasSeeds(target: String) throws {
        #expect(try Self.inputs(target).count >= 3)
    }

    @Test func nativeCameraInputs() throws {
        var accepted = 0
        for (name, bytes) in try Self.inputs("FuzzNativeCamera") {
            if case .success = Self.decode("patrolhub/v1/camera/cam-1/event", bytes) { accepted += 1 }
            if case .success = Self.decode("patrolhub/v1/camera/cam-1/status", bytes) { accepted += 1 }
            // Where the fast path answers, the general path answers the same.
            if let fast = Self.stage.camera.fastEvent(camera: "cam-1", payload: bytes) {
                #expect((try? Self.stage.camera.generalEvent(camera: "cam-1", payload: bytes)) == fast, "\(name)")
            }
        }
        #expect(accepted >= 3)
    }

    @Test func deviceInputs() throws {
        var accepted = 0
        for (_, bytes) in try Self.inputs("FuzzDevice") {
            for kind in ["checkin", "report", "sos"] {
                if case .success = Self.decode("patrolhub/v1/device/pda-0417/\(kind)", bytes) { accepted += 1 }
            }
        }
        #expect(accepted >= 3)
    }

    @Test func frigateInputs() throws {
        var accepted = 0
        for (_, bytes) in try Self.inputs("FuzzFrigate") {
            if case .success(let events) = Self.decode("frigate/events", bytes), !events.isEmpty { accepted += 1 }
        }
        #expect(accepted >= 3)
    }

    @Test func gb28181Inputs() throws {
        var accepted = 0
        for (_, bytes) in try Self.inputs("FuzzGB28181") {
            if case .success(let events) = Self.decode("patrolhub/v1/gb28181/34020000001180000001/alarm", bytes), !events.isEmpty { accepted += 1 }
            _ = try? GB28181Adapter().decode(topic: "patrolhub/v1/gb28181/34020000001180000001/alarm", payload: bytes, receivedAt: Self.now)
        }
        #expect(accepted >= 3)
    }

    /// ONVIF inputs are `ONVIF-TOPIC\nPAYLOAD`, as the fuzz target reads them.
    @Test func onvifInputs() throws {
        var accepted = 0
        for (_, input) in try Self.inputs("FuzzONVIF") {
            var onvifTopic = "tns1:RuleEngine/CellMotionDetector/Motion", payload = input
            if let nl = input.firstIndex(of: 0x0A), nl <= 200 {
                onvifTopic = String(decoding: input[..<nl], as: UTF8.self)
                payload = Array(input[(nl + 1)...])
            }
            if case .success(let events) = Self.decode("patrolhub/v1/onvif/cam-market-01/" + onvifTopic, payload), !events.isEmpty {
                accepted += 1
            }
        }
        #expect(accepted >= 3)
    }

    @Test func geoJSONInputs() throws {
        var valid = 0
        for (_, bytes) in try Self.inputs("FuzzGeoJSON") {
            if (try? ZoneFile.load(Data(bytes))) != nil { valid += 1 }
        }
        #expect(valid >= 1)
    }

    @Test func scenarioInputs() throws {
        var valid = 0
        for (_, bytes) in try Self.inputs("FuzzScenario") {
            guard let text = String(bytes: bytes, encoding: .utf8) else { continue }
            if (try? ScenarioParser.parse(yaml: text, file: "fuzz.yaml")) != nil { valid += 1 }
        }
        #expect(valid >= 3)
    }

    @Test func configInputs() throws {
        var valid = 0
        for (_, bytes) in try Self.inputs("FuzzConfig") {
            guard let text = String(bytes: bytes, encoding: .utf8) else { continue }
            let file = "/etc/patrolhub/fuzz.yaml"
            if let root = try? ConfigMap.parse(yaml: text, file: file), (try? HubConfig.parse(root, file: file)) != nil { valid += 1 }
            if let root = try? ConfigMap.parse(yaml: text, file: file), (try? RuleSet.parse(root)) != nil { valid += 1 }
        }
        #expect(valid >= 2)
    }
}
