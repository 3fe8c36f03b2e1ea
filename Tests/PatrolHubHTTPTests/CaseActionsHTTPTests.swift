import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import HummingbirdTesting
import Testing
@testable import PatrolHubHTTP

/// `POST /api/v1/cases/{id}/actions` in process (`InProcessHub`: the router
/// over a store filled through its API). AJ-00000001 is the case the engine
/// opened for the fight on cam-1.
@Suite("Case actions over HTTP")
struct CaseActionsHTTPTests {
    @Test("actions walk a case; 409 on an illegal transition, 404 on an unknown case, 400 on a bad body")
    func actionsAndErrors() async throws {
        let f = try InProcessHub()
        try await f.test { c in
            let path = "/api/v1/cases/AJ-00000001/actions"
            let ack = try await c.post(path, json: #"{"action":"acknowledge","by":"desk-2","note":"收到"}"#)
            #expect(ack.status == .ok, "\(ack.text)")
            #expect(ack.json["id"] == .string("AJ-00000001"))
            #expect(ack.json["state"] == .string("acknowledged"))

            let illegal = try await c.post(path, json: #"{"action":"close","by":"desk-2","note":"done"}"#)
            #expect(illegal.status == .conflict)
            #expect(illegal.json["error"]?["message"]
                    == .string("case AJ-00000001 is acknowledged: 'close' is not allowed from acknowledged (allowed: assign, hold, false-alarm)"))
            let unknown = try await c.post("/api/v1/cases/AJ-00000099/actions", json: #"{"action":"acknowledge","by":"desk-2"}"#)
            #expect(unknown.status == .notFound)
            #expect(unknown.json["error"]?["message"] == .string("no case AJ-00000099"))
            for (body, message) in [
                (#"{"action":"assign","by":"desk-2"}"#, "'assign' on case AJ-00000001 needs an assignee"),
                (#"{"action":"dance","by":"desk-2"}"#, "field 'action': unknown action 'dance' (one of: acknowledge, assign, start, hold, resolve, close, false-alarm, reopen)"),
                (#"{"action":"hold"}"#, "by is required: who does this"),
                (#"{"action":"false-alarm","by":"desk-2"}"#, "'false-alarm' on case AJ-00000001 needs a note saying why"),
                (#"{"action":"hold","by":"desk-2","reason":"x"}"#, "field 'reason': unknown field (known: action, amount_cny, assignee, by, note, outcome, satisfaction)"),
                (#"{"action":"hold","by":"desk-2","note":5}"#, "field 'note': expected a string, found a number"),
            ] {
                let r = try await c.post(path, json: body)
                #expect(r.status == .badRequest, "\(body)")
                #expect(r.json["error"]?["message"] == .string(message), "\(body): \(r.text)")
            }

            #expect(try await c.post(path, json: #"{"action":"assign","by":"desk-2","assignee":"gw-001"}"#).status == .ok)
            #expect(try await c.post(path, json: #"{"action":"start","by":"gw-001"}"#).status == .ok)
            let resolved = try await c.post(path, json: #"{"action":"resolve","by":"gw-001","note":"双方已分开","outcome":"handled","amount_cny":0,"satisfaction":"neutral"}"#)
            #expect(resolved.status == .ok, "\(resolved.text)")
            #expect(resolved.json["state"] == .string("resolved"))
            #expect(resolved.json["outcome"] == .string("handled"))
            #expect(resolved.json["amount_cny"] == .number(0))
            #expect(resolved.json["satisfaction"] == .string("neutral"))
            #expect(resolved.json["assignee"] == .string("gw-001"))

            // The API's case is the stored case, and every action went through the one store path.
            let detail = try await c.call(.get, "/api/v1/cases/AJ-00000001")
            #expect(detail.json["state"] == .string("resolved"))
            let history = try await f.store.writer.read { db in try DisputeStore.transitions(of: "AJ-00000001", db: db) }
            #expect(history.map(\.action) == [.acknowledge, .assign, .start, .resolve])
            #expect(history.map(\.actor) == ["desk-2", "desk-2", "gw-001", "gw-001"])
            let audit = try await f.store.writer.read { db in
                try String.fetchAll(db, sql: "SELECT action FROM audit_log WHERE subject = 'AJ-00000001' AND action LIKE 'case.%' AND actor != 'patrolhub' ORDER BY id")
            }
            #expect(audit == ["case.acknowledge", "case.assign", "case.start", "case.resolve"])
        }
    }

    @Test("an operator's token is the author; a viewer may not act")
    func roles() async throws {
        let tokens = """
            viewer      wall        viewer-token-0123456789abcdefghij
            operator    desk-1      operator-token-0123456789abcdefghij
            """
        let f = try InProcessHub()
        try await f.test(tokens: tokens) { c in
            let path = "/api/v1/cases/AJ-00000001/actions"
            let body = #"{"action":"assign","by":"someone-else","assignee":"gw-009"}"#
            #expect(try await c.post(path, json: body).status == .unauthorized)
            let refused = try await c.post(path, json: body, token: "viewer-token-0123456789abcdefghij")
            #expect(refused.status == .forbidden)
            let done = try await c.post(path, json: body, token: "operator-token-0123456789abcdefghij")
            #expect(done.status == .ok, "\(done.text)")
            #expect(done.json["assignee"] == .string("gw-009"))
            let last = try await f.store.writer.read { db in try DisputeStore.transitions(of: "AJ-00000001", db: db).last }
            #expect(last?.actor == "desk-1")
            #expect(last?.to == .assigned)
        }
    }
}

extension TestClientProtocol {
    /// A JSON POST, as the board sends it.
    func post(_ uri: String, json: String, token: String? = nil) async throws -> TestResponse {
        try await call(.post, uri, token: token, json: json)
    }
}
