import Foundation
import Testing

@testable import Alerts

/// Inputs the fuzz targets (`make fuzz`) found to crash a decoder, each kept
/// with the answer it must get now. The same inputs are in `Fuzz/Corpus`.
@Suite("Fuzz findings")
struct FuzzRegressionTests {
    /// A `\u` high surrogate followed by a `\u` escape that is not a low
    /// surrogate overflowed `UInt32` while combining the pair (a trap that took
    /// the hub down on a zone file). It is now a syntax error with its place.
    @Test(arguments: [#"\uD800\u0041"#, #"\uDBFF\u0000"#, #"\uD800\uDBFF"#, #"\uD83D\uE000"#, #"\uDBFF\uFFFF"#])
    func geoJSONSurrogateFollowedByANonLowSurrogate(escape: String) throws {
        let text = #"{"type":"FeatureCollection","features":[],"name":"a\#(escape)b"}"#
        let error = #expect(throws: HubError.self) { _ = try JSONParser.parse(text) }
        #expect(error?.code == .jsonSyntax)
        #expect(error?.message == "invalid surrogate pair")
        #expect(error?.line == 1)
        let result = ZoneFile.validate(Data(text.utf8))
        #expect(result.problems.map(\.kind) == [.malformedJSON])
    }

    /// A real pair still decodes; a lone surrogate is refused with its place
    /// (zone files and payloads go through the same strict parser).
    @Test func geoJSONSurrogatePairsDecodeAndLoneOnesAreRefused() throws {
        let pair = try JSONParser.parse(#"{"s":"\uD83D\uDE00"}"#)
        #expect(pair["s"]?.stringValue == "😀")
        let lone = #expect(throws: HubError.self) { _ = try JSONParser.parse("{\n\"s\":\"a\\uD800b\"}") }
        #expect(lone?.message == "unpaired surrogate")
        #expect(lone?.line == 2)
    }

    /// The corpus copy of this finding is a zone file that is refused, not a crash.
    @Test func geoJSONSurrogateCorpusInputIsRefused() throws {
        let url = FuzzCorpusTests.corpus.appendingPathComponent("FuzzGeoJSON/regression-surrogate-pair-overflow.json")
        let result = ZoneFile.validate(try Data(contentsOf: url))
        #expect(result.problems.map(\.kind) == [.malformedJSON])
        #expect(result.problems.first?.message.contains("invalid surrogate pair") == true)
    }

    /// 5000 nested elements in a GB/T 28181 alarm overflowed the stack in the
    /// XML scanner's recursion (AddressSanitizer: stack-overflow). The input is
    /// `Fuzz/Pending/FuzzGB28181-nested-elements.xml`; enabled once the scanner's
    /// depth limit is merged, then the input moves to `Fuzz/Corpus/FuzzGB28181/`.
    @Test("5000 nested elements in a GB/T 28181 payload are malformed, not a stack overflow")
    func gb28181DeeplyNestedElementsAreMalformed() throws {
        let url = FuzzCorpusTests.corpus.appendingPathComponent("FuzzGB28181/regression-nested-elements.xml")
        let payload = [UInt8](try Data(contentsOf: url))
        let error = #expect(throws: HubError.self) {
            _ = try GB28181Adapter().decode(topic: "patrolhub/v1/gb28181/34020000001180000001/alarm", payload: payload, receivedAt: FuzzCorpusTests.now)
        }
        #expect(error?.reason == .malformed)
        #expect(error?.detail.contains("nested too deeply") == true)
    }
}
