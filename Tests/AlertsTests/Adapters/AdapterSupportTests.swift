import Foundation
import Testing

@testable import Alerts

/// The adapters read times, topics and JSON through main's `TimeParser`,
/// `TopicRouter` and `PayloadFields`; these are the cases the adapters rely on.
@Suite("Adapter helpers")
struct AdapterSupportTests {
    private static let shanghai = TimeParser(defaultZone: AdapterOptions.defaultTimeZone)

    @Test(
        "RFC 3339 variants the adapters receive parse to the right instant",
        arguments: [
            ("2024-01-02T15:04:05Z", "2024-01-02T15:04:05Z"),
            ("2024-01-02t15:04:05z", "2024-01-02T15:04:05Z"),
            ("2024-01-02T15:04:05+08:00", "2024-01-02T07:04:05Z"),
            ("2024-01-02T15:04:05-05:30", "2024-01-02T20:34:05Z"),
            ("2024-01-02T15:04:05", "2024-01-02T07:04:05Z"),
            ("2024-01-02 15:04:05", "2024-01-02T07:04:05Z"),
            ("2024-01-02T07:04:05.250Z", "2024-01-02T07:04:05.250Z"),
            ("2024-01-02T15:04:05.5", "2024-01-02T07:04:05.500Z"),
            ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
            ("1969-07-20T20:17:40Z", "1969-07-20T20:17:40Z"),
        ])
    func rfc3339(_ text: String, _ expected: String) throws {
        let parsed = try #require(Self.shanghai.parse(text))
        let want = try #require(AdapterFixtures.utc(expected))
        #expect(abs(parsed.timeIntervalSince1970 - want.timeIntervalSince1970) < 1e-6)
    }

    @Test(
        "invalid times are rejected",
        arguments: [
            "", "2024-01-02", "2024-13-02T00:00:00Z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
            "2024-01-02T24:00:00Z", "2024-01-02T15:04:05.Z", "2024-01-02T15:04:05+25:00", "2024-1-2T15:04:05Z",
            "2024-01-02T15:04:05Zjunk", "1704182645", "2024/01/02 09:30",
        ])
    func rfc3339Invalid(_ text: String) {
        #expect(Self.shanghai.parse(text) == nil)
    }

    @Test("a local time is read in the configured zone, across DST")
    func localTimeZone() throws {
        let newYork = TimeParser(defaultZone: try #require(TimeZone(identifier: "America/New_York")))
        #expect(newYork.parse("2024-07-01T12:00:00") == AdapterFixtures.utc("2024-07-01T16:00:00Z"))
        #expect(newYork.parse("2024-01-01T12:00:00") == AdapterFixtures.utc("2024-01-01T17:00:00Z"))
        #expect(TimeParser.utc.parse("2024-01-02T07:04:05") == AdapterFixtures.utc("2024-01-02T07:04:05Z"))
    }

    @Test("nested fields are named in full in dead letters")
    func nestedFieldNames() throws {
        let fields = try PayloadFields(bytes: Array(#"{"after":{"camera":7},"parties":["a",1],"location":{"lat":91,"lon":0}}"#.utf8))
        let after = try #require(try fields.object("after"))
        #expect(throws: HubError.decode(.wrongType, "field 'after.camera' must be a string, found a number")) {
            try after.string("camera")
        }
        #expect(throws: HubError.decode(.missingField, "field 'after.label' is required")) {
            try after.requiredString("label")
        }
        #expect(throws: HubError.decode(.wrongType, "field 'parties[1]' must be a string, found a number")) {
            try fields.stringArray("parties")
        }
        #expect(throws: HubError.decode(.outOfRange, "field 'location.lat' must be within -90…90, found 91.0")) {
            try fields.location()
        }
    }

    @Test("topics are classified by the router the adapters share with the decode stage")
    func topics() {
        let router = AdapterOptions().router
        #expect(router.route("frigate/events") == .frigate)
        #expect(
            router.route("patrolhub/v1/gb28181/34020000001320000001/alarm")
                == .gb28181Alarm(device: "34020000001320000001"))
        #expect(
            router.route("patrolhub/v1/onvif/cam-1/tns1:VideoSource/SignalLoss")
                == .onvif(device: "cam-1", topic: "tns1:VideoSource/SignalLoss"))
        #expect(router.route("patrolhub/v1/device/pda-1/sos") == .deviceSOS(device: "pda-1"))
        #expect(router.route("patrolhub/v1/device/pda-1/sos/extra") == nil)
        #expect(router.route("patrolhub/v1/device//sos") == nil)
        #expect(router.route("patrolhub/v1/gb28181/x/catalog") == nil)
        #expect(router.route("other/v1/device/pda-1/sos") == nil)
        #expect(AdapterOptions(topicPrefix: "p/").router.route("p/device/d/report") == .deviceReport(device: "d"))
    }
}
