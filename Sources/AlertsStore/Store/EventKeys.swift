import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// The idempotency keys of every accepted event (`events`): recording a key
/// is the duplicate check, since a key already there inserts nothing. Each key
/// is stored with the event time it was first seen at (whole seconds), for the
/// housekeeper, which deletes keys older than `retention.event_keys_hours`
/// behind the newest event time (Housekeeper.swift).
///
/// A batch's keys are recorded together, many per statement, each statement
/// returning the keys it inserted (`INSERT OR IGNORE … RETURNING`, SQLite
/// 3.35+; older SQLite gets one statement per key). A key repeated within the
/// batch is inserted, and returned, once. One statement per event was a
/// seventh of the pipeline's time; sorting the keys first (for locality) cost
/// more in comparisons of their long shared prefixes than it saved.
enum EventKeys {
    static let perStatement = 100

    /// Records `keys`; returns, for each position, whether its key was new —
    /// not held by the store and not earlier in `keys`.
    ///
    /// A returned key marks the first unmarked position holding it, looked for
    /// from the last one marked: SQLite returns rows in insertion order, so the
    /// search is short, and were the order ever different, each new key would
    /// still mark exactly one of its positions.
    /// `times[i]` is the event time of `keys[i]` (unix seconds).
    static func record(_ keys: [String], times: [Double], db: Database, returning: Bool = returningSupported) throws -> [Bool] {
        precondition(times.count == keys.count)
        var fresh = [Bool](repeating: false, count: keys.count)
        guard returning else {
            let insert = try RawStatement(db, "INSERT OR IGNORE INTO events(key, time) VALUES (?, ?)")
            for (i, key) in keys.enumerated() {
                insert.reset()
                insert.bind(1, key)
                insert.bind(2, keyTime(times[i]))
                try insert.step(db)
                fresh[i] = sqlite3_changes(db.sqliteConnection) > 0
            }
            return fresh
        }
        // Full statements, then the rest one by one (two statements in GRDB's cache, not one per size).
        let many = try RawStatement(db, manyStatement)
        let one = try RawStatement(db, statement(rows: 1))
        var start = 0
        while start < keys.count {
            let insert = keys.count - start >= perStatement ? many : one
            let n = insert.statement === many.statement ? perStatement : 1
            insert.reset()
            for k in 0..<n {
                insert.bind(Int32(2 * k + 1), keys[start + k])
                insert.bind(Int32(2 * k + 2), keyTime(times[start + k]))
            }
            var next = start
            while try insert.step(db) {
                let text = insert.bytes(0)
                let chunk = start..<(start + n)
                let at = (next..<chunk.upperBound).first { !fresh[$0] && equal(keys[$0], text) }
                    ?? chunk.first { !fresh[$0] && equal(keys[$0], text) }
                guard let at else { throw DatabaseError(message: "events: RETURNING gave a key that was not inserted") }
                fresh[at] = true
                next = at + 1
            }
            start += n
        }
        return fresh
    }

    static func equal(_ key: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var key = key
        return key.withUTF8 { u in u.count == bytes.count && (u.count == 0 || memcmp(u.baseAddress!, bytes.baseAddress!, u.count) == 0) }
    }

    static func statement(rows: Int) -> String {
        "INSERT OR IGNORE INTO events(key, time) VALUES " + Array(repeating: "(?, ?)", count: rows).joined(separator: ",") + " RETURNING key"
    }

    /// The stored time of a key: its event time rounded down to whole seconds
    /// (the housekeeper keeps a key until a second after its retention has passed).
    static func keyTime(_ time: Double) -> Int {
        guard time.isFinite else { return 0 }
        return Int(max(min(time, 1e15), -1e15).rounded(.down))
    }

    /// Records one key again (a key removed in the same batch, see PipelineProcessor); true when inserted.
    static func recordOne(_ key: String, time: Double, db: Database) throws -> Bool {
        try db.execute(sql: "INSERT OR IGNORE INTO events(key, time) VALUES (?, ?)", arguments: [key, keyTime(time)])
        return db.changesCount > 0
    }

    static let manyStatement = statement(rows: perStatement)
    static let returningSupported = sqlite3_libversion_number() >= 3_035_000
}
