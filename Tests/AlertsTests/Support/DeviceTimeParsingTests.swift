import Foundation
import Testing

@testable import Alerts

/// `TimeParser.parseDeviceTime`: times as cameras write them, for foreign formats only.
@Suite("Device time parsing")
struct DeviceTimeParsingTests {
    let parser = TimeParser() // Asia/Shanghai

    static let accepted: [(text: String, utc: String)] = [
        ("2023-08-09T07:38:35", "2023-08-08T23:38:35Z"),
        ("2023-8-9T7:38:35", "2023-08-08T23:38:35Z"),
        ("2023-8-9T7:8:5", "2023-08-08T23:08:05Z"),
        ("2023-12-31 23:59:59", "2023-12-31T15:59:59Z"),
        ("2023-08-09t07:38:35", "2023-08-08T23:38:35Z"),
        ("2023-08-09T07:38:35.5", "2023-08-08T23:38:35.500Z"),
        ("2023-08-09T07:38:35.123456789", "2023-08-08T23:38:35.123Z"),
        ("2023-08-09T07:38:35Z", "2023-08-09T07:38:35Z"),
        ("2023-08-09T07:38:35z", "2023-08-09T07:38:35Z"),
        ("2023-08-09T07:38:35+08:00", "2023-08-08T23:38:35Z"),
        ("2023-08-09T07:38:35+0800", "2023-08-08T23:38:35Z"),
        ("2023-08-09T07:38:35-0130", "2023-08-09T09:08:35Z"),
        ("2023-8-9 7:38:35.25+0800", "2023-08-08T23:38:35.250Z"),
        ("2024-2-29T0:0:0", "2024-02-28T16:00:00Z"),
    ]

    @Test("accepted forms", arguments: accepted)
    func accepts(_ c: (text: String, utc: String)) throws {
        let date = try #require(parser.parseDeviceTime(c.text))
        #expect(date.rfc3339 == AdapterFixtures.utc(c.utc)?.rfc3339)
    }

    static let refused = [
        "", "yesterday", "2023-08-09", "2023-08-09T07:38", "23-08-09T07:38:35", "2023-008-09T07:38:35",
        "2023-08-09T007:38:35", "2023-08-09T07:38:35.", "2023-8-09T07:38:35.1234567890", "2023-08-09T07:38:35+08",
        "2023-08-09T07:38:35+8:00", "2023-08-09T07:38:35+08:0", "2023-08-09T07:38:35 +08:00", "2023-08-09  07:38:35",
        "2023/08/09T07:38:35", "2023-13-09T07:38:35", "2023-0-09T07:38:35", "2023-2-29T07:38:35", "2023-04-31T07:38:35",
        "2023-08-09T24:00:00", "2023-08-09T07:60:00", "2023-08-09T07:38:61", "2023-08-09T07:38:35+24:00",
        "0000-00-00T00:00:00", "0000-00-00T00:00:00Z", "2023-08-09T07:38:35Zjunk", "２０２３-08-09T07:38:35",
    ]

    @Test("refused forms", arguments: refused)
    func refuses(_ text: String) {
        #expect(parser.parseDeviceTime(text) == nil)
    }

    @Test("the strict RFC 3339 parse of native payloads is unchanged")
    func strictStaysStrict() {
        #expect(parser.parse("2023-8-9T7:38:35") == nil)
        #expect(parser.parse("2023-08-09T07:38:35+0800") == nil)
        #expect(parser.parse("2023-08-09T07:38:35+08:00") == parser.parseDeviceTime("2023-08-09T07:38:35+0800"))
    }

    @Test("an unset clock is recognised before parsing")
    func unsetClock() {
        #expect(TimeParser.isUnsetClock("0000-00-00T00:00:00"))
        #expect(TimeParser.isUnsetClock("0000-00-00 00:00:00"))
        #expect(!TimeParser.isUnsetClock("2023-8-9T7:38:35"))
        #expect(TimeParser.isUnsetClock("0000-00-00T00:00:00Z"))
        #expect(TimeParser.isUnsetClock("0000-00-00T00:00:00.000+08:00"))
        #expect(TimeParser.isUnsetClock("0000-00-00"))
        #expect(!TimeParser.isUnsetClock("0000-garbage"), "only the zero date is an unset clock; anything else is invalid_value")
        #expect(!TimeParser.isUnsetClock("0000-01-01T00:00:00Z"))
        #expect(!TimeParser.isUnsetClock("0000-00-00Tmidnight"))
    }
}
