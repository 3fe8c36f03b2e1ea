import Alerts
import AlertsStore
import Foundation
import Hummingbird

/// `GET /api/v1/dead-letters`: one dead letter, without its bytes.
struct DeadLetterBody: ResponseEncodable, Sendable {
    var id: Int64
    var reason: String
    var detail: String
    var topic: String
    var source: String
    var size: Int
    var received_at: Date
    var created_at: Date
    var replayable: Bool
    @Null var replayed_at: Date?
    @Null var replayed_by: String?
    @Null var replay_key: String?

    init(_ d: DeadLetter) {
        id = d.id; reason = d.reason; detail = d.detail; topic = d.topic; source = d.source; size = d.size
        received_at = d.receivedAt; created_at = d.createdAt; replayable = d.replayable
        replayed_at = d.replayedAt; replayed_by = d.replayedBy; replay_key = d.replayKey
    }
}

/// `GET /api/v1/dead-letters/{id}`: the dead letter with its stored bytes, as
/// text when they are UTF-8 (`payload_text`), else base64 (`payload_base64`),
/// at most `DeadLettersAPI.maxPayloadBytes` of them.
struct DeadLetterDetailBody: ResponseEncodable, Sendable {
    var dead_letter: DeadLetterBody
    @Null var payload_text: String?
    @Null var payload_base64: String?
    /// Whether the bytes shown are fewer than those stored.
    var payload_truncated: Bool
}

/// `GET /api/v1/dead-letters/summary`: those not replayed yet, counted by reason and by source.
struct DeadLetterSummaryBody: ResponseEncodable, Sendable {
    struct Count: Encodable, Sendable {
        var name: String
        var count: Int
    }
    var total: Int
    var by_reason: [Count]
    var by_source: [Count]
}

/// `POST /api/v1/dead-letters/replay`: what was queued and what was refused, and why.
struct DeadLetterReplayBody: ResponseEncodable, Sendable {
    struct Queued: Encodable, Sendable {
        var id: Int64
        var inbox_key: String
    }
    struct Refused: Encodable, Sendable {
        var id: Int64
        var why: String
    }
    var dry_run: Bool
    var queued: [Queued]
    var refused: [Refused]
    var more: Bool
}

/// The dead letters of the dispatch-room API: list, read, count, replay.
extension DispatchAPI {
    enum DeadLettersAPI {
        static let maxPayloadBytes = 64 * 1024
        static let maxIDs = 1000
    }

    /// Reads `reason` (comma-separated), `source`, `since`, `replayed`, `limit` and `cursor`; anything else is a 400 naming it.
    func deadLetterQuery(_ params: [(String, String)]) throws -> DeadLetterQuery {
        var q = DeadLetterQuery()
        q.limit = Self.defaultLimit
        let filter = DeadLetterFilter(timeParser: timeParser, fail: APIError.parameter)
        for (key, value) in params {
            switch key {
            case "reason": q.reasons += try value.split(separator: ",").map { try filter.reason(String($0)) }
            case "source": q.source = try filter.source(value)
            case "since": q.since = try filter.since(value)
            case "replayed":
                guard let b = Bool(value) else { throw APIError.parameter(key, "expected true or false, found '\(value.prefix(100))'") }
                q.replayed = b
            default:
                guard try pageParameter(key, value, limit: &q.limit, cursor: &q.cursor) else {
                    throw APIError.parameter(String(key.prefix(100)), "unknown parameter (known: reason, source, since, replayed, limit, cursor)")
                }
            }
        }
        return q
    }

    func deadLetters(_ q: DeadLetterQuery) throws -> Page<DeadLetterBody> {
        let page = try store.deadLettersPage(q)
        return Page(items: page.items.map(DeadLetterBody.init), next: page.next)
    }

    func deadLetter(id: String) throws -> DeadLetterDetailBody {
        guard let n = Int64(id), n > 0, let d = try store.deadLetter(id: n) else { throw APIError.notFound("no dead letter \(id.prefix(100))") }
        let bytes = d.payload ?? []
        let shown = Array(bytes.prefix(DeadLettersAPI.maxPayloadBytes))
        let text = String(validating: shown, as: UTF8.self)
        return DeadLetterDetailBody(dead_letter: DeadLetterBody(d), payload_text: text,
                                    payload_base64: text == nil ? Data(shown).base64EncodedString() : nil,
                                    payload_truncated: shown.count < bytes.count)
    }

    func deadLetterSummary() throws -> DeadLetterSummaryBody {
        let counts = try store.deadLetterCounts()
        return DeadLetterSummaryBody(total: counts.byReason.reduce(0) { $0 + $1.1 },
                                     by_reason: counts.byReason.map { .init(name: $0.0, count: $0.1) },
                                     by_source: counts.bySource.map { .init(name: $0.0, count: $0.1) })
    }

    /// Body: `reason` (a string or a list), `source`, `since`, `ids` (at most 1000), `force`,
    /// `dry_run`, `by`. At least one of reason, source, since, ids is required.
    func replayDeadLetters(body: JSONValue, by author: String) throws -> DeadLetterReplayBody {
        let fields = try BodyFields(body, known: ["reason", "source", "since", "ids", "force", "dry_run", "by"])
        var q = DeadLetterQuery()
        let filter = DeadLetterFilter(timeParser: timeParser, fail: APIError.field)
        switch fields.value("reason") {
        case nil: break
        case .string(let r)?: q.reasons = [try filter.reason(r)]
        case .array(let a)?:
            guard a.count <= DeadLetterFilter.reasons.count else { throw APIError.field("reason", "at most \(DeadLetterFilter.reasons.count) reasons") }
            for v in a {
                guard let r = v.stringValue else { throw APIError.field("reason", "expected strings, found \(v.typeName)") }
                q.reasons.append(try filter.reason(r))
            }
        case let v?: throw APIError.field("reason", "expected a string or a list of strings, found \(v.typeName)")
        }
        q.source = try fields.string("source").map(filter.source)
        q.since = try fields.string("since").map(filter.since)
        if let v = fields.value("ids") {
            guard case .array(let a) = v else { throw APIError.field("ids", "expected a list of dead letter ids, found \(v.typeName)") }
            guard a.count <= DeadLettersAPI.maxIDs else { throw APIError.field("ids", "at most \(DeadLettersAPI.maxIDs) ids at a time") }
            for v in a {
                guard case .number(let n) = v, n >= 1, n <= 9e15, n == n.rounded() else { throw APIError.field("ids", "expected whole positive numbers") }
                q.ids.append(Int64(n))
            }
        }
        func flag(_ key: String) throws -> Bool {
            guard let v = fields.value(key) else { return false }
            guard case .bool(let b) = v else { throw APIError.field(key, "expected true or false, found \(v.typeName)") }
            return b
        }
        let force = try flag("force"), dryRun = try flag("dry_run")
        guard !q.reasons.isEmpty || q.source != nil || q.since != nil || !q.ids.isEmpty else {
            throw APIError.badRequest("give reason, source, since or ids: which dead letters to replay")
        }
        let r = try store.replayDeadLetters(q, by: author, force: force, dryRun: dryRun, now: clock())
        if !dryRun, !r.queued.isEmpty { inboxQueued?() }
        return DeadLetterReplayBody(dry_run: dryRun, queued: r.queued.map { .init(id: $0.id, inbox_key: $0.key) },
                                    refused: r.refused.map { .init(id: $0.id, why: $0.why) }, more: r.more)
    }
}

/// The filters a dead-letter listing (query parameters) and a replay (body
/// fields) share, checked alike; `fail` makes the 400 naming the parameter or
/// the field (`APIError.parameter`, `APIError.field`).
struct DeadLetterFilter {
    static let reasons = DeadLetterReason.allCases.map(\.rawValue)
    let timeParser: TimeParser
    let fail: (String, String) -> APIError

    func reason(_ r: String) throws -> String {
        guard Self.reasons.contains(r) else { throw fail("reason", "unknown reason '\(r.prefix(100))' (known: \(Self.reasons.joined(separator: ", ")))") }
        return r
    }

    func source(_ s: String) throws -> String {
        guard !s.isEmpty, s.utf8.count <= 1024 else { throw fail("source", "expected a camera or device id or a topic (1 to 1024 bytes)") }
        return s
    }

    func since(_ s: String) throws -> Date {
        guard let t = timeParser.parse(s) else { throw fail("since", "expected an RFC 3339 time, e.g. 2025-03-01T08:00:00+08:00, found '\(s.prefix(100))'") }
        return t
    }
}
