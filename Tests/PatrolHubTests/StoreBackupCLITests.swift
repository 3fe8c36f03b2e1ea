import Alerts
import AlertsStore
import Foundation
import Synchronization
import Testing
@testable import PatrolHub

/// `patrolhub store backup`, run as the built executable on a real store file
/// while another connection writes to it.
@Suite("Store backup command line")
struct StoreBackupCLITests {
    @Test("a backup taken while cases are being written is a consistent, checked copy that opens as a store; the inbox too")
    func backupWhileWriting() async throws {
        let f = try CasesCLITests.Fixture()
        defer { f.dir.cleanup() }
        // A writer that keeps adding cases while the backup runs (as the hub's pipeline would).
        let stop = Atomic<Bool>(false)
        let written = Atomic<Int>(0)
        let store = f.store
        let opened = f.opened
        let writer = Thread {
            var n = 100
            while !stop.load(ordering: .relaxed) {
                n += 1
                let c = Case(id: String(format: "AJ-%08d", n), rule: .severity, zone: "540102-002-001-01", category: .fight, severity: .critical,
                             unit: "城关区综治中心", openedAt: opened, dueAt: opened.addingTimeInterval(86_400),
                             explanation: "摄像机 cam-012 检测到打架斗殴。", riskItemIDs: [], sources: ["cam-012"], categories: [.fight])
                try? store.writer.write { db in try DisputeStore.write(case: c, evidenceAt: c.openedAt, db: db) }
                written.add(1, ordering: .relaxed)
            }
        }
        writer.start()
        try await waitUntil("the writer is writing") { written.load(ordering: .relaxed) > 20 }
        let copy = f.dir.file("backup/copy.sqlite")
        try FileManager.default.createDirectory(atPath: f.dir.file("backup"), withIntermediateDirectories: true)
        let run = try runProcess(try patrolhubExecutable(), ["store", "backup", copy, "--inbox", f.dir.file("backup/copy.inbox.sqlite"), "--config", f.config])
        let writtenAtEnd = written.load(ordering: .relaxed)
        stop.store(true, ordering: .relaxed)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("backed up ") && run.output.contains("(integrity ok)"), "\(run.output)")
        #expect(run.output.contains("backed up the inbox to "), "\(run.output)")
        while !writer.isFinished { try await Task.sleep(for: .milliseconds(10)) }

        // The copy is a store of its own: no -wal beside it, every case it holds whole.
        #expect(!FileManager.default.fileExists(atPath: copy + "-wal"))
        let restored = try DisputeStore(path: copy)
        let cases = try restored.status().cases.values.reduce(0, +)
        #expect(cases >= 2 + 20 && cases <= 2 + writtenAtEnd, "the copy holds the cases of one moment: \(cases)")
        #expect(run.output.contains("\(cases) cases"), "the report counts the copy's rows: \(run.output)")
    }

    @Test("an existing file is never overwritten, a missing folder and a missing store are named, and nothing is created")
    func refusals() throws {
        let f = try CasesCLITests.Fixture()
        defer { f.dir.cleanup() }
        let exe = try patrolhubExecutable()
        let existing = f.dir.write("taken.sqlite", "not a store")
        let taken = try runProcess(exe, ["store", "backup", existing, "--config", f.config])
        #expect(taken.status != 0)
        #expect(taken.output.contains("\(existing) exists: a backup never overwrites a file"), "\(taken.output)")
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "not a store", "the existing file is untouched")

        let nowhere = f.dir.file("no/such/folder/copy.sqlite")
        let missing = try runProcess(exe, ["store", "backup", nowhere, "--config", f.config])
        #expect(missing.status != 0)
        #expect(missing.output.contains("no folder \(f.dir.file("no/such/folder"))"), "\(missing.output)")

        let noStore = try runProcess(exe, ["store", "backup", f.dir.file("copy.sqlite"), "--store", f.dir.file("typo.sqlite")])
        #expect(noStore.status != 0)
        #expect(noStore.output.contains("no store at \(f.dir.file("typo.sqlite"))"), "\(noStore.output)")
        #expect(!FileManager.default.fileExists(atPath: f.dir.file("typo.sqlite")))
        #expect(!FileManager.default.fileExists(atPath: f.dir.file("copy.sqlite")))
    }
}
