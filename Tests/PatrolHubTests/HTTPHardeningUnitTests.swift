import Alerts
import Foundation
import Hummingbird
import NIOCore
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// The pure parts of the HTTP hardening: hashing, the request policy, the
/// failure table, the health state and the config keys.
@Suite("HTTP hardening, pure logic")
struct HTTPHardeningUnitTests {
    @Test("SHA-256 gives the FIPS 180-4 test vectors")
    func sha256Vectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(SHA256.bytes(hex: "00ff10Ab") == [0, 255, 16, 171])
        #expect(SHA256.bytes(hex: "0g") == nil && SHA256.bytes(hex: "abc") == nil)
    }

    static let policy = RequestPolicy(allowed: RequestPolicy.allowList(listenHost: "127.0.0.1", extra: ["hub.example.org", "10.0.0.5:8443"]),
                                      scheme: "http")

    func check(_ method: HTTPRequest.Method, host: String?, origin: String? = nil, type: String? = nil, body: Bool = false) -> Int? {
        Self.policy.check(method: method, host: host, origin: origin, contentType: type, hasBody: body).map { Int($0.status.code) }
    }

    @Test("Host allow-list: loopback names and the listen address on any port, NAME or NAME:PORT entries; 421 otherwise, 400 without a Host")
    func hostAllowList() {
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "localhost.:1", "[::1]:8080", "[::1]", "hub.example.org", "hub.example.org:9999", "10.0.0.5:8443"] {
            #expect(check(.get, host: host) == nil, "\(host)")
        }
        for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.5:8080", "10.0.0.5", "hub.example.org.evil.example"] {
            #expect(check(.get, host: host) == 421, "\(host)")
        }
        for host in [nil, "", "a b", "[::1", "localhost:0", "localhost:99999", "user@localhost", "localhost/x"] as [String?] {
            #expect(check(.get, host: host) == 400, "\(host ?? "nil")")
        }
        let wildcard = RequestPolicy.allowList(listenHost: "0.0.0.0", extra: [], machineNames: { ["192.168.7.2", "fe80::1", "hubhost"] })
        #expect(wildcard.contains(.init(name: "192.168.7.2", port: nil)) && wildcard.contains(.init(name: "[fe80::1]", port: nil))
                && wildcard.contains(.init(name: "hubhost", port: nil)) && wildcard.contains(.init(name: "localhost", port: nil)))
        #expect(!RequestPolicy.machineNames().isEmpty, "this machine has at least a loopback interface")
    }

    @Test("state-changing requests: JSON only (a DELETE without a body needs no type), and an Origin, when sent, must be the Host")
    func originAndContentType() {
        let host = "127.0.0.1:8080"
        #expect(check(.post, host: host, type: "application/json") == nil)
        #expect(check(.post, host: host, type: "Application/JSON; charset=utf-8") == nil)
        #expect(check(.post, host: host, origin: "http://127.0.0.1:8080", type: "application/json") == nil)
        #expect(check(.post, host: host, type: "text/plain") == 415)
        #expect(check(.post, host: host, type: "application/x-www-form-urlencoded") == 415)
        #expect(check(.post, host: host, type: "multipart/form-data; boundary=x") == 415)
        #expect(check(.post, host: host, type: "application/jsonx") == 415)
        #expect(check(.post, host: host) == 415)
        #expect(check(.put, host: host, type: "text/plain") == 415)
        #expect(check(.patch, host: host) == 415)
        #expect(check(.delete, host: host) == nil)
        #expect(check(.delete, host: host, type: "text/plain", body: true) == 415)
        #expect(check(.get, host: host, origin: "http://evil.example", type: "text/plain") == nil, "reads are not checked for Origin")
        for origin in ["http://evil.example", "http://127.0.0.1:8081", "http://localhost:8080", "null", "file://", "http://127.0.0.1:8080.evil.example", "127.0.0.1:8080"] {
            #expect(check(.post, host: host, origin: origin, type: "application/json") == 403, "\(origin)")
            #expect(check(.delete, host: host, origin: origin) == 403, "\(origin)")
        }
        // Default ports: a Host without a port is the Origin scheme's default.
        #expect(check(.post, host: "hub.example.org", origin: "https://hub.example.org", type: "application/json") == nil)
        #expect(check(.post, host: "hub.example.org", origin: "http://hub.example.org:80", type: "application/json") == nil)
        #expect(check(.post, host: "hub.example.org", origin: "https://hub.example.org:8443", type: "application/json") == 403)
    }

    @Test("failed authentications: the tenth in a minute blocks the address for a minute; the table stays bounded")
    func failureTable() {
        var t = AuthFailureTable()
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        func fail(_ address: String, at seconds: Double) -> Bool { t.recordFailure(address, now: t0.addingTimeInterval(seconds)) }
        func wait(_ address: String, at seconds: Double) -> Int? { t.retryAfter(address, now: t0.addingTimeInterval(seconds)) }
        let firstNine = (0..<9).map { fail("10.0.0.1", at: Double($0)) }
        #expect(firstNine == Array(repeating: false, count: 9))
        let early = wait("10.0.0.1", at: 9)
        #expect(early == nil)
        let tenth = fail("10.0.0.1", at: 9)
        #expect(tenth, "the tenth failure blocks")
        let (w9, w68, other, w69) = (wait("10.0.0.1", at: 9), wait("10.0.0.1", at: 68.5), wait("10.0.0.2", at: 10), wait("10.0.0.1", at: 69))
        #expect(w9 == 60 && w68 == 1)
        #expect(other == nil, "other addresses are not blocked")
        #expect(w69 == nil, "the block ends")
        let afterwards = fail("10.0.0.1", at: 70)
        #expect(!afterwards, "and the count starts again")

        // Failures spread over more than the window never block.
        let spread = (0..<30).map { fail("10.0.0.3", at: Double($0) * 7) }
        #expect(!spread.contains(true))

        var small = AuthFailureTable()
        small.capacity = 100
        let blocks = (0..<10).map { _ in small.recordFailure("blocked-soon", now: t0) }
        #expect(blocks.last == true)
        for i in 0..<10_000 { _ = small.recordFailure("addr-\(i)", now: t0.addingTimeInterval(1 + Double(i) / 1000)) }
        #expect(small.entries.count <= 100)
        #expect(small.retryAfter("blocked-soon", now: t0.addingTimeInterval(11)) != nil,
                "failures from thousands of other addresses do not push a blocked one out of the table")

        let v6 = try! SocketAddress(ipAddress: "2001:db8:1:2:aaaa:bbbb:cccc:dddd", port: 1)
        #expect(AuthFailureTable.key(for: v6) == "2001:db8:1:2::/64")
        #expect(AuthFailureTable.key(for: try! SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 1)) == "10.1.2.3")
        #expect(AuthFailureTable.key(for: try! SocketAddress(ipAddress: "192.0.2.7", port: 1)) == "192.0.2.7")
    }

    @Test("health: a backlog counts as work until the pipeline drains it; pending work with no progress is a stall; a failed inbox commit is unhealthy until one succeeds")
    func healthState() {
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        var h = HealthState(startedAt: t0)
        #expect(h.pending, "a backlog from before the start may be waiting")
        #expect(h.report(now: t0.addingTimeInterval(59), stallAfter: 60).healthy)
        #expect(!h.report(now: t0.addingTimeInterval(61), stallAfter: 60).healthy, "no step in 61 s with possible work")

        h.stepFinished(mark: 0, processed: 0, drained: true, at: t0.addingTimeInterval(1))
        #expect(!h.pending)
        #expect(h.report(now: t0.addingTimeInterval(3600), stallAfter: 60).healthy, "idle with nothing to do is healthy")

        h.ingestCommitted(5, at: t0.addingTimeInterval(100))
        #expect(h.pending)
        let mark = h.received
        h.ingestCommitted(2, at: t0.addingTimeInterval(100.5)) // committed while the step runs
        h.stepFinished(mark: mark, processed: 5, drained: true, at: t0.addingTimeInterval(101))
        #expect(h.pending, "what arrived during the step may not have been read by it")
        #expect(h.report(now: t0.addingTimeInterval(160), stallAfter: 60).healthy)
        let stalled = h.report(now: t0.addingTimeInterval(162), stallAfter: 60)
        #expect(!stalled.healthy)
        #expect(stalled.json["pipeline"]?["stalled"] == .bool(true))
        #expect(stalled.json["problems"] == .array([.string("pipeline stalled: work pending and no progress for 61 s")]))
        h.stepFinished(mark: h.received, processed: 2, drained: true, at: t0.addingTimeInterval(163))
        #expect(h.report(now: t0.addingTimeInterval(163), stallAfter: 60).healthy)
        #expect(h.processed == 7 && h.received == 7)

        h.ingestFailed("disk I/O error", at: t0.addingTimeInterval(200))
        let failing = h.report(now: t0.addingTimeInterval(200), stallAfter: 60)
        #expect(!failing.healthy)
        #expect(failing.json["status"] == .string("unhealthy"))
        #expect(failing.json["ingest"]?["last_error"] == .string("disk I/O error"))
        h.ingestCommitted(1, at: t0.addingTimeInterval(201))
        #expect(h.report(now: t0.addingTimeInterval(201), stallAfter: 60).healthy, "a later commit recovers")
    }

    @Test("http config: allowed hosts, TLS files, stream cap, stall and idle timeouts, each checked with its key")
    func httpConfigKeys() throws {
        func parse(_ yaml: String) throws -> HubConfig { try HubConfig.parse(try ConfigMap.parse(yaml: yaml, file: "/etc/hub.yaml"), file: "/etc/hub.yaml") }
        func problem(_ yaml: String) -> String {
            do { _ = try parse(yaml); return "accepted" } catch { return "\(error)" }
        }
        let d = try parse("")
        #expect(d.http.allowedHosts == [] && d.http.tlsCertFile == nil && d.http.maxStreamClients == 200 && d.http.stallSeconds == 60
                && d.http.idleTimeoutSeconds == 60 && d.http.scheme == "http")
        let c = try parse("""
            http:
              allowed_hosts: [Hub.Example.org, "10.0.0.5:8443", "[fd00::1]"]
              tls: {cert_file: cert.pem, key_file: key.pem}
              max_stream_clients: 3
              stall_seconds: 30
              idle_timeout_seconds: 5
            """)
        #expect(c.http.allowedHosts == ["hub.example.org", "10.0.0.5:8443", "[fd00::1]"])
        #expect(c.http.tlsCertFile == "/etc/cert.pem" && c.http.tlsKeyFile == "/etc/key.pem" && c.http.scheme == "https")
        #expect(c.http.maxStreamClients == 3 && c.http.stallSeconds == 30 && c.http.idleTimeoutSeconds == 5)
        #expect(problem("http:\n  allowed_hosts: [\"http://hub\"]\n") == "/etc/hub.yaml:2: key 'http.allowed_hosts': 'http://hub': give a host name, not a URL")
        #expect(problem("http:\n  allowed_hosts: [\"fd00::1\"]\n") == "/etc/hub.yaml:2: key 'http.allowed_hosts': 'fd00::1': write an IPv6 address in brackets, e.g. [fd00::1]")
        #expect(problem("http:\n  allowed_hosts: [\"hub:0\"]\n") == "/etc/hub.yaml:2: key 'http.allowed_hosts': 'hub:0': the port must be a number from 1 to 65535")
        #expect(problem("http:\n  tls:\n    cert_file: c.pem\n").hasSuffix(" key 'http.tls.key_file': cert_file and key_file go together"))
        #expect(problem("http:\n  max_stream_clients: 0\n").hasPrefix("/etc/hub.yaml:2: key 'http.max_stream_clients'"))
        #expect(problem("http:\n  idle_timeout_seconds: 0\n").hasPrefix("/etc/hub.yaml:2: key 'http.idle_timeout_seconds'"))
        #expect(problem("http:\n  tls:\n    ca_file: x\n") == "/etc/hub.yaml:3: key 'http.tls.ca_file': unknown key (check its spelling and place)")
    }
}
