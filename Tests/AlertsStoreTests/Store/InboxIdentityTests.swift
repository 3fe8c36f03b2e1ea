@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// The inbox file's identity (`DisputeStore.inboxID`, migration `v3-inbox-id`): a
/// random UUID made once with the file and kept in it, given to an older file by the
/// migration, the same whichever way the file is opened; and the inbox-only opener.
@Suite("Inbox identity and the inbox-only opener")
struct InboxIdentityTests {
    static func folder() -> String { NSTemporaryDirectory() + "patrolhub-inbox-id-\(UUID().uuidString.prefix(8))" }

    @Test("a new inbox gets a UUID, kept across opens, the same through the inbox-only opener; another inbox has another")
    func newInboxKeepsItsID() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/patrolhub.sqlite"
        let id = try DisputeStore(path: path).inboxID
        #expect(UUID(uuidString: id) != nil, "\(id)")
        #expect(id == id.lowercased())
        #expect(try DisputeStore(path: path).inboxID == id)
        #expect(try DisputeStore.inboxOnly(path: DisputeStore.inboxPath(for: path)).inboxID == id)
        #expect(try DisputeStore(path: folder + "/other.sqlite").inboxID != id)
        #expect(try DisputeStore.inMemory().inboxID != DisputeStore.inMemory().inboxID)
    }

    @Test("the inbox-only opener makes the inbox file alone (0600 in a 0700 folder), and it takes and reads messages")
    func inboxOnlyOpensOneFile() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let inboxPath = folder + "/hub.inbox.sqlite"
        let inbox = try DisputeStore.inboxOnly(path: inboxPath)
        try inbox.ingest([InboxMessage(topic: "t/1", payload: [1, 2], receivedAt: Date()), InboxMessage(topic: "t/2", payload: [3], receivedAt: Date())])
        #expect(try inbox.pending(after: 1, limit: 10).map(\.topic) == ["t/2"])
        #expect(try inbox.inboxRecord(seq: 1)?.payload == [1, 2])
        _ = try inbox.checkpointInbox()
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(files == ["hub.inbox.sqlite"])
        #expect(try FileManager.default.attributesOfItem(atPath: inboxPath)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int == 0o700)
        #expect(inbox.path == nil, "no store file")
    }

    @Test("an inbox from before v3-inbox-id gets an id from the migration, kept afterwards", arguments: OldStore.names)
    func oldInboxGetsAnID(name: String) throws {
        let copy = try OldStore(name).copy()
        defer { copy.remove() }
        let before = try DatabaseQueue(path: copy.inbox).read { try Migrations.inboxMigrator.completedMigrations($0) }
        #expect(!before.contains("v3-inbox-id"))
        let id = try DisputeStore(path: copy.store).inboxID
        #expect(UUID(uuidString: id) != nil)
        #expect(try DisputeStore(path: copy.store).inboxID == id)
        #expect(try DisputeStore.inboxOnly(path: copy.inbox).inboxID == id)
    }
}

/// `DisputeStore.ingest` writes a group in statements of 100, 10 and 1 rows: every row
/// lands once, in order, with its own bytes, whatever the group's size.
@Suite("Inbox groups written many rows per statement")
struct InboxGroupInsertTests {
    @Test("groups across the statement sizes keep every row, in order, with its key, topic, payload and oversize",
          arguments: [1, 9, 10, 11, 99, 100, 101, 237])
    func everyRowLandsOnce(size: Int) throws {
        let inbox = try DisputeStore.inMemory()
        let now = Date(timeIntervalSince1970: 1_780_000_000)
        let messages = (0..<size).map { i in
            // Long topics (heap UTF-8) and short ones (Swift keeps up to 15 bytes inline), empty payloads, oversized ones.
            InboxMessage(topic: i % 3 == 0 ? "t/\(i)" : "patrolhub/v1/camera/c\(i)/event",
                         payload: i % 11 == 4 ? [] : Array("{\"n\":\(i)}".utf8) + [UInt8](repeating: UInt8(i % 251), count: i % 7),
                         receivedAt: now.addingTimeInterval(Double(i)), maxPayloadBytes: i % 13 == 5 ? 4 : .max)
        }
        #expect(try inbox.ingest(messages) == size)
        // A second group continues the numbering after the first.
        let again = Array(messages.prefix(3))
        #expect(try inbox.ingest(again) == again.count)
        let records = try inbox.pending(after: 0, limit: 1_000)
        #expect(records.map(\.seq) == (1...Int64(size + again.count)).map { $0 })
        for (r, m) in zip(records, messages + again) {
            #expect(r.topic == m.topic)
            #expect(r.payload == m.payload)
            #expect(r.keyHigh == m.keyHigh && r.keyLow == m.keyLow)
            #expect(r.receivedAt == m.receivedAt)
            #expect(r.oversized == m.oversized)
        }
        #expect(records.contains { $0.oversized != nil } == (size > 5))
    }

    @Test("a statement refused part-way through a group keeps none of the group, and the next group is written")
    func aRefusedGroupLeavesNothing() throws {
        let inbox = try DisputeStore.inMemory()
        let messages = (0..<150).map { InboxMessage(topic: "t/\($0)", payload: [UInt8($0 % 256)], receivedAt: Date(timeIntervalSince1970: 1_780_000_000)) }
        #expect(try inbox.ingest(Array(messages.prefix(5))) == 5)
        // A trigger refuses one row of the second statement (rows 101-110 of the group).
        try inbox.inboxWriter.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.topic = 't/105' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        #expect(throws: (any Error).self) { try inbox.ingest(messages) }
        #expect(try inbox.pending(after: 0, limit: 1_000).count == 5)
        try inbox.inboxWriter.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        #expect(try inbox.ingest(messages) == 150)
        #expect(try inbox.pending(after: 0, limit: 1_000).map(\.topic) == Array(messages.prefix(5)).map(\.topic) + messages.map(\.topic))
    }
}
