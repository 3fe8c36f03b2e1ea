import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// "An operator silences everything for 100 years; the next SOS is
/// suppressed and opens no case" — against a real hub over its HTTP API.
@Suite("Silence attacks")
struct SilenceAttackTests {
    static let devicesFile = packageRoot.appendingPathComponent("config/devices.csv").path

    @Test func anOperatorCannotSilenceEverythingAndNoSilenceStopsAnSOS() async throws {
        let tokenDir = TempDir("patrolhub-tokens")
        defer { tokenDir.cleanup() }
        let tokens = tokenDir.write("tokens.txt", HTTPStreamAndAccessTests.tokens)
        try await withLiveHub(configure: { c in
            c.zonesFile = DispatchFixture.zonesFile
            c.camerasFile = DispatchFixture.camerasFile
            c.devicesFile = Self.devicesFile
            c.http.tokensFile = tokens
        }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let c = TestHTTPClient(port: port)
            let op = "operator-token-0123456789abcdefghij", chief = "supervisor-token-0123456789abcdefghij"
            func refusal(_ body: String, token: String) async throws -> String {
                let r = try await c.post("/api/v1/silences", body, token: token)
                #expect(r.status == 400, "\(body.prefix(200)): \(r.status) \(r.text.prefix(300))")
                return r.json["error"]?["message"]?.stringValue ?? r.text
            }
            // Everything for 100 years, by an operator: refused (and by a supervisor too: too long).
            for token in [op, chief] {
                #expect(try await refusal(#"{"drill":false,"duration":"876000h","comment":"quiet please"}"#, token: token)
                    .contains("field 'end': a silence lasts at most 7d (silences.max_duration); this one would last 100 years"))
            }
            #expect(try await refusal(#"{"category":"sos","duration":"1h","comment":"false alarms"}"#, token: chief)
                .contains("field 'category': sos can never be silenced"))
            #expect(try await refusal(#"{"drill":false,"duration":"2h","comment":"quiet"}"#, token: op)
                .contains("field 'matchers': a silence on every category over a whole district needs the supervisor role"))
            #expect(try await refusal(#"{"zone":"540102","duration":"2h","comment":"quiet"}"#, token: op).contains("needs the supervisor role"))
            let huge = String(repeating: "x", count: 100_000) // the HTTP layer refuses bodies over 1 MiB itself
            #expect(try await refusal(#"{"zone":"540102-001-001-01","duration":"1h","comment":"\#(huge)"}"#, token: op)
                .contains("field 'comment': at most 500 characters, found 100000"))
            #expect(try hub.store.silences().isEmpty, "nothing was stored")

            // A supervisor's legal silence on every category: in force, but an SOS still becomes a case.
            let legal = try await c.post("/api/v1/silences", #"{"drill":false,"duration":"7d","comment":"district maintenance"}"#, token: chief)
            #expect(legal.status == 201, "\(legal.text)")
            let now = Date()
            try await pub.publishAll([
                ("patrolhub/v1/device/dev-001/sos", Array(#"{"id":"sos-1","time":"\#(now.rfc3339)","kind":"duress"}"#.utf8)),
                (eventTopic("cam-001"), cameraEvent("fight-1", type: "fight", time: now)),
            ])
            try await hub.waitProcessed(received: 2)
            let items = try hub.store.riskItems()
            let sos = try #require(items.first { $0.category == .sos })
            #expect(sos.suppressedBy == nil)
            let cases = try await hub.store.writer.read { try DisputeStore.fetchCases(db: $0) }
            #expect(cases.contains { $0.rule == .sos && $0.riskItemIDs == [sos.id] })
            #expect(items.first { $0.category == .fight }?.suppressedBy?.hasPrefix("silenced: JM-000001 by chief") == true, "the silence is in force")
        }
    }
}
