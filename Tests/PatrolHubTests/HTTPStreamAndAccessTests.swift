import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// The live stream and access control, against a live hub.
@Suite("HTTP stream and access over a live hub", .serialized)
struct HTTPStreamAndAccessTests {
    @Test("the stream delivers every change made after the client connected: pipeline items and slips, case updates and transitions; Last-Event-ID resumes")
    func streamDeliversLaterChanges() async throws {
        try await DispatchFixture.run { f in
            let sse = try TestSSEClient(port: f.port)
            defer { sse.close() }
            let ready = try await sse.waitFor("ready") { $0.event == "ready" }
            #expect(sse.status == 200)
            let start = try f.store.latestChangeSeq()
            #expect(ready.json == .object(["after": .number(Double(start))]), "starts after everything already in the store")
            try await waitUntil("the feed counts the client") { f.hub.hub.http!.feed.clientCount == 1 }

            // A fight in grid B through the real pipeline: a new risk item and a new warning slip.
            try await f.pub.publishAll([(eventTopic(f.cameraB), cameraEvent("live-fight", type: "fight", time: Date().addingTimeInterval(-30)))])
            let item = try await sse.waitFor("the new risk item") { $0.event == "risk_item" && $0.json["object"]?["category"] == .string("fight") }
            #expect(item.json["op"] == .string("new"))
            #expect(item.json["kind"] == .string("risk_item"))
            let stored = try #require(try f.store.riskItems().first { $0.category == .fight && $0.zone == f.gridB.code })
            #expect(item.json["object"] == stored.json, "the object is RiskItem.json")
            #expect(item.id == item.json["seq"].map { String(Int($0.doubleValue ?? 0)) })
            let slip = try await sse.waitFor("the new slip") { $0.event == "slip" && $0.json["object"]?["category"] == .string("fight") && $0.json["object"]?["zone"] == .string(f.gridB.code) }
            #expect(slip.json["op"] == .string("new"))

            // The case lifecycle acknowledges case 1: a case update and a transition.
            var c1 = try #require(try await f.store.writer.read { db in try DisputeStore.fetchCase(id: "AJ-00000001", db: db) })
            c1.state = .acknowledged
            try f.acknowledge(c1, at: Date(), by: "desk-7")
            let transition = try await sse.waitFor("the transition") { $0.event == "transition" }
            #expect(transition.json["object"]?["case_id"] == .string("AJ-00000001"))
            #expect(transition.json["object"]?["by"] == .string("desk-7"))
            #expect(transition.json["object"]?["to"] == .string("acknowledged"))
            let update = try await sse.waitFor("the case update") { $0.event == "case" && $0.json["object"]?["id"] == .string("AJ-00000001") }
            #expect(update.json["op"] == .string("updated"))
            #expect(update.json["object"]?["state"] == .string("acknowledged"))

            // Nothing from before the connection, ids strictly increasing.
            let seqs = sse.events.compactMap(\.id).compactMap(Int64.init)
            #expect(seqs.allSatisfy { $0 > start })
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)

            // A client that comes back with Last-Event-ID gets what it missed, and only that.
            let resumed = try TestSSEClient(port: f.port, headers: ["Last-Event-ID": "\(start)"])
            defer { resumed.close() }
            try await resumed.waitFor("the resumed transition") { $0.event == "transition" }
            #expect(resumed.events.compactMap(\.id).compactMap(Int64.init).allSatisfy { $0 > start })
            #expect(try await TestHTTPClient(port: f.port).get("/api/v1/stream?after=x").status == 400)
        }
    }

    @Test("clients at one position share each page read: a dozen boards read the store once per commit, and all get every change")
    func clientsShareReads() async throws {
        try await DispatchFixture.run { f in
            let feed = f.hub.hub.http!.feed
            var clients: [TestSSEClient] = []
            defer { clients.forEach { $0.close() } }
            for _ in 0..<12 {
                let c = try TestSSEClient(port: f.port)
                clients.append(c)
                try await c.waitFor("ready") { $0.event == "ready" }
            }
            try await waitUntil("the feed counts the clients") { feed.clientCount == 12 }
            let (reads, wakes) = (feed.pageReads.load(ordering: .relaxed), feed.changeWakes.load(ordering: .relaxed))
            // One commit at a time, each sent to every client before the next.
            for (i, (camera, type)) in [(f.cameraB, "fight"), (f.cameraA, "fire_smoke"), (f.cameraB, "intrusion"), (f.cameraA, "loitering")].enumerated() {
                let before = try f.store.latestChangeSeq()
                try await f.pub.publishAll([(eventTopic(camera), cameraEvent("shared-\(i)", type: type, time: Date().addingTimeInterval(-30 + Double(i))))])
                var latest: Int64 = before
                try await waitUntil("event \(i) is committed") {
                    latest = try f.store.latestChangeSeq()
                    return latest > before
                }
                try await waitUntil("every client has event \(i)") {
                    clients.allSatisfy { $0.events.compactMap(\.id).compactMap(Int64.init).contains(latest) }
                }
            }
            let ids = clients.map { $0.events.compactMap(\.id) }
            #expect(ids.allSatisfy { $0 == ids[0] }, "every client got the same changes")
            let readsMade = feed.pageReads.load(ordering: .relaxed) - reads
            let wakesSent = feed.changeWakes.load(ordering: .relaxed) - wakes
            #expect(wakesSent > 0)
            // Each client reading its own page would make 12 reads a wake-up.
            #expect(readsMade <= 2 * wakesSent + 2, "\(readsMade) page reads for \(wakesSent) wake-ups of 12 clients")
        }
    }

    @Test("graceful shutdown ends open streams")
    func shutdownWithOpenStream() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let hub = try TestHub(brokerPort: broker.port, dir: dir)
        let port = try await hub.hub.http!.waitForPort()
        let sse = try TestSSEClient(port: port)
        defer { sse.close() }
        try await sse.waitFor("ready") { $0.event == "ready" }
        try await hub.stop()
        try await waitUntil("the stream closed") { sse.isClosed }
    }

    /// Hashed lines as `tokens add` writes them, and two legacy plain tokens (accepted, with a warning at start).
    static let tokens = """
        # role      name        token
        \(AccessTokens.line(role: .viewer, name: "wall", token: "viewer-token-0123456789abcdefghij"))
        operator    desk-1      operator-token-0123456789abcdefghij
        \(AccessTokens.line(role: .supervisor, name: "chief", token: "supervisor-token-0123456789abcdefghij"))

        admin       root        admin-token-0123456789abcdefghijklm
        """

    @Test("bearer tokens: 401 without or with a wrong token, 403 below the role, the token's name as author")
    func rolesAndTokens() async throws {
        try await DispatchFixture.run(tokens: Self.tokens) { f in
            let c = f.client()
            let none = try await c.get("/api/v1/cases")
            #expect(none.status == 401)
            #expect(none.header("WWW-Authenticate") == #"Bearer realm="patrolhub""#)
            #expect(try await c.get("/api/v1/cases", token: "wrong-token-0123456789abcdefghijklm").status == 401)
            #expect(try await c.get("/metrics").status == 401)
            #expect(try await c.get("/healthz").status == 200, "health checks need no token")
            #expect(try await c.get("/").status == 200, "the board page holds no data and asks for a token")

            for token in ["viewer-token-0123456789abcdefghij", "operator-token-0123456789abcdefghij", "supervisor-token-0123456789abcdefghij", "admin-token-0123456789abcdefghijklm"] {
                for path in ["/api/v1/cases", "/api/v1/cases/AJ-00000001", "/api/v1/risk-items", "/api/v1/slips?kind=warning", "/api/v1/zones", "/api/v1/zones/\(f.gridA.code)", "/api/v1/silences", "/metrics"] {
                    #expect(try await c.get(path, token: token).status == 200, "\(path) with \(token)")
                }
            }

            let body = #"{"zone":"\#(f.gridA.code)","duration":"1h","created_by":"someone-else","comment":"drill in progress"}"#
            let refused = try await c.post("/api/v1/silences", body, token: "viewer-token-0123456789abcdefghij")
            #expect(refused.status == 403)
            #expect(refused.json["error"]?["message"] == .string("this needs the role operator or above; token 'wall' has viewer"))
            let created = try await c.post("/api/v1/silences", body, token: "operator-token-0123456789abcdefghij")
            #expect(created.status == 201)
            #expect(created.json["created_by"] == .string("desk-1"), "the author is the token's holder, not what the body claims")
            let id = try #require(created.json["id"]?.stringValue)
            #expect(try await c.delete("/api/v1/silences/\(id)", token: "viewer-token-0123456789abcdefghij").status == 403)
            #expect(try await c.delete("/api/v1/silences/\(id)?purge=true", token: "operator-token-0123456789abcdefghij").status == 403, "deleting outright is for supervisors")
            #expect(try await c.delete("/api/v1/silences/\(id)", token: "operator-token-0123456789abcdefghij").status == 200)
            #expect(try await c.delete("/api/v1/silences/\(id)?purge=true", token: "supervisor-token-0123456789abcdefghij").status == 200)
            let actors = try await f.store.writer.read { db in try String.fetchAll(db, sql: "SELECT actor FROM audit_log WHERE subject = ? ORDER BY id", arguments: [id]) }
            #expect(actors == ["desk-1", "desk-1", "chief"])

            // The stream takes the token as a query parameter (EventSource sends no headers); other routes do not.
            let sse = try TestSSEClient(port: f.port, path: "/api/v1/stream?access_token=viewer-token-0123456789abcdefghij")
            defer { sse.close() }
            try await sse.waitFor("ready") { $0.event == "ready" }
            let anonymous = try TestSSEClient(port: f.port)
            defer { anonymous.close() }
            try await waitUntil("a status") { anonymous.status != nil }
            #expect(anonymous.status == 401)
            #expect(try await c.get("/api/v1/cases?access_token=viewer-token-0123456789abcdefghij", token: .some(nil)).status == 401)
        }
    }

    @Test("token files are validated with the line of each problem")
    func tokenFileErrors() throws {
        func problem(_ text: String) -> String {
            do { _ = try AccessTokens.parse(text, file: "tokens.txt"); return "accepted" } catch { return "\(error)" }
        }
        #expect(problem("viewer wall\n") == "tokens.txt:1: expected three fields 'ROLE NAME TOKEN', found 2")
        let hex32 = "0123456789abcdef0123456789abcdef"
        let hash = "sha256:" + String(repeating: "ab", count: 32)
        #expect(problem("# c\nroot root \(hash)\n") == "tokens.txt:2: unknown role 'root' (use one of viewer, operator, supervisor, admin)")
        #expect(problem("viewer wall short\n") == "tokens.txt:1: the token of 'wall' is too short: a token needs at least 128 bits (32 hex characters); issue one with `patrolhub tokens add`")
        #expect(problem("viewer wall 0123456789abcdef0123456789abcde\n").hasPrefix("tokens.txt:1: the token of 'wall' is too short"), "31 characters")
        #expect(problem("viewer wall sha256:abcd\n") == "tokens.txt:1: the token hash of 'wall' must be 'sha256:' and 64 hex digits")
        #expect(problem("viewer wall sha256:\(String(repeating: "zz", count: 32))\n") == "tokens.txt:1: the token hash of 'wall' must be 'sha256:' and 64 hex digits")
        #expect(problem("viewer wall \(hash)\nadmin wall \(hex32)\n") == "tokens.txt:2: duplicate name 'wall' (first on line 1)")
        #expect(problem("viewer a \(hex32)\n\nadmin b \(hex32)\n") == "tokens.txt:3: the token of 'b' repeats the token on line 1")
        #expect(problem("viewer a \(hex32)\nadmin b sha256:\(SHA256.hex(Array(hex32.utf8)))\n") == "tokens.txt:2: the token of 'b' repeats the token on line 1",
                "a plain token and the hash of the same token are the same token")
        #expect(problem("viewer wa/ll \(hash)\n") == "tokens.txt:1: name 'wa/ll' may only hold letters, digits, '.', '_', '-' and '@'")
        #expect(problem("# nothing\n\n") == "tokens.txt: key 'http.tokens_file': the token file holds no token (lines 'ROLE NAME sha256:HASH'; add one with `patrolhub tokens add`)")
        let ok = try AccessTokens.parse(Self.tokens, file: "t")
        #expect(ok.identity(for: "operator-token-0123456789abcdefghij") == Identity(name: "desk-1", role: .operator, authenticated: true))
        #expect(ok.identity(for: "viewer-token-0123456789abcdefghij") == Identity(name: "wall", role: .viewer, authenticated: true), "a hashed line")
        #expect(ok.identity(for: "operator-token-0123456789abcdefghi") == nil)
        #expect(ok.identity(for: Substring(SHA256.hex(Array("viewer-token-0123456789abcdefghij".utf8)))) == nil, "the hash itself is not a token")
        #expect(ok.identity(for: "") == nil)
        #expect(ok.plainLines.map(\.name) == ["desk-1", "root"])
        #expect("\(ok)" == "AccessTokens(4 tokens)" && String(reflecting: ok) == "AccessTokens(4 tokens)", "descriptions show no token or hash")
    }

    @Test("http config: listen address, token file key, and no non-loopback listening without tokens")
    func httpConfig() throws {
        func parse(_ yaml: String) throws -> HubConfig { try HubConfig.parse(try ConfigMap.parse(yaml: yaml, file: "/etc/hub.yaml"), file: "/etc/hub.yaml") }
        let d = try parse("")
        #expect(d.http.host == "127.0.0.1" && d.http.port == 8080 && d.http.tokensFile == nil && d.http.enabled)
        let v6 = try parse("http:\n  listen: \"[::1]:9000\"\n")
        #expect(v6.http.host == "::1" && v6.http.port == 9000)
        let open = try parse("http:\n  listen: 0.0.0.0:8080\n  tokens_file: tokens.txt\n")
        #expect(open.http.host == "0.0.0.0" && open.http.tokensFile == "/etc/tokens.txt")
        func problem(_ yaml: String) -> String {
            do { _ = try parse(yaml); return "accepted" } catch { return "\(error)" }
        }
        #expect(problem("http:\n  listen: 0.0.0.0:8080\n") == "/etc/hub.yaml:2: key 'http.listen': 0.0.0.0:8080 is not a loopback address: without http.tokens_file the HTTP API serves loopback only (set http.tokens_file, or listen on 127.0.0.1)")
        #expect(problem("http:\n  listen: 8080\n").hasPrefix("/etc/hub.yaml:2: key 'http.listen': expected HOST:PORT"))
        #expect(problem("http:\n  listen: localhost:70000\n").hasPrefix("/etc/hub.yaml:2: key 'http.listen': expected HOST:PORT"))
        #expect(problem("http:\n  enabled: sometimes\n").hasPrefix("/etc/hub.yaml:2: key 'http.enabled'"))
        #expect(problem("http:\n  port: 80\n") == "/etc/hub.yaml:2: key 'http.port': unknown key (check its spelling and place)")
        #expect(try parse("http:\n  listen: 127.0.0.2:0\n").http.isLoopback)
        #expect(try parse("http:\n  listen: localhost:0\n").http.isLoopback)
    }

    @Test("serve refuses to listen beyond loopback without a token file, and names a broken token file's line")
    func serveRefusesOpenListenWithoutTokens() throws {
        let exe = try patrolhubExecutable()
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let open = dir.write("open.yaml", "data_dir: .\nbroker:\n  mode: external\n  port: 1\nhttp:\n  listen: 0.0.0.0:0\n")
        let (status, output) = try runProcess(exe, ["serve", "--config", open])
        #expect(status != 0)
        #expect(output.contains("open.yaml:6: key 'http.listen': 0.0.0.0:0 is not a loopback address"), "\(output)")

        _ = dir.write("tokens.txt", "admin root 0123456789abcdef0123456789abcdef\nboss x 0123456789abcdef0123456789abcdefg\n")
        let broken = dir.write("broken.yaml", "data_dir: .\nbroker:\n  mode: external\n  port: 1\nhttp:\n  listen: 0.0.0.0:0\n  tokens_file: tokens.txt\n")
        let (status2, output2) = try runProcess(exe, ["serve", "--config", broken])
        #expect(status2 != 0)
        #expect(output2.contains("tokens.txt:2: unknown role 'boss'"), "\(output2)")
    }
}
