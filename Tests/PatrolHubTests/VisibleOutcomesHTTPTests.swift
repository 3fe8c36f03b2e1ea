import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// Late, misplaced and ended outcomes as a dispatcher sees them: the API
/// JSON and filters, `/metrics`, the case action that closes a slip, and
/// `patrolhub items list`, against a live hub (real broker, pipeline, store).
@Suite("Visible outcomes over a live hub", .serialized)
struct VisibleOutcomesHTTPTests {
    @Test("a late event and a far-away location are marked in the API, counted in /metrics and listed by the CLI; closing the case closes its slip")
    func lateMisplacedAndEnded() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let home = try #require(f.hub.hub.registry.cameras[f.cameraA]?.location, "the sample's cam-001 has a registered location")
            let far = #","location":{"lat":\#(home.lat + 0.05),"lon":\#(home.lon),"crs":"\#(home.crs.rawValue)"}"#
            try await f.pub.publishAll([
                // 26 min behind the newest event (t0 + 6 min): late.
                (eventTopic(f.cameraB), cameraEvent("vis-late", type: "fight", time: f.at(-20))),
                // ≈ 5.5 km from cam-001: placed in cam-001's grid, flagged.
                (eventTopic(f.cameraA), cameraEvent("vis-far", type: "loitering", time: f.at(6.5), extra: far)),
            ])
            try await f.hub.waitProcessed(received: 9)

            let late = try await c.get("/api/v1/risk-items?late=true")
            #expect(late.status == 200)
            guard case .array(let lateItems)? = late.json["items"] else { Issue.record("no items: \(late.text)"); return }
            #expect(lateItems.count == 1)
            let item = try #require(lateItems.first)
            #expect(item["source"] == .string(f.cameraB))
            #expect(item["late"] == .bool(true))
            #expect(item["late_reason"]?.stringValue?.contains("opens no warning slip or case") == true)
            #expect(item["time_source"] == .string("device"))
            let slips = try await c.get("/api/v1/slips?kind=warning")
            guard case .array(let slipItems)? = slips.json["items"] else { Issue.record("no slips"); return }
            #expect(slipItems.count == 2, "the late fight opens no slip (the fixture's two only)")

            let all = try await c.get("/api/v1/risk-items?category=loitering&drill=false")
            guard case .array(let loitering)? = all.json["items"] else { Issue.record("no items"); return }
            let misplaced = try #require(loitering.first)
            #expect(misplaced["zone"] == .string(f.gridA.code), "placed in the camera's grid, not where the coordinate points")
            #expect(misplaced["location_mismatch"]?.stringValue?.contains("from camera \(f.cameraA)'s registered location") == true)
            #expect((5000...6000).contains(misplaced["location_distance_m"]?.doubleValue ?? 0))

            let bad = try await c.get("/api/v1/risk-items?late=maybe")
            #expect(bad.status == 400)
            #expect(try await c.get("/api/v1/slips?late=true").status == 400, "late is for risk items only")

            let m = try await c.get("/metrics")
            #expect(m.text.split(separator: "\n").contains("patrolhub_late_events_total 1"), "\(m.text)")
            #expect(m.text.contains("# TYPE patrolhub_late_events_total counter"))

            // The fight's case is declared a false alarm: its warning slip closes and is published again.
            let fightSlip = try #require(try await f.store.writer.read { db in
                try DisputeStore.slips(ListQuery(), db: db).items.first { $0.category == .fight }
            })
            let caseID = try #require(fightSlip.caseID)
            let acted = try await c.post("/api/v1/cases/\(caseID)/actions", #"{"action":"false-alarm","by":"desk-1","note":"a rehearsal"}"#)
            #expect(acted.status == 200, "\(acted.text)")
            let closed = try await c.get("/api/v1/slips?state=closed")
            guard case .array(let closedSlips)? = closed.json["items"] else { Issue.record("no slips"); return }
            #expect(closedSlips.map { $0["id"] } == [.string(fightSlip.id)])
            #expect(closedSlips.first?["close_reason"] == .string("case_false_alarm"))
            #expect(closedSlips.first?["closed_at"]?.stringValue != nil)
            let open = try await c.get("/api/v1/slips?kind=warning&state=open")
            guard case .array(let openSlips)? = open.json["items"] else { Issue.record("no slips"); return }
            #expect(openSlips.count == 1, "one warning slip is still in force")

            // The CLI lists the late item with its reason.
            let path = try #require(f.store.path)
            let (status, output) = try runProcess(try patrolhubExecutable(), ["items", "list", "--late", "--config", "/nonexistent.yaml", "--store", path])
            #expect(status == 0, "\(output)")
            #expect(output.contains("LATE (late: event time"), "\(output)")
            #expect(output.split(separator: "\n").count == 1, "\(output)")
            let (_, everything) = try runProcess(try patrolhubExecutable(), ["items", "list", "--config", "/nonexistent.yaml", "--store", path])
            #expect(everything.contains("LOCATION (reported location"), "\(everything)")
        }
    }

    @Test("simulate warns when the target hub's store has seen newer events than the scenario's")
    func simulateWarnsOfLateEvents() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("hub.sqlite")
        let config = packageRoot.appendingPathComponent("config/patrolhub.yaml").path
        let scenario = packageRoot.appendingPathComponent("simulators/fault_storm.yaml").path
        func simulate() throws -> (Int32, String) {
            try runProcess(try patrolhubExecutable(), ["simulate", "--scenario", scenario, "--config", config, "--store", path,
                                                       "--start", "2026-11-29T08:00:00+08:00", "--dry-run"])
        }
        var (status, output) = try simulate()
        #expect(status == 0, "\(output)")
        #expect(!output.contains("warning: the hub's store"), "no store, no warning: \(output)")
        // The hub has seen an event at the run's start: the scenario's first 20 minutes are late there.
        let store = try DisputeStore(path: path)
        let newest = try #require(TimeParser().parse("2026-11-29T00:00:00Z"))
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO event_batches(last_time, count, events) VALUES (?, 0, x'01')", arguments: [newest.timeIntervalSince1970])
        }
        (status, output) = try simulate()
        #expect(status == 0, "\(output)")
        #expect(output.contains("warning: the hub's store (\(path)) has seen events up to 2026-11-29 08:00:00 +08:00"), "\(output)")
        #expect(output.range(of: #"; \d+ of \d+ messages are older than that minus event_time.lateness_seconds \(600 s\)"#, options: .regularExpression) != nil, "\(output)")
    }

    @Test("the late events counter is a Prometheus counter")
    func lateCounter() {
        var s = StoreStatus()
        s.lateEvents = 3
        s.newestEventTime = Date(timeIntervalSince1970: 1_800_000_000)
        let text = MetricsExposition.render(status: s, lag: 0, streamClients: 0, changeSeq: 0)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("# TYPE patrolhub_late_events_total counter"))
        #expect(lines.contains("patrolhub_late_events_total 3"))
        #expect(lines.contains("patrolhub_newest_event_time_seconds 1800000000.0"))
    }
}
