import Alerts
import Foundation
import GRDB
import Logging
import Testing
#if canImport(Glibc)
import Glibc
import Synchronization
#endif
@testable import PatrolHub
@testable import PatrolHubHTTP

/// Each attack on the HTTP side, repeated against a live hub (real
/// mosquitto, real pipeline, real SQLite, Hummingbird on a free port):
/// refused or contained, and the hub still turns an SOS into a case afterwards.
@Suite("HTTP hardening against a live hub", .serialized)
struct HTTPHardeningTests {
    static let securityHeaders = ["x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"]

    func expectSecurityHeaders(_ r: HTTPResult, _ what: String) {
        for (name, value) in Self.securityHeaders { #expect(r.header(name) == value, "\(name) on \(what)") }
        #expect(r.header("content-security-policy")?.contains("frame-ancestors 'none'") == true, "CSP on \(what): \(r.header("content-security-policy") ?? "none")")
    }

    @Test("a cross-origin text/plain POST to /api/v1/silences is refused and nothing is silenced; the board's own JSON POST still works")
    func crossOriginSilenceRefused() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let body = #"{"duration":"87600h","comment":"mute everything","created_by":"x"}"#
            let host = "Host: 127.0.0.1:\(port)"
            // A page elsewhere: a "simple" request a browser sends without asking (no preflight).
            let simple = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nOrigin: http://evil.example\nContent-Type: text/plain;charset=UTF-8", body: body)
            #expect(simple.status == 403)
            #expect(simple.json["error"]?["message"] == .string("cross-origin request refused: Origin 'http://evil.example' is not this hub"))
            // The same without an Origin (an old browser, a form): still not JSON.
            let plain = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nContent-Type: text/plain", body: body)
            #expect(plain.status == 415)
            let form = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nContent-Type: application/x-www-form-urlencoded", body: "duration=1h")
            #expect(form.status == 415)
            // JSON with a foreign or opaque Origin.
            for origin in ["http://evil.example", "null", "http://127.0.0.1:\(port + 1)"] {
                let r = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nOrigin: \(origin)\nContent-Type: application/json", body: body)
                #expect(r.status == 403, "Origin \(origin)")
            }
            let delete = try rawHTTP(port: port, "DELETE /api/v1/silences/S-1?by=x HTTP/1.1\n\(host)\nOrigin: http://evil.example")
            #expect(delete.status == 403)
            #expect(try hub.store.silences().isEmpty, "nothing was silenced")

            // The board itself: same origin, JSON.
            let own = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nOrigin: http://127.0.0.1:\(port)\nContent-Type: application/json",
                                  body: #"{"zone":"Z-A","duration":"1h","comment":"drill","created_by":"desk-1"}"#)
            #expect(own.status == 201, "\(own.text)")
            let id = try #require(own.json["id"]?.stringValue)
            let expire = try rawHTTP(port: port, "DELETE /api/v1/silences/\(id)?by=desk-1 HTTP/1.1\n\(host)\nOrigin: http://127.0.0.1:\(port)")
            #expect(expire.status == 200, "a DELETE without a body needs no Content-Type")

            try await expectSOSBecomesCase(hub, pub)
        }
    }

    @Test("a Host the hub does not answer for is refused (DNS rebinding), a request without Host too; loopback names and allowed_hosts pass")
    func wrongHostRefused() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.allowedHosts = ["hub.example.org"] }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            for host in ["evil.example", "evil.example:\(port)", "127.0.0.1.nip.io:\(port)"] {
                let r = try rawHTTP(port: port, "GET /api/v1/risk-items HTTP/1.1\nHost: \(host)")
                #expect(r.status == 421, "Host \(host)")
                #expect(r.text.contains("does not answer for the host"), "\(r.text)")
                expectSecurityHeaders(r, "a 421")
            }
            let rebound = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\nHost: evil.example:\(port)\nContent-Type: application/json",
                                      body: #"{"duration":"1h","created_by":"x"}"#)
            #expect(rebound.status == 421)
            #expect(try hub.store.silences().isEmpty)
            #expect(try rawHTTP(port: port, "GET /healthz HTTP/1.0").status == 400, "HTTP/1.0 without a Host")
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "localhost", "[::1]:\(port)", "hub.example.org", "HUB.example.org:443"] {
                #expect(try rawHTTP(port: port, "GET /api/v1/risk-items HTTP/1.1\nHost: \(host)").status == 200, "Host \(host)")
            }
            try await expectSOSBecomesCase(hub, pub)
        }
    }

    @Test("HEAD answers like GET without a body (and needs the same token); two Host headers are a 400; a yes/no parameter is true or false")
    func headDuplicateHostAndFlags() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let host = "Host: 127.0.0.1:\(port)"
            for path in ["/", "/healthz", "/api/v1/cases", "/metrics", "/api/v1/stream"] {
                let head = try rawHTTP(port: port, "HEAD \(path) HTTP/1.1\n\(host)")
                #expect(head.status == 200, "HEAD \(path)")
                #expect(head.text.isEmpty, "HEAD \(path) has no body: \(head.text.prefix(80))")
            }
            #expect(try rawHTTP(port: port, "HEAD /nowhere HTTP/1.1\n\(host)").status == 404)
            let cases = try rawHTTP(port: port, "GET /api/v1/cases HTTP/1.1\n\(host)")
            #expect(try rawHTTP(port: port, "HEAD /api/v1/cases HTTP/1.1\n\(host)").header("Content-Length") == cases.header("Content-Length"))
            #expect(hub.hub.http!.feed.clientCount == 0, "a HEAD of the stream holds no place")

            let twice = try rawHTTP(port: port, "GET /api/v1/cases HTTP/1.1\n\(host)\nHost: evil.example")
            #expect(twice.status == 400)
            #expect(twice.json["error"]?["message"] == .string("more than one Host header"))

            let silence = try rawHTTP(port: port, "POST /api/v1/silences HTTP/1.1\n\(host)\nContent-Type: application/json",
                                      body: #"{"category":"motion","duration":"1h","created_by":"op","comment":"works"}"#)
            #expect(silence.status == 201, "\(silence.text)")
            let id = try #require(silence.json["id"]?.stringValue)
            let typo = try rawHTTP(port: port, "DELETE /api/v1/silences/\(id)?purge=TRUE HTTP/1.1\n\(host)")
            #expect(typo.status == 400)
            #expect(typo.json["error"]?["message"] == .string("purge: expected true or false, found 'TRUE'"))
            #expect(try hub.store.silences().first?.endsAt ?? .distantFuture > Date(), "the silence is untouched")
            #expect(try rawHTTP(port: port, "GET /api/v1/silences?all=yes HTTP/1.1\n\(host)").status == 400)
            try await expectSOSBecomesCase(hub, pub)
        }
    }

    @Test("every answer carries the security headers: the board, JSON, the stream, errors")
    func securityHeadersOnEveryAnswer() async throws {
        try await withLiveHub { _, hub, _ in
            let port = try await hub.hub.http!.waitForPort()
            let c = TestHTTPClient(port: port)
            let board = try await c.get("/")
            expectSecurityHeaders(board, "the board")
            #expect(board.header("content-security-policy") == BoardPage.contentSecurityPolicy, "the board keeps its own policy")
            #expect(BoardPage.contentSecurityPolicy.hasPrefix("default-src 'none'; script-src 'unsafe-inline'"))
            let json = try await c.get("/api/v1/cases")
            expectSecurityHeaders(json, "a list")
            #expect(json.header("content-security-policy") == "default-src 'none'; frame-ancestors 'none'")
            expectSecurityHeaders(try await c.get("/healthz"), "healthz")
            expectSecurityHeaders(try await c.get("/metrics"), "metrics")
            expectSecurityHeaders(try await c.get("/api/v1/reports/daily"), "a report")
            expectSecurityHeaders(try await c.get("/no/such/page"), "a 404")
            expectSecurityHeaders(try await c.get("/api/v1/cases?limit=0"), "a 400")
            expectSecurityHeaders(try await c.post("/api/v1/silences", "{not json"), "a 400 on POST")
            let stream = try rawStreamHead(port: port)
            expectSecurityHeaders(stream, "the stream")
        }
    }

    /// The head of a stream answer (the body never ends, so read the head only).
    func rawStreamHead(port: Int) throws -> HTTPResult {
        let fd = try connectLoopback(port: port)
        defer { Glibc.close(fd) }
        let request = "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var raw: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: raw, as: UTF8.self).contains("\r\n\r\n") {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { throw TestFailure("the stream closed before its head") }
            raw += buffer[0..<n]
        }
        let head = String(decoding: raw, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResult(status: Int(head[0].split(separator: " ")[1]) ?? 0, headers: headers, body: Data())
    }

    @Test("guessing tokens: after 10 wrong tokens in a minute the address gets 429 with Retry-After, even with a right token; the hub goes on")
    func bruteForceGets429() async throws {
        let good = "brute-force-test-token-0123456789abcdef"
        let dir = TempDir("patrolhub-tokens")
        defer { dir.cleanup() }
        let file = dir.write("tokens.txt", AccessTokens.line(role: .viewer, name: "wall", token: good) + "\n")
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.tokensFile = file }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let c = TestHTTPClient(port: port)
            #expect(try await c.get("/api/v1/cases", token: good).status == 200)
            #expect(try await c.get("/api/v1/cases", token: .some(nil)).status == 401, "no token is not a guess")
            var statuses: [Int] = []
            for i in 0..<10 { statuses.append(try await c.get("/api/v1/cases", token: "guess-\(i)-0123456789abcdef0123456789").status) }
            #expect(statuses == Array(repeating: 401, count: 10))
            let blocked = try await c.get("/api/v1/cases", token: "guess-10-0123456789abcdef0123456789")
            #expect(blocked.status == 429)
            let retry = try #require(blocked.header("Retry-After").flatMap(Int.init))
            #expect((1...60).contains(retry))
            expectSecurityHeaders(blocked, "a 429")
            #expect(try await c.get("/api/v1/cases", token: good).status == 429, "a blocked address may not try the right token either")
            #expect(try await c.get("/healthz").status == 200, "what needs no token is still served")
            try await expectSOSBecomesCase(hub, pub)
        }
    }

    @Test("HTTPS with http.tls: a self-signed certificate made by openssl, the same API and headers; plain HTTP to it gets nothing")
    func tlsServes() async throws {
        let dir = TempDir("patrolhub-tls")
        defer { dir.cleanup() }
        let cert = dir.file("cert.pem"), key = dir.file("key.pem")
        let made = try runProcess("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                   "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        try #require(made.status == 0, "\(made.output)")
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { c in
            c.http.tlsCertFile = cert
            c.http.tlsKeyFile = key
        }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let health = try runProcess("/usr/bin/env", ["curl", "-sS", "-i", "--cacert", cert, "https://127.0.0.1:\(port)/healthz"])
            #expect(health.status == 0, "\(health.output)")
            #expect(health.output.hasPrefix("HTTP/1.1 200"), "\(health.output)")
            #expect(health.output.lowercased().contains("x-content-type-options: nosniff"))
            #expect(health.output.contains(#""status":"ok""#))
            let post = try runProcess("/usr/bin/env", ["curl", "-sS", "-w", "%{http_code}", "--cacert", cert,
                                                       "-H", "Content-Type: application/json", "-H", "Origin: https://127.0.0.1:\(port)",
                                                       "-d", #"{"zone":"Z-A","duration":"1h","comment":"drill","created_by":"desk-1"}"#, "https://127.0.0.1:\(port)/api/v1/silences"])
            #expect(post.output.hasSuffix("201"), "\(post.output)")
            let untrusted = try runProcess("/usr/bin/env", ["curl", "-sS", "https://127.0.0.1:\(port)/healthz"])
            #expect(untrusted.status == 60, "curl refuses the unknown certificate: \(untrusted.output)")
            let plain = try? rawHTTP(port: port, "GET /healthz HTTP/1.1\nHost: 127.0.0.1:\(port)", timeout: 5)
            #expect(plain?.status != 200, "plain HTTP on the TLS port gets no answer")
            try await expectSOSBecomesCase(hub, pub)
        }

        // A missing or broken file refuses the start, naming the key.
        let broker = try TestBroker()
        defer { broker.stop() }
        let data = TempDir()
        defer { data.cleanup() }
        let notPEM = dir.write("not.pem", "hello")
        for (certFile, keyFile, expected) in [(dir.file("missing.pem"), key, "http.tls.cert_file"), (cert, notPEM, "http.tls.key_file")] {
            do {
                let h = try TestHub(brokerPort: broker.port, dir: data, configure: { c in c.http.tlsCertFile = certFile; c.http.tlsKeyFile = keyFile })
                try await h.stop()
                Issue.record("the hub started with \(certFile) and \(keyFile)")
            } catch {
                #expect("\(error)".contains("key '\(expected)'"), "\(error)")
            }
        }
    }

    @Test("stream clients are capped: beyond http.max_stream_clients a 503 with Retry-After; a closed stream frees its place")
    func streamClientsCapped() async throws {
        try await withLiveHub(configure: { $0.http.maxStreamClients = 3 }) { _, hub, _ in
            let http = hub.hub.http!
            let port = try await http.waitForPort()
            var clients: [TestSSEClient] = []
            defer { clients.forEach { $0.close() } }
            for _ in 0..<3 {
                let s = try TestSSEClient(port: port)
                clients.append(s)
                try await s.waitFor("ready") { $0.event == "ready" }
            }
            let refused = try rawHTTP(port: port, "GET /api/v1/stream HTTP/1.1\nHost: 127.0.0.1:\(port)")
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "10")
            #expect(refused.json["error"]?["message"] == .string("the stream has its maximum of 3 clients (http.max_stream_clients): try again later"))
            #expect(http.feed.clientCount == 3)
            clients.removeFirst().close()
            try await waitUntil("the closed stream's place is free") { http.feed.clientCount == 2 }
            let again = try TestSSEClient(port: port)
            clients.append(again)
            try await again.waitFor("ready") { $0.event == "ready" }
            #expect(again.status == 200)
        }
    }

    @Test("60 simultaneous stream clients and a burst of API reads: /healthz answers within a second and an SOS still becomes a case, sent to every stream")
    func sixtyStreamsDoNotStopTheHub() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV) { _, hub, pub in
            let http = hub.hub.http!
            let port = try await http.waitForPort()
            var clients: [TestSSEClient] = []
            defer { clients.forEach { $0.close() } }
            for _ in 0..<60 { clients.append(try TestSSEClient(port: port)) }
            // And what a room of reconnecting boards asks at the same time.
            let c = TestHTTPClient(port: port)
            async let reads: [Int] = withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<40 { group.addTask { try await c.get(i % 2 == 0 ? "/api/v1/risk-items" : "/api/v1/zones").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let started = Date()
            let health = try await c.get("/healthz")
            let elapsed = Date().timeIntervalSince(started)
            #expect(health.status == 200)
            // A figure, not a check: how long it takes depends on the machine and its load.
            print("healthz with 60 streams opening and 40 reads in flight: \(Int(elapsed * 1000)) ms")
            #expect(try await reads == Array(repeating: 200, count: 40))
            for s in clients { try await s.waitFor("ready", timeout: 60) { $0.event == "ready" } }
            #expect(http.feed.clientCount == 60)
            let calm = Date()
            #expect(try await c.get("/healthz").status == 200)
            print("healthz with 60 streams open: \(Int(Date().timeIntervalSince(calm) * 1000)) ms")

            try await expectSOSBecomesCase(hub, pub)
            for s in clients {
                try await s.waitFor("the SOS case on every stream", timeout: 60) { $0.event == "case" && $0.json["object"]?["category"] == .string("sos") }
            }
        }
    }

    @Test("/healthz answers from memory while the store is locked: 503 once pending work has not moved for http.stall_seconds, 200 again when the pipeline goes on")
    func healthzReportsAStalledPipeline() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.stallSeconds = 5 }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let c = TestHTTPClient(port: port)
            var health = try await c.get("/healthz")
            for _ in 0..<500 where health.status != 200 {
                try await Task.sleep(for: .milliseconds(20))
                health = try await c.get("/healthz")
            }
            #expect(health.status == 200)
            // Another process holds the store's write lock: the pipeline waits in SQLite's busy handler (up to 10 s).
            // It waits for the hub's own writes like any writer (a busy timeout), and says
            // when it could not take the lock instead of leaving the test waiting.
            var lockConfig = Configuration()
            lockConfig.busyMode = .timeout(30)
            let lock = try DatabaseQueue(path: hub.hub.config.store.path, configuration: lockConfig)
            let taken = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
            let failure = Mutex<String?>(nil)
            Thread {
                do {
                    try lock.inDatabase { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        taken.signal()
                        release.wait()
                        try db.execute(sql: "ROLLBACK")
                    }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                    taken.signal()
                }
            }.start()
            guard taken.wait(timeout: .now() + 60) == .success else { throw TestFailure("the store's write lock was not taken within 60 s") }
            if let failure = failure.withLock({ $0 }) { throw TestFailure("could not take the store's write lock: \(failure)") }
            var locked = true
            defer { if locked { release.signal() } }
            let sent = try await publishSOS(pub)
            let start = Date()
            var stalled: HTTPResult?
            while stalled == nil, Date().timeIntervalSince(start) < 9.5 {
                let r = try await c.get("/healthz")
                if r.status == 503 { stalled = r } else { try await Task.sleep(for: .milliseconds(100)) }
            }
            release.signal()
            locked = false
            let s = try #require(stalled, "healthz never said 503 while the store was locked")
            print("healthz said stalled after \(Int(Date().timeIntervalSince(start) * 1000)) ms (stall_seconds 5)")
            #expect(s.json["status"] == .string("unhealthy"))
            #expect(s.json["pipeline"]?["stalled"] == .bool(true) && s.json["pipeline"]?["pending"] == .bool(true))
            #expect(s.json["ingest"]?["failing"] == .bool(false), "the inbox is another file: ingest went on")
            try await waitForSOSCase(hub, sentAt: sent)
            try await waitUntil("healthz is 200 again") { hub.hub.health.report(stallAfter: 5).healthy }
            #expect(try await c.get("/healthz").status == 200)
        }
    }

    @Test("an idle connection is closed after http.idle_timeout_seconds, a half-sent request too; an open stream stays and still gets events")
    func idleConnectionsTimeOut() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.idleTimeoutSeconds = 1 }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let sse = try TestSSEClient(port: port)
            defer { sse.close() }
            try await sse.waitFor("ready") { $0.event == "ready" }
            let idle = try connectLoopback(port: port, timeout: 30)
            defer { Glibc.close(idle) }
            let slow = try connectLoopback(port: port, timeout: 30)
            defer { Glibc.close(slow) }
            _ = "GET / HTTP/1.1\r\nHost: 127".withCString { send(slow, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            let opened = Date()
            for fd in [idle, slow] {
                var byte: UInt8 = 0
                let n = recv(fd, &byte, 1, 0)
                #expect(n == 0, "the server closed the connection (recv gave \(n), errno \(errno))")
            }
            print("idle connections closed after \(Int(Date().timeIntervalSince(opened) * 1000)) ms (idle timeout 1 s)")
            #expect(!sse.isClosed, "the stream is a request in progress")
            try await expectSOSBecomesCase(hub, pub)
            try await sse.waitFor("the SOS on the stream that outlived the idle timeout") { $0.event == "case" }
        }
    }

    @Test("a request answered before its body arrived (no token) gets its 401 and the connection closes; a body that trickles in is cut at http.idle_timeout_seconds")
    func slowBodiesDoNotHoldConnections() async throws {
        let good = "slow-body-test-token-0123456789abcdef"
        let dir = TempDir("patrolhub-slow-body")
        defer { dir.cleanup() }
        let file = dir.write("tokens.txt", AccessTokens.line(role: .operator, name: "desk", token: good) + "\n")
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.tokensFile = file; $0.http.idleTimeoutSeconds = 2 }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            func send(_ fd: Int32, _ text: String) { _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
            // No token, a body announced at 100 MB and not sent: answered 401, then closed, not drained.
            let stranger = try connectLoopback(port: port, timeout: 30)
            defer { Glibc.close(stranger) }
            send(stranger, "POST /api/v1/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{")
            /// Sends a byte of body every 0.2 s (so the idle timeout never fires) until the server
            /// closes the connection or 15 s pass: what it answered, and whether it closed.
            func trickle(_ fd: Int32) -> (answer: String, closed: Bool) {
                var answer: [UInt8] = []
                let started = Date()
                while Date().timeIntervalSince(started) < 15 {
                    send(fd, " ")
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&pfd, 1, 200) > 0 else { continue }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                    if n <= 0 { return (String(decoding: answer, as: UTF8.self), true) }
                    answer += buffer[0..<n]
                }
                return (String(decoding: answer, as: UTF8.self), false)
            }
            let opened = Date()
            let (answer, strangerClosed) = trickle(stranger)
            let strangerSeconds = Date().timeIntervalSince(opened)
            #expect(answer.hasPrefix("HTTP/1.1 401"), "the answer: \(answer.prefix(80))")
            #expect(strangerClosed && strangerSeconds < 10, "closed after \(strangerSeconds) s, not held while the body trickles")
            // With a token the body is read, but it must arrive within the idle timeout: a trickle is cut.
            let slow = try connectLoopback(port: port, timeout: 30)
            defer { Glibc.close(slow) }
            send(slow, "POST /api/v1/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(good)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            let started = Date()
            let (_, closed) = trickle(slow)
            #expect(closed, "a body trickling in for 15 s was cut at the 2 s limit")
            print("unauthenticated slow body closed after \(Int(strangerSeconds * 1000)) ms; a trickling body after \(Int(Date().timeIntervalSince(started) * 1000)) ms")
            // A whole request with a small body is served as before, and so is the rest of the hub.
            let c = TestHTTPClient(port: port)
            #expect(try await c.get("/api/v1/silences", token: good).status == 200)
            #expect(try await c.get("/healthz").status == 200)
            try await expectSOSBecomesCase(hub, pub)
        }
    }

    @Test("a stream client that stops reading cannot hold the hub's shutdown: its stream is cut soon after shutdown begins")
    func streamThatStopsReadingDoesNotHoldShutdown() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let hub = try TestHub(brokerPort: broker.port, dir: dir, clientID: "hub-stalled-stream")
        var stalled: Int32 = -1
        defer { if stalled >= 0 { Glibc.close(stalled) } }
        do {
            try await hub.waitConnected()
            let port = try await hub.hub.http!.waitForPort()
            // Thousands of changes (each event a new item: 10 categories × 3 cameras, episodes 121 s apart),
            // whose events are megabytes: more than the socket buffers and the server's write buffer hold.
            let pub = try TestPublisher(port: broker.port)
            defer { pub.stop() }
            let types = ["intrusion", "tripwire", "loitering", "wrong_way", "left_object", "object_removed", "banner", "street_vending",
                         "illegal_parking", "garbage"]
            let start = Date().addingTimeInterval(-4 * 3600)
            var messages: [(String, [UInt8])] = []
            for episode in 0..<100 {
                for (c, camera) in ["cam-001", "cam-002", "cam-003"].enumerated() {
                    for type in types {
                        messages.append((eventTopic(camera), cameraEvent("stall-\(episode)-\(c)-\(type)", type: type,
                                                                          time: start.addingTimeInterval(Double(episode) * 121))))
                    }
                }
            }
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count, timeout: 120)
            // A client with a tiny receive buffer asks for every change since the start and never reads.
            stalled = try connectLoopback(port: port, receiveBuffer: 4096)
            _ = "GET /api/v1/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(stalled, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            try await Task.sleep(for: .seconds(2)) // the server writes until the buffers are full, then waits
        } catch {
            try? await hub.stop()
            throw error
        }
        final class Stopped: @unchecked Sendable {
            private let lock = NSLock()
            private var done = false
            var value: Bool { lock.withLock { done } }
            func set() { lock.withLock { done = true } }
        }
        let stopped = Stopped()
        let stopping = Date()
        let stopper = Task {
            defer { stopped.set() }
            try await hub.stop()
        }
        // Waits 30 s at most: then the client goes (the hub can stop then), so a failure does not hang the suite.
        var finished = false
        while Date().timeIntervalSince(stopping) < 30 {
            if stopped.value { finished = true; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let seconds = Date().timeIntervalSince(stopping)
        Glibc.close(stalled)
        stalled = -1
        try await stopper.value
        #expect(finished, "the hub stopped in \(seconds) s with a client that does not read its stream")
        print("hub stopped \(Int(seconds * 1000)) ms after shutdown began, with a stream client that does not read")
    }

    @Test("connections beyond http.max_connections wait in the accept queue instead of taking the hub's descriptors; they are served once places free up, and the pipeline goes on meanwhile")
    func connectionsAreCapped() async throws {
        try await withLiveHub(devicesCSV: attackDevicesCSV, configure: { $0.http.maxConnections = 5 }) { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            // Ten connections that send a body slowly (a slowloris): every place taken. (The server
            // stops accepting once its count is reached; connections arriving in the same accept
            // burst may still get in, so each waits until the one before was accepted, or the
            // places are full.)
            let http = try #require(hub.hub.http)
            var slow: [Int32] = []
            defer { for fd in slow { Glibc.close(fd) } }
            for i in 0..<10 {
                if i > 0 { try await waitUntil("connection \(i) accepted") { http.openConnections >= min(i, 5) } }
                let fd = try connectLoopback(port: port, timeout: 30)
                _ = "POST /api/v1/silences HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{".withCString {
                    send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL))
                }
                slow.append(fd)
            }
            // A sixth asks for /healthz: the kernel completes its handshake, the server does not take it yet.
            let waiting = try connectLoopback(port: port, timeout: 30)
            defer { Glibc.close(waiting) }
            _ = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".withCString { send(waiting, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            var pollFD = pollfd(fd: waiting, events: Int16(POLLIN), revents: 0)
            let early = poll(&pollFD, 1, 1500)
            if early != 0 {
                var b = [UInt8](repeating: 0, count: 400)
                let n = recv(waiting, &b, b.count, 0)
                Issue.record("answered while every place is taken: \(n) bytes '\(String(decoding: b.prefix(max(0, n)), as: UTF8.self))'")
            }
            // The pipeline does not depend on HTTP: an SOS still becomes a case.
            try await expectSOSBecomesCase(hub, pub)
            // Places free up: the waiting request is served.
            for fd in slow { Glibc.close(fd) }
            slow = []
            #expect(String(decoding: readUntilClosed(waiting), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("the connection cap leaves room in the descriptor limit: raised to the hard limit, lowered below it when configured above")
    func connectionLimitFitsTheDescriptorLimit() throws {
        let logger = Logger(label: "test")
        #expect(HTTPService.connectionLimit(configured: 100, logger: logger) == 100)
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(limit.rlim_cur == limit.rlim_max, "the soft limit was raised to the hard limit")
        let room = Int(clamping: limit.rlim_cur) - HTTPService.reservedDescriptors
        #expect(HTTPService.connectionLimit(configured: Int.max, logger: logger) == max(16, room))
    }

    @Test("tokens add prints a 256-bit token once and appends its hash to a 0600 file; serve --log-level debug never logs a token")
    func tokensNeverLogged() async throws {
        let exe = try patrolhubExecutable()
        let dir = TempDir("patrolhub-debuglog")
        defer { dir.cleanup() }
        let tokensFile = dir.file("tokens.txt")
        let added = try runProcess(exe, ["tokens", "add", "operator", "desk-9", "--file", tokensFile])
        #expect(added.status == 0, "\(added.output)")
        let issued = try #require(added.output.split(separator: "\n").map(String.init).first { $0.count == 64 && SHA256.bytes(hex: $0) != nil },
                                  "a 64-hex-digit token in: \(added.output)")
        let mode = try #require(FileManager.default.attributesOfItem(atPath: tokensFile)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let fileText = try String(contentsOfFile: tokensFile, encoding: .utf8)
        #expect(fileText == "operator desk-9 sha256:\(SHA256.hex(Array(issued.utf8)))\n", "only the hash is stored")
        let twice = try runProcess(exe, ["tokens", "add", "viewer", "desk-9", "--file", tokensFile])
        #expect(twice.status != 0 && twice.output.contains("already holds a token for 'desk-9'"), "\(twice.output)")
        #expect(try runProcess(exe, ["tokens", "add", "boss", "x", "--file", tokensFile]).output.contains("unknown role 'boss'"))
        // A legacy plain token next to it (accepted, with a warning), and a second issued one.
        let legacy = "legacy-plain-token-0123456789abcdef"
        try (fileText + "viewer wall \(legacy)\n").write(toFile: tokensFile, atomically: false, encoding: .utf8)
        let second = try runProcess(exe, ["tokens", "add", "viewer", "wall-2", "--file", tokensFile])
        let issued2 = try #require(second.output.split(separator: "\n").map(String.init).first { $0.count == 64 })
        #expect(issued2 != issued)

        let broker = try TestBroker()
        defer { broker.stop() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let config = dir.write("hub.yaml", """
            data_dir: data
            broker:
              mode: external
              port: \(broker.port)
              client_id: debug-log-hub
            http:
              listen: 127.0.0.1:0
              tokens_file: tokens.txt
            registry:
              cameras: cameras.csv
            """)
        let logPath = dir.file("serve.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: exe)
        serve.arguments = ["serve", "--config", config, "--log-level", "debug"]
        serve.standardOutput = log
        serve.standardError = log
        try serve.run()
        defer { if serve.isRunning { serve.terminate() } }
        func logText() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        var port = 0
        try await waitUntil("serve logs its HTTP port", timeout: 60) {
            guard let line = logText().split(separator: "\n").first(where: { $0.contains("http.started") }),
                  let range = line.range(of: #"http.address=127\.0\.0\.1:\d+"#, options: .regularExpression) else { return false }
            port = Int(line[range].split(separator: ":").last!)!
            return true
        }
        let c = TestHTTPClient(port: port)
        #expect(try await c.get("/api/v1/cases", token: issued).status == 200)
        #expect(try await c.get("/api/v1/risk-items", token: legacy).status == 200)
        #expect(try await c.get("/api/v1/zones", token: issued2).status == 200)
        let wrong = "wrong-token-for-the-log-0123456789abcdef"
        #expect(try await c.get("/api/v1/cases", token: wrong).status == 401)
        let silenced = try await c.post("/api/v1/silences", #"{"zone":"Z-A","duration":"1h","comment":"drill"}"#, token: issued)
        #expect(silenced.status == 201, "\(silenced.text)")
        let sse = try TestSSEClient(port: port, path: "/api/v1/stream?access_token=\(issued)")
        try await sse.waitFor("ready") { $0.event == "ready" }
        sse.close()
        try await waitUntil("the requests are logged") { logText().components(separatedBy: "http.request").count > 6 }

        serve.terminate()
        serve.waitUntilExit()
        try log.close()
        let text = logText()
        #expect(text.contains("HTTPService(listen: http://127.0.0.1:0, auth: 3 bearer token(s))"), "the service's description is logged, without tokens")
        #expect(text.contains("http.token_in_plain_text"), "the plain token's line is warned about")
        for secret in [issued, issued2, legacy, wrong, SHA256.hex(Array(issued.utf8)), SHA256.hex(Array(legacy.utf8))] {
            #expect(!text.contains(secret), "the log holds \(secret)")
        }
        // Nor any 64-hex-digit run: the shape of an issued token and of every hash.
        if let hex = text.range(of: #"[0-9a-f]{64}"#, options: .regularExpression) {
            let line = text[..<hex.lowerBound].split(separator: "\n").last ?? ""
            Issue.record("a 64-hex-digit run in the log: \(line)\(text[hex])")
        }
    }
}
