import Foundation
import Testing
import Alerts
import AlertsStore
import AlertsStorePostgres
import PostgresTestSupport
@testable import PatrolHub
@testable import PatrolHubMQTT
import PatrolHubRuntime

/// `store.kind: postgres`: the hub's pipeline writes its outcomes to PostgreSQL
/// (the inbox stays the hub's SQLite file), and its publisher empties the
/// PostgreSQL outbox. Real mosquitto, real PostgreSQL (`PATROLHUB_TEST_POSTGRES_URL`,
/// which `.ci/run` starts), real hubs.
@Suite("A hub on PostgreSQL (store.kind: postgres)", .serialized)
struct PostgresHubTests {
    /// What a published slip says that does not depend on when it was processed.
    /// Each slip as last published: how many states in between a hub publishes depends on how
    /// its batches fell (a slip changed twice in one batch is published once).
    static func slipFacts(_ watcher: OutputWatcher) -> [String] {
        var last: [String: String] = [:]
        for j in watcher.messages where j.topic == "patrolhub/v1/out/slips" {
            last[j.json["id"]?.serialized ?? "-"] = ["id", "kind", "zone", "category", "severity", "state"].map { j.json[$0]?.serialized ?? "-" }
                .joined(separator: " ") + " " + (j.json["risk_item_ids"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
        }
        return last.values.sorted()
    }

    /// A hub's configuration on the PostgreSQL database `db` (the password, if any, in a file in `dir`), in `group` when set.
    static func onPostgres(_ db: (url: String, password: String?), _ dir: TempDir, group: String? = nil, http: Bool = false) throws -> (inout HubConfig) -> Void {
        let passwordFile = db.password.map { dir.write("store-password", $0 + "\n") }
        let url = try PostgresStoreURL(parsing: db.url)
        return { c in
            c.store.kind = .postgres
            c.store.url = url
            c.store.passwordFile = passwordFile
            c.http.enabled = http
            c.broker.sharedGroup = group
        }
    }

    @Test("The same messages give the same items and slips on PostgreSQL as on SQLite; a restart and a redelivery add nothing")
    func sameOutcomesAsSQLite() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        let messages = exactOutcomesMessages(now: Date())

        // SQLite, the reference.
        let sqliteDir = TempDir()
        defer { sqliteDir.cleanup() }
        let sqliteWatcher = try OutputWatcher(port: broker.port)
        try await sqliteWatcher.waitSubscribed(publisher: pub)
        let reference = try TestHub(brokerPort: broker.port, dir: sqliteDir, clientID: "hub-sqlite")
        do {
            try await reference.waitConnected()
            try await pub.publishAll(messages)
            try await reference.waitProcessed(received: messages.count)
            try await waitUntil("the SQLite hub's slips published") { try reference.store.outbox(limit: 1).isEmpty && Self.slipFacts(sqliteWatcher).count >= 2 }
        } catch {
            try? await reference.stop()
            throw error
        }
        try await reference.stop()
        let expectedSlips = Self.slipFacts(sqliteWatcher)
        sqliteWatcher.stop()
        let expected = try reference.store.status()
        #expect(expected.riskItemsTotal == 6 && expected.slipsTotal == 2)

        // PostgreSQL.
        let db = try TestPostgres.freshDatabase("hub")
        let pgDir = TempDir()
        defer { pgDir.cleanup() }
        let configure = try Self.onPostgres(db, pgDir)
        let pgWatcher = try OutputWatcher(port: broker.port)
        defer { pgWatcher.stop() }
        try await pgWatcher.waitSubscribed(publisher: pub)
        let hub = try TestHub(brokerPort: broker.port, dir: pgDir, clientID: "hub-postgres", configure: configure)
        // The test's own connection, reading the cursor the hub keeps under its inbox's id.
        let reader: PostgresStore
        do { reader = try PostgresStore(url: db.url, password: db.password, inboxID: hub.store.inboxID) } catch {
            try? await hub.stop()
            throw error
        }
        defer { reader.close() }
        do {
            try await hub.waitConnected()
            try await pub.publishAll(messages)
            try await waitUntil("the PostgreSQL hub processed \(messages.count) messages and published the SQLite hub's slips, item for item", timeout: 60) {
                try reader.cursor() == Int64(messages.count) && reader.rowCount("outbox") == 0 && Self.slipFacts(pgWatcher) == expectedSlips
            }
        } catch {
            try? await hub.stop()
            throw error
        }
        try await hub.stop()
        #expect(try reader.rowCount("risk_items") == expected.riskItemsTotal)
        #expect(try reader.rowCount("slips") == expected.slipsTotal)
        #expect(try reader.rowCount("events") == messages.count)
        #expect(try reader.rowCount("dead_letters") == 0)
        #expect(Self.slipFacts(pgWatcher) == expectedSlips, "the same slips, item for item")
        // The outcomes went to PostgreSQL only: no SQLite store file was made beside the inbox.
        #expect(!FileManager.default.fileExists(atPath: pgDir.file("hub.sqlite")))
        #expect(FileManager.default.fileExists(atPath: DisputeStore.inboxPath(for: pgDir.file("hub.sqlite"))))

        // A restart, then the same bytes again (a redelivery): the event keys in PostgreSQL absorb them.
        let again = try TestHub(brokerPort: broker.port, dir: pgDir, clientID: "hub-postgres", configure: configure)
        try await again.stopping {
            try await again.waitConnected()
            try await pub.publishAll(messages)
            try await waitUntil("the redelivered messages processed", timeout: 60) {
                try reader.cursor() == Int64(2 * messages.count)
            }
        }
        #expect(try reader.rowCount("risk_items") == expected.riskItemsTotal)
        #expect(try reader.rowCount("slips") == expected.slipsTotal)
        #expect(try reader.rowCount("events") == messages.count)
    }

    @Test("A SQLite hub switched to PostgreSQL is refused until `store migrate` copies its store; then it resumes where SQLite stopped")
    func switchNeedsStoreMigrate() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        let messages = exactOutcomesMessages(now: Date())
        let dir = TempDir()
        defer { dir.cleanup() }
        let storePath = dir.file("hub.sqlite")

        // A district's hub on SQLite: its inbox keeps the processed rows (store.inbox_retention_days).
        let sqliteHub = try TestHub(brokerPort: broker.port, dir: dir, clientID: "hub-switch")
        try await sqliteHub.stopping {
            try await sqliteHub.waitConnected()
            try await pub.publishAll(messages)
            try await sqliteHub.waitProcessed(received: messages.count)
        }
        let expected = try sqliteHub.store.status()
        #expect(expected.riskItemsTotal == 6 && expected.slipsTotal == 2)

        // The same folder with store.kind: postgres, before any copy: refused, naming the command.
        let db = try TestPostgres.freshDatabase("switch")
        let configure = try Self.onPostgres(db, dir)
        do {
            let started = try TestHub(brokerPort: broker.port, dir: dir, clientID: "hub-switch", configure: configure)
            try? await started.stop()
            Issue.record("a hub started on PostgreSQL beside its SQLite store's history, which it would process again")
        } catch {
            let text = "\(error)"
            #expect(text.contains("key 'store.kind'"), "\(text)")
            #expect(text.contains("processed through inbox row \(messages.count)"), "\(text)")
            #expect(text.contains("patrolhub store migrate --from 'sqlite:\(storePath)' --to 'postgres://"), "\(text)")
            #expect(text.contains("--password-file '\(dir.file("store-password"))'") == (db.password != nil), "\(text)")
        }

        // The refused start wrote nothing the copy refuses: it finds the database empty.
        let target = try PostgresStore(url: db.url, password: db.password)
        defer { target.close() }
        let counts = try target.copy(from: DisputeStore(path: storePath))
        #expect(counts.filter { !$0.ok }.isEmpty, "every table copied")

        // After the copy the hub starts at SQLite's cursor: a redelivery of the same bytes adds nothing.
        let hub = try TestHub(brokerPort: broker.port, dir: dir, clientID: "hub-switch", configure: configure)
        let reader: PostgresStore
        do { reader = try PostgresStore(url: db.url, password: db.password, inboxID: hub.store.inboxID) } catch {
            try? await hub.stop()
            throw error
        }
        defer { reader.close() }
        try await hub.stopping {
            try await hub.waitConnected()
            #expect(try reader.cursor() == Int64(messages.count), "the cursor carried over from SQLite")
            try await pub.publishAll(messages)
            try await waitUntil("the redelivered messages processed on PostgreSQL", timeout: 60) {
                try reader.cursor() == Int64(2 * messages.count)
            }
        }
        #expect(try reader.rowCount("events") == messages.count)
        #expect(try reader.rowCount("risk_items") == expected.riskItemsTotal)
        #expect(try reader.rowCount("slips") == expected.slipsTotal)
    }

    @Test("A second hub on the same PostgreSQL store is refused while the first runs, and starts once it has stopped")
    func oneHubPerStore() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let db = try TestPostgres.freshDatabase("sole")
        let dirA = TempDir(), dirB = TempDir()
        defer { dirA.cleanup(); dirB.cleanup() }
        let first = try TestHub(brokerPort: broker.port, dir: dirA, clientID: "hub-first", configure: Self.onPostgres(db, dirA))
        do {
            try await first.waitConnected()
            do {
                let second = try TestHub(brokerPort: broker.port, dir: dirB, clientID: "hub-second", configure: Self.onPostgres(db, dirB))
                try? await second.stop()
                Issue.record("a second hub started on a store another hub runs on")
            } catch {
                #expect("\(error)".contains("another PatrolHub runs on"), "\(error)")
            }
        } catch {
            try? await first.stop()
            throw error
        }
        try await first.stop()
        let second = try TestHub(brokerPort: broker.port, dir: dirB, clientID: "hub-second", configure: Self.onPostgres(db, dirB))
        try await second.waitConnected()
        try await second.stop()
    }

    @Test("Two hubs in a group on one store: each message decided once, as one hub decides it; a lone hub cannot join them")
    func groupOnOneStore() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        let messages = exactOutcomesMessages(now: Date())
        let db = try TestPostgres.freshDatabase("group")
        let dirs = [TempDir(), TempDir(), TempDir()]
        defer { for d in dirs { d.cleanup() } }
        let watcher = try OutputWatcher(port: broker.port)
        defer { watcher.stop() }
        try await watcher.waitSubscribed(publisher: pub)
        let a = try TestHub(brokerPort: broker.port, dir: dirs[0], clientID: "hub-a", configure: Self.onPostgres(db, dirs[0], group: "city"))
        var b: TestHub?
        let reader = try PostgresStore(url: db.url, password: db.password)
        defer { reader.close() }
        do {
            b = try TestHub(brokerPort: broker.port, dir: dirs[1], clientID: "hub-b", configure: Self.onPostgres(db, dirs[1], group: "city"))
            try await a.waitConnected()
            try await b!.waitConnected()
            // A lone hub (no group) is refused while the group runs on the store.
            do {
                let lone = try TestHub(brokerPort: broker.port, dir: dirs[2], clientID: "hub-lone", configure: Self.onPostgres(db, dirs[2]))
                try? await lone.stop()
                Issue.record("a lone hub started on a group's store")
            } catch {
                #expect("\(error)".contains("another PatrolHub runs on"), "\(error)")
            }
            try await pub.publishAll(messages)
            let shared = PostgresSharedInbox(store: reader)
            try await waitUntil("the group decided every message and published its slips", timeout: 60) {
                try shared.newestSeq() == Int64(messages.count) && shared.processedThrough() == Int64(messages.count)
                    && reader.rowCount("outbox") == 0 && PostgresHubTests.slipFacts(watcher).count >= 2
            }
            // The broker spread the messages: both hubs received some, neither all.
            let shares = [try a.store.inboxNewestSeq(), try b!.store.inboxNewestSeq()]
            #expect(shares.reduce(0, +) == Int64(messages.count) && shares.allSatisfy { $0 > 0 }, "\(shares)")
        } catch {
            try? await a.stop()
            try? await b?.stop()
            throw error
        }
        try await a.stop()
        try await b?.stop()
        // One hub's outcomes (`sameOutcomesAsSQLite`): 6 items, 2 slips, every event once, no dead letter.
        #expect(try reader.rowCount("risk_items") == 6)
        #expect(try reader.rowCount("slips") == 2)
        #expect(try reader.rowCount("events") == messages.count)
        #expect(try reader.rowCount("dead_letters") == 0)
        #expect(try reader.leadHolder().epoch >= 1)
    }

    @Test("Every hub of a group serves the whole city over HTTP: lists, the stream, a silence and a case action made on one seen on the other, /metrics")
    func groupServesTheCity() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        let messages = exactOutcomesMessages(now: Date())
        let db = try TestPostgres.freshDatabase("group-http")
        let dirs = [TempDir(), TempDir()]
        defer { for d in dirs { d.cleanup() } }
        let a = try TestHub(brokerPort: broker.port, dir: dirs[0], clientID: "hub-a", configure: Self.onPostgres(db, dirs[0], group: "city", http: true))
        var b: TestHub?
        var streams: [TestSSEClient] = []
        defer { for s in streams { s.close() } }
        let reader = try PostgresStore(url: db.url, password: db.password)
        defer { reader.close() }
        do {
            b = try TestHub(brokerPort: broker.port, dir: dirs[1], clientID: "hub-b", configure: Self.onPostgres(db, dirs[1], group: "city", http: true))
            try await a.waitConnected()
            try await b!.waitConnected()
            let ports = [try await a.hub.http!.waitForPort(), try await b!.hub.http!.waitForPort()]
            let clients = ports.map { TestHTTPClient(port: $0) }
            for port in ports {
                let s = try TestSSEClient(port: port)
                streams.append(s)
                try await s.waitFor("ready") { $0.event == "ready" }
            }
            try await pub.publishAll(messages)
            let shared = PostgresSharedInbox(store: reader)
            try await waitUntil("the group decided every message", timeout: 60) {
                try shared.processedThrough() == Int64(messages.count) && reader.rowCount("outbox") == 0
            }
            // Each hub received only its share, and each shows the whole city.
            var seen: [Set<String>] = []
            for c in clients {
                let items = try await c.get("/api/v1/risk-items?limit=1000")
                #expect(items.status == 200, "\(items.text)")
                seen.append(Set(try items.ids()))
                #expect(try await c.get("/api/v1/slips").ids().count == 2)
                let zones = try await c.get("/api/v1/zones")
                #expect(zones.status == 200, "\(zones.text)")
                let metrics = try await c.get("/metrics")
                #expect(metrics.text.contains(#"patrolhub_risk_items{state="open"}"#), "\(metrics.text.prefix(500))")
            }
            #expect(seen[0].count == 6 && seen[0] == seen[1], "\(seen)")
            // Both streams, the leader's and the other's, carried the items.
            for s in streams {
                try await s.waitFor("a risk item on the stream", timeout: 30) { $0.event == "risk_item" && seen[0].contains($0.json["object"]?["id"]?.stringValue ?? "") }
            }
            // A silence made on one hub is listed on the other.
            let silence = try await clients[1].post("/api/v1/silences", #"{"category":"loitering","duration":"1h","created_by":"op","comment":"施工"}"#)
            #expect(silence.status == 201, "\(silence.text)")
            let silenceID = try #require(silence.json["id"]?.stringValue)
            #expect(try await clients[0].get("/api/v1/silences").ids().contains(silenceID))
            // A case action taken on one hub is the case's state on the other, and on both streams.
            let cases = try await clients[0].get("/api/v1/cases")
            let caseID = try #require(try cases.ids().first, "the fights open a case: \(cases.text)")
            let acted = try await clients[1].post("/api/v1/cases/\(caseID)/actions", #"{"action":"acknowledge","by":"op-1"}"#)
            #expect(acted.status == 200, "\(acted.text)")
            #expect(try await clients[0].get("/api/v1/cases/\(caseID)").json["state"] == .string("acknowledged"))
            for s in streams {
                try await s.waitFor("the acknowledged case on the stream", timeout: 30) {
                    $0.event == "case" && $0.json["object"]?["state"] == .string("acknowledged")
                }
            }
            // A NUL character, which PostgreSQL's text refuses, is a 400 naming where it is, not a 500.
            let host = "Host: 127.0.0.1:\(ports[0])"
            let nulBody = try rawHTTP(port: ports[0], "POST /api/v1/silences HTTP/1.1\n\(host)\nContent-Type: application/json",
                                      body: #"{"category":"motion","duration":"1h","created_by":"op","comment":"a\u0000b"}"#)
            #expect(nulBody.status == 400 && nulBody.text.contains("comment"), "\(nulBody.text)")
            #expect(try rawHTTP(port: ports[0], "GET /api/v1/cases/AJ%00 HTTP/1.1\n\(host)").status == 400)
            #expect(try rawHTTP(port: ports[0], "GET /api/v1/risk-items?zone=G%00 HTTP/1.1\n\(host)").status == 400)
            // The reports read the shared store too.
            for kind in ["daily", "weekly", "monthly"] {
                let report = try await clients[1].get("/api/v1/reports/\(kind)?format=csv")
                #expect(report.status == 200 && !report.text.isEmpty, "\(kind): \(report.text.prefix(300))")
            }

            // The command line acts on the same store, as an operator on the hubs' machine does.
            let exe = try patrolhubExecutable()
            let cliDir = TempDir()
            defer { cliDir.cleanup() }
            let passwordLine = db.password.map { "  password_file: \(cliDir.write("pw", $0 + "\n"))\n" } ?? ""
            let config = cliDir.write("hub.yaml", "store:\n  kind: postgres\n  url: \(db.url)\n\(passwordLine)  path: \(cliDir.file("hub.sqlite"))\n")
            let (actStatus, actOut) = try runProcess(exe, ["cases", "act", caseID, "assign", "--assignee", "网格员 W-1", "--by", "op-2", "--config", config])
            #expect(actStatus == 0 && actOut.contains("acknowledged → assigned"), "\(actOut)")
            #expect(try await clients[1].get("/api/v1/cases/\(caseID)").json["assignee"] == .string("网格员 W-1"))
            let (listStatus, listOut) = try runProcess(exe, ["silences", "list", "--config", config])
            #expect(listStatus == 0 && listOut.contains(silenceID), "\(listOut)")
            let (expireStatus, expireOut) = try runProcess(exe, ["silences", "expire", silenceID, "--by", "op-2", "--config", config])
            #expect(expireStatus == 0, "\(expireOut)")
            #expect(try await clients[1].get("/api/v1/silences").ids().isEmpty, "the expired silence is no longer listed")
            let (reportStatus, reportOut) = try runProcess(exe, ["report", "weekly", "--format", "csv", "--config", config])
            #expect(reportStatus == 0 && !reportOut.isEmpty, "\(reportOut)")
            let (statusStatus, statusOut) = try runProcess(exe, ["status", "--config", config])
            #expect(statusStatus != 0 && statusOut.contains("HTTP API"), "status still reads SQLite only, and says where to look: \(statusOut)")
        } catch {
            try? await a.stop()
            try? await b?.stop()
            throw error
        }
        try await a.stop()
        try await b?.stop()
    }

    @Test("A hub whose PostgreSQL store cannot be reached refuses to start, naming the store")
    func unreachableStoreRefused() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let port = try EmbeddedBroker.freePort() // nothing listens there
        var c = HubConfig()
        c.broker.mode = .external
        c.broker.port = 1
        c.dataDir = dir.path
        c.store.path = dir.file("hub.sqlite")
        c.camerasFile = dir.write("cameras.csv", testCamerasCSV)
        c.store.kind = .postgres
        c.store.url = try PostgresStoreURL(parsing: "postgres://hub@127.0.0.1:\(port)/city")
        c.http.enabled = false
        do {
            _ = try Hub(config: c, logger: testLogger)
            Issue.record("a hub started without its store")
        } catch {
            #expect("\(error)".contains("127.0.0.1:\(port)"), "\(error)")
        }
    }
}
