import Alerts
import Foundation
import GRDB

/// One dead letter as an installer reads it (`patrolhub dead-letters`, `GET /api/v1/dead-letters`).
public struct DeadLetter: Sendable, Equatable {
    /// The row id: what `replay --id` and the API's `ids` name.
    public var id: Int64
    /// The inbox key (hex) of the message that was refused.
    public var inboxKey: String
    /// The reason code (`unknown_source`, `malformed`, `too_old`, …), stable for filters and scripts.
    public var reason: String
    /// What exactly was wrong, in one line.
    public var detail: String
    /// The topic the message arrived on.
    public var topic: String
    /// The camera or device the message names (its topic, or a Frigate payload's camera),
    /// else the topic (`DeadLetterSource`).
    public var source: String
    /// The whole payload's size in bytes (an oversized payload keeps only its head).
    public var size: Int
    /// When the hub received the message.
    public var receivedAt: Date
    /// When the pipeline refused it.
    public var createdAt: Date
    /// Set when only the head of the payload was kept (oversized): the whole payload's SHA-256.
    public var payloadSHA256: String?
    /// When it was queued again (`replay`), by whom, and the inbox key of that copy.
    public var replayedAt: Date?
    /// Who replayed it.
    public var replayedBy: String?
    /// The inbox key (hex) of the replayed copy.
    public var replayKey: String?
    /// The stored bytes (only from `deadLetter(id:)`).
    public var payload: [UInt8]?

    /// A dead letter as a store reads it from its row.
    public init(id: Int64, inboxKey: String, reason: String, detail: String, topic: String, source: String, size: Int, receivedAt: Date,
                createdAt: Date, payloadSHA256: String?, replayedAt: Date?, replayedBy: String?, replayKey: String?, payload: [UInt8]?) {
        self.id = id
        self.inboxKey = inboxKey
        self.reason = reason
        self.detail = detail
        self.topic = topic
        self.source = source
        self.size = size
        self.receivedAt = receivedAt
        self.createdAt = createdAt
        self.payloadSHA256 = payloadSHA256
        self.replayedAt = replayedAt
        self.replayedBy = replayedBy
        self.replayKey = replayKey
        self.payload = payload
    }

    /// Whether `replay` may queue it: the bytes are whole and it was not replayed yet.
    public var replayable: Bool { payloadSHA256 == nil && reason != DeadLetterReason.oversized.rawValue }
}

/// Which dead letters a listing or a replay selects (all given filters apply).
public struct DeadLetterQuery: Sendable, Equatable {
    /// Only these reason codes; empty: any.
    public var reasons: [String] = []
    /// Only those naming this camera or device.
    public var source: String?
    /// Created at or after.
    public var since: Date?
    /// Only these ids; empty: any.
    public var ids: [Int64] = []
    /// nil: both; false: only those not replayed yet.
    public var replayed: Bool?
    /// Rows per page at most.
    public var limit = 100
    /// Newest first: the rows with an id below this (the `next` of the previous page).
    public var cursor: Int64?
    /// Every dead letter, newest first, 100 per page.
    public init() {}
}

/// What a replay queued and what it left, and why.
public struct DeadLetterReplay: Sendable, Equatable {
    /// Queued again: the dead letter's id and the inbox key of the copy.
    public var queued: [(id: Int64, key: String)] = []
    /// Selected but not queued: the id and why.
    public var refused: [(id: Int64, why: String)] = []
    /// More were selected than one replay takes (`DisputeStore.maxReplay`): run it again.
    public var more = false
    /// Nothing queued, nothing left.
    public init() {}

    /// Equal when every field is (written out because the lists hold tuples).
    public static func == (a: Self, b: Self) -> Bool {
        a.queued.map(\.id) == b.queued.map(\.id) && a.queued.map(\.key) == b.queued.map(\.key)
            && a.refused.map(\.id) == b.refused.map(\.id) && a.refused.map(\.why) == b.refused.map(\.why) && a.more == b.more
    }
}

/// The source a dead letter names: the camera or device id of its topic (or of a
/// Frigate payload's `after.camera`), else the topic; at most 200 bytes.
public enum DeadLetterSource {
    /// The source to show and filter by for a message on `topic`.
    public static func name(topic: String, payload: [UInt8], router: TopicRouter) -> String {
        let name: String
        switch router.route(topic) {
        case .cameraEvent(let id), .cameraStatus(let id), .deviceCheckin(let id), .deviceReport(let id), .deviceSOS(let id),
             .gb28181Alarm(let id), .onvif(let id, _), .onvif2mqtt(let id, _):
            name = id
        case .frigate:
            let event = payload.count <= 1 << 20 ? try? JSONParser.parse(payload) : nil
            // The payload's name is written as the decoder reads it (trailing NULs dropped) and a NUL
            // left in it as `\u0000`: the column is text (PostgreSQL's refuses NUL; a topic holds none).
            name = (event?["after"]?["camera"] ?? event?["before"]?["camera"])?.stringValue
                .map { DecodeText.printable(DecodeText.withoutNULPadding($0)) } ?? topic
        case nil:
            name = topic
        }
        return name.utf8.count > 200 ? DecodeLimits.truncated(name, maxBytes: 200) : name
    }
}

/// The rows of `counters` that count dead letters (kept by the triggers of
/// migration v21, never written by the code): read in O(1) by `status` and
/// `/metrics` however many dead letters the store holds.
public enum DeadLetterCounters {
    /// Dead letters in the store not replayed yet.
    public static let pending = "dead_letters.pending"
    /// Dead letters replayed since the store was created (pruned ones included).
    public static let replayed = "dead_letters.replayed"
}

/// Dead letters an installer can list, read and replay once the registry or
/// the rules are fixed. A replay queues the stored bytes into the inbox again
/// under a key of their own (derived from the dead letter's id, so replaying
/// the same dead letter twice queues the same key), and marks the dead letter
/// replayed with that key; the pipeline then handles the copy as any message:
/// its events are deduplicated by their event keys, and a copy that fails again
/// becomes a new dead letter with its new reason (the `UNIQUE inbox_key` keeps
/// one per key).
extension DisputeStore {
    /// The reasons a replay queues only with `force`: the message stopped the hub
    /// or the store refused what it produced, and may do so again.
    public static let replayNeedsForce: Set<String> = [DeadLetterReason.crashed.rawValue, DeadLetterReason.unprocessable.rawValue]

    /// The most dead letters one replay queues.
    public static let maxReplay = 5000

    static func deadLetterMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v20-dead-letter-replay") { db in
            try db.execute(sql: """
                -- The camera or device a dead letter names (DeadLetterSource), filled after the
                -- batch that wrote it; and when, by whom and under which inbox key it was replayed.
                ALTER TABLE dead_letters ADD COLUMN source TEXT;
                ALTER TABLE dead_letters ADD COLUMN replayed_at REAL;
                ALTER TABLE dead_letters ADD COLUMN replayed_by TEXT;
                ALTER TABLE dead_letters ADD COLUMN replay_key TEXT;
                CREATE INDEX dead_letters_source ON dead_letters(source);
                CREATE INDEX dead_letters_unlabelled ON dead_letters(id) WHERE source IS NULL;
                """)
        }
        m.registerMigration("v21-dead-letter-counters") { db in
            try db.execute(sql: """
                -- Dead letters not replayed yet (kept in the store) and dead letters replayed since the
                -- store was created, kept by triggers in the transaction that changes them, so that
                -- `status` and `/metrics` read two rows instead of counting the table. Seeded from the
                -- rows the store holds now.
                INSERT INTO counters(name, value) SELECT 'dead_letters.pending', COUNT(*) FROM dead_letters WHERE replayed_at IS NULL;
                INSERT INTO counters(name, value) SELECT 'dead_letters.replayed', COUNT(*) FROM dead_letters WHERE replayed_at IS NOT NULL;
                CREATE TRIGGER dead_letters_count_new AFTER INSERT ON dead_letters WHEN NEW.replayed_at IS NULL BEGIN
                    UPDATE counters SET value = value + 1 WHERE name = 'dead_letters.pending'; END;
                CREATE TRIGGER dead_letters_count_replayed AFTER UPDATE OF replayed_at ON dead_letters
                    WHEN OLD.replayed_at IS NULL AND NEW.replayed_at IS NOT NULL BEGIN
                    UPDATE counters SET value = value - 1 WHERE name = 'dead_letters.pending';
                    UPDATE counters SET value = value + 1 WHERE name = 'dead_letters.replayed'; END;
                CREATE TRIGGER dead_letters_count_deleted AFTER DELETE ON dead_letters WHEN OLD.replayed_at IS NULL BEGIN
                    UPDATE counters SET value = value - 1 WHERE name = 'dead_letters.pending'; END;
                """)
        }
    }

    /// Fills the source of dead letters that have none (written since the last call); returns how many.
    @discardableResult
    public func labelDeadLetterSources(router: TopicRouter) throws -> Int {
        try writer.write { db in
            var n = 0
            let rows = try Row.fetchAll(db, sql: "SELECT id, topic, payload FROM dead_letters WHERE source IS NULL LIMIT 10000")
            let update = try db.cachedStatement(sql: "UPDATE dead_letters SET source = ? WHERE id = ?")
            for row in rows {
                let payload = (row[2] as Data?) ?? Data()
                try update.execute(arguments: [DeadLetterSource.name(topic: row[1], payload: Array(payload), router: router), row[0] as Int64])
                n += 1
            }
            return n
        }
    }

    /// A page of dead letters, newest first, without their bytes; `next` is the cursor of the next page.
    public func deadLettersPage(_ q: DeadLetterQuery) throws -> (items: [DeadLetter], next: Int64?) {
        let limit = max(1, min(q.limit, 10_000))
        return try writer.read { db in
            let (clause, arguments) = Self.deadLetterFilter(q)
            let rows = try DeadLetterRow.fetchAll(db, sql: """
                SELECT \(Self.deadLetterColumns) FROM dead_letters \(clause) ORDER BY id DESC LIMIT \(limit + 1)
                """, arguments: arguments)
            let items = rows.prefix(limit).map { $0.deadLetter(withPayload: false) }
            return (items, rows.count > limit ? items.last?.id : nil)
        }
    }

    /// One dead letter with its stored bytes, nil when there is none with this id.
    public func deadLetter(id: Int64) throws -> DeadLetter? {
        try writer.read { db in
            try DeadLetterRow.fetchOne(db, sql: "SELECT \(Self.deadLetterColumns), payload FROM dead_letters WHERE id = ?", arguments: [id])
                .map { $0.deadLetter(withPayload: true) }
        }
    }

    /// Dead letters not replayed yet, counted by reason and by source (the `top` largest sources), largest first.
    public func deadLetterCounts(top: Int = 20) throws -> (byReason: [(String, Int)], bySource: [(String, Int)]) {
        try writer.read { db in
            let reasons = try Row.fetchAll(db, sql: """
                SELECT reason, COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL GROUP BY reason ORDER BY n DESC, reason
                """).map { ($0[0] as String, $0[1] as Int) }
            let sources = try Row.fetchAll(db, sql: """
                SELECT COALESCE(source, topic) AS s, COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL
                GROUP BY s ORDER BY n DESC, s LIMIT ?
                """, arguments: [max(1, top)]).map { ($0[0] as String, $0[1] as Int) }
            return (reasons, sources)
        }
    }

    /// Queues the selected dead letters (not replayed yet, at most `maxReplay`) into
    /// the inbox again and marks them replayed by `actor`, with an `audit_log` row each
    /// (`dead_letter.replayed`). An oversized one (only its head is kept) is refused; a
    /// `crashed` or `unprocessable` one is refused unless `force`. With `dryRun` nothing
    /// is written: the result says what would be queued.
    ///
    /// The copy is appended to the inbox first, then the mark is written: a replay
    /// interrupted between the two queues the same key again next time, which the
    /// pipeline absorbs (same event keys, same dead-letter key).
    public func replayDeadLetters(_ q: DeadLetterQuery, by actor: String, force: Bool = false, dryRun: Bool = false,
                                  now: Date = Date()) throws -> DeadLetterReplay {
        try DeadLetterReplay.run(q, force: force, dryRun: dryRun, select: { selection, after, limit in
            try writer.read { db -> [(DeadLetter, [UInt8])] in
                let (clause, arguments) = Self.deadLetterFilter(selection)
                return try DeadLetterRow.fetchAll(db, sql: """
                    SELECT \(Self.deadLetterColumns), payload FROM dead_letters \(clause.isEmpty ? "WHERE" : clause + " AND") id > ?
                    ORDER BY id LIMIT \(limit)
                    """, arguments: arguments + [after]).map { ($0.deadLetter(withPayload: false), Array($0.payload ?? Data())) }
            }
        }, ingest: { messages in
            _ = try self.ingest(messages)
        }, mark: { queued in
            try writer.write { db in
                let mark = try db.cachedStatement(sql: """
                    UPDATE dead_letters SET replayed_at = ?, replayed_by = ?, replay_key = ? WHERE id = ? AND replayed_at IS NULL
                    """)
                let audit = try db.cachedStatement(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, ?, ?, 'dead_letter.replayed', ?)")
                var marked: Set<Int64> = []
                for (id, key) in queued {
                    try mark.execute(arguments: [now.timeIntervalSince1970, actor, key, id])
                    guard db.changesCount > 0 else { continue } // a replay running at the same moment marked it
                    marked.insert(id)
                    try audit.execute(arguments: [now.timeIntervalSince1970, actor, "dead-letter-\(id)", "queued again as inbox key \(key)"])
                }
                return marked
            }
        })
    }

    /// The columns a dead-letter listing reads, `source` falling back to the topic: the same
    /// text on both stores (`DeadLetterFilter` on PostgreSQL reads it from here).
    package static let deadLetterColumns = """
        id, inbox_key, reason, detail, topic, COALESCE(source, topic) AS source, size, received_at, created_at, payload_sha256, \
        replayed_at, replayed_by, replay_key
        """


    private static func deadLetterFilter(_ q: DeadLetterQuery) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if !q.reasons.isEmpty {
            conditions.append("reason IN (\(databaseQuestionMarks(count: q.reasons.count)))")
            arguments += StatementArguments(q.reasons)
        }
        if let s = q.source {
            conditions.append("(source = ? OR (source IS NULL AND topic = ?))")
            arguments += [s, s]
        }
        if let since = q.since {
            conditions.append("created_at >= ?")
            arguments += [since.timeIntervalSince1970]
        }
        if !q.ids.isEmpty {
            conditions.append("id IN (\(databaseQuestionMarks(count: q.ids.count)))")
            arguments += StatementArguments(q.ids)
        }
        switch q.replayed {
        case true?: conditions.append("replayed_at IS NOT NULL")
        case false?: conditions.append("replayed_at IS NULL")
        case nil: break
        }
        if let c = q.cursor {
            conditions.append("id < ?")
            arguments += [c]
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }
}

extension DeadLetterReplay {
    /// The replay of `replayDeadLetters`, whatever the store: the selection (not replayed yet, at
    /// most `DisputeStore.maxReplay`) read in chunks by `select(selection, afterID, limit)`
    /// (rows by id with their bytes), each chunk's replayable ones handed to `ingest` (the
    /// hub's inbox) and then to `mark` (replayed, with an audit row each; it returns the ids it
    /// marked, and the answer lists only those as queued). With `dryRun` neither is called.
    public static func run(_ q: DeadLetterQuery, force: Bool, dryRun: Bool,
                           select: (DeadLetterQuery, Int64, Int) throws -> [(DeadLetter, [UInt8])],
                           ingest: ([InboxMessage]) throws -> Void,
                           mark: ([(id: Int64, key: String)]) throws -> Set<Int64>) throws -> DeadLetterReplay {
        var selection = q
        selection.replayed = false
        selection.cursor = nil
        var result = DeadLetterReplay()
        var after: Int64 = 0
        // In chunks: a chunk's payloads are in memory at once (each at most limits.max_payload_bytes).
        while result.queued.count + result.refused.count < DisputeStore.maxReplay {
            let chunk = min(200, DisputeStore.maxReplay - result.queued.count - result.refused.count)
            let rows = try select(selection, after, chunk + 1)
            var messages: [InboxMessage] = []
            var queued: [(id: Int64, key: String)] = []
            for (d, payload) in rows.prefix(chunk) {
                if !d.replayable {
                    result.refused.append((d.id, "oversized: only the first \(InboxMessage.oversizedHeadBytes) of its \(d.size) bytes were kept; the device must send it again"))
                } else if DisputeStore.replayNeedsForce.contains(d.reason), !force {
                    result.refused.append((d.id, "\(d.reason): it may stop the hub again; replay it with force once the cause is fixed"))
                } else {
                    let key = StableHash.digest(topic: "patrolhub-replay/\(d.id)", payload: Array(d.inboxKey.utf8))
                    messages.append(InboxMessage(topic: d.topic, payload: payload, receivedAt: d.receivedAt, key: key))
                    queued.append((d.id, StableHash.hex(key)))
                }
            }
            if !dryRun, !messages.isEmpty {
                try ingest(messages)
                // Only those this replay marked: a replay running at the same moment answers for the others.
                let marked = try mark(queued)
                queued = queued.filter { marked.contains($0.id) }
            }
            result.queued += queued
            result.more = rows.count > chunk
            guard rows.count > chunk, let last = rows.prefix(chunk).last else { break }
            after = last.0.id
        }
        return result
    }
}

/// A row of `dead_letters` as the list queries select it (`deadLetterColumns`:
/// `source` falls back to the topic), with the payload when selected.
struct DeadLetterRow: Decodable, FetchableRecord {
    var id: Int64
    var inboxKey: String
    var reason: String
    var detail: String
    var topic: String
    var source: String
    var size: Int
    var receivedAt: Double
    var createdAt: Double
    var payloadSHA256: String?
    var replayedAt: Double?
    var replayedBy: String?
    var replayKey: String?
    /// The stored bytes (nil when not selected, or NULL).
    var payload: Data?

    enum CodingKeys: String, CodingKey {
        case id, reason, detail, topic, source, size, payload
        case inboxKey = "inbox_key", receivedAt = "received_at", createdAt = "created_at", payloadSHA256 = "payload_sha256",
             replayedAt = "replayed_at", replayedBy = "replayed_by", replayKey = "replay_key"
    }

    /// The dead letter; with its bytes (empty when none are stored) when `withPayload`.
    func deadLetter(withPayload: Bool) -> DeadLetter {
        DeadLetter(id: id, inboxKey: inboxKey, reason: reason, detail: detail, topic: topic, source: source, size: size,
                   receivedAt: Date(timeIntervalSince1970: receivedAt), createdAt: Date(timeIntervalSince1970: createdAt),
                   payloadSHA256: payloadSHA256, replayedAt: replayedAt.map(Date.init(timeIntervalSince1970:)), replayedBy: replayedBy,
                   replayKey: replayKey, payload: withPayload ? Array(payload ?? Data()) : nil)
    }
}
