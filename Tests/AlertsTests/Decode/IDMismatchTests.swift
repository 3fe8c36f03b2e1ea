import Foundation
import Testing
@testable import Alerts

/// A payload whose own id fields name another source than its topic is
/// dead-lettered as `id_mismatch`; payloads that only look different (an
/// NVR forwarding its channels, a camera's own channel id) are not.
@Suite("Topic vs payload ids")
struct IDMismatchTests {
    static let registry = Registry(
        cameras: [CameraRecord(id: "cam-001", name: "a", location: nil, zone: "Z-A"),
                  CameraRecord(id: "cam-002", name: "b", location: nil, zone: "Z-A"),
                  CameraRecord(id: "34020000001320000001", name: "ipc", location: nil, zone: "Z-A"),
                  CameraRecord(id: "34020000001320000002", name: "ipc", location: nil, zone: "Z-A"),
                  CameraRecord(id: "34020000001180000001", name: "an NVR also registered as a camera", location: nil, zone: "Z-A")],
        devices: [DeviceRecord(id: "dev-007", worker: "w", unit: "u", zone: "Z-A"),
                  DeviceRecord(id: "dev-008", worker: "w", unit: "u", zone: "Z-A")])
    static let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static var time: String { now.rfc3339 }

    static func decode(_ topic: String, _ payload: String) -> Result<[NormalizedEvent], HubError> {
        do {
            return .success(try stage.decode(topic: topic, payload: Array(payload.utf8), now: now))
        } catch {
            return .failure(error)
        }
    }

    static func mismatch(_ topic: String, _ payload: String) -> HubError? {
        if case .failure(let e) = decode(topic, payload), e.reason == .idMismatch { return e }
        return nil
    }

    @Test func aDevicePayloadNamingAnotherDeviceIsRefused() throws {
        let topic = "patrolhub/v1/device/dev-007/sos"
        let e = try #require(Self.mismatch(topic, #"{"id":"s1","time":"\#(Self.time)","device_id":"dev-008"}"#))
        #expect(e.detail.contains("field 'device_id' names device \"dev-008\" but the topic is device \"dev-007\""))
        #expect(Self.mismatch("patrolhub/v1/device/dev-007/report", #"{"id":"r1","category":"dispute","time":"\#(Self.time)","device":"dev-008"}"#) != nil)
        #expect(Self.mismatch("patrolhub/v1/device/dev-007/checkin", #"{"id":"c1","checkpoint":"cp","time":"\#(Self.time)","device_id":"dev-008"}"#) != nil)
        // Its own id, or no id field, or a `device` object describing the hardware: accepted.
        for ok in [#"{"id":"s1","time":"\#(Self.time)","device_id":"dev-007"}"#, #"{"id":"s2","time":"\#(Self.time)"}"#,
                   #"{"id":"s3","time":"\#(Self.time)","device":{"battery":80}}"#] {
            guard case .success(let events) = Self.decode(topic, ok) else { Issue.record("refused: \(ok)"); continue }
            #expect(events.map(\.source) == ["dev-007"])
        }
    }

    @Test func aCameraPayloadNamingAnotherCameraIsRefused() throws {
        #expect(Self.mismatch("patrolhub/v1/camera/cam-001/event", #"{"id":"e1","type":"fight","time":"\#(Self.time)","camera_id":"cam-002"}"#) != nil)
        #expect(Self.mismatch("patrolhub/v1/camera/cam-001/status", #"{"status":"offline","time":"\#(Self.time)","camera":"cam-002"}"#) != nil)
        guard case .success(let ok) = Self.decode("patrolhub/v1/camera/cam-001/event", #"{"id":"e1","type":"fight","time":"\#(Self.time)","camera_id":"cam-001"}"#) else {
            Issue.record("its own id refused"); return
        }
        #expect(ok.map(\.source) == ["cam-001"])
    }

    static func gb(_ deviceID: String) -> String {
        """
        <?xml version="1.0" encoding="GB2312"?>
        <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>\(deviceID)</DeviceID><AlarmPriority>2</AlarmPriority>\
        <AlarmMethod>5</AlarmMethod><AlarmTime>2027-01-15T08:00:00</AlarmTime><Info><AlarmType>2</AlarmType></Info></Notify>
        """
    }

    @Test func aCameraCannotRaiseAnotherCamerasGBAlarm() throws {
        let e = try #require(Self.mismatch("patrolhub/v1/gb28181/cam-001/alarm", Self.gb("cam-002")))
        #expect(e.detail.contains("a camera publishes only its own alarms"))
        // Two IPCs (type 132) are both leaves: one cannot speak for the other.
        #expect(Self.mismatch("patrolhub/v1/gb28181/34020000001320000001/alarm", Self.gb("34020000001320000002")) != nil)
    }

    @Test func forwardersAndOwnChannelsStillDecode() throws {
        let cases: [(topic: String, deviceID: String, source: String)] = [
            // An NVR (type 118) forwards its channels' alarms, even when the NVR itself is registered as a camera.
            ("patrolhub/v1/gb28181/34020000001180000001/alarm", "34020000001320000001", "34020000001320000001"),
            // A gateway or platform that is not registered.
            ("patrolhub/v1/gb28181/sim-gw/alarm", "cam-002", "cam-002"),
            ("patrolhub/v1/gb28181/34020000002000000001/alarm", "cam-001", "cam-001"),
            // A camera naming itself, and a camera whose channel id is not registered (falls back to the topic).
            ("patrolhub/v1/gb28181/cam-001/alarm", "cam-001", "cam-001"),
            ("patrolhub/v1/gb28181/34020000001320000001/alarm", "34020000001310000001", "34020000001320000001"),
        ]
        for c in cases {
            guard case .success(let events) = Self.decode(c.topic, Self.gb(c.deviceID)) else {
                Issue.record("refused: \(c.topic) DeviceID \(c.deviceID): \(Self.decode(c.topic, Self.gb(c.deviceID)))")
                continue
            }
            #expect(events.map(\.source) == [c.source], "\(c.topic)")
        }
    }

    @Test func gbForwarderTypeCodes() {
        #expect(GBIdentifier.isForwarder("34020000001180000001")) // NVR
        #expect(GBIdentifier.isForwarder("34020000001110000001")) // DVR
        #expect(GBIdentifier.isForwarder("34020000002000000001")) // SIP server / platform
        #expect(GBIdentifier.isForwarder("34020000002160000001")) // virtual organisation
        #expect(!GBIdentifier.isForwarder("34020000001320000001")) // IPC
        #expect(!GBIdentifier.isForwarder("34020000001310000001")) // camera
        #expect(!GBIdentifier.isForwarder("3402000000118000000"))  // 19 digits
        #expect(!GBIdentifier.isForwarder("cam-001"))
    }
}

/// The public GB/T 28181 payloads of /work/shared/realworld (skipped when that
/// folder is absent): under a forwarder's topic or their own, none is an `id_mismatch`.
@Suite("Topic vs payload ids: real GB/T 28181 payloads")
struct IDMismatchRealWorldTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/realworld/gb28181").path

    @Test func realAlarmsAreNeverIDMismatches() throws {
        let dir = FileManager.default.fileExists(atPath: Self.folder) ? Self.folder : "/work/shared/realworld/gb28181"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir), !names.isEmpty else { return } // no corpus here
        var payloads: [(name: String, bytes: [UInt8], deviceID: String)] = []
        for name in names.sorted() where name.hasSuffix(".xml") {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name))))
            let text = String(decoding: bytes, as: UTF8.self)
            guard let start = text.range(of: "<DeviceID>"), let end = text.range(of: "</DeviceID>", range: start.upperBound..<text.endIndex) else { continue }
            payloads.append((name, bytes, String(text[start.upperBound..<end.lowerBound])))
        }
        #expect(!payloads.isEmpty)
        // Every DeviceID a registered camera, and the NVR too (registered as a camera: the worst case).
        let ids = Set(payloads.map(\.deviceID) + ["34020000001180000001"])
        let registry = Registry(cameras: ids.sorted().map { CameraRecord(id: $0, name: $0, location: nil, zone: "Z") })
        let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        for p in payloads {
            for topicID in ["34020000001180000001", p.deviceID, "wvp-platform"] {
                do {
                    _ = try stage.decode(topic: "patrolhub/v1/gb28181/\(topicID)/alarm", payload: p.bytes, now: Date())
                } catch {
                    #expect(error.reason != .idMismatch, "\(p.name) via \(topicID): \(error)")
                }
            }
        }
    }
}
