import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// `patrolhub serve --simulated-clock`: the built hub, a real mosquitto, and
/// deadlines and patrol slots that fall due in simulated time.
@Suite("Simulated clock in the hub", .serialized)
struct SimulatedClockIntegrationTests {
    /// The sample registry, zones and patrol plan with an external broker and a store in `dir`.
    func writeConfig(_ dir: TempDir, brokerPort: Int, rules: String) -> String {
        let sample = packageRoot.appendingPathComponent("config").path
        let rulesFile = dir.write("rules.yaml", rules)
        return dir.write("patrolhub.yaml", """
            data_dir: .
            broker:
              mode: external
              host: 127.0.0.1
              port: \(brokerPort)
              client_id: simclock-hub
            store:
              path: hub.sqlite
            registry:
              zones: \(sample)/zones.geojson
              cameras: \(sample)/cameras.csv
              devices: \(sample)/devices.csv
              patrol: \(sample)/patrol.yaml
            rules: \(rulesFile)
            http:
              listen: 127.0.0.1:0
            """)
    }

    func startHub(config: String, clock: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try patrolhubExecutable())
        p.arguments = ["serve", "--config", config, "--log-level", "error", "--simulated-clock", clock]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// The hub's store, opened once per test beside the running hub as a CLI command would, and
    /// kept. The hub makes the file before it connects and migrates, so an open that fails then is
    /// tried again at the next poll; one that keeps failing (100 polls) fails the test with SQLite's message.
    final class HubStore {
        let path: String
        private(set) var store: DisputeStore?
        private var failures = 0
        init(_ path: String) { self.path = path }

        /// The store once it opened (nil before the hub made the file, or while it cannot be opened yet).
        func open() throws -> DisputeStore? {
            guard store == nil, FileManager.default.fileExists(atPath: path) else { return store }
            do {
                store = try DisputeStore(path: path)
            } catch {
                failures += 1
                if failures >= 100 { throw error }
            }
            return store
        }
    }

    @Test("a case's reminder letter is issued when its deadline nears in simulated time, once")
    func reminderLetterOnTheSimulatedClock() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        // A 2-day deadline: the reminder letter falls due at 80 % of it (1.6 simulated days).
        let config = writeConfig(dir, brokerPort: broker.port, rules: "cases:\n  due_days: 2\nsupervision:\n  tick_seconds: 60\n")
        let start = try HubClock.parse("2026-01-01T08:00:00+08:00@43200").start
        let hub = try startHub(config: config, clock: "2026-01-01T08:00:00+08:00@43200")
        defer { if hub.isRunning { hub.terminate(); hub.waitUntilExit() } }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()

        // The hub recorded its clock; the report is stamped with the hub's time now.
        var simulation: HubClock.Simulation?
        try await waitUntil("the hub's clock file") {
            simulation = SimulatedClockFile.read(dataDir: dir.path)
            return simulation != nil
        }
        let sim = try #require(simulation)
        #expect(sim.start == start && sim.speed == 43_200)
        let storePath = dir.file("hub.sqlite")
        var sent = Date.distantPast
        let hubStore = HubStore(storePath)
        try await waitUntil("the case opened", timeout: 30) {
            // Resent until the hub's persistent session exists (the same id: one event).
            sent = Date(timeIntervalSince1970: sim.time(atWall: Date()).timeIntervalSince1970.rounded(.down))
            let report = #"{"id":"r-sim-1","category":"dispute","time":"\#(sent.rfc3339)","description":"两户因占道纠纷争吵"}"#
            _ = try pub.client.enqueue(topic: "patrolhub/v1/device/dev-001/report", payload: Array(report.utf8))
            guard let store = try hubStore.open() else { return false }
            return try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM cases") ?? 0 } > 0
        }
        let store = try #require(hubStore.store)
        let (caseID, opened, due) = try await store.writer.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT id, opened_at, due_at FROM cases"))
            return (row["id"] as String, Date(timeIntervalSince1970: row["opened_at"]), Date(timeIntervalSince1970: row["due_at"]))
        }
        // The simulated clock runs a day every 2 wall seconds: a slow start can open the case on
        // a later simulated day, but never before the clock's start or after its present (which
        // stays months before the wall clock's date for the minutes this test runs).
        let simulatedNow = sim.time(atWall: Date())
        #expect(opened >= start && opened <= simulatedNow, "opened on the simulated clock: \(opened.rfc3339)")
        #expect(abs(opened.timeIntervalSinceNow) > 3600, "not at the wall clock's time: \(opened.rfc3339)")
        #expect(abs(due.timeIntervalSince(opened) - 2 * 86_400) < 1)

        // 1.6 simulated days at 43 200× are about 3.2 wall seconds.
        let trigger = "case:\(caseID):due-reminder"
        try await waitUntil("the reminder letter issued", timeout: 60) {
            try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM slips WHERE trigger = ?", arguments: [trigger]) ?? 0 } > 0
        }
        // And past the deadline: the overdue order, after which nothing for this deadline is issued again.
        try await waitUntil("the overdue order issued", timeout: 60) {
            try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM slips WHERE trigger = ?", arguments: ["case:\(caseID):overdue"]) ?? 0 } > 0
        }
        let letters = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, issued_at FROM slips WHERE trigger = ?", arguments: [trigger])
        }
        #expect(letters.count == 1, "issued once")
        let issued = Date(timeIntervalSince1970: letters[0]["issued_at"])
        #expect(letters[0]["kind"] as String == "reminder")
        #expect(issued >= due.addingTimeInterval(-0.4 * 86_400) && issued < due, "issued at 80 % of the deadline in simulated time: \(issued.rfc3339)")
        hub.terminate()
        hub.waitUntilExit()
        #expect(hub.terminationStatus == 0)
    }

    @Test("the patrol scheduler decides the simulated day's slots")
    func patrolSlotsOnTheSimulatedDay() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = writeConfig(dir, brokerPort: broker.port, rules: "supervision:\n  tick_seconds: 60\n")
        // Thursday 2026-01-01 00:00 local at 1 800×: the hub's first scheduler tick (after its start
        // and settle_seconds) comes hours of simulated time before the first grace ends (08:15), and
        // the day's rounds (to 20:00 + 30 min + grace) pass in about 42 wall seconds.
        let hub = try startHub(config: config, clock: "2026-01-01T00:00:00+08:00@1800")
        defer { if hub.isRunning { hub.terminate(); hub.waitUntilExit() } }
        let storePath = dir.file("hub.sqlite")
        // Nobody checks in: every slot of the day whose grace ends is declared missed, with its reminder letter.
        let plan = try PatrolPlan.load(file: packageRoot.appendingPathComponent("config/patrol.yaml").path,
                                       registry: Registry.load(camerasFile: packageRoot.appendingPathComponent("config/cameras.csv").path,
                                                               devicesFile: packageRoot.appendingPathComponent("config/devices.csv").path),
                                       zones: ZoneFile.load(contentsOf: packageRoot.appendingPathComponent("config/zones.geojson")),
                                       timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let dayStart = try HubClock.parse("2026-01-01T00:00:00+08:00@1").start
        let expected = Set(plan.slots(graceEndingAfter: dayStart.addingTimeInterval(8 * 3600), through: dayStart.addingTimeInterval(86_400)).map(\.id))
        #expect(expected.count > 10)
        let hubStore = HubStore(storePath)
        try await waitUntil("the day's slots decided", timeout: 180) {
            guard let store = try hubStore.open() else { return false }
            let ids = try store.writer.read { try String.fetchAll($0, sql: "SELECT id FROM patrol_slots WHERE day = '2026-01-01'") }
            return expected.isSubset(of: Set(ids))
        }
        let store = try #require(hubStore.store)
        let (statuses, days, letters) = try await store.writer.read { db in
            (Set(try String.fetchAll(db, sql: "SELECT DISTINCT status FROM patrol_slots WHERE day = '2026-01-01'")),
             Set(try String.fetchAll(db, sql: "SELECT DISTINCT day FROM patrol_slots")),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slips WHERE kind = 'reminder' AND trigger LIKE 'patrol:%'") ?? 0)
        }
        #expect(statuses == ["missed"])
        #expect(days.allSatisfy { $0.hasPrefix("2026-01-0") }, "only simulated days: \(days)")
        #expect(letters >= expected.count)
    }
}
