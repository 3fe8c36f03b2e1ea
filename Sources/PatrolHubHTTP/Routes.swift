import Alerts
import Foundation
import Hummingbird

/// Header names Hummingbird does not predefine (`HTTPField.Name`, reached
/// through `HTTPFields`, which Hummingbird exports).
enum HeaderName {
    static let lastEventID = HTTPFields.Element.Name("Last-Event-ID")!
    static let accelBuffering = HTTPFields.Element.Name("X-Accel-Buffering")!
}

extension Request {
    /// The query as ordered (name, value) pairs, values percent-decoded.
    var queryPairs: [(String, String)] { uri.queryParameters.map { (String($0.key), String($0.value)) } }

    /// The body parsed as JSON (at most 1 MiB); a 400 naming the byte when it is not JSON.
    func jsonBody() async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: 1 << 20)
        } catch {
            throw APIError(.contentTooLarge, "the body is larger than 1 MiB")
        }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("the body is not JSON: \(error)")
        }
    }
}

extension HubRequestContext {
    /// A path parameter percent-decoded, as a client encodes an id (`AJ%2D1` is `AJ-1`);
    /// a 400 when its escapes are not valid UTF-8.
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError.badRequest("\(name): the path's percent-encoding is not valid UTF-8")
        }
        return decoded
    }
}

/// Logs each request at debug level (`--log-level debug`): method, path
/// and status — never the query, which may hold a stream's `access_token`.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code))
            return response
        } catch {
            log(request, context, status: Int((error as? any HTTPResponseError)?.status.code ?? 500))
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int) {
        context.logger.debug("http.request", metadata: ["http.method": "\(request.method)", "http.path": "\(request.uri.path)", "http.status": "\(status)"])
    }
}

/// What the routes are built from.
struct RouteContext: Sendable {
    var api: DispatchAPI
    var feed: ChangeFeed
    var tokens: AccessTokens?
    var policy: RequestPolicy
    var health: HubHealth
    /// `/healthz` reports a pipeline with work and no progress for this long as stalled.
    var stallAfter: TimeInterval = 60
    var limiter = AuthFailureLimiter()
    /// Open HTTP connections, for `/metrics` (the server's connection delegate counts them).
    var connections = ConnectionGauge()
    /// The hub's metrics: `/metrics` writes them, every answered request is counted in them.
    var metrics = HubMetrics()
    /// The board's time zone and sample banner (from the config).
    var board = BoardPage.Settings()
}

/// Every route of the dispatch-room interface, in one place (each one is in
/// `openapi.yaml`, which `GET /api/v1/openapi.yaml` serves; a test checks
/// the two list the same routes).
///
/// Each route is one line that checks the caller's role (`context.require`)
/// and calls `DispatchAPI` through `io { }`, which runs the store's
/// synchronous calls on the HTTP service's own threads (`StoreThreads`):
/// nothing that can wait for the database runs on the server's threads.
/// Reads need no check beyond the token (`AccessMiddleware` refuses a
/// request without one when a token file is configured); anything that
/// changes state calls `try context.require(.operator)` (or a higher role)
/// and records `try context.actor(claimed:field:)` as its author. Before
/// any route, `RequestPolicyMiddleware` checks Host, Origin and
/// Content-Type, and `SecurityHeadersMiddleware` adds the security headers
/// to every answer and turns every error into its answer (`APIError`).
/// Routes return `Codable` bodies (`Responses.swift`), which
/// `APIResponseEncoder` writes.
enum DispatchRoutes {
    /// Who the body says acts (`by`, `created_by`), before a token's name overrides it: a 400 for a
    /// body that is not an object or a name that is not a string, not the "is required" of a missing one.
    static func claimed(_ body: JSONValue, _ field: String) throws -> String? {
        guard body.objectValue != nil else { throw APIError.badRequest("the body must be a JSON object, found \(body.typeName)") }
        guard let value = body[field], !value.isNull else { return nil }
        guard let name = value.stringValue else { throw APIError.field(field, "expected a string, found \(value.typeName)") }
        return name
    }

    /// A yes/no query parameter: absent or `false` is no, `true` yes; anything else (`TRUE`, `1`)
    /// is a 400, so a mistyped `purge` never quietly does the milder thing.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let value = request.uri.queryParameters[name[...]] else { return false }
        switch value {
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("\(name): expected true or false, found '\(String(value).prefix(40))'")
        }
    }

    static func build(_ r: RouteContext) -> Router<HubRequestContext> {
        let api = r.api, feed = r.feed, health = r.health, stallAfter = r.stallAfter, connections = r.connections, metrics = r.metrics
        let threads = feed.threads
        let boardPage = BoardPage.html(r.board)
        @Sendable func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await threads.offload(body)
        }
        let router = Router(context: HubRequestContext.self)
        router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: RequestPolicyMiddleware(policy: r.policy))
        router.add(middleware: AccessMiddleware(tokens: r.tokens, limiter: r.limiter))

        // The live board (no data in the page itself: it reads the API with the user's token).
        router.get("/") { _, _ in
            // The policy forbids anything from elsewhere: the dispatch room has no internet, and the page must not need it.
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                                            .contentSecurityPolicy: BoardPage.contentSecurityPolicy],
                     body: .init(byteBuffer: ByteBuffer(string: boardPage)))
        }
        // From memory only: a wedged store or a stuck pipeline cannot hang the check meant to find them.
        router.get("/healthz") { _, _ in
            let report = health.report(stallAfter: stallAfter)
            return EditedResponse(status: report.healthy ? .ok : .serviceUnavailable, response: report.body)
        }
        router.get("/metrics") { _, _ in
            let clients = feed.clientCount
            let open = connections.count
            let text = try await io { try metrics.scrape(store: api.store, now: api.clock(), streamClients: clients, httpConnections: open) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        let v1 = router.group("api/v1")
        v1.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.text)))
        }
        v1.get("risk-items") { request, _ in
            let query = request.queryPairs
            return try await io { try api.riskItems(try api.listQuery(query, for: .riskItems)) }
        }
        v1.get("cases") { request, _ in
            let query = request.queryPairs
            return try await io { try api.cases(try api.listQuery(query, for: .cases)) }
        }
        v1.get("cases/:id") { _, context in
            let id = try context.pathParameter("id")
            return try await io { try api.caseDetail(id: id) }
        }
        v1.post("cases/:id/actions") { request, context in
            try context.require(.operator)
            let body = try await request.jsonBody()
            let author = try context.actor(claimed: try Self.claimed(body, "by"), field: "by")
            let id = try context.pathParameter("id")
            return try await io { try api.act(caseID: id, body: body, by: author) }
        }
        v1.get("slips") { request, _ in
            let query = request.queryPairs
            return try await io { try api.slips(try api.listQuery(query, for: .slips)) }
        }
        v1.get("zones") { request, _ in
            let query = request.queryPairs
            return try await io { try api.zones(query) }
        }
        v1.get("zones/:code") { _, context in
            let code = try context.pathParameter("code")
            return try await io { try api.zone(code: code) }
        }

        v1.get("silences") { request, _ in
            let all = try Self.flag(request, "all")
            return try await io { try api.silences(all: all) }
        }
        v1.post("silences") { request, context in
            try context.require(.operator)
            let body = try await request.jsonBody()
            let author = try context.actor(claimed: try Self.claimed(body, "created_by"), field: "created_by")
            return EditedResponse(status: .created, response: try await io { try api.addSilence(body: body, createdBy: author, role: context.identity?.role) })
        }
        v1.delete("silences/:id") { request, context in
            try context.require(.operator)
            let id = try context.pathParameter("id")
            let purge = try Self.flag(request, "purge")
            if purge { try context.require(.supervisor) }
            let author = try context.actor(claimed: request.uri.queryParameters["by"].map(String.init), field: "by")
            return try await io { try api.endSilence(id: id, by: author, purge: purge) }
        }

        // Dead letters: any token reads them; replaying them is a supervisor's decision (audited).
        v1.get("dead-letters") { request, _ in
            let query = request.queryPairs
            return try await io { try api.deadLetters(try api.deadLetterQuery(query)) }
        }
        v1.get("dead-letters/summary") { _, _ in
            try await io { try api.deadLetterSummary() }
        }
        v1.get("dead-letters/:id") { _, context in
            let id = try context.pathParameter("id")
            return try await io { try api.deadLetter(id: id) }
        }
        v1.post("dead-letters/replay") { request, context in
            try context.require(.supervisor)
            let body = try await request.jsonBody()
            let author = try context.actor(claimed: try Self.claimed(body, "by"), field: "by")
            return try await io { try api.replayDeadLetters(body: body, by: author) }
        }

        v1.get("reports/:kind") { request, context in
            let kind = try context.pathParameter("kind")
            let query = request.queryPairs
            let (text, type) = try await io { try api.report(kind: kind, query) }
            return Response(status: .ok, headers: [.contentType: type, .contentSecurityPolicy: BoardPage.contentSecurityPolicy],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        v1.get("stream") { request, _ in
            let resume = request.headers[HeaderName.lastEventID] ?? request.uri.queryParameters["after"].map(String.init)
            var after: Int64?
            if let resume {
                guard let s = Int64(resume), s >= 0 else { throw APIError.badRequest("Last-Event-ID / after: expected a change seq, found '\(resume)'") }
                after = s
            }
            guard let subscription = feed.subscribe() else {
                throw APIError(.serviceUnavailable, "the stream has its maximum of \(feed.maxClients) clients (http.max_stream_clients): try again later",
                               headers: [.retryAfter: "10"])
            }
            let (oldest, latest) = try await io { try api.store.changeLogBounds() }
            // An id from a store that was since replaced would hide every change up to it.
            var start = after.map { min($0, latest) } ?? latest
            // Changes after the client's id that the log no longer holds (pruned): the
            // stream goes on from the oldest kept one, and `ready` says which were missed,
            // so the client reloads its lists instead of missing them silently.
            var missed: ClosedRange<Int64>?
            if let after, after < latest, (oldest ?? latest + 1) > after + 1 {
                let firstKept = oldest ?? latest + 1
                missed = (after + 1)...(firstKept - 1)
                start = firstKept - 1
            }
            return EventStream.response(request: request, feed: feed, subscription: subscription, after: start, latest: latest, missed: missed)
        }
        return router
    }
}
