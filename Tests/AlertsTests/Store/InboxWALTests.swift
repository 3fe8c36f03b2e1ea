import Foundation
import Synchronization
import Testing
@testable import Alerts

/// The inbox is written by the MQTT thread and read by the pipeline at the same
/// time, without pause: SQLite starts its WAL over only after a checkpoint that
/// caught up with the writer, which a passive checkpoint under steady writes never
/// does. The inbox must keep its WAL file bounded all the same.
@Suite("Inbox WAL under steady writes and reads")
struct InboxWALTests {
    @Test func theWALStaysBoundedWhileTheWriterNeverPauses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inbox-wal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("store.sqlite").path
        let store = try DisputeStore(path: path)
        let wal = DisputeStore.inboxPath(for: path) + "-wal"
        let limit = DisputeStore.inboxWALLimitBytes
        // 4 KiB payloads: 240 MiB in all, almost four times the limit.
        let payload = [UInt8](repeating: 0x61, count: 4096)
        let batches = 600, perBatch = 100
        let restartsBefore = DisputeStore.inboxWALRestarts.load(ordering: .relaxed)
        let done = Atomic<Bool>(false)
        let writer = Thread {
            for b in 0..<batches {
                let messages = (0..<perBatch).map { i in
                    InboxMessage(topic: "t/\(b)/\(i)", payload: payload, receivedAt: Date())
                }
                _ = try? store.ingest(messages)
            }
            done.store(true, ordering: .releasing)
        }
        writer.start()
        // The pipeline's side: read a batch, work on it (here 5 ms), checkpoint, as its loop does.
        var largest: Int64 = 0
        while !done.load(ordering: .acquiring) {
            _ = try store.pending(limit: 500)
            usleep(5_000)
            try store.checkpointInbox()
            let size = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int64) ?? 0
            largest = max(largest, size)
        }
        // Without a restart the file only grows (to the whole 240 MiB). With it, the writer
        // empties it after a commit past the limit, or 200 ms later if a reader held on
        // (this writer never pauses, ~100 MiB/s, where a hub's runs at a few MiB/s).
        // Counted by the store, not sampled here: a loaded machine may sample too rarely to see it.
        let emptied = DisputeStore.inboxWALRestarts.load(ordering: .relaxed) - restartsBefore
        #expect(emptied >= 2, "the inbox WAL was emptied \(emptied) times (largest seen \(largest >> 20) MiB)")
        #expect(largest < 3 * limit, "the inbox WAL reached \(largest >> 20) MiB (limit \(limit >> 20) MiB)")
    }
}
