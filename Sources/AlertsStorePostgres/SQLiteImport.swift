import Alerts
import AlertsStore
import Foundation
import PostgresNIO

/// One table's row counts after `PostgresStore.copy(from:)`.
public struct TableCopyCount: Sendable, Hashable {
    /// The table.
    public var table: String
    /// Its rows in the SQLite store, counted after the copy.
    public var sqliteRows: Int
    /// Its rows in PostgreSQL, counted after the copy committed.
    public var postgresRows: Int
    /// Whether the two counts are equal.
    public var ok: Bool { sqliteRows == postgresRows }
}

extension PostgresStore {
    /// Every table of the PostgreSQL schema but `schema_migrations`, in creation order, so a
    /// table comes after the tables it refers to (`slip_items` after `slips` and `risk_items`).
    package static let copiedTables = [
        "pipeline_cursor", "pipeline_inflight", "counters", "dead_letters", "events", "event_batches", "zones", "cameras", "devices",
        "risk_items", "slips", "slip_items", "cases", "case_items", "case_transitions", "audit_log", "outbox", "silences",
        "patrol_slots", "patrol_records", "patrol_scheduler", "unmapped_inputs", "retention_horizons", "changes",
    ]

    /// Tables a SQLite store has no counterpart of: only a group of hubs on one PostgreSQL
    /// store writes them (the shared inbox, `v4-shared-inbox`). Not copied, left as migrated.
    static let groupOnlyTables: Set<String> = ["shared_arrivals", "shared_inbox", "shared_inbox_seq", "shared_inbox_forward", "pipeline_leader"]

    /// The tables the first migration fills with a starting row: the copy replaces those rows.
    static let seededTables: Set<String> = ["pipeline_cursor", "counters"]

    /// Tables keyed by inbox here (`inbox_id`, `v2-inbox-keyed`) and by `id = 1` in SQLite (one
    /// inbox beside each store): the copy keys their row by the SQLite store's inbox
    /// (`DisputeStore.inboxID`), so the hub resumes at its own position.
    static let inboxKeyedTables: Set<String> = ["pipeline_cursor", "pipeline_inflight"]

    /// Copies a SQLite store (`source`) into this database, then counts each table on both sides.
    ///
    /// - Every table of the PostgreSQL schema (`copiedTables`), every row and column, ids
    ///   included; identity columns' sequences are then set past the largest id copied. The
    ///   cursor and the in-progress mark are keyed by the SQLite store's inbox (`source.inboxID`,
    ///   `inboxKeyedTables`) instead of SQLite's `id = 1`.
    /// - One transaction for the whole copy: a failure (or a crash) leaves the database as it
    ///   was, empty, so the copy can simply be run again; a half-copied store is never seen.
    ///   PostgreSQL holds a large transaction without trouble (no undo log to fill).
    /// - Triggers (change log, dead-letter counter) are disabled during the copy
    ///   (`ALTER TABLE … DISABLE TRIGGER USER`, inside the transaction): the change log and the
    ///   counters are copied as they are, not written again. Foreign keys stay checked. The role
    ///   must own the tables (it does when it ran the migrations).
    /// - Refuses a database already holding data (any row outside the starting rows of
    ///   `pipeline_cursor` and `counters`): nothing is merged or overwritten.
    /// - Rows are read `batchRows` at a time per table (one consistent read per table,
    ///   `DisputeStore.exportRows`) and inserted as multi-row `INSERT`s. Run it on a stopped hub:
    ///   rows the hub writes during the copy show as differing counts.
    ///
    /// Blocks the calling thread (see the type's note).
    ///
    /// - Returns: each table's counts (SQLite after the copy, PostgreSQL after the commit), in `copiedTables` order.
    /// - Throws: `HubError` `.postgresStore` naming the table (and column) when the target holds
    ///   data, the SQLite store lacks a table or has a table or column PostgreSQL lacks, a value does not fit
    ///   its column (e.g. text with a NUL byte), or a statement fails.
    public func copy(from source: DisputeStore, batchRows: Int = 500) throws -> [TableCopyCount] {
        precondition(batchRows > 0, "batchRows must be positive")
        try turn.withLock {
            try checkSchemaCovered()
            let sqliteTables = Set(try source.exportTables())
            for table in Self.copiedTables where !sqliteTables.contains(table) {
                throw HubError(.postgresStore, "the SQLite store has no table \(table): not a PatrolHub store, or an older one")
            }
            let uncopied = sqliteTables.subtracting(Self.copiedTables).sorted()
            guard uncopied.isEmpty else {
                throw HubError(.postgresStore, "the SQLite store has tables the PostgreSQL schema lacks: \(uncopied.joined(separator: ", "))")
            }
            for table in Self.copiedTables where !Self.seededTables.contains(table) {
                let rows = try count(table)
                if rows > 0 {
                    throw HubError(.postgresStore, "\(url) already holds data (\(table) has \(rows) rows): migrate into an empty database")
                }
            }
            try execute("BEGIN")
            do {
                for table in Self.copiedTables {
                    try copyTable(table, from: source, batchRows: batchRows)
                }
                try execute("COMMIT")
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
        }
        var counts: [TableCopyCount] = []
        for table in Self.copiedTables {
            let postgresRows = try turn.withLock { try count(table) }
            counts.append(TableCopyCount(table: table, sqliteRows: try source.exportCount(table: table), postgresRows: postgresRows))
        }
        return counts
    }

    /// Fails when the database has a table `copiedTables` does not list (a newer migration
    /// added it): the copy would silently leave it out.
    private func checkSchemaCovered() throws {
        let rows = try query("""
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
            """).rows
        let tables = Set(try rows.map { try $0.decode(String.self) })
        let missing = tables.subtracting(Self.copiedTables).subtracting(Self.groupOnlyTables).sorted()
        guard missing.isEmpty else {
            throw HubError(.postgresStore, "the copy does not know the PostgreSQL tables \(missing.joined(separator: ", ")) (PostgresStore.copiedTables)")
        }
    }

    private func count(_ table: String) throws -> Int {
        try query(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table)")).rows.first?.decode(Int.self) ?? 0
    }

    /// One table, inside the copy's transaction.
    private func copyTable(_ table: String, from source: DisputeStore, batchRows: Int) throws {
        let columnRows = try query("""
            SELECT column_name::text, data_type::text, is_identity::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table) ORDER BY ordinal_position
            """).rows
        var types: [String: String] = [:]
        var identities: [String] = []
        for row in columnRows {
            let (name, type, identity) = try row.decode((String, String, String).self)
            types[name] = type
            if identity == "YES" { identities.append(name) }
        }
        try execute("ALTER TABLE \(table) DISABLE TRIGGER USER")
        if Self.seededTables.contains(table) { try execute("DELETE FROM \(table)") }
        try source.exportRows(table: table, batchRows: batchRows) { exported in
            var batch = exported
            if Self.inboxKeyedTables.contains(table), let id = batch.columns.firstIndex(of: "id") {
                batch.columns[id] = "inbox_id"
                for i in batch.rows.indices { batch.rows[i][id] = .text(source.inboxID) }
            }
            let unknown = batch.columns.filter { types[$0] == nil }
            guard unknown.isEmpty else {
                throw HubError(.postgresStore, "table \(table): the PostgreSQL schema has no column \(unknown.joined(separator: ", ")) for the SQLite store's data")
            }
            // At most 65535 parameters a statement (the protocol's limit).
            let perStatement = max(1, min(batchRows, 60_000 / max(1, batch.columns.count)))
            var start = 0
            while start < batch.rows.count {
                let rows = batch.rows[start..<min(start + perStatement, batch.rows.count)]
                try insert(table, columns: batch.columns, types: batch.columns.map { types[$0]! }, rows: rows)
                start += rows.count
            }
        }
        for column in identities {
            try query(PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), (SELECT COALESCE(MAX(\(column)), 0) + 1 FROM \(table)), false)
                """))
        }
        try execute("ALTER TABLE \(table) ENABLE TRIGGER USER")
    }

    private func insert(_ table: String, columns: [String], types: [String], rows: ArraySlice<[StoreValue]>) throws {
        var bindings = PostgresBindings(capacity: rows.count * columns.count)
        var tuples: [String] = []
        tuples.reserveCapacity(rows.count)
        var n = 0
        for row in rows {
            var placeholders: [String] = []
            for (i, value) in row.enumerated() {
                try Self.bind(value, as: types[i], into: &bindings, at: "table \(table), column \(columns[i])")
                n += 1
                placeholders.append("$\(n)")
            }
            tuples.append("(" + placeholders.joined(separator: ", ") + ")")
        }
        let sql = "INSERT INTO \(table)(\(columns.joined(separator: ", "))) VALUES " + tuples.joined(separator: ", ")
        try query(PostgresQuery(unsafeSQL: sql, binds: bindings))
    }

    /// Binds a SQLite value as the PostgreSQL column's type (`information_schema`'s `data_type`).
    private static func bind(_ value: StoreValue, as type: String, into bindings: inout PostgresBindings, at place: @autoclosure () -> String) throws {
        func refuse(_ why: String) -> HubError { HubError(.postgresStore, "\(place()): \(why)") }
        switch (type, value) {
        case (_, .null):
            bindings.appendNull()
        case ("boolean", .integer(let v)):
            bindings.append(v != 0)
        case ("bigint", .integer(let v)), ("integer", .integer(let v)), ("smallint", .integer(let v)):
            bindings.append(v)
        case ("bigint", .real(let v)) where v.rounded() == v && abs(v) < 9.0e18:
            bindings.append(Int64(v))
        case ("double precision", .integer(let v)), ("real", .integer(let v)):
            bindings.append(Double(v))
        case ("double precision", .real(let v)), ("real", .real(let v)):
            bindings.append(v)
        case ("text", .text(let v)):
            guard !v.utf8.contains(0) else { throw refuse("text with a NUL byte cannot be stored in PostgreSQL") }
            bindings.append(v)
        case ("bytea", .blob(let v)):
            bindings.append(ByteBuffer(bytes: v))
        case ("bytea", .text(let v)):
            bindings.append(ByteBuffer(string: v))
        default:
            throw refuse("a SQLite \(value.kind) value does not fit PostgreSQL's \(type)")
        }
    }
}

extension StoreValue {
    /// SQLite's name for the storage class, for error messages.
    var kind: String {
        switch self {
        case .null: "NULL"
        case .integer: "INTEGER"
        case .real: "REAL"
        case .text: "TEXT"
        case .blob: "BLOB"
        }
    }
}
