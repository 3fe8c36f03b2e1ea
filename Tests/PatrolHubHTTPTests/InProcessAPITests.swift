import Alerts
import AlertsStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import PatrolHubHTTP

/// A store filled through its own API (inbox + pipeline, silences, case
/// actions) and the API's router served in process (`app.test(.router)`):
/// no broker, no hub, no sockets.
struct InProcessHub {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let token = String(repeating: "v", count: 40)
    static let operatorToken = String(repeating: "o", count: 40)
    static let tokenFile = "viewer wall \(token)\noperator desk-1 \(operatorToken)\n"

    let store: DisputeStore
    let health = HubHealth(clock: .real)

    /// Three events on cam-1 (zone Z-A) a minute apart: a fight (severity 1: a
    /// risk item, a warning slip and a case) and two intrusions (one risk item
    /// seen twice); one loitering on cam-2 (Z-B): three risk items.
    init() throws {
        store = try DisputeStore.inMemory()
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A"),
                                          CameraRecord(id: "cam-2", name: "B", location: nil, zone: "Z-B")], devices: [])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), maxPayloadBytes: 1 << 20)
        let engine = RiskEngine(rules: RuleSet()) { e in Placement(zone: registry.cameras[e.source]?.zone ?? "Z-A", unit: "unit-A") }
        let processor = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { Self.now })
        func event(_ camera: String, _ id: String, _ type: String, _ minutes: Double) -> InboxMessage {
            let time = Self.now.addingTimeInterval(-3600 + minutes * 60)
            return InboxMessage(topic: "patrolhub/v1/camera/\(camera)/event",
                                payload: Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(time.rfc3339)"}"#.utf8), receivedAt: time)
        }
        _ = try store.ingest([event("cam-1", "e1", "fight", 0), event("cam-1", "e2", "intrusion", 1),
                              event("cam-1", "e3", "intrusion", 2), event("cam-2", "e4", "loitering", 3)])
        _ = try processor.processPending(limit: 100)
    }

    /// The API's router over this store (`tokens`: a token file's text; nil: no authentication).
    func router(tokens: String? = nil) throws -> (Router<HubRequestContext>, StoreThreads) {
        let threads = StoreThreads(threads: 2)
        var api = DispatchAPI(store: store)
        api.clock = { Self.now }
        let context = RouteContext(api: api, feed: ChangeFeed(store: store, threads: threads),
                                   tokens: try tokens.map { try AccessTokens.parse($0, file: "tokens.txt") },
                                   policy: RequestPolicy(allowed: [.init(name: "localhost", port: nil)], scheme: "http"), health: health)
        return (DispatchRoutes.build(context), threads)
    }

    /// Runs `body` with a client of the router.
    func test(tokens: String? = nil, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let (router, threads) = try router(tokens: tokens)
        let app = Application(router: router)
        do {
            try await app.test(.router) { client in try await body(client) }
        } catch {
            await threads.shutdown()
            throw error
        }
        await threads.shutdown()
    }
}

/// A response's body as JSON, and the ids of a list.
extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue { (try? JSONParser.parse(text)) ?? .null }
    var ids: [String] {
        guard case .array(let items)? = json["items"] else { return [] }
        return items.compactMap { $0["id"]?.stringValue }
    }
    /// The keys of the body's top-level object, sorted.
    var keys: [String] {
        guard case .object(let o) = json else { return [] }
        return o.members.map(\.key).sorted()
    }
    var errorMessage: String? { json["error"]?["message"]?.stringValue }
}

extension TestClientProtocol {
    /// A request as a browser on the hub's machine sends it (the router framework sets the authority to localhost; a JSON body when given).
    func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { $0 }
    }
}

@Suite("The HTTP API in process (HummingbirdTesting, a store filled through its API)")
struct InProcessAPITests {
    @Test("lists page with a cursor, filter, and answer each object exactly as the store's JSON (the stream's and the output topics')")
    func listsAndShapes() async throws {
        let hub = try InProcessHub()
        let items = try hub.store.riskItemsPage(ListQuery()).items
        let cases = try hub.store.casesPage(ListQuery()).items
        let slips = try hub.store.slipsPage(ListQuery()).items
        try #require(items.count == 3 && cases.count == 1 && !slips.isEmpty, "fixture: \(items.count) items, \(cases.count) cases, \(slips.count) slips")
        try await hub.test { c in
            let all = try await c.call(.get, "/api/v1/risk-items")
            #expect(all.status == .ok)
            #expect(all.headers[.contentType] == "application/json; charset=utf-8")
            #expect(all.json["items"] == .array(items.map(\.json)), "\(all.text)")
            #expect(all.json["next"] == .null)
            #expect(all.text.hasSuffix("}\n"))

            let first = try await c.call(.get, "/api/v1/risk-items?limit=2")
            #expect(first.ids == items.prefix(2).map(\.id))
            let cursor = try #require(first.json["next"]?.stringValue)
            let second = try await c.call(.get, "/api/v1/risk-items?limit=2&cursor=\(cursor)")
            #expect(second.ids == items.dropFirst(2).map(\.id))
            #expect(second.json["next"] == .null)

            let intrusions = try await c.call(.get, "/api/v1/risk-items?category=intrusion")
            #expect(intrusions.ids.sorted() == items.filter { $0.category == .intrusion }.map(\.id).sorted())

            let casesAnswer = try await c.call(.get, "/api/v1/cases")
            #expect(casesAnswer.json["items"] == .array(cases.map(\.json)), "\(casesAnswer.text)")
            let slipsAnswer = try await c.call(.get, "/api/v1/slips?kind=warning")
            #expect(slipsAnswer.json["items"] == .array(slips.filter { $0.kind == .warning }.map(\.json)), "\(slipsAnswer.text)")

            let detail = try await c.call(.get, "/api/v1/cases/\(cases[0].id)")
            let d = try #require(try hub.store.caseDetail(id: cases[0].id))
            guard case .object(var expected) = d.case.json else { Issue.record("a case is an object"); return }
            expected["transitions"] = .array(d.transitions.map(\.json))
            expected["risk_items"] = .array(d.riskItems.map(\.json))
            expected["slips"] = .array(d.slips.map(\.json))
            #expect(detail.json == .object(expected), "\(detail.text)")
        }
    }

    @Test("errors: one body shape, the status the domain error means")
    func errors() async throws {
        let hub = try InProcessHub()
        try await hub.test { c in
            for (query, parameter) in [("limit=0", "limit"), ("state=nope", "state"), ("since=yesterday", "since"), ("bogus=1", "bogus"),
                                       ("cursor=x", "cursor"), ("drill=maybe", "drill")] {
                let r = try await c.call(.get, "/api/v1/risk-items?\(query)")
                #expect(r.status == .badRequest, "\(query)")
                #expect(r.errorMessage?.hasPrefix("query parameter '\(parameter)': ") == true, "\(query): \(r.text)")
                #expect(r.keys == ["error"], "\(r.text)")
            }
            let missing = try await c.call(.get, "/api/v1/cases/AJ-99999999")
            #expect(missing.status == .notFound)
            #expect(missing.text == #"{"error":{"message":"no case AJ-99999999"}}"#)
            let report = try await c.call(.get, "/api/v1/reports/yearly")
            #expect(report.status == .notFound)
            #expect(report.errorMessage == "unknown report 'yearly' (one of: daily, weekly, monthly)")
            let zone = try await c.call(.get, "/api/v1/zones/Z-NOPE")
            #expect(zone.status == .notFound)
            #expect(zone.errorMessage == "no zone Z-NOPE")
        }
    }

    @Test("what a client encodes is read as it meant it: percent-encoded ids; a repeated parameter, a non-string by, a non-object body are 400s")
    func inputIsReadOneWay() async throws {
        let hub = try InProcessHub()
        let id = try #require(try hub.store.casesPage(ListQuery()).items.first?.id)
        try await hub.test { c in
            // An id as a client library encodes it: every byte but letters and digits escaped.
            let escaped = id.utf8.map { b -> String in
                let ch = Character(UnicodeScalar(b))
                return ch.isLetter || ch.isNumber ? String(ch) : String(format: "%%%02X", b)
            }.joined()
            try #require(escaped != id)
            let detail = try await c.call(.get, "/api/v1/cases/\(escaped)")
            #expect(detail.status == .ok, "\(escaped): \(detail.text)")
            #expect(detail.json["id"]?.stringValue == id)
            let badEscape = try await c.call(.get, "/api/v1/cases/AJ%FF%FE")
            #expect(badEscape.status == .badRequest, "\(badEscape.text)")

            for uri in ["/api/v1/risk-items?limit=1&limit=1000", "/api/v1/silences?all=false&all=true", "/api/v1/stream?after=0&after=5"] {
                let r = try await c.call(.get, uri)
                #expect(r.status == .badRequest, "\(uri): \(r.text)")
                #expect(r.errorMessage?.contains("given more than once") == true, "\(uri): \(r.text)")
            }

            let numericBy = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"acknowledge","by":42}"#)
            #expect(numericBy.status == .badRequest)
            #expect(numericBy.errorMessage == "field 'by': expected a string, found a number", "\(numericBy.text)")
            let arrayBody = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"["acknowledge"]"#)
            #expect(arrayBody.status == .badRequest)
            #expect(arrayBody.errorMessage == "the body must be a JSON object, found an array", "\(arrayBody.text)")
            let silenceBy = try await c.call(.post, "/api/v1/silences", json: #"{"zone":"Z","duration":"1e3s","comment":"x","created_by":["op"]}"#)
            #expect(silenceBy.status == .badRequest)
            #expect(silenceBy.errorMessage == "field 'created_by': expected a string, found an array", "\(silenceBy.text)")
            let exponent = try await c.call(.post, "/api/v1/silences", json: #"{"category":"intrusion","duration":"1e3s","comment":"x","created_by":"op"}"#)
            #expect(exponent.status == .badRequest)
            #expect(exponent.errorMessage?.hasPrefix("field 'duration'") == true, "\(exponent.text)")
            let yearOne = try await c.call(.post, "/api/v1/silences", json: #"{"category":"intrusion","starts_at":"0001-01-01T00:00:00Z","duration":"1h","comment":"x","created_by":"op"}"#)
            #expect(yearOne.status == .badRequest, "\(yearOne.text)")
            #expect(yearOne.errorMessage?.contains("before it is created") == true, "\(yearOne.text)")
        }
    }

    @Test("an error quotes at most 1 KiB of what the caller sent: a long id, field value or header is cut")
    func errorsDoNotEchoLongInput() async throws {
        let hub = try InProcessHub()
        let id = try #require(try hub.store.casesPage(ListQuery()).items.first?.id)
        let long = String(repeating: "A", count: 20_000)
        try await hub.test { c in
            var answers: [TestResponse] = []
            answers.append(try await c.call(.get, "/api/v1/cases/\(long)"))
            answers.append(try await c.call(.get, "/api/v1/zones/\(long)"))
            answers.append(try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"\#(long)","by":"x"}"#))
            answers.append(try await c.execute(uri: "/api/v1/stream", method: .get, headers: [HeaderName.lastEventID: long], body: nil) { $0 })
            for r in answers {
                #expect(r.status == .notFound || r.status == .badRequest, "\(r.status)")
                let message = try #require(r.errorMessage, "\(r.text.prefix(200))")
                let bytes = message.utf8.count, cut = message.hasSuffix("…")
                #expect(bytes <= 1024, "\(message.prefix(100))")
                #expect(cut, "\(message.prefix(100))")
            }
        }
    }

    @Test("case actions: the store's refusals become 404, 409 and 400 in one place")
    func caseActions() async throws {
        let hub = try InProcessHub()
        let id = try #require(try hub.store.casesPage(ListQuery()).items.first?.id)
        try await hub.test { c in
            let ack = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"acknowledge","by":"desk-1","note":"on it"}"#)
            #expect(ack.status == .ok, "\(ack.text)")
            #expect(ack.json["state"] == .string("acknowledged"))
            #expect(ack.json == (try hub.store.caseDetail(id: id)?.case.json), "the answer is the case as stored")
            let again = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"acknowledge","by":"desk-1"}"#)
            #expect(again.status == .conflict, "\(again.text)")
            let unknown = try await c.call(.post, "/api/v1/cases/AJ-00000099/actions", json: #"{"action":"acknowledge","by":"desk-1"}"#)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorMessage == "no case AJ-00000099")
            let anonymous = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"acknowledge"}"#)
            #expect(anonymous.status == .badRequest)
            #expect(anonymous.errorMessage == "by is required: who does this")
            let bad = try await c.call(.post, "/api/v1/cases/\(id)/actions", json: #"{"action":"resolve","by":"d","amount_cny":"x"}"#)
            #expect(bad.errorMessage == "field 'amount_cny': expected a number of yuan, found a string")
        }
    }

    @Test("silences: created (201), listed with their state, expired once (then 409), unknown 404; the store's refusals name the field")
    func silences() async throws {
        let hub = try InProcessHub()
        try await hub.test { c in
            let created = try await c.call(.post, "/api/v1/silences", json: #"{"source":"cam-1","duration":"2h","comment":"maintenance","created_by":"desk-1"}"#)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"]?.stringValue)
            #expect(created.json["state"] == .string("active"))
            #expect(created.json["zone"] == .null, "unset matchers are null, not left out")
            #expect(created.json["ends_at"] == .string(InProcessHub.now.addingTimeInterval(7200).rfc3339))
            let listed = try await c.call(.get, "/api/v1/silences")
            #expect(listed.ids == [id])
            #expect(listed.json["next"] == .null)
            let noComment = try await c.call(.post, "/api/v1/silences", json: #"{"source":"cam-1","duration":"2h","created_by":"desk-1"}"#)
            #expect(noComment.status == .badRequest)
            #expect(noComment.errorMessage == "field 'comment': is required: say why")
            let badDuration = try await c.call(.post, "/api/v1/silences", json: #"{"source":"cam-1","duration":"2w","comment":"x","created_by":"d"}"#)
            #expect(badDuration.errorMessage == "field 'duration': expected e.g. 30m, 2h or 1d, found '2w'")
            let ended = try await c.call(.delete, "/api/v1/silences/\(id)?by=desk-1")
            #expect(ended.status == .ok)
            #expect(ended.json == .object(["id": .string(id), "expired": .bool(true)]))
            let twice = try await c.call(.delete, "/api/v1/silences/\(id)?by=desk-1")
            #expect(twice.status == .conflict, "\(twice.text)")
            let unknown = try await c.call(.delete, "/api/v1/silences/SL-NOPE?by=desk-1")
            #expect(unknown.status == .notFound)
        }
    }

    @Test("tokens and roles: reads need a token, writes the operator role; the board and health are open")
    func roles() async throws {
        let hub = try InProcessHub()
        let id = try #require(try hub.store.casesPage(ListQuery()).items.first?.id)
        try await hub.test(tokens: InProcessHub.tokenFile) { c in
            let anonymous = try await c.call(.get, "/api/v1/risk-items")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == #"Bearer realm="patrolhub""#)
            #expect(try await c.call(.get, "/api/v1/openapi.yaml").status == .unauthorized, "the document is an API route: viewer")
            #expect(try await c.call(.get, "/api/v1/openapi.yaml", token: InProcessHub.token).status == .ok)
            #expect(try await c.call(.get, "/healthz").status == .ok)
            #expect(try await c.call(.get, "/").status == .ok)
            #expect(try await c.call(.get, "/api/v1/risk-items", token: InProcessHub.token).status == .ok)
            let viewerAct = try await c.call(.post, "/api/v1/cases/\(id)/actions", token: InProcessHub.token, json: #"{"action":"acknowledge"}"#)
            #expect(viewerAct.status == .forbidden)
            #expect(viewerAct.errorMessage == "this needs the role operator or above; token 'wall' has viewer")
            let act = try await c.call(.post, "/api/v1/cases/\(id)/actions", token: InProcessHub.operatorToken, json: #"{"action":"acknowledge","note":"x"}"#)
            #expect(act.status == .ok, "\(act.text)")
            let transitions = try hub.store.caseDetail(id: id)?.transitions ?? []
            #expect(transitions.last?.actor == "desk-1", "the author is the token's name")
            let purge = try await c.call(.delete, "/api/v1/silences/SL-1?purge=true", token: InProcessHub.operatorToken)
            #expect(purge.status == .forbidden, "purging needs a supervisor")
        }
    }

    @Test("health and metrics: the health body's shape; Prometheus text")
    func healthAndMetrics() async throws {
        let hub = try InProcessHub()
        try await hub.test { c in
            let health = try await c.call(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(health.json["status"] == .string("ok"))
            #expect(health.json["ingest"]?["last_error"] == .null)
            #expect(health.keys == ["clock", "ingest", "pipeline", "problems", "status"], "\(health.text)")
            #expect(health.json["clock"]?["simulated"] == .bool(false))
            #expect(health.json["clock"]?["speed"] == nil, "a real clock has no speed")
            let metrics = try await c.call(.get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(metrics.text.contains("patrolhub_risk_items"), "\(metrics.text.prefix(400))")
        }
    }
}
