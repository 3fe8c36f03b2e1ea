import Foundation
@testable import Simulation
import Testing
@testable import Alerts

@Suite("Support")
struct SupportTests {
    @Test func murmur3MatchesTheReferenceVectors() {
        #expect(StableHash.murmur3_128([], seed: 0) == (0, 0))
        let (h1, h2) = StableHash.murmur3_128(Array("hello".utf8), seed: 0)
        #expect(h1 == 0xcbd8_a7b3_41bd_9b02)
        #expect(h2 == 0x5b1e_906a_48ae_1d19)
        #expect(StableHash.hex(topic: "a/b", payload: Array("c".utf8)) != StableHash.hex(topic: "a/bc", payload: []))
        #expect(StableHash.hex(topic: "a/b", payload: Array("c".utf8)) != StableHash.hex(topic: "a/c", payload: Array("c".utf8)))
        #expect(StableHash.hex(topic: "a/b", payload: Array("c".utf8)).count == 32)
    }

    @Test(arguments: [
        ("2026-11-29T08:30:00+08:00", 1_795_912_200.0),
        ("2026-11-29T00:30:00Z", 1_795_912_200.0),
        ("2026-11-29T00:30:00.250Z", 1_795_912_200.25),
        ("2026-11-29 08:30:00", 1_795_912_200.0),     // no offset: Asia/Shanghai
        ("2026-11-29T08:30:00", 1_795_912_200.0),
        ("2026-11-29T08:30:00.5", 1_795_912_200.5),   // fractional seconds without offset (GB/T 28181 gateways)
        ("2028-02-29T08:00:00+08:00", 1_835_395_200.0), // leap day
    ])
    func timesParse(text: String, expected: Double) {
        #expect(TimeParser().parse(text)?.timeIntervalSince1970 == expected)
    }

    @Test(arguments: ["", "2026-13-01T00:00:00Z", "2026-11-29T25:00:00Z", "yesterday", "2026-11-29T08:30:00+0800", "2026-11-29T08:30:00Zjunk",
                     "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-29T08:30:00+24:00"])
    func badTimesAreRefused(text: String) {
        #expect(TimeParser().parse(text) == nil)
    }

    @Test func rfc3339Output() {
        #expect(Date(timeIntervalSince1970: 1_795_912_200.25).rfc3339 == "2026-11-29T00:30:00.250Z")
        #expect(Date(timeIntervalSince1970: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
    }

    @Test func jsonParsesAndSerialises() throws {
        let v = try JSONParser.parse(#"{"a":[1,2.5,-3e2,true,null],"b":"x\"\u4e2d\ud83d\ude00","c":{}}"#)
        #expect(v["a"] == .array([.number(1), .number(2.5), .number(-300), .bool(true), .null]))
        #expect(v["b"] == .string("x\"中😀"))
        #expect(v.serialized == #"{"a":[1,2.5,-300,true,null],"b":"x\"中😀","c":{}}"#)
    }

    @Test func jsonDecimalsAreCorrectlyRounded() throws {
        // The parser's fast path (digits ÷ a power of ten) must agree with the
        // standard library's correctly rounded conversion for every decimal it takes.
        var random = SeededRandom(seed: 7)
        var texts = ["0.1", "0.2", "0.3", "-0.5", "120.123456", "31.2304049", "121.4737021", "0.000000000000001",
                     "999999999999.999", "9007199254740.993", "1.7976931348623157", "-45.000", "0.87"]
        for _ in 0..<20_000 {
            let digits = 1 + Int(random.next() % 15)
            let point = 1 + Int(random.next() % UInt64(digits))
            var t = random.next() % 2 == 0 ? "-" : ""
            for k in 0..<digits {
                if k == point { t += "." }
                t += String(random.next() % 10)
            }
            if !t.contains(".") { t += ".5" }
            if t.hasPrefix("0"), t.count > 1, !t.hasPrefix("0.") { continue }
            if t.hasPrefix("-0"), !t.hasPrefix("-0.") { continue }
            texts.append(t)
        }
        for t in texts {
            #expect(try JSONParser.parse(t) == .number(Double(t)!), "\(t)")
        }
    }

    /// A selective parse skips what it does not build, but must refuse exactly what a
    /// full parse refuses, with the same message, and build the selected members alike.
    @Test func aSelectiveParseChecksWhatItSkipsAsStrictly() throws {
        let values = [
            "1", "-0.5", "1e400", "-1e-400", "01", "1.", ".5", "1e", "-", String(repeating: "9", count: 320), String(repeating: "9", count: 290),
            "\"a\"", "\"\\u00e9\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\x\"", "\"中文\"", "\"\u{1}\"", "\"unterminated",
            "true", "tru", "null", "nul", "[]", "[1,]", "[1 2]", "{}", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[[[[]]]]",
            String(repeating: "[", count: 70) + String(repeating: "]", count: 70),
            #"{"box":[1,2,3],"snapshot":{"box":[4,5],"attributes":[],"score":0.77},"thumbnail":null}"#,
        ]
        let selection = JSONSelection.members([.init("keep"), .init("inner", .fields(["x"]))])
        for v in values {
            for text in [#"{"skip":\#(v),"keep":1}"#, #"{"keep":\#(v)}"#, #"{"inner":{"x":2,"skip":\#(v)}}"#, #"{"inner":\#(v)}"#] {
                let full = Result { try JSONParser.parse(text) }
                let selective = Result { try JSONParser.parse(Array(text.utf8), selecting: selection) }
                switch (full, selective) {
                case (.success(let a), .success(let b)):
                    #expect(b["keep"] == a["keep"], "\(text)")
                    if case .object? = a["inner"] { #expect(b["inner"]?["x"] == a["inner"]?["x"], "\(text)") } else { #expect(b["inner"] == a["inner"], "\(text)") }
                    #expect(b["skip"] == nil, "\(text)")
                case (.failure(let a), .failure(let b)):
                    #expect("\(a)" == "\(b)", "\(text)")
                default:
                    Issue.record("full and selective parses disagree on \(text): \(full) vs \(selective)")
                }
            }
        }
    }

    @Test func jsonObjectsKeepTheLastOfARepeatedKeyAndCompareWithoutOrder() throws {
        let v = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(v["a"] == .number(3))
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o.count == 2)
        #expect(v == .object(["b": .number(2), "a": .number(3)]))
        #expect(v.hashValue == JSONValue.object(["b": .number(2), "a": .number(3)]).hashValue)
        #expect(v != .object(["b": .number(2), "a": .number(1)]))
        #expect(v.serialized == #"{"a":3,"b":2}"#)
        // A large object with repeats (the dictionary path of `lastWins`).
        let many = "{" + (0..<40).map { "\"k\($0 % 30)\":\($0)" }.joined(separator: ",") + "}"
        let w = try JSONParser.parse(many)
        guard case .object(let wo) = w else { Issue.record("not an object"); return }
        #expect(wo.count == 30)
        #expect(w["k0"] == .number(30))
        #expect(w["k29"] == .number(29))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "nul", "{} {}", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func badJSONIsRefused(text: String) {
        #expect(throws: HubError.self) { try JSONParser.parse(text) }
    }

    @Test func csvReadsQuotedFieldsAndComments() throws {
        let t = try CSVTable.parse(text: "# comment\nid,name\r\n\"a,1\",\"say \"\"hi\"\"\"\n\nb,plain\n", file: "x.csv", required: ["id", "name"], optional: [])
        #expect(t.rows.map { $0["id"] } == ["a,1", "b"])
        #expect(t.rows.map { $0["name"] } == ["say \"hi\"", "plain"])
        #expect(t.rows.map(\.line) == [3, 5])
    }

    // MARK: HubError

    @Test func configErrorsRenderFileLineAndKeyAndKeepThemAsContext() {
        let e = HubError.config(file: "hub.yaml", line: 12, key: "mqtt.port", message: "must be 1…65535")
        #expect(e.description == "hub.yaml:12: key 'mqtt.port': must be 1…65535")
        #expect(e.code == .config)
        #expect(e.message == "must be 1…65535")
        #expect(e.file == "hub.yaml")
        #expect(e.line == 12)
        #expect(e.key == "mqtt.port")
        #expect(HubError.config(file: "hub.yaml", line: nil, key: "", message: "not valid YAML").description == "hub.yaml: not valid YAML")
        #expect(HubError.config(file: "c.csv", line: 3, key: "", message: "x").description == "c.csv:3: x")
    }

    @Test func decodeErrorsCarryTheirDeadLetterReasonAndCutLongDetails() {
        let e = HubError.decode(.missingField, "field 'id' is required")
        #expect(e.description == "missing_field: field 'id' is required")
        #expect(e.reason == .missingField)
        #expect(e.deadLetterReason == .missingField)
        #expect(e.detail == "field 'id' is required")
        let long = HubError.decode(.invalidValue, String(repeating: "x", count: DecodeLimits.maxDetailBytes * 2))
        #expect(long.detail.utf8.count <= DecodeLimits.maxDetailBytes)
        // An error that is not a decoder's refusal is stored as unprocessable.
        #expect(HubError.config(file: "f", line: nil, key: "", message: "m").deadLetterReason == .unprocessable)
    }

    @Test func errorsCompareByWhatTheySayNotWhereTheyWereMade() {
        let a = HubError.caseAction(.unknownCase, "no case AJ-1")
        let b = HubError.caseAction(.unknownCase, "no case AJ-1")
        #expect(a.origin != b.origin)
        #expect(a == b)
        #expect(Set([a, b]).count == 1)
        #expect(a != HubError.caseAction(.illegalTransition, "no case AJ-1"))
        #expect(a.origin.hasPrefix("AlertsTests/SupportTests.swift:"))
        #expect(HubError.Code.caseAction.contains(a.code))
        // Codes switch like enum cases.
        switch a.code {
        case .unknownCase: break
        default: Issue.record("\(a.code) is not unknown_case")
        }
    }

    // MARK: HubFormat

    @Test func numbersArePaddedAndFixedAsPrintfWould() {
        #expect(HubFormat.zeroPadded(42, width: 8) == "00000042")
        #expect(HubFormat.zeroPadded(123_456_789, width: 8) == "123456789")
        #expect(HubFormat.zeroPadded(UInt8(10), width: 2, radix: 16) == "0a")
        #expect(HubFormat.zeroPadded(UInt64.max, width: 16, radix: 16) == "ffffffffffffffff")
        #expect(HubFormat.spacePadded("12", width: 6, alignment: .right) == "    12")
        #expect(HubFormat.spacePadded("网格", width: 4) == "网格  ")
        #expect(HubFormat.spacePadded("toolong", width: 3) == "toolong")
        for v in [0.0, 2.345, -0.05, 1234.5, 0.125, 99.995, 1e-7, -3.0] {
            for d in 0...7 { #expect(HubFormat.fixed(v, digits: d) == String(format: "%.\(d)f", v)) }
            #expect(HubFormat.signedFixed(v, digits: 1) == String(format: "%+.1f", v))
        }
        #expect(HubFormat.fixed(3.14159, digits: 3, width: 10) == "     3.142")
    }

    /// The helper's local times are the ones `Calendar` gives, in zones east
    /// and west of UTC, with half-hour offsets and across DST changes.
    @Test(arguments: ["Asia/Shanghai", "America/St_Johns", "Europe/Berlin", "UTC", "Asia/Kolkata"])
    func localTimesMatchTheCalendar(zoneID: String) throws {
        let zone = try #require(TimeZone(identifier: zoneID))
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        func p(_ v: Int?) -> String { let s = String(v ?? 0); return s.count < 2 ? "0" + s : s }
        let seed = UInt64.random(in: 0...UInt64.max) // named by a failure, to replay it
        var rng = SeededRandom(seed: seed)
        for _ in 0..<500 {
            let date = Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &rng))
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let off = zone.secondsFromGMT(for: date)
            let offset = (off < 0 ? "-" : "+") + p(abs(off) / 3600) + ":" + p(abs(off) % 3600 / 60)
            let day = "\(c.year!)-\(p(c.month))-\(p(c.day))"
            #expect(HubFormat.dateTimeWithOffset(date, in: zone) == "\(day) \(p(c.hour)):\(p(c.minute)):\(p(c.second)) \(offset)", "seed \(seed)")
            #expect(HubFormat.minute(date, in: zone) == "\(day) \(p(c.hour)):\(p(c.minute))", "seed \(seed)")
            #expect(HubFormat.hourMinute(date, in: zone) == "\(p(c.hour)):\(p(c.minute))", "seed \(seed)")
            #expect(HubFormat.iso8601(date, in: zone) == "\(day)T\(p(c.hour)):\(p(c.minute)):\(p(c.second))\(offset)", "seed \(seed)")
            #expect(HubFormat.isoMinute(date, in: zone) == "\(day)T\(p(c.hour)):\(p(c.minute))\(offset)", "seed \(seed)")
        }
    }

    @Test func fixedTimesReadAsTheHubPrintsThem() throws {
        let shanghai = try #require(TimeZone(identifier: "Asia/Shanghai"))
        let date = Date(timeIntervalSince1970: 1_795_912_205.75) // 2026-11-29T00:30:05.75Z
        #expect(HubFormat.dateTimeWithOffset(date, in: shanghai) == "2026-11-29 08:30:05 +08:00")
        #expect(HubFormat.minuteWithOffset(date, in: shanghai) == "2026-11-29 08:30 +08:00")
        #expect(HubFormat.dateTime(date, in: shanghai) == "2026-11-29 08:30:05")
        #expect(HubFormat.isoLocal(date, in: shanghai) == "2026-11-29T08:30:05")
        #expect(HubFormat.yearMonth(year: 2026, month: 3) == "2026-03")
        #expect(HubFormat.offset(seconds: -12_600) == "-03:30")
        #expect(HubFormat.clock(seconds: 3725) == "01:02:05")
        #expect(HubFormat.clock(seconds: 100 * 3600) == "100:00:00")
        #expect(date.rfc3339 == "2026-11-29T00:30:05.750Z")
        #expect(LocalDay(year: 2026, month: 3, day: 7).description == "2026-03-07")
        #expect(RiskEngine.itemID(42) == "RI-00000042")
        // A nonsensical instant prints as a far date instead of trapping.
        #expect(!HubFormat.dateTime(Date(timeIntervalSince1970: .infinity), in: shanghai).isEmpty)
    }

    // MARK: JSONParser as the one parser

    @Test func syntaxErrorsNameByteLineAndColumn() {
        let text = "{\n  \"a\": [1, 2,\n  \"网格\" x]\n}"
        let error = #expect(throws: HubError.self) { _ = try JSONParser.parse(text) }
        #expect(error?.code == .jsonSyntax)
        #expect(error?.message == "expected ',' or ']'")
        #expect(error?.line == 3)
        #expect(error?.column == 8)
        #expect(error?.offset == Array(text.utf8).firstIndex(of: UInt8(ascii: "x")))
        #expect(error?.description == "expected ',' or ']' at byte \(error?.offset ?? -1)")
    }

    @Test func longDecimalsReadAsSwiftReadsThem() throws {
        let seed = UInt64.random(in: 0...UInt64.max) // named by a failure, to replay it
        var rng = SeededRandom(seed: seed)
        for _ in 0..<2000 {
            let v = Double.random(in: -180...180, using: &rng)
            for text in ["\(v)", String(format: "%.17g", v), String(format: "%.12e", v), "\(v)123456789012345678901234"] {
                let parsed = try JSONParser.parse("[\(text)]")
                #expect(parsed == .array([.number(Double(text)!)]), "\(text), seed \(seed)")
            }
        }
        #expect(throws: HubError.self) { try JSONParser.parse("[1e400]") }
        #expect(try JSONParser.parse("[1e-400]") == .array([.number(0)]))
        let long = "0." + String(repeating: "1", count: 200)
        #expect(try JSONParser.parse(long) == .number(Double(long)!))
    }
}
