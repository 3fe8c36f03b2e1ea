import Foundation
import Testing
@testable import Alerts

@Suite("Native camera payloads")
struct NativeDecoderTests {
    static let stage = DecodeStage(
        router: TopicRouter(), registry: Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z")]),
        timeParser: TimeParser(), maxPayloadBytes: 1024, maxClockSkew: 300)
    static let now = Date(timeIntervalSince1970: 1_795_912_200)

    static func decode(_ topic: String, _ payload: String) throws(HubError) -> [NormalizedEvent] {
        try stage.decode(topic: topic, payload: Array(payload.utf8), now: now)
    }

    @Test func aFullEvent() throws {
        let e = try Self.decode("patrolhub/v1/camera/cam-1/event",
            #"{"id":"e1","type":"crowd_gathering","time":"2026-11-29T08:29:00+08:00","confidence":0.93,"count":41,"location":{"lat":29.65,"lon":91.13,"crs":"gcj02"},"drill":true,"vendor":"ignored"}"#)
        #expect(e.count == 1)
        #expect(e[0].key == "camera:cam-1:e1")
        #expect(e[0].category == .crowdGathering)
        #expect(e[0].severity == .major)
        #expect(e[0].time == Self.now.addingTimeInterval(-60))
        #expect(e[0].confidence == 0.93)
        #expect(e[0].count == 41)
        #expect(e[0].location == GeoPoint(lat: 29.65, lon: 91.13, crs: .gcj02))
        #expect(e[0].drill)
    }

    /// The fast path reads the usual shape itself and leaves everything else to the
    /// general path: where it answers, it must answer exactly as the general path.
    @Test func theFastPathAgreesWithTheGeneralPath() throws {
        let d = NativeCameraDecoder()
        let t = #""time":"2026-11-29T08:29:00.250+08:00""#
        let usual = [
            #"{"id":"e1","type":"fight",\#(t)}"#,
            #"{ "id" : "e1" , "type" : "fight" , \#(t) , "confidence" : 0.875 , "count" : 3 }"#,
            #"{"id":"ev-\u0031","type":"crowd_gathering",\#(t),"location":{"lat":29.65,"lon":91.13,"crs":"GCJ02"},"drill":true,"snapshot_url":"http://x/1.jpg"}"#,
            #"{"id":"中文","type":"intrusion","time":"2026-11-29 08:29:00","location":{"lon":-91.5,"lat":-29},"drill":false,"count":0}"#,
            #"{"type":"banner","id":"e9","time":"2026-11-29T00:29:00Z","confidence":1,"count":1000000}"#,
        ]
        for text in usual {
            let payload = Array(text.utf8)
            let fast = try #require(d.fastEvent(camera: "cam-1", payload: payload), "\(text)")
            #expect(fast == (try d.generalEvent(camera: "cam-1", payload: payload)), "\(text)")
        }
        // Shapes and values the fast path leaves alone: the general path accepts some, refuses the others.
        let other = [
            #"{"id":"e1","type":"fight",\#(t),"vendor":"x"}"#, #"{"id":"e1","id":"e2","type":"fight",\#(t)}"#,
            #"{"id":"e1","type":"fight",\#(t),"drill":null}"#, #"{"id":"e1","type":"fight",\#(t),"location":{"lat":1,"lon":2,"crs":null}}"#,
            #"{"id":" ","type":"fight",\#(t)}"#, #"{"id":"e1","type":"patrol_checkin",\#(t)}"#, #"{"id":"e1","type":"fight","time":"yesterday"}"#,
            #"{"id":"e1","type":"fight",\#(t),"confidence":1.5}"#, #"{"id":"e1","type":"fight",\#(t),"count":2.5}"#,
            #"{"id":"e1","type":"fight",\#(t),"count":-1}"#, #"{"id":"e1","type":"fight",\#(t),"location":{"lat":91,"lon":2}}"#,
            #"{"id":"e1","type":"fight",\#(t),"location":{"lat":1,"lon":2,"crs":"utm"}}"#, #"{"id":"e1","type":"fight",\#(t),"location":{"lat":1}}"#,
            #"{"id":"e1","type":"fight",\#(t)} x"#, #"{"id":"e1","type":"fight",\#(t),}"#, #"{"id":"e1","type":"fight"}"#, "{}", "[]",
            "\u{FEFF}" + #"{"id":"e1","type":"fight",\#(t)}"#, #"{"id":"e1","type":"fight",\#(t),"snapshot_url":5}"#,
            #"{"id":"e1","type":"fight",\#(t),"drill":"yes"}"#, #"{"id":"e1","type":"fight","time":"2026-11-29T08:29:00+08:00 "}"#,
        ]
        for text in other {
            let payload = Array(text.utf8)
            #expect(d.fastEvent(camera: "cam-1", payload: payload) == nil, "\(text)")
        }
    }

    @Test func statusMessages() throws {
        let e = try Self.decode("patrolhub/v1/camera/cam-1/status", #"{"status":"tampered","time":"2026-11-29T08:29:00+08:00"}"#)
        #expect(e[0].kind == .cameraStatus(.tampered))
        #expect(e[0].category == .cameraTampered)
        #expect(e[0].key.hasPrefix("status:cam-1:"))
    }

    @Test(arguments: [
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e1","type":"fight""#, DeadLetterReason.malformed),
        ("patrolhub/v1/camera/cam-1/event", #"[1,2]"#, .malformed),
        ("patrolhub/v1/camera/cam-1/event", #"{"type":"fight","time":"2026-11-29T08:29:00Z"}"#, .missingField),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":7,"type":"fight","time":"2026-11-29T00:29:00Z"}"#, .wrongType),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"fight","time":"2026-11-29T00:29:00Z","confidence":1.5}"#, .outOfRange),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"fight","time":"2026-11-29T00:29:00Z","location":{"lat":95,"lon":1}}"#, .outOfRange),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"fight","time":"2026-11-29T00:29:00Z","location":{"lat":29,"lon":91,"crs":"utm"}}"#, .invalidValue),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"dispute","time":"2026-11-29T00:29:00Z"}"#, .invalidValue),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"fight","time":"soon"}"#, .invalidValue),
        ("patrolhub/v1/camera/cam-1/event", #"{"id":"e","type":"fight","time":"2026-11-29T09:29:00+08:00"}"#, .clockSkew),
        ("patrolhub/v1/camera/cam-9/event", #"{"id":"e","type":"fight","time":"2026-11-29T00:29:00Z"}"#, .unknownSource),
        ("patrolhub/v1/camera/cam-1/status", #"{"status":"sleeping","time":"2026-11-29T00:29:00Z"}"#, .invalidValue),
        ("patrolhub/v1/elsewhere/x", #"{}"#, .unknownTopic),
        ("patrolhub/v1/camera/cam-1/event", String(repeating: " ", count: 2000) + "{}", .oversized),
    ])
    func badInputIsRefusedWithItsReason(topic: String, payload: String, reason: DeadLetterReason) {
        do {
            _ = try Self.decode(topic, payload)
            Issue.record("expected \(reason)")
        } catch {
            #expect(error.reason == reason, "\(error)")
        }
    }
}
