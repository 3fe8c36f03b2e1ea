import Foundation
import Testing
@testable import Alerts
@testable import AlertsStore
@testable import PatrolHubHTTP

/// The `Codable` bodies against the JSON the store's types write for the
/// stream and the output topics: the same fields, the same values.
@Suite("Response shapes")
struct ResponseShapeTests {
    func encoded(_ value: some Encodable) throws -> JSONValue {
        try JSONParser.parse(Array(try APIEncoding.buffer(value).readableBytesView))
    }

    @Test("a zone encodes as ZoneSummary.json, with and without its geometry, with and without counts")
    func zone() throws {
        let shape = JSONValue.object(["type": .string("Point"), "coordinates": .array([.number(113.5), .number(22.25)])])
        var counted = ZoneSummary(code: "G-1", name: "网格 1", level: "grid", parent: "C-1", unit: nil, worker: "W", geometry: shape)
        (counted.openRiskItems, counted.suppressedRiskItems, counted.openCases, counted.openSlips, counted.maxSeverity) = (2, 1, 1, 3, 2)
        let zones = [
            counted,
            ZoneSummary(code: "D-1", name: "District/1", level: "district", parent: nil, unit: "U", worker: nil, geometry: nil),
        ]
        for z in zones {
            for include in [true, false] {
                #expect(try encoded(ZoneBody(z, geometry: include)) == z.json(geometry: include), "\(z.code) geometry \(include)")
            }
        }
    }

    @Test("times are RFC 3339 with milliseconds in UTC; slashes and non-ASCII are written as the store writes them")
    func text() throws {
        struct Probe: Encodable { var at: Date; var text: String }
        let data = try APIEncoding.buffer(Probe(at: Date(timeIntervalSince1970: 1_750_000_000.25), text: "a/b 街道"))
        #expect(String(buffer: data) == #"{"at":"2025-06-15T15:06:40.250Z","text":"a/b 街道"}"#)
    }
}
