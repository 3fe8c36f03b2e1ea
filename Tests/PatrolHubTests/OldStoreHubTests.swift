import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// Today's hub started on a store an older version wrote (Tests/Fixtures/old-stores,
/// made by scripts/make-old-stores.sh with the code of that version; the migrations
/// themselves are checked in AlertsTests' OldStoreMigrationTests).
@Suite("Old stores: today's hub serves a store an older version wrote")
struct OldStoreHubTests {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/old-stores")

    /// The fixture's store and inbox, unzipped into `dir`; returns the store's path.
    static func unpack(_ name: String, into dir: TempDir) throws -> String {
        let store = dir.file("patrolhub.sqlite")
        for (file, target) in [("patrolhub.sqlite.gz", store), ("patrolhub.inbox.sqlite.gz", DisputeStore.inboxPath(for: store))] {
            guard FileManager.default.createFile(atPath: target, contents: nil) else { throw TestFailure("cannot create \(target)") }
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
            defer { try? out.close() }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["gzip", "-dc", fixtures.appendingPathComponent("\(name)/\(file)").path]
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw TestFailure("gzip -dc \(name)/\(file) exited with \(p.terminationStatus)") }
        }
        return store
    }

    /// What the tests compare before and after: outcomes of camera and device events
    /// (the missed-checkpoint scheduler's own items and letters aside).
    struct Outcomes: Equatable, CustomStringConvertible {
        var eventKeys = 0, items = 0, occurrences = 0, warningSlips = 0, slipItems = 0, cases = 0, caseItems = 0, patrolRecords = 0
        var description: String {
            "keys \(eventKeys), items \(items) (\(occurrences) occurrences), warning slips \(warningSlips) (\(slipItems) items), cases \(cases) (\(caseItems) items), patrol records \(patrolRecords)"
        }

        static func read(_ db: Database) throws -> Outcomes {
            func n(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            let patrol = try db.tableExists("patrol_records")
            return Outcomes(
                eventKeys: try n("SELECT COUNT(*) FROM events"),
                items: try n("SELECT COUNT(*) FROM risk_items WHERE category != 'missed_checkpoint'"),
                occurrences: try n("SELECT COALESCE(SUM(occurrences), 0) FROM risk_items WHERE category != 'missed_checkpoint'"),
                warningSlips: try n("SELECT COUNT(*) FROM slips WHERE kind = 'warning'"),
                slipItems: try n("SELECT COUNT(*) FROM slip_items"),
                cases: try n("SELECT COUNT(*) FROM cases"),
                caseItems: try n("SELECT COUNT(*) FROM case_items"),
                patrolRecords: patrol ? try n("SELECT COUNT(*) FROM patrol_records WHERE kind = 'checkin'") : 0)
        }
    }

    /// Every id of a list endpoint, following `next` to the last page.
    static func listedIDs(_ http: TestHTTPClient, _ path: String) async throws -> [String] {
        var ids: [String] = [], cursor: String? = nil
        repeat {
            let r = try await http.get("/api/v1/\(path)?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
            guard r.status == 200, case .object(let page)? = try? JSONParser.parse([UInt8](r.body)), case .array(let items)? = page["items"] else {
                throw TestFailure("GET /api/v1/\(path): \(r.status) \(r.text)")
            }
            ids += items.compactMap { $0["id"]?.stringValue }
            cursor = page["next"]?.stringValue
        } while cursor != nil
        return ids
    }

    @Test("the hub lists the old rows over HTTP, absorbs a redelivery of every old message, and processes a new event",
          arguments: ["v3-cases", "v8-event-batches", "v12-visible-outcomes"])
    func hubServesOldStore(name: String) async throws {
        let dir = TempDir("old-store-hub")
        defer { dir.cleanup() }
        let path = try Self.unpack(name, into: dir)
        // What the old version left, read before today's code touches the files.
        let (oldItems, oldCases, newest) = try await DatabaseQueue(path: path).read { db in
            (try String.fetchAll(db, sql: "SELECT id FROM risk_items ORDER BY seq"),
             try String.fetchAll(db, sql: "SELECT id FROM cases ORDER BY seq"),
             try Double.fetchOne(db, sql: "SELECT MAX(last_seen) FROM risk_items") ?? 0)
        }
        let oldMessages = try await DatabaseQueue(path: DisputeStore.inboxPath(for: path)).read { db in
            try Row.fetchAll(db, sql: "SELECT topic, payload FROM inbox ORDER BY seq").map { ($0[0] as String, [UInt8]($0[1] as Data)) }
        }
        try #require(oldItems.count > 10 && !oldCases.isEmpty && oldMessages.count > 10)

        // The hub's clock stands a minute after the store's newest event and (nearly) stops
        // there: retention, lateness and the patrol scheduler see the store's time, not today's.
        let start = Date(timeIntervalSince1970: newest.rounded(.up) + 60)
        let clock = HubClock(simulation: .init(start: start, speed: 0.001, anchor: Date()))
        let broker = try TestBroker()
        defer { broker.stop() }
        var c = HubConfig()
        c.broker.mode = .external
        c.broker.port = broker.port
        c.broker.clientID = "hub-under-test"
        c.dataDir = dir.path
        c.store.path = path
        c.http.port = 0
        let config = packageRoot.appendingPathComponent("config")
        c.camerasFile = config.appendingPathComponent("cameras.csv").path
        c.devicesFile = config.appendingPathComponent("devices.csv").path
        c.zonesFile = config.appendingPathComponent("zones.geojson").path
        c.rulesFile = config.appendingPathComponent("rules.yaml").path
        c.patrolFile = config.appendingPathComponent("patrol.yaml").path
        let hub = try Hub(config: c, logger: testLogger, clock: clock)
        let group = try hub.start(signals: false)
        let task = Task { try await group.run() }
        let publisher = try TestPublisher(port: broker.port)
        defer { publisher.stop() }
        do {
            try await waitUntil("hub connected") { hub.ingest.client.isConnected }
            let http = TestHTTPClient(port: try await #require(hub.http).waitForPort())

            // The old rows, over the read API.
            let items = try await Self.listedIDs(http, "risk-items")
            #expect(Set(oldItems).isSubset(of: items), "\(Set(oldItems).subtracting(items).count) old risk items are not listed")
            #expect(Set(try await Self.listedIDs(http, "cases")) == Set(oldCases))

            // A redelivery of every message the old version stored changes no outcome:
            // the keys it recorded still recognise them.
            func settled(received: Int) async throws {
                try await waitUntil("\(received) messages received and processed", timeout: 60) {
                    let s = try hub.store.status()
                    return s.inboxReceived >= received && s.inboxPending == 0
                }
            }
            try await settled(received: oldMessages.count)
            let before = try await hub.store.writer.read(Outcomes.read)
            try await publisher.publishAll(oldMessages)
            try await settled(received: 2 * oldMessages.count)
            let redelivered = try await hub.store.writer.read(Outcomes.read)
            #expect(redelivered == before, "before: \(before); after the redelivery: \(redelivered)")

            // A new event is new: one more key, and an item numbered after the old ones
            // (on a camera quiet for ten minutes, so no dedup window can fold it), listed.
            let camera = try #require(try await hub.store.writer.read { db in
                try String.fetchOne(db, sql: """
                    SELECT id FROM cameras WHERE id NOT IN (SELECT source FROM risk_items WHERE last_seen > ?) ORDER BY id LIMIT 1
                    """, arguments: [newest - 600])
            })
            let lastSeq = try await hub.store.writer.read { try Int.fetchOne($0, sql: "SELECT MAX(seq) FROM risk_items") ?? 0 }
            try await publisher.publishAll([(eventTopic(camera), cameraEvent("after-upgrade-1", type: "fight", time: start))])
            try await settled(received: 2 * oldMessages.count + 1)
            let after = try await hub.store.writer.read(Outcomes.read)
            #expect(after.eventKeys == before.eventKeys + 1)
            #expect(after.items == before.items + 1)
            let newItem = try #require(try await hub.store.writer.read { db in
                try Row.fetchOne(db, sql: "SELECT id, seq, first_seen FROM risk_items WHERE source = ? AND category = 'fight' ORDER BY seq DESC",
                                 arguments: [camera])
            }, "the new event's risk item")
            #expect(newItem["seq"] as Int == lastSeq + 1)
            #expect(newItem["first_seen"] as Double == start.timeIntervalSince1970)
            #expect(try await Self.listedIDs(http, "risk-items").contains(newItem["id"] as String))
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
