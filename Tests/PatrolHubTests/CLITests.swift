import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// The `patrolhub` executable as an operator runs it.
@Suite("Command line")
struct CLITests {
    @Test func zonesCheckPassesOnTheSample() throws {
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "check", packageRoot.appendingPathComponent("config/zones.geojson").path,
                                                                           "--cameras", packageRoot.appendingPathComponent("config/cameras.csv").path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("43 features, OK"))
        #expect(output.contains("every camera is in a zone"))
    }

    @Test func zonesCheckFailsNamingTheFeatureAndProblem() throws {
        let bad = packageRoot.appendingPathComponent("Tests/Fixtures/grid/err_unclosed.geojson").path
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "check", bad])
        #expect(status != 0)
        #expect(output.contains("feature "), "\(output)")
        #expect(output.contains("not closed"), "\(output)")
    }

    @Test func zonesLocateJSON() throws {
        let zones = packageRoot.appendingPathComponent("config/zones.geojson").path
        let (status, output) = try runProcess(try patrolhubExecutable(), ["zones", "locate", "--lat", "29.655", "--lon", "91.13", "--zones", zones, "--json"])
        #expect(status == 0)
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"chain":["540102","540102-001","540102-001-002","540102-001-002-02"],"zone":"540102-001-002-02"}"#)
        let (_, outside) = try runProcess(try patrolhubExecutable(), ["zones", "locate", "--lat", "39.9", "--lon", "116.4", "--zones", zones, "--json"])
        #expect(outside.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"chain":[],"zone":"unzoned"}"#)
        // Negative coordinates are values, not options.
        let (south, southOut) = try runProcess(try patrolhubExecutable(), ["zones", "locate", "--lat", "-33.9", "--lon", "-70.6", "--zones", zones, "--json"])
        #expect(south == 0, "\(southOut)")
        #expect(southOut.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"chain":[],"zone":"unzoned"}"#)
    }

    @Test func statusJSONHasTheDocumentedKeys() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try DisputeStore(path: dir.file("s.sqlite"))
        try store.ingest([InboxMessage(topic: "patrolhub/v1/camera/x/event", payload: Array("{}".utf8), receivedAt: Date())])
        let config = dir.write("hub.yaml", "store:\n  path: s.sqlite\n")
        let (status, output) = try runProcess(try patrolhubExecutable(), ["status", "--config", config, "--json"])
        #expect(status == 0, "\(output)")
        let json = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["inbox"] == .object(["received": .number(1), "processed": .number(0), "pending": .number(1)]))
        for key in ["dead_letters", "risk_items", "slips", "cases"] { #expect(json[key] != nil, "\(key)") }
    }

    @Test("status shows dead letters pending and replayed next to the totals, from counters that follow inserts, replays and pruning")
    func statusCountsReplayedDeadLetters() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("s.sqlite")
        let store = try DisputeStore(path: path)
        let now = Date().timeIntervalSince1970
        try store.writer.write { db in
            for (key, reason) in [("k1", "unknown_source"), ("k2", "unknown_source"), ("k3", "unknown_source"), ("k4", "malformed")] {
                try db.execute(sql: """
                    INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at)
                    VALUES (?, ?, '', 'patrolhub/v1/camera/cam-404/event', x'7b7d', 2, ?, ?)
                    """, arguments: [key, reason, now, now])
            }
        }
        var q = DeadLetterQuery()
        q.reasons = ["unknown_source"]
        #expect(try store.replayDeadLetters(q, by: "installer").queued.count == 3)
        #expect(try store.replayDeadLetters(q, by: "installer").queued.isEmpty, "replaying again counts nothing twice")
        // Pruning a replayed one keeps it counted as replayed; pruning the pending one leaves none pending.
        try store.writer.write { db in try db.execute(sql: "DELETE FROM dead_letters WHERE inbox_key IN ('k1')") }

        let exe = try patrolhubExecutable()
        let (status, output) = try runProcess(exe, ["status", "--store", path, "--config", dir.file("none.yaml"), "--json"])
        #expect(status == 0, "\(output)")
        let json = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["dead_letters"] == .object(["total": .number(3), "by_reason": .object(["unknown_source": .number(2), "malformed": .number(1)]),
                                                 "pending": .number(1), "replayed": .number(3)]), "\(output)")
        let (_, text) = try runProcess(exe, ["status", "--store", path, "--config", dir.file("none.yaml")])
        #expect(text.contains("dead letters  3 (malformed 1, unknown_source 2); pending 1, replayed 3 (patrolhub dead-letters)\n"), "\(text)")

        try store.writer.write { db in try db.execute(sql: "DELETE FROM dead_letters WHERE inbox_key = 'k4'") }
        let counted = try store.status()
        #expect((counted.deadLettersPending, counted.deadLettersReplayed) == (0, 3))
        #expect(counted.deadLettersPending == (try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL") }),
                "the counter is the count")
    }

    /// A mistyped --store names the mistake, exits non-zero and creates nothing.
    @Test func aMissingOrForeignStoreIsNamedAndNothingIsCreated() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let exe = try patrolhubExecutable()
        let typo = dir.file("typo.sqlite")
        let (added, addOut) = try runProcess(exe, ["silences", "add", "--store", typo, "--category", "motion", "--by", "op", "--comment", "test", "--duration", "1h"])
        #expect(added != 0)
        #expect(addOut.contains("no store at \(typo)"), "\(addOut)")
        #expect(!FileManager.default.fileExists(atPath: typo), "the mistyped store was created")

        let zones = packageRoot.appendingPathComponent("config/zones.geojson").path
        for args in [["status", "--store", zones], ["cases", "list", "--store", zones], ["report", "weekly", "--store", zones]] {
            let (status, out) = try runProcess(exe, args)
            #expect(status != 0, "\(args)")
            #expect(out.contains("\(zones) is not a PatrolHub store (not an SQLite database)"), "\(args): \(out)")
            #expect(!out.contains("SQLite error"), "\(args): \(out)")
        }
        let empty = dir.write("empty.sqlite", "")
        let (emptyStatus, emptyOut) = try runProcess(exe, ["status", "--store", empty])
        #expect(emptyStatus != 0)
        #expect(emptyOut.contains("is empty: not a store a hub has written"), "\(emptyOut)")
    }

    /// With store.kind: postgres the file at store.path is not the hub's store (at most the SQLite
    /// store it ran on before its switch): the store commands refuse it instead of reading stale
    /// figures from it, and silences and case actions go to PostgreSQL, never to the file.
    @Test("store commands refuse the SQLite file at store.path when the hub's store is PostgreSQL; --store still opens a file")
    func storeCommandsRefuseStorePathOnPostgres() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let exe = try patrolhubExecutable()
        let path = dir.file("hub.sqlite")
        _ = try DisputeStore(path: path) // the store the hub ran on before the switch
        // Nothing listens on port 1: no command may need the server to refuse.
        let config = dir.write("patrolhub.yaml", """
            data_dir: .
            store:
              kind: postgres
              url: postgres://patrolhub@127.0.0.1:1/city
              path: hub.sqlite
            http:
              enabled: false
            """)
        let commands: [[String]] = [
            ["status"], ["cases", "list"], ["items", "list"], ["dead-letters", "list"], ["adapters", "unmapped"],
            ["store", "backup", dir.file("copy.sqlite")], ["store", "vacuum"],
        ]
        for args in commands {
            let (status, out) = try runProcess(exe, args + ["--config", config])
            #expect(status != 0, "\(args): \(out)")
            #expect(out.contains("store.kind is postgres"), "\(args): \(out)")
            #expect(out.contains("pass --store PATH"), "\(args): \(out)")
        }
        // Silences, case actions and reports go to PostgreSQL itself, as the hub's HTTP API does: here there is no server.
        for args in [["silences", "list"], ["silences", "add", "--category", "motion", "--by", "op", "--comment", "test", "--duration", "1h"],
                     ["cases", "act", "AJ-00000001", "acknowledge", "--by", "op"], ["report", "daily"]] {
            let (status, out) = try runProcess(exe, args + ["--config", config])
            #expect(status != 0, "\(args): \(out)")
            #expect(out.contains("cannot connect to postgres://patrolhub@127.0.0.1:1/city"), "\(args): \(out)")
        }
        #expect(try DisputeStore(path: path).writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM silences") } == 0,
                "no silence was written to the file")
        #expect(!FileManager.default.fileExists(atPath: dir.file("copy.sqlite")))
        let (status, out) = try runProcess(exe, ["status", "--store", path, "--config", config])
        #expect(status == 0, "\(out)")
    }

    /// The command a refused switch to PostgreSQL names is one shell word per argument.
    @Test func shellQuotingKeepsEachArgumentOneWord() {
        #expect(Hub.shellQuoted("postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/etc/ca.pem") == "'postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/etc/ca.pem'")
        #expect(Hub.shellQuoted("sqlite:/var/lib/it's here.sqlite") == #"'sqlite:/var/lib/it'\''s here.sqlite'"#)
    }

    @Test func aReportToAFolderThatDoesNotExistSaysSo() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = try DisputeStore(path: dir.file("s.sqlite"))
        let target = dir.file("no-such-folder/weekly.html")
        let (status, out) = try runProcess(try patrolhubExecutable(), ["report", "weekly", "--store", dir.file("s.sqlite"), "--format", "html", "-o", target])
        #expect(status != 0)
        #expect(out.contains("cannot write \(target): the folder \(dir.file("no-such-folder")) does not exist"), "\(out)")
        #expect(!out.contains("NSCocoaErrorDomain"), "\(out)")
    }

    /// `serve` with its HTTP port taken says so in an operator's words, not NIO's system-call text.
    @Test func aPortInUseIsNamedAsSuch() throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let taken = try TestBroker() // something listening on the port the hub is told to use
        defer { taken.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let config = dir.write("hub.yaml", """
            data_dir: .
            broker:
              mode: external
              host: 127.0.0.1
              port: \(broker.port)
              client_id: port-in-use
            store:
              path: hub.sqlite
            registry:
              cameras: cameras.csv
            http:
              listen: 127.0.0.1:\(taken.port)
            """)
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--log-level", "error"], timeout: 90)
        #expect(status != 0)
        #expect(out.contains("http.listen 127.0.0.1:\(taken.port): the port is in use by another program"), "\(out)")
        #expect(!out.contains("bind(descriptor"), "\(out)")
    }
}
