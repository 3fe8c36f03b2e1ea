import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import HummingbirdTesting
import Testing
@testable import PatrolHubHTTP

/// `GET /api/v1/dead-letters`, `…/summary`, `…/{id}` and `POST …/replay` in
/// process, over the `InProcessHub` store with three dead letters added:
/// two from an unregistered camera (one of them bytes that are not UTF-8)
/// and one oversized.
@Suite("Dead letters over HTTP")
struct DeadLettersHTTPTests {
    static let supervisorToken = String(repeating: "s", count: 40)
    static let tokens = InProcessHub.tokenFile + "supervisor lead-1 \(supervisorToken)\n"

    static func hub() throws -> InProcessHub {
        let f = try InProcessHub()
        let t = InProcessHub.now.timeIntervalSince1970
        try f.store.writer.write { db in
            let insert = "INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at, payload_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            try db.execute(sql: insert, arguments: ["k1", "unknown_source", "camera 'cam-9' is not registered (config cameras.csv)", "patrolhub/v1/camera/cam-9/event",
                                                    Data(#"{"id":"x1","type":"intrusion","note":"<script>alert(1)</script>"}"#.utf8), 62, t - 60, t - 60, nil])
            try db.execute(sql: insert, arguments: ["k2", "unknown_source", "camera 'cam-9' is not registered (config cameras.csv)", "patrolhub/v1/camera/cam-9/event",
                                                    Data([0xff, 0xfe, 0x00, 0x41]), 4, t - 30, t - 30, nil])
            try db.execute(sql: insert, arguments: ["k3", "oversized", "payload is 9000 bytes", "patrolhub/v1/camera/cam-1/event",
                                                    Data(repeating: 0x20, count: 10), 9000, t, t, "ab"])
        }
        try f.store.labelDeadLetterSources(router: TopicRouter())
        return f
    }

    @Test("a viewer lists, filters, pages and reads dead letters; bad filters are 400s naming the parameter")
    func listAndRead() async throws {
        let f = try Self.hub()
        try await f.test(tokens: Self.tokens) { c in
            let v = InProcessHub.token
            #expect(try await c.call(.get, "/api/v1/dead-letters").status == .unauthorized)
            let all = try await c.call(.get, "/api/v1/dead-letters", token: v)
            #expect(all.status == .ok, "\(all.text)")
            guard case .array(let items)? = all.json["items"] else { Issue.record("no items: \(all.text)"); return }
            #expect(items.map { $0["id"] } == [.number(3), .number(2), .number(1)], "newest first")
            #expect(items.first?["source"] == .string("cam-1") && items.first?["replayable"] == .bool(false))
            #expect(items.first.map { Set(($0.objectKeys)) } == ["id", "reason", "detail", "topic", "source", "size", "received_at", "created_at",
                                                                   "replayable", "replayed_at", "replayed_by", "replay_key"])

            let cam9 = try await c.call(.get, "/api/v1/dead-letters?source=cam-9&reason=unknown_source,malformed&limit=1", token: v)
            guard case .array(let page)? = cam9.json["items"] else { Issue.record("no items: \(cam9.text)"); return }
            #expect(page.count == 1 && page[0]["id"] == .number(2))
            let next = try #require(cam9.json["next"]?.stringValue)
            let rest = try await c.call(.get, "/api/v1/dead-letters?source=cam-9&limit=1&cursor=\(next)", token: v)
            #expect(rest.json["items"]?.arrayCount == 1 && rest.json["next"] == .null)

            for (query, message) in [
                ("reason=%3Cscript%3E", "query parameter 'reason': unknown reason '<script>'"),
                ("limit=0", "query parameter 'limit': expected a whole number from 1 to 1000, found '0'"),
                ("limit=99999999999999999999", "query parameter 'limit': expected a whole number from 1 to 1000"),
                ("since=yesterday", "query parameter 'since': expected an RFC 3339 time"),
                ("cursor=-1", "query parameter 'cursor': not a cursor of this list"),
                ("source=" + String(repeating: "a", count: 2000), "query parameter 'source': expected a camera or device id or a topic (1 to 1024 bytes)"),
                ("source=", "query parameter 'source'"),
                ("replayed=maybe", "query parameter 'replayed': expected true or false"),
                ("zone=Z-A", "query parameter 'zone': unknown parameter"),
            ] {
                let r = try await c.call(.get, "/api/v1/dead-letters?" + query, token: v)
                #expect(r.status == .badRequest, "\(query.prefix(40))")
                #expect(r.errorMessage?.hasPrefix(message) == true, "\(query.prefix(40)): \(r.text.prefix(300))")
            }

            // One dead letter: its bytes as text (quoted in JSON, never markup), or base64 when not UTF-8.
            let one = try await c.call(.get, "/api/v1/dead-letters/1", token: v)
            #expect(one.json["payload_text"] == .string(#"{"id":"x1","type":"intrusion","note":"<script>alert(1)</script>"}"#))
            #expect(one.json["payload_base64"] == .null && one.json["payload_truncated"] == .bool(false))
            #expect(one.headers[.contentType] == "application/json; charset=utf-8")
            let binary = try await c.call(.get, "/api/v1/dead-letters/2", token: v)
            #expect(binary.json["payload_text"] == .null && binary.json["payload_base64"] == .string(Data([0xff, 0xfe, 0x00, 0x41]).base64EncodedString()))
            #expect(try await c.call(.get, "/api/v1/dead-letters/99", token: v).status == .notFound)
            #expect(try await c.call(.get, "/api/v1/dead-letters/abc", token: v).status == .notFound)

            let summary = try await c.call(.get, "/api/v1/dead-letters/summary", token: v)
            #expect(summary.json["total"] == .number(3))
            #expect(summary.json["by_reason"] == .array([.object(["name": .string("unknown_source"), "count": .number(2)]),
                                                         .object(["name": .string("oversized"), "count": .number(1)])]), "\(summary.text)")
            #expect(summary.json["by_source"] == .array([.object(["name": .string("cam-9"), "count": .number(2)]),
                                                         .object(["name": .string("cam-1"), "count": .number(1)])]), "\(summary.text)")
        }
    }

    @Test("only a supervisor replays; the token is the author, in the audit log; replaying again queues nothing; bad bodies are 400s")
    func replayRoles() async throws {
        let f = try Self.hub()
        try await f.test(tokens: Self.tokens) { c in
            let path = "/api/v1/dead-letters/replay"
            let body = #"{"reason":"unknown_source","source":"cam-9","by":"someone-else"}"#
            #expect(try await c.call(.post, path, json: body).status == .unauthorized)
            #expect(try await c.call(.post, path, token: InProcessHub.token, json: body).status == .forbidden)
            #expect(try await c.call(.post, path, token: InProcessHub.operatorToken, json: body).status == .forbidden)
            #expect(try f.store.pending(limit: 10).isEmpty, "a refused request queues nothing")

            let dry = try await c.call(.post, path, token: Self.supervisorToken, json: #"{"source":"cam-9","dry_run":true}"#)
            #expect(dry.json["dry_run"] == .bool(true) && dry.json["queued"]?.arrayCount == 2)
            #expect(try f.store.pending(limit: 10).isEmpty)

            let done = try await c.call(.post, path, token: Self.supervisorToken, json: body)
            #expect(done.status == .ok, "\(done.text)")
            #expect(done.json["queued"]?.arrayCount == 2 && done.json["refused"]?.arrayCount == 0 && done.json["more"] == .bool(false))
            #expect(try f.store.pending(limit: 10).map(\.topic) == ["patrolhub/v1/camera/cam-9/event", "patrolhub/v1/camera/cam-9/event"])
            let actors = try await f.store.writer.read { db in
                try String.fetchAll(db, sql: "SELECT actor || ' ' || subject FROM audit_log WHERE action = 'dead_letter.replayed' ORDER BY id")
            }
            #expect(actors == ["lead-1 dead-letter-1", "lead-1 dead-letter-2"])
            let listed = try await c.call(.get, "/api/v1/dead-letters/1", token: InProcessHub.token)
            #expect(listed.json["dead_letter"]?["replayed_by"] == .string("lead-1"))

            let again = try await c.call(.post, path, token: Self.supervisorToken, json: body)
            #expect(again.json["queued"]?.arrayCount == 0)
            #expect(try f.store.pending(limit: 10).count == 2, "replaying again queues nothing")

            let oversized = try await c.call(.post, path, token: Self.supervisorToken, json: #"{"ids":[3]}"#)
            #expect(oversized.json["queued"]?.arrayCount == 0 && oversized.json["refused"]?[0]?["id"] == .number(3), "\(oversized.text)")

            for (bad, message) in [
                ("{}", "give reason, source, since or ids: which dead letters to replay"),
                (#"{"reason":"<img src=x>"}"#, "field 'reason': unknown reason '<img src=x>'"),
                (#"{"reason":5}"#, "field 'reason': expected a string or a list of strings"),
                (#"{"ids":"1"}"#, "field 'ids': expected a list of dead letter ids"),
                (#"{"ids":[1.5]}"#, "field 'ids': expected whole positive numbers"),
                (#"{"ids":[-1]}"#, "field 'ids': expected whole positive numbers"),
                ("{\"ids\":[" + Array(repeating: "1", count: 1001).joined(separator: ",") + "]}", "field 'ids': at most 1000 ids at a time"),
                (#"{"source":"cam-9","force":"yes"}"#, "field 'force': expected true or false"),
                (#"{"source":"cam-9","sql":"DROP TABLE"}"#, "field 'sql': unknown field"),
                (#"{"since":"tomorrow"}"#, "field 'since': expected an RFC 3339 time"),
                ("[1]", "the body must be a JSON object"),
            ] {
                let r = try await c.call(.post, path, token: Self.supervisorToken, json: bad)
                #expect(r.status == .badRequest, "\(bad.prefix(40))")
                #expect(r.errorMessage?.hasPrefix(message) == true, "\(bad.prefix(40)): \(r.text.prefix(300))")
            }
        }
    }
}

extension JSONValue {
    /// The number of elements of an array (nil otherwise).
    fileprivate var arrayCount: Int? { if case .array(let a) = self { return a.count }; return nil }
    /// The keys of an object (empty otherwise).
    fileprivate var objectKeys: [String] { if case .object(let o) = self { return o.members.map(\.key) }; return [] }
    /// An array's element (nil when out of range or not an array).
    fileprivate subscript(_ index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}
