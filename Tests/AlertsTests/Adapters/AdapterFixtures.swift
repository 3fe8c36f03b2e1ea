import Foundation
import Testing

@testable import Alerts
import TestSupport

/// Loads payload fixtures from `Tests/Fixtures/adapters`.
enum AdapterFixtures {
    static let directory = TestPaths.fixture("adapters")

    /// The `receivedAt` used for every fixture: 2024-01-02T08:00:00Z.
    static let receivedAt = Date(timeIntervalSince1970: 1_704_182_400)

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// The corpus manifest; empty when it cannot be read (a test then fails on the count).
    static let corpus: [CorpusCase] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("corpus.json")),
            let cases = try? JSONDecoder().decode([CorpusCase].self, from: data)
        else { return [] }
        return cases
    }()

    /// An RFC 3339 UTC time for expectations, parsed independently of the adapters' parser.
    static func utc(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Decodes with the default configuration of each adapter.
    static func decode(format: String, topic: String, payload: [UInt8]) throws(HubError) -> [NormalizedEvent] {
        switch format {
        case "frigate": return try FrigateAdapter().decode(topic: topic, payload: payload, receivedAt: receivedAt)
        case "gb28181": return try GB28181Adapter().decode(topic: topic, payload: payload, receivedAt: receivedAt)
        case "onvif": return try ONVIFAdapter().decode(topic: topic, payload: payload, receivedAt: receivedAt)
        case "device": return try DeviceAdapter().decode(topic: topic, payload: payload, receivedAt: receivedAt)
        default: throw HubError.decode(.unknownTopic, "test corpus: unknown format \(format)")
        }
    }

    /// The result of decoding, as a value that `#expect` can compare and print.
    static func outcome(_ body: () throws(HubError) -> [NormalizedEvent]) -> Result<[NormalizedEvent], HubError> {
        do { return .success(try body()) } catch { return .failure(error) }
    }
}

/// One entry of `corpus.json`: a payload, the topic it arrives on, and either the
/// exact events expected or the dead-letter reason.
struct CorpusCase: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var format: String
    var topic: String
    var payload: String
    var events: [ExpectedEvent]?
    var error: String?
    var errorContains: String?

    var testDescription: String { name }
}

/// Every field of a `NormalizedEvent`; absent optional fields are expected to be nil.
struct ExpectedEvent: Decodable, Sendable {
    var key: String
    var kind: String
    var checkpoint: String?
    var method: String?
    var sourceKind: String
    var source: String
    var category: String
    var severity: Int
    /// RFC 3339 UTC (or `epoch`).
    var time: String?
    /// Unix seconds (Frigate).
    var epoch: Double?
    var lat: Double?
    var lon: Double?
    var crs: String?
    var confidence: Double?
    var lifecycle: String?
    var description: String?
    var drill: Bool?
    var format: String
    /// With kind `status`: the camera status (`tampered` …).
    var status: String?
    /// `device` (the default) or `received`.
    var timeSource: String?
    /// The vendor's priority (GB/T 28181 `AlarmPriority`), nil when the format has none.
    var vendorPriority: Int?
}
