import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// The idempotency keys of every accepted event (`events`): the duplicate
/// check of the pipeline. Before a batch runs, the store says which of its
/// keys it holds (`known`); the batch's commit records the keys of the events
/// it accepted (`insert`). Each key is stored with the event time it was
/// first seen at (whole seconds), for the housekeeper, which deletes keys
/// older than `retention.event_keys_hours` behind the newest event time
/// (Housekeeper.swift). Keys are compared by their bytes (SQLite's BINARY
/// collation, `EventKey`).
///
/// Both go many keys per statement: one statement per event was a seventh of
/// the pipeline's time; sorting the keys first (for locality) cost more in
/// comparisons of their long shared prefixes than it saved.
enum EventKeys {
    static let perStatement = 100

    /// Which of `keys` the store holds.
    static func known(_ keys: [String], db: Database) throws -> Set<EventKey> {
        var known: Set<EventKey> = []
        try inChunks(keys.count, many: RawStatement(db, selectMany), one: RawStatement(db, "SELECT key FROM events WHERE key = ?")) { select, start, n in
            for k in 0..<n { select.bind(Int32(k + 1), keys[start + k]) }
            while try select.step(db) { known.insert(EventKey(String(decoding: select.bytes(0), as: UTF8.self))) }
        }
        return known
    }

    /// Records `keys` with their event times (a key already held is left as it is).
    static func insert(_ keys: [BatchOutcome.AcceptedKey], db: Database) throws {
        try inChunks(keys.count, many: RawStatement(db, insertMany), one: RawStatement(db, "INSERT OR IGNORE INTO events(key, time) VALUES (?, ?)")) { insert, start, n in
            for k in 0..<n {
                insert.bind(Int32(2 * k + 1), keys[start + k].key)
                insert.bind(Int32(2 * k + 2), keyTime(keys[start + k].time))
            }
            try insert.step(db)
        }
    }

    /// Walks `count` keys in full statements of `perStatement` (`many`), then the rest one
    /// by one (`one`): two statements in GRDB's cache, not one per size. `body` binds and
    /// steps the reset statement for the keys `start ..< start + n`.
    @inline(__always)
    private static func inChunks(_ count: Int, many: RawStatement, one: RawStatement,
                                 _ body: (_ statement: RawStatement, _ start: Int, _ n: Int) throws -> Void) throws {
        var start = 0
        while start < count {
            let n = count - start >= perStatement ? perStatement : 1
            let statement = n == perStatement ? many : one
            statement.reset()
            try body(statement, start, n)
            start += n
        }
    }

    /// The stored time of a key: its event time rounded down to whole seconds
    /// (the housekeeper keeps a key until a second after its retention has passed).
    static func keyTime(_ time: Double) -> Int {
        guard time.isFinite else { return 0 }
        return Int(max(min(time, 1e15), -1e15).rounded(.down))
    }

    static let selectMany = "SELECT key FROM events WHERE key IN (" + Array(repeating: "?", count: perStatement).joined(separator: ", ") + ")"
    static let insertMany = "INSERT OR IGNORE INTO events(key, time) VALUES " + Array(repeating: "(?, ?)", count: perStatement).joined(separator: ", ")
}
