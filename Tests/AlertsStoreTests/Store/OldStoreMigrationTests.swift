@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// One store written by an older version of PatrolHub, as kept in
/// Tests/Fixtures/old-stores/NAME: the store and inbox files (gzipped) and the
/// MANIFEST that scripts/make-old-stores.sh wrote when that version's hub had
/// stopped (its migrations and the row count of every table).
struct OldStore: Sendable, CustomTestStringConvertible {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/old-stores")
    /// Named by the last store migration the version applied.
    static let names = ["v3-cases", "v8-event-batches", "v12-visible-outcomes"]

    let name: String
    let migrations: [String]
    let inboxMigrations: [String]
    /// Rows per table of the store as the old version left it; `inbox` is the inbox file's table.
    let rows: [String: Int]

    var testDescription: String { name }

    init(_ name: String) throws {
        self.name = name
        let text = try String(contentsOf: Self.folder.appendingPathComponent("\(name)/MANIFEST"), encoding: .utf8)
        var migrations: [String] = [], inboxMigrations: [String] = [], rows: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            switch words.first {
            case "migrations": migrations = Array(words.dropFirst())
            case "inbox_migrations": inboxMigrations = Array(words.dropFirst())
            case "rows" where words.count == 3: rows[words[1]] = Int(words[2])
            default: break
            }
        }
        self.migrations = migrations
        self.inboxMigrations = inboxMigrations
        self.rows = rows
    }

    /// A private copy of the fixture's two files in a new temporary folder.
    struct Copy {
        let folder: String
        var store: String { folder + "/patrolhub.sqlite" }
        var inbox: String { DisputeStore.inboxPath(for: store) }
        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    func copy() throws -> Copy {
        let folder = NSTemporaryDirectory() + "old-store-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let copy = Copy(folder: folder)
        for (file, target) in [("patrolhub.sqlite.gz", copy.store), ("patrolhub.inbox.sqlite.gz", copy.inbox)] {
            try Self.gunzip(Self.folder.appendingPathComponent("\(name)/\(file)").path, to: target)
        }
        return copy
    }

    static func gunzip(_ source: String, to target: String) throws {
        guard FileManager.default.createFile(atPath: target, contents: nil) else { throw Failure("cannot create \(target)") }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
        defer { try? out.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-dc", source]
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Failure("gzip -dc \(source) exited with \(p.terminationStatus)") }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Row counts of every table of a database (SQLite's own and GRDB's aside). The
    /// dead-letter counters (v21) are left out: they are derived from the rows, seeded
    /// by the migration (`migrationKeepsEveryRow` checks their values).
    static func counts(_ db: Database) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for t in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'") {
            out[t] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(t)\"\(t == "counters" ? " WHERE name NOT LIKE 'dead_letters.%'" : "")")
        }
        return out
    }

    /// The schema as (type, name, SQL) lines, sorted. The default of `events.time`
    /// (v13: the newest event time logged before the migration) differs per store by design.
    static func schema(_ db: Database) throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT type, name, sql FROM sqlite_master ORDER BY type, name").map { row in
            var sql: String = row[2] ?? ""
            if row[1] == "events" { sql = sql.replacingOccurrences(of: #"DEFAULT \d+"#, with: "DEFAULT N", options: .regularExpression) }
            return "\(row[0] as String) \(row[1] as String): \(sql)"
        }
    }
}

/// Store files made by the code of older versions (scripts/make-old-stores.sh),
/// opened by today's code: the migrations run on real data, keep every row, and
/// leave the same schema, triggers and indexes a new store has, and they work.
@Suite("Old stores: files written by older versions migrate with all their rows")
struct OldStoreMigrationTests {
    /// The fixture as that version left it, read without migrating.
    static func unmigrated(_ copy: OldStore.Copy) throws -> (migrations: [String], rows: [String: Int], inboxMigrations: [String], inboxRows: Int) {
        let store = try DatabaseQueue(path: copy.store)
        let inbox = try DatabaseQueue(path: copy.inbox)
        let (m, r) = try store.read { db in (try Migrations.migrator.completedMigrations(db), try OldStore.counts(db)) }
        let (im, ir) = try inbox.read { db in
            (try Migrations.inboxMigrator.completedMigrations(db), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") ?? 0)
        }
        return (m, r, im, ir)
    }

    @Test("every row of every table survives the migrations", arguments: OldStore.names)
    func migrationKeepsEveryRow(name: String) throws {
        let fixture = try OldStore(name)
        let copy = try fixture.copy()
        defer { copy.remove() }
        let before = try Self.unmigrated(copy)
        // The fixture is what its manifest says: that version's migrations, its rows.
        #expect(before.migrations == fixture.migrations)
        #expect(before.inboxMigrations == fixture.inboxMigrations)
        #expect(before.rows == fixture.rows.filter { $0.key != "inbox" })
        #expect(before.inboxRows == fixture.rows["inbox"])
        #expect(before.migrations.last == name)

        let store = try DisputeStore(path: copy.store)
        let (applied, after) = try store.writer.read { db in (try Migrations.migrator.completedMigrations(db), try OldStore.counts(db)) }
        #expect(applied == Migrations.migrator.migrations)
        #expect(try store.inboxWriter.read { try Migrations.inboxMigrator.completedMigrations($0) } == Migrations.inboxMigrator.migrations)
        for (table, n) in before.rows {
            // `events` is rebuilt by v5 (keys only): it keeps one row per key.
            #expect(after[table] == n, "\(table): \(n) rows before the migrations, \(after[table].map(String.init) ?? "no table") after")
        }
        #expect(try store.inboxWriter.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM inbox") } == before.inboxRows)
        // Tables the old version did not have start empty, except the event log's batches.
        for (table, n) in after where before.rows[table] == nil && table != "event_batches" {
            #expect(n == 0, "\(table) is new and should be empty, has \(n) rows")
        }
        // The dead-letter counters start from the rows: every old dead letter is pending.
        let status = try store.status()
        #expect((status.deadLettersPending, status.deadLettersReplayed) == (before.rows["dead_letters"] ?? -1, 0))
        // The pipeline's position is kept: nothing old is pending, nothing is read twice.
        #expect(try store.pending(limit: 10).isEmpty)
        #expect(try store.cursor() == store.inboxWriter.read { try Int64.fetchOne($0, sql: "SELECT MAX(seq) FROM inbox") })
    }

    @Test("a case's co-units, sources and categories read the same after v14 stores them as JSON arrays", arguments: OldStore.names)
    func caseListsBecomeJSON(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        // What the old rows held, read as the old code read them ('|'-joined).
        let old = try DatabaseQueue(path: copy.store).read { db in
            try Row.fetchAll(db, sql: "SELECT id, co_units, sources, categories FROM cases ORDER BY id").map { row in
                [0, 1, 2, 3].map { i in ((row[i] as String?) ?? "").split(separator: "|").map(String.init) }
            }
        }
        let store = try DisputeStore(path: copy.store)
        let (stored, cases) = try store.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT co_units || sources || categories FROM cases"),
             try DisputeStore.cases(rows: Row.fetchAll(db, sql: "SELECT * FROM cases ORDER BY id"), db: db))
        }
        #expect(cases.map { [[$0.id], $0.coUnits, $0.sources, $0.categories.map(\.rawValue)] } == old)
        #expect(stored.allSatisfy { $0.hasPrefix("[") && $0.hasSuffix("]") }, "every list is a JSON array")
        if name == "v12-visible-outcomes" { #expect(old.contains { !$0[2].isEmpty }, "the fixture has cases with sources") }
    }

    @Test("a migrated store has the schema of a new store: the same tables, columns, indexes and triggers", arguments: OldStore.names)
    func migratedSchemaIsTodays(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let fresh = try OldStore.Copy(folder: NSTemporaryDirectory() + "new-store-\(UUID().uuidString.prefix(8))")
        defer { fresh.remove() }
        let old = try DisputeStore(path: copy.store)
        let new = try DisputeStore(path: fresh.store)
        let (oldSchema, newSchema) = (try old.writer.read(OldStore.schema), try new.writer.read(OldStore.schema))
        #expect(oldSchema.count == newSchema.count)
        for line in Set(oldSchema).symmetricDifference(newSchema).sorted() {
            Issue.record("schemas differ: \(oldSchema.contains(line) ? "only in the migrated store" : "only in a new store"): \(line)")
        }
        #expect(try old.inboxWriter.read(OldStore.schema) == new.inboxWriter.read(OldStore.schema))
    }

    @Test("v5 copies every per-event row of the old events table into the event log, and v13 dates every old key")
    func eventLogCopyKeepsEveryEvent() throws {
        let copy = try OldStore("v3-cases").copy()
        defer { copy.remove() }
        struct Event: Hashable, Comparable {
            var time: Double, itemID: String, zone: String, category: String, counted: Bool
            static func < (a: Event, b: Event) -> Bool {
                (a.time, a.itemID, a.zone, a.category, a.counted ? 1 : 0) < (b.time, b.itemID, b.zone, b.category, b.counted ? 1 : 0)
            }
        }
        let (keys, events) = try DatabaseQueue(path: copy.store).read { db in
            (try String.fetchAll(db, sql: "SELECT key FROM events ORDER BY key"),
             try Row.fetchAll(db, sql: "SELECT time, risk_item_id, zone, category, counted FROM events").map {
                 Event(time: $0[0], itemID: $0[1], zone: $0[2], category: $0[3], counted: $0[4])
             })
        }
        try #require(events.count > 100, "the fixture holds the events of a real run")
        #expect(events.contains { !$0.counted } && events.contains { $0.counted }, "both kinds of rows, muted and counted")

        let store = try DisputeStore(path: copy.store)
        let (newKeys, times, blobs, hasEventLog) = try store.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT key FROM events ORDER BY key"),
             try Int.fetchAll(db, sql: "SELECT DISTINCT time FROM events"),
             try Row.fetchAll(db, sql: "SELECT count, last_time, events FROM event_batches ORDER BY id"),
             try db.tableExists("event_log"))
        }
        #expect(newKeys == keys, "every idempotency key is kept")
        #expect(!hasEventLog)
        var logged: [Event] = []
        for row in blobs {
            let entries = try EventLog.decode([UInt8](row["events"] as Data))
            #expect(entries.count == row["count"] as Int)
            #expect(entries.map(\.time).max() == row["last_time"] as Double)
            logged += entries.map { Event(time: $0.time, itemID: $0.itemID, zone: $0.zone, category: $0.category, counted: $0.counted) }
        }
        #expect(logged.sorted() == events.sorted(), "the event log holds exactly the old rows")
        #expect(logged.map(\.time) == logged.map(\.time).sorted(), "in event-time order, as v5 copied them")
        let newest = try #require(events.map(\.time).max())
        #expect(times == [Int(newest.rounded(.up))], "old keys take the newest logged event time")
    }

    @Test("keys of stores that already had the packed event log take its newest time", arguments: ["v8-event-batches", "v12-visible-outcomes"])
    func oldKeysTakeTheNewestLoggedTime(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let (keys, newest) = try DatabaseQueue(path: copy.store).read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0, try Double.fetchOne(db, sql: "SELECT MAX(last_time) FROM event_batches"))
        }
        let newestTime = try #require(newest)
        #expect(keys > 100)
        let store = try DisputeStore(path: copy.store)
        let times = try store.writer.read { try Int.fetchAll($0, sql: "SELECT DISTINCT time FROM events") }
        #expect(times == [Int(newestTime.rounded(.up))])
    }

    @Test("the change-log triggers of v6 and v12 fire on what a dispatcher sees, not on counters", arguments: OldStore.names)
    func changeTriggersFireOnVisibleChanges(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let store = try DisputeStore(path: copy.store)
        try store.writer.write { db in
            func changes() throws -> [String] {
                try Row.fetchAll(db, sql: "SELECT kind, subject, op FROM changes ORDER BY seq").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" }
            }
            func added(_ sql: String, _ arguments: StatementArguments = []) throws -> [String] {
                let before = try changes()
                try db.execute(sql: sql, arguments: arguments)
                return Array(try changes().dropFirst(before.count))
            }
            let item = try #require(try String.fetchOne(db, sql: "SELECT id FROM risk_items ORDER BY seq LIMIT 1"))
            #expect(try added("UPDATE risk_items SET occurrences = occurrences + 1, last_seen = last_seen + 1 WHERE id = ?", [item]) == [])
            #expect(try added("UPDATE risk_items SET state = CASE state WHEN 'open' THEN 'closed' ELSE 'open' END WHERE id = ?", [item]) == ["risk_item \(item) updated"])
            #expect(try added("UPDATE risk_items SET late = 1 WHERE id = ?", [item]) == ["risk_item \(item) updated"])

            let slip = try #require(try String.fetchOne(db, sql: "SELECT id FROM slips ORDER BY rowid LIMIT 1"))
            #expect(try added("UPDATE slips SET occurrences = occurrences + 1, updated_at = updated_at + 1 WHERE id = ?", [slip]) == [])
            #expect(try added("UPDATE slips SET state = CASE state WHEN 'open' THEN 'closed' ELSE 'open' END WHERE id = ?", [slip]) == ["slip \(slip) updated"])
            let other = try #require(try String.fetchOne(db, sql: "SELECT id FROM risk_items WHERE id NOT IN (SELECT risk_item_id FROM slip_items WHERE slip_id = ?) LIMIT 1", arguments: [slip]))
            #expect(try added("INSERT INTO slip_items(slip_id, risk_item_id) VALUES (?, ?)", [slip, other]) == ["slip \(slip) updated"])

            let kase = try #require(try String.fetchOne(db, sql: "SELECT id FROM cases ORDER BY seq LIMIT 1"))
            #expect(try added("UPDATE cases SET updated_at = updated_at + 1, last_action_at = 1 WHERE id = ?", [kase]) == [])
            #expect(try added("UPDATE cases SET assignee = 'gw-test' WHERE id = ?", [kase]) == ["case \(kase) updated"])
            let transitions = try added("INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state) VALUES (?, 1, 'test', 'acknowledge', 'new', 'acknowledged')", [kase])
            #expect(transitions == ["transition \(db.lastInsertedRowID) new"])
        }
    }

    @Test("the indexes of v9 and v13 exist and serve their queries", arguments: OldStore.names)
    func indexesServeTheirQueries(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let store = try DisputeStore(path: copy.store)
        let (indexes, plans) = try store.writer.read { db -> ([String], [String: String]) in
            var plans: [String: String] = [:]
            for (index, sql) in [
                ("risk_items_state", "SELECT id FROM risk_items WHERE state = 'open'"),
                ("slip_items_item", "SELECT slip_id FROM slip_items WHERE risk_item_id = 'RI-1'"),
                ("case_items_item", "SELECT case_id FROM case_items WHERE risk_item_id = 'RI-1'"),
                ("slips_case", "SELECT id FROM slips WHERE case_id = 'AJ-1'"),
                ("patrol_records_device_time", "SELECT id FROM patrol_records WHERE device = 'd' AND kind = 'checkin' AND time > 0"),
            ] {
                plans[index] = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ")
            }
            return (try db.indexes(on: "risk_items").map(\.name), plans)
        }
        #expect(!indexes.contains("risk_items_open"), "v9 drops the index on (state, last_seen)")
        for (index, plan) in plans.sorted(by: { $0.key < $1.key }) {
            #expect(plan.contains("INDEX \(index)"), "\(index) is not used: \(plan)")
        }
    }

    @Test("append-only tables refuse changes to old rows until the retention horizon lets the housekeeper delete them", arguments: OldStore.names)
    func appendOnlyUntilTheHorizon(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let store = try DisputeStore(path: copy.store)
        // A finished case with transitions, and an open one: the fixture's own where the old
        // version could act on cases, otherwise an old case finished through today's lifecycle.
        let now = try store.writer.read { db in try #require(try Double.fetchOne(db, sql: "SELECT MAX(updated_at) FROM cases")) } + 60
        var finished = try store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT id FROM cases WHERE state IN ('closed', 'false_alarm') AND id IN (SELECT case_id FROM case_transitions)")
        }
        if finished == nil {
            let id = try #require(try store.writer.read { try String.fetchOne($0, sql: "SELECT id FROM cases WHERE state = 'new' ORDER BY seq") })
            let at = Date(timeIntervalSince1970: now)
            try store.act(on: id, CaseAction(.acknowledge, by: "test"), now: at, outputPrefix: "patrolhub/v1")
            try store.act(on: id, CaseAction(.falseAlarm, by: "test", note: "seen twice"), now: at, outputPrefix: "patrolhub/v1")
            finished = id
        }
        let done = try #require(finished)
        let open = try #require(try store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT id FROM cases WHERE state NOT IN ('resolved', 'closed', 'false_alarm') ORDER BY seq")
        })
        try store.writer.write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM case_transitions WHERE case_id = ?", arguments: [open]) == 0 {
                try db.execute(sql: "INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state) VALUES (?, ?, 'test', 'hold', 'new', 'new')", arguments: [open, now])
            }
        }
        func refused(_ sql: String, _ arguments: StatementArguments = []) -> Bool {
            do {
                try store.writer.write { try $0.execute(sql: sql, arguments: arguments) }
                return false
            } catch let error as DatabaseError {
                return error.message?.contains("append-only") == true
            } catch {
                return false
            }
        }
        #expect(refused("UPDATE audit_log SET detail = 'x' WHERE id = (SELECT MIN(id) FROM audit_log)"))
        #expect(refused("DELETE FROM audit_log WHERE id = (SELECT MIN(id) FROM audit_log)"))
        #expect(refused("UPDATE case_transitions SET note = 'x' WHERE case_id = ?", [done]))
        #expect(refused("DELETE FROM case_transitions WHERE case_id = ?", [done]), "no horizon yet")
        let closedAt = try #require(try store.writer.read { db in
            try Double.fetchOne(db, sql: "SELECT COALESCE(closed_at, resolved_at, updated_at) FROM cases WHERE id = ?", arguments: [done])
        })
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO retention_horizons(name, before) VALUES ('cases', ?)", arguments: [closedAt + 1])
        }
        #expect(refused("DELETE FROM case_transitions WHERE case_id = ?", [open]), "an open case keeps its history")
        #expect(!refused("DELETE FROM case_transitions WHERE case_id = ?", [done]), "a case finished before the horizon goes")
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM case_transitions WHERE case_id = ?", arguments: [done]) } == 0)

        let records = try store.writer.read { try Double.fetchAll($0, sql: "SELECT recorded_at FROM patrol_records ORDER BY recorded_at, id") }
        if name == "v3-cases" {
            #expect(records.isEmpty, "the version had no patrol tables")
            return
        }
        let oldest = try #require(records.first, "the fixture has patrol records")
        #expect(refused("UPDATE patrol_records SET detail = 'x' WHERE id = (SELECT MIN(id) FROM patrol_records)"))
        #expect(refused("DELETE FROM patrol_records WHERE recorded_at = ?", [oldest]), "no horizon yet")
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO retention_horizons(name, before) VALUES ('patrol_records', ?)", arguments: [oldest + 1e-6])
        }
        #expect(refused("DELETE FROM patrol_records WHERE recorded_at > ?", [oldest + 1e-6]), "records after the horizon stay")
        #expect(!refused("DELETE FROM patrol_records WHERE recorded_at <= ?", [oldest]))
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM patrol_records") } == records.filter { $0 > oldest }.count)
    }
}
