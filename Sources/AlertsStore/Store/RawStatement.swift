import Alerts
import Foundation
import GRDB
import GRDBSQLite

/// Binds and steps a cached GRDB statement through the SQLite C API, for the
/// few statements that run once per event (GRDB's `StatementArguments` box
/// every value). Text is bound with SQLITE_TRANSIENT (copied by SQLite), so
/// no Swift buffer has to outlive a call.
struct RawStatement {
    let statement: Statement
    /// Kept, not read through `statement` at every bind (that retained and released it each time).
    let handle: OpaquePointer

    init(_ db: Database, _ sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        handle = statement.sqliteStatement
    }

    private let emptyText: UnsafePointer<CChar> = StaticString("").utf8Start.withMemoryRebound(to: CChar.self, capacity: 1) { $0 }
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func reset() { sqlite3_reset(handle); sqlite3_clear_bindings(handle) }
    func bind(_ i: Int32, _ s: String) {
        var s = s
        s.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { c in _ = sqlite3_bind_text(handle, i, c.baseAddress ?? emptyText, Int32(c.count), Self.transient) }
        }
    }
    func bind(_ i: Int32, _ s: String?) { if let s { bind(i, s) } else { sqlite3_bind_null(handle, i) } }
    func bind(_ i: Int32, _ d: Double) { sqlite3_bind_double(handle, i, d) }
    func bind(_ i: Int32, _ d: Double?) { if let d { bind(i, d) } else { sqlite3_bind_null(handle, i) } }
    func bind(_ i: Int32, _ n: Int) { sqlite3_bind_int64(handle, i, Int64(n)) }
    func bind(_ i: Int32, _ b: Bool) { sqlite3_bind_int64(handle, i, b ? 1 : 0) }

    /// A text column of the current row, as SQLite holds it (valid until the next step or reset).
    func bytes(_ column: Int32) -> UnsafeBufferPointer<UInt8> {
        guard let p = sqlite3_column_text(handle, column) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// Steps once; returns true when a row is available, false when done.
    @discardableResult
    func step(_ db: Database) throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
        sqlite3_reset(handle)
        throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: statement.sql)
    }
}
