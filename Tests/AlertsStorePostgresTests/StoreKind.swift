@testable import AlertsStore
import AlertsStorePostgres
import Foundation
import GRDB
import PostgresTestSupport

/// What the shared behaviours need of a store besides `PipelineStore`: row counts, and closing it.
protocol TestStore: PipelineStore {
    /// The rows of `table` (one of `PostgresStore.countedTables`).
    func rows(_ table: String) throws -> Int
    /// The value of a `counters` row (0 when absent).
    func counter(_ name: String) throws -> Int
    /// Closes the store and removes what the test made for it.
    func finish()
}

extension TestStore {
    /// Rows of every counted table.
    func allRows() throws -> [String: Int] {
        var out: [String: Int] = [:]
        for table in PostgresStore.countedTables { out[table] = try rows(table) }
        return out
    }

    /// Rows of the tables that hold objects (not logs, counters or the change feed).
    func entityRows() throws -> [String: Int] {
        var out: [String: Int] = [:]
        for table in ["events", "event_batches", "risk_items", "slips", "slip_items", "cases", "case_items", "case_transitions",
                      "dead_letters", "patrol_slots", "unmapped_inputs"] {
            out[table] = try rows(table)
        }
        return out
    }
}

/// The SQLite store on a temporary file.
final class SQLiteTestStore: TestStore {
    let store: DisputeStore
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-behaviour-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = try DisputeStore(path: folder.appendingPathComponent("store.sqlite").path)
    }

    func batch<T>(outputPrefix: String, _ body: (SQLiteBatch) throws -> T) throws -> T {
        try store.batch(outputPrefix: outputPrefix, body)
    }

    func rows(_ table: String) throws -> Int {
        precondition(PostgresStore.countedTables.contains(table) || table == "patrol_slots", table)
        return try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }

    func counter(_ name: String) throws -> Int {
        try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = ?", arguments: [name]) ?? 0 }
    }

    func finish() { try? FileManager.default.removeItem(at: folder) }
}

/// The PostgreSQL store on a fresh database of the test server.
final class PostgresTestStore: TestStore {
    let store: PostgresStore
    /// The database's URL and password (for a second connection).
    let url: String
    let password: String?

    /// A fresh database, the store opened for the inbox `inboxID` (a new random one by default).
    init(inboxID: String = UUID().uuidString.lowercased()) throws {
        let db = try TestPostgres.freshDatabase("behaviour")
        (url, password) = db
        store = try PostgresStore(url: db.url, password: db.password, inboxID: inboxID)
    }

    func batch<T>(outputPrefix: String, _ body: (PostgresBatch) throws -> T) throws -> T {
        try store.batch(outputPrefix: outputPrefix, body)
    }

    func rows(_ table: String) throws -> Int { try store.rowCount(table) }

    func counter(_ name: String) throws -> Int { try store.counter(name) }

    func finish() { store.close() }
}

/// The two implementations the behaviours run on.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    var description: String { rawValue }

    /// Opens a store of this kind on the calling thread, runs `body`, and closes it.
    func open(_ body: (any TestStore) throws -> Void) throws {
        let store: any TestStore = switch self {
        case .sqlite: try SQLiteTestStore()
        case .postgres: try PostgresTestStore()
        }
        defer { store.finish() }
        try body(store)
    }

    /// `open` on a dedicated thread (the stores block their caller).
    func with(_ body: @escaping @Sendable (any TestStore) throws -> Void) async throws {
        try await onDedicatedThread { try open(body) }
    }
}
