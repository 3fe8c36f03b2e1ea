import Alerts
import Foundation
import GRDB

/// One value of an exported row: SQLite's five storage classes as plain Swift
/// values (no GRDB type), so another store's target can copy the rows
/// (`patrolhub store migrate`, AlertsStorePostgres).
public enum StoreValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// An INTEGER.
    case integer(Int64)
    /// A REAL.
    case real(Double)
    /// TEXT.
    case text(String)
    /// A BLOB.
    case blob([UInt8])
}

/// A batch of one table's rows: the column names once, then each row's values in that order.
public struct ExportedRows: Sendable {
    /// The table's columns, in the order of each row's values.
    public var columns: [String]
    /// The rows of this batch.
    public var rows: [[StoreValue]]
}

extension DisputeStore {
    /// The store file's tables (not SQLite's own, nor GRDB's list of applied migrations), by name.
    public func exportTables() throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master
                WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'
                ORDER BY name
                """)
        }
    }

    /// The rows `table` holds now (one of `exportTables()`).
    public func exportCount(table: String) throws -> Int {
        let table = try exportedTable(table)
        return try writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(table)\"") ?? 0 }
    }

    /// Reads every row of `table` (one of `exportTables()`, every column) in one read
    /// transaction, so the rows are one consistent state of the table, and hands them to `body`
    /// `batchRows` at a time, in the table's storage order (rowid or primary key). The hub may
    /// go on writing meanwhile (WAL): what it writes after the read began is not seen.
    ///
    /// One streaming read rather than pages by key (`after:limit:`): a table's rows cannot
    /// change between pages, and tables keyed by several columns need no keyset paging.
    /// `body` may block (it writes elsewhere); it holds a read connection while it runs.
    public func exportRows(table: String, batchRows: Int = 500, _ body: (ExportedRows) throws -> Void) throws {
        precondition(batchRows > 0, "batchRows must be positive")
        let table = try exportedTable(table)
        try writer.read { db in
            let statement = try db.makeStatement(sql: "SELECT * FROM \"\(table)\"")
            let columns = statement.columnNames
            var batch: [[StoreValue]] = []
            batch.reserveCapacity(batchRows)
            let cursor = try Row.fetchCursor(statement)
            while let row = try cursor.next() {
                batch.append((0..<columns.count).map { Self.storeValue(row[$0] as DatabaseValue) })
                if batch.count == batchRows {
                    try body(ExportedRows(columns: columns, rows: batch))
                    batch.removeAll(keepingCapacity: true)
                }
            }
            if !batch.isEmpty { try body(ExportedRows(columns: columns, rows: batch)) }
        }
    }

    /// `table` when it is one of the store's tables (the name goes into SQL), else an error.
    private func exportedTable(_ table: String) throws -> String {
        guard try exportTables().contains(table) else {
            throw HubError(.storeExport, "the SQLite store has no table \(table)")
        }
        return table
    }

    private static func storeValue(_ value: DatabaseValue) -> StoreValue {
        switch value.storage {
        case .null: .null
        case .int64(let v): .integer(v)
        case .double(let v): .real(v)
        case .string(let v): .text(v)
        case .blob(let v): .blob([UInt8](v))
        }
    }
}

extension HubError.Code {
    /// Reading a store's rows for a copy elsewhere failed (`DisputeStore.exportRows`).
    public static let storeExport = Self("store_export")
}
