import Foundation
import GRDB
import GRDBSQLite

/// The idempotency keys of every accepted event (`events`): recording a key
/// is the duplicate check, since a key already there inserts nothing.
///
/// A batch's keys are recorded together, many per statement, each statement
/// returning the keys it inserted (`INSERT OR IGNORE … RETURNING`, SQLite
/// 3.35+; older SQLite gets one statement per key). A key repeated within the
/// batch is inserted (and returned) once. Not sorted first: comparing the
/// keys, which share long prefixes, cost more than the locality saved.
enum EventKeys {
    static let perStatement = 100

    /// Records `keys`; returns those the store did not hold before.
    static func record(_ keys: [String], db: Database, returning: Bool = returningSupported) throws -> Set<String> {
        var fresh = Set<String>(minimumCapacity: keys.count)
        guard returning else {
            let insert = try RawStatement(db, "INSERT OR IGNORE INTO events(key) VALUES (?)")
            for key in keys {
                insert.reset()
                insert.bind(1, key)
                try insert.step(db)
                if sqlite3_changes(db.sqliteConnection) > 0 { fresh.insert(key) }
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
            for k in 0..<n { insert.bind(Int32(k + 1), keys[start + k]) }
            while try insert.step(db) { fresh.insert(insert.text(0)) }
            start += n
        }
        return fresh
    }

    static func statement(rows: Int) -> String {
        "INSERT OR IGNORE INTO events(key) VALUES " + Array(repeating: "(?)", count: rows).joined(separator: ",") + " RETURNING key"
    }

    static let manyStatement = statement(rows: perStatement)
    static let returningSupported = sqlite3_libversion_number() >= 3_035_000
}
