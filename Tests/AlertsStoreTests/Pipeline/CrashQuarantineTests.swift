@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// The crash quarantine's decisions, from the state a stopped process leaves
/// behind: the durable "in progress" mark and the trap evidence file. (The
/// end-to-end test with a real trap is CrashQuarantineIntegrationTests.)
@Suite("Crash quarantine", .serialized)
struct CrashQuarantineTests {
    static let now = PipelineProcessorTests.now

    struct Fixture {
        let dir: String
        let store: DisputeStore
        init() throws {
            dir = NSTemporaryDirectory() + "patrolhub-quarantine-\(UUID().uuidString.prefix(8))"
            store = try DisputeStore(path: dir + "/hub.sqlite")
        }
        func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

        /// A processor as a restarted hub makes it; `stop` is what the previous process left in the evidence file.
        func restart(after stop: UInt8?) throws -> PipelineProcessor {
            let file = dir + "/hub.sqlite-trap"
            if let stop { FileManager.default.createFile(atPath: file, contents: Data([stop])) }
            let p = try PipelineProcessorTests.make(store)
            p.trapRecorder = try TrapRecorder(evidenceFile: file)
            return p
        }

        /// The mark a process leaves when it dies inside the batch (cursor, last].
        func diedInBatch(through last: Int64, isolateThrough: Int64 = 0, stops: Int = 0) throws {
            try store.writer.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO pipeline_inflight(id, last_seq, isolate_through, stops, started_at) VALUES (1, ?, ?, ?, 0)",
                               arguments: [last, isolateThrough, stops])
            }
        }

        func deadLetters() throws -> [String: String] {
            try store.writer.read { db in
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT inbox_key, reason FROM dead_letters").map { ($0[0], $0[1]) })
            }
        }
        func mark() throws -> Row? { try store.writer.read { try Row.fetchOne($0, sql: "SELECT * FROM pipeline_inflight") } }
        func eventKeys() throws -> Int { try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events") ?? 0 } }
    }

    static let sigill = UInt8(4)
    static func messages(_ n: Int) -> [InboxMessage] { (0..<n).map { PipelineProcessorTests.msg("cam-1", "q\($0)", "fight", 1) } }

    @Test func aBatchLeavesNoMarkWhenItCommits() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.store.ingest(Self.messages(3))
        let p = try f.restart(after: nil)
        #expect(try p.processPending(limit: 100).messages == 3)
        #expect(try f.mark() == nil)
        #expect(try PipelineProcessorTests.make(f.store).recover().inProgress == nil)
    }

    @Test func aTrapInABatchIsolatesItsMessagesThenTheNextTrapNamesOne() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let msgs = Self.messages(5)
        try f.store.ingest(msgs)
        try f.diedInBatch(through: 5)
        // First restart after the trap: the batch is processed one message per transaction.
        var p = try f.restart(after: Self.sigill)
        let r = try p.recover()
        #expect(r.previousStop == .trap(signal: 4))
        #expect(r.inProgress == 1...5)
        #expect(r.isolateThrough == 5)
        #expect(try p.processPending(limit: 100).messages == 1)
        #expect(try p.processPending(limit: 100).messages == 1)
        // The third message traps: the process dies with its mark written.
        let third = try f.store.pending(limit: 1)
        #expect(third.first?.seq == 3)
        try f.diedInBatch(through: 3, isolateThrough: 5)
        p = try f.restart(after: Self.sigill)
        let second = try p.recover()
        #expect(second.crashedSeq == 3)
        #expect(second.crashedKey == msgs[2].key)
        #expect(try f.deadLetters() == [msgs[2].key: "crashed"])
        let row = try #require(try f.store.writer.read { try Row.fetchOne($0, sql: "SELECT detail, payload, size FROM dead_letters") })
        #expect([UInt8](row["payload"] as Data) == msgs[2].payload, "the dead letter keeps the bytes")
        #expect((row["detail"] as String).contains("trapped"))
        // The rest of the suspects are still isolated, then batches resume.
        #expect(p.isolateThrough == 5)
        #expect(try p.processPending(limit: 100).messages == 1)
        #expect(try p.processPending(limit: 100).messages == 1)
        #expect(p.isolateThrough == 0)
        try f.store.ingest(Self.messages(8).suffix(3))
        #expect(try p.processPending(limit: 100).messages == 3, "batches again")
        #expect(try f.store.status().inboxPending == 0)
        #expect(try f.eventKeys() == 7, "every other message processed once")
        #expect(try f.mark() == nil)
        // The same bytes again are set aside without being decoded.
        try f.store.ingest([msgs[2]])
        #expect(try p.processPending(limit: 100).deadLetters == 1)
        #expect(try f.deadLetters().count == 1)
    }

    @Test func aTrapOnABatchOfOneMessageNamesItAtOnce() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let msgs = Self.messages(2)
        try f.store.ingest(msgs)
        try f.diedInBatch(through: 1)
        let p = try f.restart(after: Self.sigill)
        #expect(try p.recover().crashedSeq == 1)
        #expect(try p.processPending(limit: 100).messages == 1)
        #expect(try f.deadLetters() == [msgs[0].key: "crashed"])
        #expect(try f.eventKeys() == 1)
    }

    @Test func manyCrashesInAnHourAreTheHubsFaultAndSetNothingMoreAside() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let now = PipelineProcessorTests.now.timeIntervalSince1970
        try f.store.writer.write { db in
            for i in 0..<PipelineProcessor.maxSetAsidePerHour {
                try db.execute(sql: "INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at) VALUES (?, 'crashed', '', 't', x'', 0, ?, ?)",
                               arguments: ["k\(i)", now - 60, now - 60])
            }
        }
        try f.store.ingest(Self.messages(3))
        try f.diedInBatch(through: 1)
        let p = try f.restart(after: Self.sigill)
        let r = try p.recover()
        #expect(r.limitReached)
        #expect(r.crashedSeq == nil)
        #expect(r.isolateThrough == 1, "the message is kept and retried alone")
        #expect(try f.store.cursor() == 0)
    }

    @Test func aStopWithoutTrapIsRetriedOnceThenIsolated() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.store.ingest(Self.messages(4))
        try f.diedInBatch(through: 4)
        // kill -9: no trap recorded. The batch is retried whole, with the stop remembered in its mark.
        var p = try f.restart(after: nil)
        var r = try p.recover()
        #expect(r.previousStop == .unknown)
        #expect(r.stops == 1)
        #expect(r.isolateThrough == 0)
        // (The retry dies too, again without a trace.)
        try f.diedInBatch(through: 4, stops: 1)
        p = try f.restart(after: nil)
        r = try p.recover()
        #expect(r.stops == 2)
        #expect(r.isolateThrough == 4, "a second stop in the same batch isolates it")
        // A single message in which the process stopped twice without a trace is set aside too.
        try f.diedInBatch(through: 1, isolateThrough: 4, stops: 1)
        p = try f.restart(after: nil)
        r = try p.recover()
        #expect(r.crashedSeq == 1)
        #expect(try f.deadLetters().values.sorted() == ["crashed"])
        while try p.processPending(limit: 100).messages > 0 {}
        #expect(try f.eventKeys() == 3)
    }

    @Test func aKillDuringARetriedBatchThatThenCommitsForgetsTheStop() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.store.ingest(Self.messages(4))
        try f.diedInBatch(through: 4)
        let p = try f.restart(after: nil)
        #expect(try p.processPending(limit: 100).messages == 4)
        #expect(try f.mark() == nil)
        #expect(try f.deadLetters().isEmpty)
        #expect(try f.eventKeys() == 4)
    }

    @Test func anErrorExitIsNotCountedAsAStop() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.store.ingest(Self.messages(1))
        try f.diedInBatch(through: 1, stops: 1)
        let p = try f.restart(after: UInt8(ascii: "E"))
        let r = try p.recover()
        #expect(r.previousStop == .error)
        #expect(r.crashedSeq == nil)
        #expect(r.stops == 1)
        try p.processPending(limit: 100)
        #expect(try f.deadLetters().isEmpty)
        #expect(try f.eventKeys() == 1)
    }

    /// Processes until nothing is pending (an isolating pass may process nothing itself).
    static func drain(_ p: PipelineProcessor, _ store: DisputeStore) throws {
        for _ in 0..<1000 {
            guard try store.status().inboxPending > 0 else { return }
            try p.processPending(limit: 100)
        }
    }

    @Test func aMessageTheStoreRefusesIsSetAsideAndTheRestGoesOn() throws {
        let store = try DisputeStore.inMemory()
        let p = try PipelineProcessorTests.make(store)
        // The store refuses what one message produces (as a constraint would).
        try store.writer.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.key LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END") }
        var msgs = Self.messages(4)
        msgs.insert(PipelineProcessorTests.msg("cam-1", "poison", "fight", 1), at: 2)
        try store.ingest(msgs)
        #expect(try p.processPending(limit: 100).messages == 0, "the batch failed: it is retried one message at a time")
        #expect(p.isolateThrough == 5)
        try Self.drain(p, store)
        let dead = try store.writer.read { db in try Row.fetchAll(db, sql: "SELECT inbox_key, reason, detail FROM dead_letters") }
        #expect(dead.map { $0["inbox_key"] as String } == [msgs[2].key])
        #expect(dead.first?["reason"] as String? == "unprocessable")
        #expect((dead.first?["detail"] as String?)?.contains("refused") == true)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events") } == 4)
        #expect(p.isolateThrough == 0)
    }

    @Test func aStoreThatRefusesEverythingStopsThePipelineInsteadOfEmptyingTheInbox() throws {
        let store = try DisputeStore.inMemory()
        let p = try PipelineProcessorTests.make(store)
        try store.writer.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused'); END") }
        try store.ingest(Self.messages(30))
        #expect(throws: DatabaseError.self) { try Self.drain(p, store) }
        #expect(try store.status().deadLetters == ["unprocessable": PipelineProcessor.maxSetAsidePerHour])
        #expect(try store.status().inboxPending == 30 - PipelineProcessor.maxSetAsidePerHour)
    }

    @Test func theEvidenceFileIsPrivateAndClearedAtStart() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let file = f.dir + "/hub.sqlite-trap"
        FileManager.default.createFile(atPath: file, contents: Data([Self.sigill]))
        let first = try TrapRecorder(evidenceFile: file)
        #expect(first.previousStop == .trap(signal: 4))
        #expect(try TrapRecorder(evidenceFile: file).previousStop == .unknown)
        first.recordErrorExit()
        #expect(try TrapRecorder(evidenceFile: file).previousStop == .error)
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
