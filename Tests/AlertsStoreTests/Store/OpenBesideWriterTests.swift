@testable import AlertsStore
import Foundation
import GRDB
import Synchronization
import Testing

/// A CLI command (or a test) opens the store while the hub runs. Opening must not
/// need the store's write lock: a hub whose writer is busy (a backlog, a simulated
/// clock catching up) takes it back between its transactions faster than SQLite's
/// busy handler polls for it, so an open that waited for it would starve and fail
/// with "database is locked" after the busy timeout.
@Suite("Opening a store beside a busy writer")
struct OpenBesideWriterTests {
    @Test("a store whose writer is never idle opens, again and again, without its write lock")
    func opensWithoutTheWriteLock() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("open-beside-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("hub.sqlite").path
        _ = try DisputeStore(path: path)

        // Another connection holds the write lock in back-to-back transactions of 20 ms each.
        var config = Configuration()
        config.busyMode = .timeout(10)
        let busy = try DatabaseQueue(path: path, configuration: config)
        let stop = Atomic<Bool>(false)
        let transactions = Atomic<Int>(0)
        let writer = Thread {
            while !stop.load(ordering: .relaxed) {
                try? busy.inTransaction(.immediate) { db in
                    try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = inbox_seq WHERE id = 1")
                    usleep(20_000)
                    return .commit
                }
                transactions.add(1, ordering: .relaxed)
            }
        }
        writer.start()
        defer {
            stop.store(true, ordering: .relaxed)
            while !writer.isFinished { usleep(1_000) }
        }
        while transactions.load(ordering: .relaxed) == 0 { usleep(1_000) }

        for _ in 0..<5 {
            let store = try DisputeStore(path: path)
            #expect(try store.cursor() >= 0)
        }
        #expect(transactions.load(ordering: .relaxed) > 0)
    }
}
