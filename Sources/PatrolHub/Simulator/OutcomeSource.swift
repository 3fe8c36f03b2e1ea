import Alerts
import AlertsStore
import Foundation
import Simulation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where a drill reads the hub's outcomes from.
protocol OutcomeSource: Sendable {
    /// The outcomes of one kind changed since `since` (slips and cases: `updated_at`; risk items: `last_seen`).
    func fetch(_ kind: DrillExpectation.Kind, since: Date, now: Date) async throws -> [ObservedOutcome]
    /// Creates a silence for the drill (event-time window), returns its id.
    func addSilence(_ spec: Scenario.SilenceSpec, startsAt: Date, endsAt: Date) async throws -> String
}

/// The hub's HTTP API (SPEC.md "Dispatch-room interface"): `GET /api/v1/cases`,
/// `/api/v1/slips?kind=…`, `/api/v1/risk-items`, each `{"items": [...], "next": cursor|null}`,
/// paged with `cursor`, filtered with `since`; silences with `POST /api/v1/silences`.
struct HTTPOutcomeSource: OutcomeSource {
    var base: URL
    var token: String?
    var session: URLSession = .shared

    func request(_ path: String, query: [(String, String)] = [], method: String = "GET", body: Data? = nil) async throws -> (Int, Data) {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        // '+' in an RFC 3339 offset must survive as '+', not become a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var r = URLRequest(url: components.url!)
        r.httpMethod = method
        r.timeoutInterval = 10
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            r.httpBody = body
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: r)
        } catch {
            throw HubError(.hubAPI, "the hub's API at \(base.absoluteString) did not answer \(method) \(path): \(Self.why(error, timeout: r.timeoutInterval))")
        }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// Why a request failed, in an operator's words (Foundation's text is
    /// "The operation could not be completed. (NSURLErrorDomain error -1001.)").
    static func why(_ error: any Error, timeout: TimeInterval) -> String {
        let e = error as NSError
        guard e.domain == NSURLErrorDomain else { return error.localizedDescription }
        switch e.code {
        case NSURLErrorTimedOut: return "no answer within \(Int(timeout)) s"
        case NSURLErrorCannotConnectToHost: return "connection refused (is the hub running, with HTTP on this port?)"
        case NSURLErrorCannotFindHost: return "no such host"
        case NSURLErrorNetworkConnectionLost: return "the connection was closed"
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted: return "the TLS handshake failed"
        default: return "network error \(e.code)"
        }
    }

    /// Fails with a clear line when the hub is not there.
    func checkHealth() async throws {
        let (status, _) = try await request("/healthz")
        guard status == 200 else { throw HubError(.hubAPI, "the hub's API at \(base.absoluteString) answered /healthz with status \(status)") }
    }

    func fetch(_ kind: DrillExpectation.Kind, since: Date, now: Date) async throws -> [ObservedOutcome] {
        let path: String
        var query: [(String, String)] = [("since", since.rfc3339), ("limit", "1000")]
        switch kind {
        case .case: path = "/api/v1/cases"
        case .riskItem: path = "/api/v1/risk-items"
        case .warning, .reminder, .supervision:
            path = "/api/v1/slips"
            query.append(("kind", kind.rawValue))
        }
        var out: [ObservedOutcome] = []
        var cursor: String?
        repeat {
            let (status, data) = try await request(path, query: query + (cursor.map { [("cursor", $0)] } ?? []))
            guard status == 200 else {
                throw HubError(.hubAPI, "GET \(path) answered \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
            }
            let page: JSONValue
            do {
                page = try JSONParser.parse([UInt8](data))
            } catch {
                throw HubError(.hubAPI, "GET \(path) answered something that is not JSON: \(error)")
            }
            guard case .array(let items)? = page["items"] else { throw HubError(.hubAPI, "GET \(path): no 'items' list in the answer") }
            for item in items {
                if let o = ObservedOutcome(json: item, kind: kind, observedAt: now) { out.append(o) }
            }
            cursor = page["next"]?.stringValue ?? page["next"]?.doubleValue.map { String(Int64($0)) }
        } while cursor != nil
        return out
    }

    func addSilence(_ spec: Scenario.SilenceSpec, startsAt: Date, endsAt: Date) async throws -> String {
        var o: JSONObject = [
            "starts_at": .string(startsAt.rfc3339), "ends_at": .string(endsAt.rfc3339), "comment": .string(spec.comment),
            "drill": .bool(true), "created_by": .string("patrolhub drill"),
        ]
        if let z = spec.zone { o["zone"] = .string(z) }
        if let c = spec.category { o["category"] = .string(c.rawValue) }
        if let s = spec.source { o["source"] = .string(s) }
        let (status, data) = try await request("/api/v1/silences", method: "POST", body: Data(JSONValue.object(o).serialized.utf8))
        guard (200..<300).contains(status) else {
            throw HubError(.hubAPI, "POST /api/v1/silences answered \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        return (try? JSONParser.parse([UInt8](data)))?["id"]?.stringValue ?? "?"
    }
}

extension ObservedOutcome {
    /// Reads one list item of the API (SPEC.md field names); nil when it lacks `id` or `zone`.
    init?(json v: JSONValue, kind: DrillExpectation.Kind, observedAt: Date) {
        guard let id = v["id"]?.stringValue, let zone = v["zone"]?.stringValue else { return nil }
        let parser = TimeParser.utc
        func time(_ key: String) -> Date? { v[key]?.stringValue.flatMap(parser.parse) }
        var categories: [Category] = []
        if case .array(let list)? = v["categories"] { categories = list.compactMap { $0.stringValue.flatMap(Category.init(rawValue:)) } }
        let severity = v["severity"]?.doubleValue.flatMap { Severity(rawValue: Int($0)) }
        let category = v["category"]?.stringValue.flatMap(Category.init(rawValue:))
        switch kind {
        case .case:
            self.init(kind: .case, id: id, zone: zone, category: category, categories: categories, severity: severity,
                      stampedAt: time("opened_at"), observedAt: observedAt)
        case .warning, .reminder, .supervision:
            let k = v["kind"]?.stringValue.flatMap(DrillExpectation.Kind.init(rawValue:)) ?? kind
            self.init(kind: k, id: id, zone: zone, category: category, severity: severity, stampedAt: time("issued_at"), observedAt: observedAt)
        case .riskItem:
            let suppressed: Bool
            if case .string? = v["suppressed_by"] { suppressed = true } else { suppressed = false }
            self.init(kind: .riskItem, id: id, zone: zone, category: category, severity: severity, source: v["source"]?.stringValue,
                      suppressed: suppressed, firstSeen: time("first_seen"), lastSeen: time("last_seen"), observedAt: observedAt)
        }
    }
}

/// Polls a source while a drill runs and keeps, for each outcome, the time it
/// was first seen (the latest fields win: a case may gain evidence).
final class OutcomeWatcher: @unchecked Sendable {
    let source: any OutcomeSource
    let kinds: [DrillExpectation.Kind]
    let since: Date
    let riskSince: Date
    private let lock = NSLock()
    private var seen: [String: ObservedOutcome] = [:]
    private var lastChange = Date()
    private var lastError: String?
    private var stopped = false

    init(source: any OutcomeSource, kinds: [DrillExpectation.Kind], since: Date, riskSince: Date) {
        self.source = source
        self.kinds = kinds
        self.since = since
        self.riskSince = riskSince
    }

    /// One pass over every list.
    func poll() async {
        for kind in kinds {
            let now = Date()
            do {
                let items = try await source.fetch(kind, since: kind == .riskItem ? riskSince : since, now: now)
                record(items, now: now)
            } catch {
                lock.withLock { lastError = "\(error)" }
            }
        }
    }

    private func record(_ items: [ObservedOutcome], now: Date) {
        lock.withLock {
            for var o in items {
                let key = "\(o.kind.rawValue):\(o.id)"
                if let old = seen[key] {
                    o.observedAt = old.observedAt
                    if o != old { lastChange = now }
                } else {
                    lastChange = now
                }
                seen[key] = o
            }
            lastError = nil
        }
    }

    var outcomes: [ObservedOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return seen.values.sorted { ($0.observedAt, $0.id) < ($1.observedAt, $1.id) }
    }

    /// When the set last changed.
    var changedAt: Date { lock.lock(); defer { lock.unlock() }; return lastChange }
    var error: String? { lock.lock(); defer { lock.unlock() }; return lastError }

    /// Polls every `interval` until cancelled.
    /// Polls until `stop()`, then returns after the poll or the sleep in progress.
    ///
    /// Not stopped by cancelling its task: cancelling a task inside `URLSession.data`
    /// can deadlock swift-corelibs-foundation (the cancel handler waits on the session's
    /// queue while that queue, completing the request, waits for the task's status lock);
    /// a drill hung that way in a test run.
    func run(interval: Duration) async {
        while !lock.withLock({ stopped }) {
            await poll()
            if lock.withLock({ stopped }) { return }
            try? await Task.sleep(for: interval)
        }
    }

    func stop() { lock.withLock { stopped = true } }
}

/// The store of a hub running in this process (the demo's embedded hub): the
/// same outcomes the HTTP API lists, read directly, with the API's `since`
/// semantics (slips and cases: `updated_at`; risk items: `last_seen`).
struct StoreOutcomeSource: OutcomeSource {
    let store: DisputeStore

    func fetch(_ kind: DrillExpectation.Kind, since: Date, now: Date) async throws -> [ObservedOutcome] {
        switch kind {
        case .case:
            let cases = try await store.writer.read { db in try DisputeStore.fetchCases(limit: 100_000, db: db) }
            return cases.filter { $0.updatedAt >= since }.compactMap { ObservedOutcome(json: $0.json, kind: .case, observedAt: now) }
        case .warning, .reminder, .supervision:
            return try store.slips(kind: kind.slipKind, limit: 100_000).filter { $0.updatedAt >= since }
                .compactMap { ObservedOutcome(json: $0.json, kind: kind, observedAt: now) }
        case .riskItem:
            return try store.riskItems(limit: 1_000_000).filter { $0.lastSeen >= since }
                .compactMap { ObservedOutcome(json: $0.json, kind: .riskItem, observedAt: now) }
        }
    }

    func addSilence(_ spec: Scenario.SilenceSpec, startsAt: Date, endsAt: Date) async throws -> String {
        let silence = Silence(id: "", zone: spec.zone, category: spec.category, source: spec.source, drill: true, startsAt: startsAt,
                              endsAt: endsAt, createdBy: "drill", comment: spec.comment, createdAt: Date())
        return try store.addSilence(silence).id
    }
}

extension HubError.Code {
    /// The hub's HTTP API did not answer a drill's reads and writes as expected.
    static let hubAPI = Self("hub_api")
}
