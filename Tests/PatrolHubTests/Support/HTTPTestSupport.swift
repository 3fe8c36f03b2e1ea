import Alerts
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
@testable import PatrolHub
@testable import PatrolHubRuntime

/// A response as a test reads it.
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as JSON, `.null` when it is not JSON: for comparing one value
    /// with an expected one (a non-JSON body then compares unequal). A check
    /// that could pass on an empty answer uses `ids` or `jsonBody()` instead.
    var json: JSONValue { (try? JSONParser.parse([UInt8](body))) ?? .null }
    func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }

    /// The body as JSON; throws (with status and body) when it is not JSON.
    func jsonBody() throws -> JSONValue {
        do {
            return try JSONParser.parse([UInt8](body))
        } catch {
            throw TestFailure("HTTP \(status): the body is not JSON (\(error)): \(text.prefix(300))")
        }
    }

    /// The `key` of every item of a list response, in order. Throws unless the
    /// response is a 200 whose body is `{"items": [...]}` with `key` a string in
    /// every item, so an empty list is a real empty list, never a 400 or 500.
    func ids(key: String = "id") throws -> [String] {
        guard status == 200 else { throw TestFailure("expected a list (HTTP 200), got HTTP \(status): \(text.prefix(300))") }
        guard case .array(let items)? = try jsonBody()["items"] else { throw TestFailure("no items array in: \(text.prefix(300))") }
        return try items.map { item in
            guard let id = item[key]?.stringValue else { throw TestFailure("an item without a string '\(key)': \(item.serialized)") }
            return id
        }
    }
}

/// A plain HTTP client over URLSession, against a server on loopback.
struct TestHTTPClient {
    let base: String
    var token: String?

    init(port: Int, token: String? = nil) {
        base = "http://127.0.0.1:\(port)"
        self.token = token
    }

    func request(_ method: String, _ path: String, json: String? = nil, token: String?? = .none) async throws -> HTTPResult {
        var r = URLRequest(url: URL(string: base + path)!)
        r.httpMethod = method
        r.timeoutInterval = 30
        if let t = token ?? self.token { r.setValue("Bearer \(t)", forHTTPHeaderField: "Authorization") }
        if let json {
            r.httpBody = Data(json.utf8)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: r)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { headers["\(k)"] = "\(v)" }
        return HTTPResult(status: http.statusCode, headers: headers, body: data)
    }

    func get(_ path: String, token: String?? = .none) async throws -> HTTPResult { try await request("GET", path, token: token) }
    func post(_ path: String, _ json: String, token: String?? = .none) async throws -> HTTPResult { try await request("POST", path, json: json, token: token) }
    func delete(_ path: String, token: String?? = .none) async throws -> HTTPResult { try await request("DELETE", path, token: token) }
}

/// One Server-Sent Event.
struct SSEEvent: Sendable {
    var id: String?
    var event: String
    var data: String
    var json: JSONValue { (try? JSONParser.parse(data)) ?? .null }
}

/// A Server-Sent Events client on a plain socket (URLSession on Linux does
/// not stream a body): sends the GET, de-chunks the body on a thread of its
/// own, and collects the events.
final class TestSSEClient: @unchecked Sendable {
    private let fd: Int32
    final class State: Sendable {
        let m = Mutex<(events: [SSEEvent], status: Int?, closed: Bool)>(([], nil, false))
        func withLock<T>(_ body: (inout (events: [SSEEvent], status: Int?, closed: Bool)) -> T) -> T { m.withLock { body(&$0) } }
    }
    private let state = State()
    private let thread: Thread

    init(port: Int, path: String = "/api/v1/stream", headers: [String: String] = [:]) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw TestFailure("socket() failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { Glibc.close(sock); throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(sock, $0, strlen($0), 0) }
        fd = sock
        let state = self.state
        thread = Thread { TestSSEClient.read(fd: sock, state: state) }
        thread.start()
    }

    var events: [SSEEvent] { state.withLock { $0.events } }
    var status: Int? { state.withLock { $0.status } }
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits for an event matching `match` (throws after `timeout` seconds, listing what came).
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 20, _ match: (SSEEvent) -> Bool) async throws -> SSEEvent {
        var found: SSEEvent?
        do {
            try await waitUntil(what, timeout: timeout) {
                found = self.events.first(where: match)
                return found != nil
            }
        } catch {
            throw TestFailure("\(error); events so far: \(events.map { "\($0.event) \($0.data.prefix(120))" })")
        }
        return found!
    }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); thread.cancel() }

    private static func read(fd: Int32, state: State) {
        var raw: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerDone = false
        var chunked = false
        var body: [UInt8] = []
        var pending = SSEEvent(id: nil, event: "message", data: "")
        var hasData = false
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            raw += buffer[0..<n]
            if !headerDone {
                guard let end = find(raw, [13, 10, 13, 10]) else { continue }
                let head = String(decoding: raw[0..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                chunked = head.lowercased().contains("transfer-encoding: chunked")
                state.withLock { $0.status = status }
                raw.removeFirst(end + 4)
                headerDone = true
            }
            if chunked {
                while let lineEnd = find(raw, [13, 10]) {
                    let size = Int(String(decoding: raw[0..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) ?? 0
                    guard raw.count >= lineEnd + 2 + size + 2 else { break }
                    body += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
                    raw.removeFirst(lineEnd + 2 + size + 2)
                }
            } else {
                body += raw
                raw = []
            }
            while let nl = body.firstIndex(of: 10) {
                let line = String(decoding: body[0..<nl], as: UTF8.self)
                body.removeFirst(nl + 1)
                if line.isEmpty {
                    if hasData { let e = pending; state.withLock { $0.events.append(e) } }
                    pending = SSEEvent(id: nil, event: "message", data: "")
                    hasData = false
                } else if line.hasPrefix("data: ") {
                    pending.data += (hasData ? "\n" : "") + line.dropFirst(6)
                    hasData = true
                } else if line.hasPrefix("event: ") {
                    pending.event = String(line.dropFirst(7))
                } else if line.hasPrefix("id: ") {
                    pending.id = String(line.dropFirst(4))
                }
            }
        }
        Glibc.close(fd)
        state.withLock { $0.closed = true }
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// A port nothing listens on right now.
func freeTCPPort() throws -> Int { try EmbeddedBroker.freePort() }
