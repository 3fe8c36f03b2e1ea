import Alerts
@testable import AlertsStore
import Foundation
import GRDB
@testable import Reports
import Testing
@testable import PatrolHub

/// `patrolhub report` as a supervisor runs it, on a real store file.
@Suite("Report command")
struct ReportCLITests {
    /// A store with one day of patrol: two slots on time, one missed (written as the hub would).
    static func store(_ dir: TempDir) throws -> String {
        let path = dir.file("s.sqlite")
        let store = try DisputeStore(path: path)
        try store.writer.write { db in
            for (id, status, due) in [("r:cp-a:1", "on_time", "2025-03-03T09:00:00+08:00"), ("r:cp-b:1", "on_time", "2025-03-03T09:15:00+08:00"),
                                      ("r:cp-a:2", "missed", "2025-03-03T23:50:00+08:00"), ("r:cp-a:3", "missed", "2025-03-04T00:10:00+08:00")] {
                let t = TimeParser().parse(due)!.timeIntervalSince1970
                try db.execute(sql: """
                    INSERT INTO patrol_slots(id, route, checkpoint, device, worker, unit, zone, day, due_at, grace_ends_at, closes_at, status, updated_at)
                    VALUES (?, 'r', 'cp', 'dev-1', 'gw-1', 'u', 'Z-1', '', ?, ?, ?, ?, ?)
                    """, arguments: [id, t, t + 600, t + 3600, status, t])
            }
        }
        return path
    }

    @Test func dailyInEveryFormatWithDayBoundariesInTheConfiguredZone() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Self.store(dir)
        let exe = try patrolhubExecutable()
        let (status, md) = try runProcess(exe, ["report", "daily", "--date", "2025-03-03", "--store", store, "--config", dir.file("none.yaml")])
        #expect(status == 0, "\(md)")
        #expect(md.contains("| gw-1 | dev-1 | u | 3 | 2 | 0 | 1 | 0 | 66.7 % | 0 | 0 |"), "\(md)")
        // In UTC the 23:50 slot falls on the same day as the 00:10 one.
        let utc = dir.write("utc.yaml", "timezone: UTC\nstore:\n  path: s.sqlite\n")
        let (_, utcMD) = try runProcess(exe, ["report", "daily", "--date", "2025-03-03", "--config", utc])
        #expect(utcMD.contains("| gw-1 | dev-1 | u | 4 | 2 | 0 | 2 | 0 | 50.0 % | 0 | 0 |"), "\(utcMD)")
        let (csvStatus, csv) = try runProcess(exe, ["report", "daily", "--date", "2025-03-03", "--store", store, "--format", "csv", "--config", dir.file("none.yaml")])
        #expect(csvStatus == 0)
        #expect(csv.contains("\ncoverage,coverage 覆盖率,0.6667\n"), "\(csv)")
        let out = dir.file("weekly.html")
        let (htmlStatus, msg) = try runProcess(exe, ["report", "weekly", "--date", "2025-03-05", "--store", store, "--format", "html", "-o", out, "--config", dir.file("none.yaml")])
        #expect(htmlStatus == 0, "\(msg)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(html.contains("2025-03-03 – 2025-03-09"))
    }

    @Test(arguments: [
        (["report", "daily", "--date", "2025-02-30"], "--date must be a day YYYY-MM-DD, not '2025-02-30'"),
        (["report", "yearly", "--date", "2025-03-01"], "unknown report 'yearly' (one of: daily, weekly, monthly)"),
        (["report", "daily", "--format", "pdf"], "pdf"),
    ])
    func badInputExitsNonZeroWithAClearMessage(args: [String], message: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Self.store(dir)
        let (status, output) = try runProcess(try patrolhubExecutable(), args + ["--store", store, "--config", dir.file("none.yaml")])
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
    }
}
