import Foundation
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

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "nul", "{} {}", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func badJSONIsRefused(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func csvReadsQuotedFieldsAndComments() throws {
        let t = try CSVTable.parse(text: "# comment\nid,name\r\n\"a,1\",\"say \"\"hi\"\"\"\n\nb,plain\n", file: "x.csv", required: ["id", "name"], optional: [])
        #expect(t.rows.map { $0["id"] } == ["a,1", "b"])
        #expect(t.rows.map { $0["name"] } == ["say \"hi\"", "plain"])
        #expect(t.rows.map(\.line) == [3, 5])
    }
}
