import Alerts
@testable import AlertsStore
import Foundation
@testable import PatrolHubMQTT
import Synchronization
import Testing
@testable import PatrolHub

/// Collects what the hub publishes on its output topics.
final class OutputWatcher: Sendable {
    final class Received: Sendable {
        let list = Mutex<[(topic: String, json: JSONValue)]>([])
    }

    let client: MQTTClient
    private let received = Received()
    /// Where `waitSubscribed` sends its probes; `messages` leaves them out.
    let probeTopic: String

    init(port: Int, prefix: String = "patrolhub/v1") throws {
        probeTopic = "\(prefix)/out/_subscription_probe"
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = "test-watch-\(UUID().uuidString.prefix(6))"
        o.cleanSession = true
        o.subscriptions = ["\(prefix)/out/#"]
        let box = received
        client = MQTTClient(options: o, logger: testLogger) { batch in
            box.list.withLock { list in
                for m in batch { if let j = try? JSONParser.parse(m.payload) { list.append((m.topic, j)) } }
            }
            return true
        }
        try client.start()
    }

    var messages: [(topic: String, json: JSONValue)] { received.list.withLock { $0 }.filter { $0.topic != probeTopic } }
    func stop() { client.stop() }

    /// Returns once the subscription delivers (a probe sent with `publisher` came back).
    func waitSubscribed(publisher: TestPublisher) async throws {
        try await PatrolHubTests.waitSubscribed("the output watcher", publisher: publisher, probeTopic: probeTopic) {
            received.list.withLock { $0.contains { $0.topic == probeTopic } }
        }
    }
}

/// The running hub supervises case deadlines by itself and publishes what
/// operators do, through a real broker.
@Suite("Case supervision in the hub", .serialized)
struct CaseSupervisionIntegrationTests {
    @Test func anOverdueCaseGetsItsOrderPublishedAndAnActionIsPublished() async throws {
        let rulesDir = TempDir()
        defer { rulesDir.cleanup() }
        let rules = rulesDir.write("rules.yaml", "supervision:\n  tick_seconds: 1\n")
        try await withLiveHub(configure: { $0.rulesFile = rules }) { broker, hub, pub in
            let watcher = try OutputWatcher(port: broker.port)
            defer { watcher.stop() }
            try await watcher.waitSubscribed(publisher: pub)
            // Opened 31 days ago with the default 30-day deadline, never acted on.
            let opened = Date().addingTimeInterval(-31 * 86_400)
            let c = Case(id: "AJ-00000001", rule: .patrolReport, zone: "Z-A", category: .dispute, severity: .major, unit: "Z-A 街道",
                         openedAt: opened, dueAt: opened.addingTimeInterval(30 * 86_400), explanation: "网格员上报纠纷",
                         riskItemIDs: [], sources: ["dev-1"], categories: [.dispute])
            try await hub.store.writer.write { db in try DisputeStore.write(case: c, evidenceAt: opened, db: db) }

            try await waitUntil("the overdue and idle orders published") {
                watcher.messages.filter { $0.topic == "patrolhub/v1/out/slips" }.count >= 2
            }
            let slips = watcher.messages.filter { $0.topic == "patrolhub/v1/out/slips" }.map(\.json)
            #expect(slips.map { $0["id"] } == [.string("DB-00000001"), .string("DB-00000002")])
            #expect(slips.map { $0["kind"] } == [.string("supervision"), .string("supervision")])
            #expect(slips.allSatisfy { $0["case_id"] == .string("AJ-00000001") && $0["unit"] == .string("Z-A 街道") })
            let triggers = try await hub.store.writer.read { try String.fetchAll($0, sql: "SELECT trigger FROM slips ORDER BY id") }
            #expect(triggers == ["case:AJ-00000001:overdue", "case:AJ-00000001:idle:1"])

            try hub.store.act(on: "AJ-00000001", CaseAction(.acknowledge, by: "值班员甲"), now: Date(), outputPrefix: "patrolhub/v1")
            try await waitUntil("the case published") { watcher.messages.contains { $0.topic == "patrolhub/v1/out/cases" } }
            #expect(watcher.messages.first { $0.topic == "patrolhub/v1/out/cases" }?.json["state"] == .string("acknowledged"))
        }
    }

    /// Issue 12: a grid worker's dispute report opens a street case; a fight a
    /// camera sees in the same grid raises it to severity 1, and the hub moves
    /// it to the district's unit, records why and publishes it again.
    @Test func aCaseEscalatedByNewEvidenceIsPublishedAgainWithTheDistrictsUnit() async throws {
        let zonesFile = packageRoot.appendingPathComponent("config/zones.geojson").path
        let zones = ZoneDirectory(try ZoneFile.load(contentsOf: URL(fileURLWithPath: zonesFile)))
        let grid = "540102-001-001-01"
        let street = try #require(CaseRouter().decide(zone: grid, category: .dispute, severity: .major, zones: zones).unit)
        let district = try #require(CaseRouter().decide(zone: grid, category: .fight, severity: .critical, zones: zones).unit)
        #expect(street != district)
        let files = TempDir()
        defer { files.cleanup() }
        let cameras = files.write("cameras.csv", "id,name,lat,lon,crs,zone\ncam-g1,网格一号,,,,\(grid)\n")
        try await withLiveHub(devicesCSV: "id,worker,unit,zone\ndev-g1,gw-001,冲赛康社区居委会,\(grid)\n", configure: { c in
            c.zonesFile = zonesFile
            c.camerasFile = cameras
        }) { broker, hub, pub in
            let watcher = try OutputWatcher(port: broker.port)
            defer { watcher.stop() }
            try await watcher.waitSubscribed(publisher: pub)
            let t = Date().addingTimeInterval(-120)
            let report = #"{"id":"r1","category":"dispute","time":"\#(t.rfc3339)","description":"两户因占道纠纷争吵"}"#
            try await pub.publishAll([("patrolhub/v1/device/dev-g1/report", Array(report.utf8))])
            try await waitUntil("the street case published") { watcher.messages.contains { $0.topic == "patrolhub/v1/out/cases" } }
            try await pub.publishAll([(eventTopic("cam-g1"), cameraEvent("f1", type: "fight", time: t.addingTimeInterval(60)))])
            try await waitUntil("the case published again") { watcher.messages.filter { $0.topic == "patrolhub/v1/out/cases" }.count >= 2 }
            let published = watcher.messages.filter { $0.topic == "patrolhub/v1/out/cases" }.map(\.json)
            #expect(published.map { $0["id"] } == [.string("AJ-00000001"), .string("AJ-00000001")])
            #expect(published.map { $0["unit"] } == [.string(street), .string(district)])
            #expect(published.map { $0["severity"] } == [.number(2), .number(1)])
            let transitions = try await hub.store.writer.read { try DisputeStore.transitions(of: "AJ-00000001", db: $0) }
            #expect(transitions.map(\.action) == [.reroute])
            #expect(transitions.first?.actor == "patrolhub")
            #expect(transitions.first?.note.hasSuffix("→ \(district) (was \(street))") == true)
        }
    }
}
