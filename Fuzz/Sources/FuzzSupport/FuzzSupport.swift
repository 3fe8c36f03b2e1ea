import Foundation
@testable import Alerts

/// What every fuzz target shares: the hub's decode stage as `serve` builds it
/// (default adapters, a registry naming the sources of the seed corpus), and
/// a fixed clock.
public enum Fuzz {
    /// The bytes libFuzzer hands over.
    public static func bytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// Processing time of every decode: 2024-01-02T08:00:00Z, the time of the
    /// adapter fixtures, so that seed events pass the clock-skew check while
    /// mutated times exercise it.
    public static let now = Date(timeIntervalSince1970: 1_704_182_400)

    /// The sources the seeds name, registered so that decoding goes past the
    /// registry check.
    public static let registry = Registry(
        cameras: ["cam-1", "cam-market-01", "gate_north", "front_door", "34020000001320000001", "34020000001180000001"].map {
            CameraRecord(id: $0, name: $0, location: GeoPoint(lat: 31.23, lon: 121.47, crs: .wgs84), zone: nil)
        },
        devices: ["dev-1", "pda-0417"].map { DeviceRecord(id: $0, worker: "w", unit: "u", zone: nil) })

    public static let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())

    /// Decodes through the stage; a `HubError.decode` is the expected way to say no.
    /// Returns the events so that targets can check invariants on them.
    @discardableResult
    public static func decode(topic: String, _ payload: [UInt8]) -> [NormalizedEvent]? {
        do { return try stage.decode(topic: topic, payload: payload, now: now) } catch { return nil }
    }

    /// Invariants of every decoded event: things later stages rely on.
    public static func check(_ events: [NormalizedEvent]?, _ what: String) {
        for e in events ?? [] {
            expect(!e.key.isEmpty, "\(what): empty event key")
            expect(!e.source.isEmpty, "\(what): empty source")
            expect(e.time.timeIntervalSince1970.isFinite, "\(what): time not finite")
            if let c = e.confidence { expect(c.isFinite, "\(what): confidence \(c) not finite") }
            if let l = e.location {
                expect(l.lat.isFinite && l.lon.isFinite, "\(what): location \(l) not finite")
            }
        }
    }

    /// A broken invariant is a finding: abort so that libFuzzer saves the input.
    public static func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() {
            FileHandle.standardError.write(Data("FUZZ INVARIANT BROKEN: \(message())\n".utf8))
            abort()
        }
    }
}
