import Alerts
@testable import AlertsStore
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif
@testable import PatrolHub

/// One HTTP/1.1 request written by hand on a plain socket, so a test can
/// send what a client library would not (any Host, any Origin, a `text/plain`
/// body): returns the status, the headers (names lowercased) and the body.
func rawHTTP(port: Int, _ head: String, body: String = "", timeout: Double = 20) throws -> HTTPResult {
    let fd = try connectLoopback(port: port, timeout: timeout)
    defer { Glibc.close(fd) }
    var request = head.replacingOccurrences(of: "\n", with: "\r\n")
    if !request.hasSuffix("\r\n") { request += "\r\n" }
    if !body.isEmpty { request += "Content-Length: \(body.utf8.count)\r\n" }
    request += "Connection: close\r\n\r\n" + body
    _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    let text = String(decoding: readUntilClosed(fd), as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no HTTP answer: '\(text.prefix(200))'") }
    let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Array(text[split.upperBound...].utf8)
    if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
    return HTTPResult(status: status, headers: headers, body: Data(body))
}

/// A TCP connection to 127.0.0.1:`port` whose reads give up after `timeout` seconds.
/// Everything the peer sends on `fd` until it closes the connection.
func readUntilClosed(_ fd: Int32) -> [UInt8] {
    var raw: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        raw += buffer[0..<n]
    }
    return raw
}

/// `receiveBuffer` (bytes) shrinks the socket's receive buffer, for a client that stops reading.
func connectLoopback(port: Int, timeout: Double = 20, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { Glibc.close(fd); throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
    return fd
}

private func dechunk(_ raw: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < raw.count {
        guard let lineEnd = (i..<(raw.count - 1)).first(where: { raw[$0] == 13 && raw[$0 + 1] == 10 }) else { break }
        let size = Int(String(decoding: raw[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) ?? 0
        if size == 0 { break }
        let start = lineEnd + 2
        guard start + size <= raw.count else { break }
        out += raw[start..<(start + size)]
        i = start + size + 2
    }
    return out
}

/// The patrol device the attack tests' SOS comes from.
let attackDevicesCSV = """
    id,worker,unit,zone
    dev-007,W-0007,unit-B,Z-B
    """

/// Publishes an SOS from `dev-007` through the real broker and waits until
/// the hub has processed it into a risk item that a case holds: the proof,
/// after each attack, that the hub still does its job.
func expectSOSBecomesCase(_ hub: TestHub, _ pub: TestPublisher) async throws {
    let time = try await publishSOS(pub)
    try await waitForSOSCase(hub, sentAt: time)
}

/// Publishes an SOS from `dev-007` (acknowledged by the broker); returns its event time.
func publishSOS(_ pub: TestPublisher, id: String = "sos-\(UUID().uuidString.prefix(8))") async throws -> Date {
    let time = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 5).rounded(.down))
    let sos = #"{"id":"\#(id)","time":"\#(time.rfc3339)","kind":"fall"}"#
    try await pub.publishAll([("patrolhub/v1/device/dev-007/sos", Array(sos.utf8))])
    return time
}

/// Waits until an SOS risk item seen at or after `sentAt` is in a case.
func waitForSOSCase(_ hub: TestHub, sentAt time: Date, timeout: Double = 30) async throws {
    try await waitUntil("the SOS sent at \(time.rfc3339) is in a case", timeout: timeout) {
        try hub.store.writer.read { db in
            let items = try DisputeStore.riskItems(ListQuery(), db: db).items.filter { $0.category == .sos && $0.lastSeen >= time }
            let cases = try DisputeStore.fetchCases(limit: 1000, db: db)
            return items.contains { item in cases.contains { $0.category == .sos && $0.riskItemIDs.contains(item.id) } }
        }
    }
}
