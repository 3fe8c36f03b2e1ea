@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

@Suite("Event log (one packed row per pipeline batch)")
struct EventLogTests {
    @Test func entriesRoundTripThroughTheBlob() throws {
        let entries = [
            EventLogEntry(time: 1_800_000_000.02, itemID: "RI-00000001", zone: "540102-003-001-03", category: "street_vending", counted: true),
            EventLogEntry(time: 1_799_999_999.999_999, itemID: "", zone: "unzoned", category: "checkin", counted: false),
            EventLogEntry(time: 0.1 + 0.2, itemID: "RI-99999999", zone: "网格-中文", category: "fight", counted: true),
        ]
        var encoder = EventLogEncoder()
        for e in entries { encoder.append(time: e.time, itemID: e.itemID, zone: e.zone, category: e.category, counted: e.counted) }
        #expect(encoder.count == 3)
        #expect(encoder.lastTime == 1_800_000_000.02)
        #expect(try EventLog.decode(encoder.bytes) == entries) // times bit for bit
        #expect(try EventLog.decode([EventLogEncoder.format]).isEmpty)
    }

    @Test func aDamagedBlobIsAnErrorNotAGuess() {
        var encoder = EventLogEncoder()
        encoder.append(time: 1, itemID: "RI-00000001", zone: "z", category: "fight", counted: true)
        #expect(throws: HubError.self) { try EventLog.decode(Array(encoder.bytes.dropLast())) }
        #expect(throws: HubError.self) { try EventLog.decode([9] + encoder.bytes.dropFirst()) }
        #expect(throws: HubError.self) { try EventLog.decode([]) }
    }

    @Test func readingBackTakesCountedEntriesInsideTheHorizonFromTheBatchesThatCanHoldThem() throws {
        let store = try DisputeStore.inMemory()
        try store.writer.write { db in
            var a = EventLogEncoder()
            a.append(time: 100, itemID: "RI-1", zone: "z", category: "fight", counted: true)
            a.append(time: 300, itemID: "RI-2", zone: "z", category: "fight", counted: true)
            try a.write(db: db)
            var b = EventLogEncoder()
            b.append(time: 250, itemID: "RI-3", zone: "z", category: "fight", counted: true) // late, in a later batch
            b.append(time: 400, itemID: "RI-4", zone: "z", category: "fight", counted: false)
            try b.write(db: db)
            try EventLogEncoder().write(db: db) // an empty batch writes nothing
        }
        let (rows, maxTime, since200, since301) = try store.writer.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_batches"), try EventLog.maxTime(db: db),
             try EventLog.counted(since: 200, db: db), try EventLog.counted(since: 301, db: db))
        }
        #expect(rows == 2)
        #expect(maxTime == 400)
        #expect(since200.map(\.itemID) == ["RI-2", "RI-3"])
        #expect(since301.isEmpty)
    }

    @Test func theMigrationPacksTheRowsOfTheFormerPerEventTable() throws {
        let queue = try DatabaseQueue()
        try Migrations.migrator.migrate(queue, upTo: "v7-patrol-gaps")
        try queue.write { db in
            for k in 0..<12_001 {
                try db.execute(sql: "INSERT INTO event_log(time, risk_item_id, zone, category, counted) VALUES (?, ?, 'z', 'fight', ?)",
                               arguments: [Double(k), "RI-\(k)", k % 2 == 0])
            }
        }
        try Migrations.migrator.migrate(queue)
        let (hasOldTable, counts, maxTime, counted) = try queue.read { db in
            (try db.tableExists("event_log"), try Int.fetchAll(db, sql: "SELECT count FROM event_batches ORDER BY id"),
             try EventLog.maxTime(db: db), try EventLog.counted(since: 0, db: db))
        }
        #expect(!hasOldTable)
        #expect(counts == [5000, 5000, 2001])
        #expect(maxTime == 12_000)
        #expect(counted.count == 6001)
        #expect(counted.first == EventLogEntry(time: 0, itemID: "RI-0", zone: "z", category: "fight", counted: true))
        #expect(counted.last?.itemID == "RI-12000")
    }

    @Test("the store says which keys it holds, by their bytes; insert records each key once")
    func eventKeysKnownAndInserted() throws {
        let store = try DisputeStore.inMemory()
        let first = (0..<250).map { "camera:cam-\($0 % 7):ev-\($0)" }
        #expect(try store.writer.read { db in try EventKeys.known(first, db: db) }.isEmpty)
        try store.writer.write { db in try EventKeys.insert((first + first.prefix(10)).map { .init(key: $0, time: 0) }, db: db) }
        let later = (250..<420).map { "camera:cam-\($0 % 7):ev-\($0)" }
        // "é" precomposed and decomposed: equal Strings, two keys to the store.
        let batch = Array(first.suffix(50)) + later + ["", "k-\u{E9}"]
        try store.writer.write { db in try EventKeys.insert([.init(key: "k-e\u{301}", time: 0)], db: db) }
        let known = try store.writer.read { db in try EventKeys.known(batch, db: db) }
        #expect(known == Set(first.suffix(50).map(EventKey.init)), "the 50 keys held, found over a full and a partial statement")
        #expect(!known.contains(EventKey("k-\u{E9}")))
        let count = try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events") }
        #expect(count == 251)
        try store.writer.write { db in try EventKeys.insert([], db: db) }
    }
}
