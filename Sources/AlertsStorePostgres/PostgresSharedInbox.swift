import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO

/// The inbox a group of hubs shares (`broker.shared_group` with `store.kind: postgres`).
///
/// Each hub keeps its own inbox file: the broker hands it its share of the
/// messages, and it acknowledges each once committed there, as a lone hub
/// does. Its forwarder copies that file's rows, in order, into
/// `shared_arrivals` (`forward(_:origin:)`), each forward one transaction that
/// also moves the hub's `forwarded_through`, so a row is forwarded exactly
/// once across crashes.
///
/// **Order.** The leader's pipeline reads `shared_inbox` (`PipelineInbox`)
/// after the cursor it keeps under `sharedInboxID`. Before each read it moves
/// the arrivals received more than `settle` ago into it, numbered in the order
/// the hubs received them (receive time, then hub and hub's seq): the order
/// one hub would have received them in, whatever order the forwards
/// committed in. Only the leader numbers (its store's batches are fenced), in
/// one transaction with the counter row (`shared_inbox_seq`), so no row ever
/// becomes visible after one with a higher number and the cursor never passes
/// a row. An arrival forwarded more than `settle` after it was received (a
/// stalled forwarder, a hub back from an outage) is numbered when it comes,
/// after the rows numbered before it: it is decided late, as a late event is.
///
/// On the connection of the `PostgresStore` it is given: the forwarder's is its
/// own (a forward must not wait behind a batch), the leader's pipeline reads on
/// the pipeline's (reads and numbering under its fence). Every call blocks the
/// calling thread (see `PostgresStore`).
public final class PostgresSharedInbox: PipelineInbox, Sendable {
    /// The id the pipeline's cursor and mark are kept under in `pipeline_cursor` and
    /// `pipeline_inflight` (the group's one pipeline; a hub's own inbox id is a UUID).
    public static let sharedInboxID = "shared-inbox"

    /// The connection its statements run on (see the type's note).
    public let store: PostgresStore

    /// How long an arrival waits before the leader numbers it (`settle`, by default): a message
    /// received by one hub is not decided before one another hub received just before it and has
    /// not forwarded yet, as long as that forward takes less than this.
    public static let defaultSettle: TimeInterval = 0.1

    /// How long arrivals wait before they are numbered (see the type's note).
    public let settle: TimeInterval
    /// The time arrivals' receive times are compared with (the hub's clock).
    let clock: @Sendable () -> Date

    /// A shared inbox on `store`'s connection; `clock` is the hub's (its receive times are the hubs' clocks').
    public init(store: PostgresStore, settle: TimeInterval = PostgresSharedInbox.defaultSettle,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.settle = settle
        self.clock = clock
    }

    /// How far the hub whose inbox is `origin` has forwarded (its inbox's seq). A hub forwarding for
    /// the first time starts after the cursor its inbox had when it ran alone on this store (a hub
    /// joining a group after `store.kind: postgres` without one), else at 0; the row is made then.
    public func forwardedThrough(origin: String) throws -> Int64 {
        try store.turn.withLock {
            try store.query("""
                INSERT INTO shared_inbox_forward(origin, forwarded_through, forwarded_at)
                SELECT \(origin), COALESCE((SELECT inbox_seq FROM pipeline_cursor WHERE inbox_id = \(origin)), 0), \(Date().timeIntervalSince1970)
                ON CONFLICT (origin) DO NOTHING
                """)
            return try store.query("SELECT forwarded_through FROM shared_inbox_forward WHERE origin = \(origin)").rows.first?.decode(Int64.self) ?? 0
        }
    }

    /// Copies `records` (rows of the inbox `origin`, oldest first) into the shared arrivals and
    /// moves `origin`'s `forwarded_through` to the last, in one transaction. Rows at or before
    /// what was forwarded already are skipped (a forward that committed but whose caller died
    /// before it knew). Returns `origin`'s new `forwarded_through`.
    @discardableResult
    public func forward(_ records: [InboxRecord], origin: String, now: Date = Date()) throws -> Int64 {
        try store.turn.withLock {
            try store.execute("BEGIN")
            do {
                guard let done = try store.query("SELECT forwarded_through FROM shared_inbox_forward WHERE origin = \(origin) FOR UPDATE")
                    .rows.first?.decode(Int64.self) else {
                    throw HubError(.postgresStore, "the inbox \(origin) has no forwarding position: call forwardedThrough(origin:) first")
                }
                let fresh = records.filter { $0.seq > done }
                guard let last = fresh.last else {
                    try store.execute("COMMIT")
                    return done
                }
                for start in stride(from: 0, to: fresh.count, by: 500) {
                    let part = fresh[start..<min(start + 500, fresh.count)]
                    let originSeqs = part.map(\.seq)
                    let highs = part.map { Int64(bitPattern: $0.keyHigh) }
                    let lows = part.map { Int64(bitPattern: $0.keyLow) }
                    let topics = part.map(\.topic)
                    let payloads = part.map { ByteBuffer(bytes: $0.payload) }
                    let times = part.map(\.receivedAt.timeIntervalSince1970)
                    let sizes = part.map { Int64($0.oversized?.size ?? -1) }
                    let hashes = part.map { $0.oversized?.sha256 ?? "" }
                    try store.query("""
                        INSERT INTO shared_arrivals(origin, origin_seq, key_high, key_low, topic, payload, received_at, size, sha256)
                        SELECT \(origin), o, h, l, t, p, r, NULLIF(z, -1), NULLIF(x, '')
                        FROM unnest(\(originSeqs)::bigint[], \(highs)::bigint[], \(lows)::bigint[], \(topics)::text[],
                                    \(payloads)::bytea[], \(times)::float8[], \(sizes)::bigint[], \(hashes)::text[]) AS u(o, h, l, t, p, r, z, x)
                        """)
                }
                try store.query("""
                    UPDATE shared_inbox_forward SET forwarded_through = \(last.seq), forwarded_at = \(now.timeIntervalSince1970) WHERE origin = \(origin)
                    """)
                let outcome = try store.query(PostgresQuery(unsafeSQL: "COMMIT")).metadata.command
                guard outcome == "COMMIT" else { throw HubError(.postgresStore, "PostgreSQL: the forward was rolled back (\(outcome))") }
                return last.seq
            } catch {
                try? store.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// At most this many arrivals are numbered per transaction: a leader taking over a long
    /// backlog moves it in bounded steps, oldest first, not in one transaction as large as the backlog.
    public static let numberChunk = 20_000

    /// Numbers the arrivals received at or before `cutoff` into the shared inbox, by receive time
    /// (then hub and hub's seq), after its newest row: the oldest `limit` of them, in one
    /// transaction of the store (fenced when the store leads a group: only the leader numbers).
    /// Returns how many.
    @discardableResult
    public func number(receivedThrough cutoff: Date, limit: Int = PostgresSharedInbox.numberChunk) throws -> Int {
        let due = try store.turn.withLock {
            try store.query("SELECT EXISTS (SELECT 1 FROM shared_arrivals WHERE received_at <= \(cutoff.timeIntervalSince1970))")
                .rows.first?.decode(Bool.self) ?? false
        }
        guard due else { return 0 }
        return try store.batch(outputPrefix: "") { b in
            let base = try b.run("SELECT last FROM shared_inbox_seq WHERE id = 1 FOR UPDATE").rows.first?.decode(Int64.self) ?? 0
            let moved = try b.run("""
                WITH due AS (SELECT origin, origin_seq FROM shared_arrivals WHERE received_at <= \(cutoff.timeIntervalSince1970)
                             ORDER BY received_at, origin COLLATE "C", origin_seq LIMIT \(limit)),
                     moved AS (DELETE FROM shared_arrivals a USING due WHERE a.origin = due.origin AND a.origin_seq = due.origin_seq RETURNING a.*)
                INSERT INTO shared_inbox(seq, origin, origin_seq, key_high, key_low, topic, payload, received_at, size, sha256)
                SELECT \(base) + row_number() OVER (ORDER BY received_at, origin COLLATE "C", origin_seq),
                       origin, origin_seq, key_high, key_low, topic, payload, received_at, size, sha256
                FROM moved
                """).metadata.rows ?? 0
            try b.run("UPDATE shared_inbox_seq SET last = \(base + Int64(moved)) WHERE id = 1")
            return moved
        }
    }

    /// Arrivals forwarded and not yet numbered into the shared inbox.
    public func arrivalsWaiting() throws -> Int {
        try store.turn.withLock { try store.query("SELECT COUNT(*) FROM shared_arrivals").rows.first?.decode(Int.self) ?? 0 }
    }

    /// The shared inbox's newest seq (0 when nothing was numbered).
    public func newestSeq() throws -> Int64 {
        try store.turn.withLock { try store.query("SELECT last FROM shared_inbox_seq WHERE id = 1").rows.first?.decode(Int64.self) ?? 0 }
    }

    /// The group pipeline's cursor in the shared inbox (0 before its first batch).
    public func processedThrough() throws -> Int64 {
        try store.turn.withLock {
            try store.query("SELECT inbox_seq FROM pipeline_cursor WHERE inbox_id = \(Self.sharedInboxID)").rows.first?.decode(Int64.self) ?? 0
        }
    }

    /// Deletes shared rows the pipeline has processed that were received before `cutoff` (each
    /// hub's inbox file keeps its own copy by its own retention); returns how many.
    @discardableResult
    public func prune(olderThan cutoff: Date) throws -> Int {
        try store.turn.withLock {
            try store.query("""
                DELETE FROM shared_inbox WHERE received_at < \(cutoff.timeIntervalSince1970)
                AND seq <= COALESCE((SELECT inbox_seq FROM pipeline_cursor WHERE inbox_id = \(Self.sharedInboxID)), 0)
                """).metadata.rows ?? 0
        }
    }

    // MARK: - PipelineInbox

    /// The shared rows after `after`, oldest first, at most `limit` and no more once their payloads
    /// reach `maxBytes`; the arrivals that have settled are numbered first (`number(receivedThrough:)`).
    public func pending(after: Int64, limit: Int, maxBytes: Int) throws -> [InboxRecord] {
        try number(receivedThrough: clock().addingTimeInterval(-settle))
        let rows = try store.turn.withLock {
            try store.query("""
                SELECT seq, key_high, key_low, topic, payload, received_at, size, sha256 FROM shared_inbox
                WHERE seq > \(after) ORDER BY seq LIMIT \(limit)
                """).rows
        }
        var out: [InboxRecord] = []
        out.reserveCapacity(min(limit, 20_000))
        var bytes = 0
        for row in rows {
            guard bytes < maxBytes else { break }
            let record = try Self.record(row)
            bytes += record.payload.count
            out.append(record)
        }
        return out
    }

    /// The seqs of the shared rows after `after` through `through`, oldest first, at most `limit`.
    public func inboxSeqs(after: Int64, through: Int64, limit: Int) throws -> [Int64] {
        try store.turn.withLock {
            try store.query("SELECT seq FROM shared_inbox WHERE seq > \(after) AND seq <= \(through) ORDER BY seq LIMIT \(limit)")
                .rows.map { try $0.decode(Int64.self) }
        }
    }

    /// One shared row by its seq (nil when it is not there, or pruned).
    public func inboxRecord(seq: Int64) throws -> InboxRecord? {
        let row = try store.turn.withLock {
            try store.query("SELECT seq, key_high, key_low, topic, payload, received_at, size, sha256 FROM shared_inbox WHERE seq = \(seq)").rows.first
        }
        return try row.map(Self.record)
    }

    private static func record(_ row: PostgresRow) throws -> InboxRecord {
        let (seq, high, low, topic, payload, received, size, sha) =
            try row.decode((Int64, Int64, Int64, String, ByteBuffer, Double, Int64?, String?).self)
        return InboxRecord(seq: seq, keyHigh: UInt64(bitPattern: high), keyLow: UInt64(bitPattern: low), topic: topic,
                           payload: Array(payload.readableBytesView), receivedAt: Date(timeIntervalSince1970: received),
                           oversized: size.map { InboxMessage.Oversized(size: Int($0), sha256: sha ?? "") })
    }
}
