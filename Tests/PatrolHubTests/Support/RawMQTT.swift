import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A bare MQTT 3.1.1 client on a blocking socket, for tests that need what a
/// library hides: the CONNACK return code, a chosen client id, a packet the
/// broker should refuse. Every read has a receive timeout, so a broken
/// broker fails the test instead of hanging it.
final class RawMQTT {
    private let fd: Int32
    private var nextID: UInt16 = 1
    /// PUBLISH packets received while waiting for something else.
    private(set) var received: [(topic: String, payload: [UInt8])] = []
    /// False: received QoS 1 messages are never acknowledged (they stay in flight in the broker's session).
    var acknowledges = true

    init(port: Int, timeout: Int = 20) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard ok else { close(fd); throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
    }

    deinit { close(fd) }

    static func string(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return [UInt8(b.count >> 8), UInt8(b.count & 0xff)] + b
    }

    static func length(_ n: Int) -> [UInt8] {
        var n = n, out: [UInt8] = []
        repeat {
            var byte = UInt8(n % 128)
            n /= 128
            if n > 0 { byte |= 0x80 }
            out.append(byte)
        } while n > 0
        return out
    }

    func send(_ type: UInt8, _ body: [UInt8]) throws {
        let packet = [type] + Self.length(body.count) + body
        var sent = 0
        while sent < packet.count {
            let n = packet[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Closed() }
            sent += n
        }
    }

    private func read(_ count: Int) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)) { return nil } // closed
            guard n > 0 else { throw TestFailure("no answer from the broker (recv: \(String(cString: strerror(errno))))") }
            got += n
        }
        return out
    }

    /// The next packet (type byte, body), or nil when the broker closed the connection.
    func readPacket() throws -> (type: UInt8, body: [UInt8])? {
        guard let head = try read(1) else { return nil }
        var length = 0, shift = 0
        while true {
            guard let b = try read(1) else { return nil }
            length |= Int(b[0] & 0x7f) << shift
            shift += 7
            if b[0] & 0x80 == 0 { break }
        }
        guard let body = try read(length) else { return nil }
        return (head[0], body)
    }

    /// Reads packets until one of `type` (high nibble), keeping PUBLISHes; nil when the connection closed.
    func awaitPacket(_ type: UInt8) throws -> [UInt8]? {
        while let p = try readPacket() {
            if p.type >> 4 == 3 { keep(p) }
            if p.type >> 4 == type { return p.body }
        }
        return nil
    }

    private func keep(_ p: (type: UInt8, body: [UInt8])) {
        let b = p.body
        let n = Int(b[0]) << 8 | Int(b[1])
        let topic = String(decoding: b[2..<(2 + n)], as: UTF8.self)
        let qos = (p.type >> 1) & 3
        let start = 2 + n + (qos > 0 ? 2 : 0)
        received.append((topic, Array(b[start...])))
        if qos == 1, acknowledges { try? send(0x40, [b[2 + n], b[3 + n]]) }
    }

    /// Reads until the connection closes (or `kill()`), handing each PUBLISH to `each`; returns
    /// without throwing when the socket is shut down or reset.
    func readPublishes(_ each: (_ topic: String, _ payload: [UInt8]) -> Void) {
        while let p = try? readPacket() {
            guard p.type >> 4 == 3 else { continue }
            keep(p)
            if let last = received.last { each(last.topic, last.payload) }
        }
    }

    /// Drops the connection as a killed process does: no DISCONNECT, no PUBACK for what was received.
    func kill() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    /// CONNECT; returns the CONNACK return code (0 accepted, 4 bad username or password, 5 not authorised).
    /// `cleanSession` false keeps the session (subscriptions, messages in flight and queued) after the connection ends.
    func connect(clientID: String, username: String? = nil, password: String? = nil, cleanSession: Bool = true) throws -> UInt8 {
        var flags: UInt8 = cleanSession ? 0x02 : 0x00
        var payload = Self.string(clientID)
        if let username { flags |= 0x80; payload += Self.string(username) }
        if let password { flags |= 0x40; payload += Self.string(password) }
        try send(0x10, Self.string("MQTT") + [4, flags, 0, 60] + payload)
        guard let ack = try awaitPacket(2) else { throw TestFailure("the broker closed the connection without a CONNACK") }
        return ack[1]
    }

    /// PUBLISH; at QoS 1 waits for the PUBACK and returns false when the broker closed the connection instead.
    @discardableResult
    func publish(_ topic: String, _ payload: [UInt8], qos: UInt8 = 1, retain: Bool = false) throws -> Bool {
        var body = Self.string(topic)
        if qos > 0 {
            body += [UInt8(nextID >> 8), UInt8(nextID & 0xff)]
            nextID &+= 1
        }
        do {
            try send(0x30 | (qos << 1) | (retain ? 1 : 0), body + payload)
        } catch is Closed {
            return false
        }
        return qos == 0 ? true : try awaitPacket(4) != nil
    }

    /// SUBSCRIBE at QoS 1; returns the granted codes (0x80: refused).
    func subscribe(_ filters: [String]) throws -> [UInt8] {
        let id = nextID
        nextID &+= 1
        try send(0x82, [UInt8(id >> 8), UInt8(id & 0xff)] + filters.flatMap { Self.string($0) + [1] })
        guard let ack = try awaitPacket(9) else { throw TestFailure("the broker closed the connection without a SUBACK") }
        return Array(ack[2...])
    }

    /// Reads until a PUBLISH on `topic` arrives (kept in `received`); false when the connection closed.
    func awaitPublish(on topic: String) throws -> Bool {
        try awaitPublish { $0.topic == topic }
    }

    /// Reads until a PUBLISH matching `condition` arrives (all kept in `received`); false when the connection closed.
    func awaitPublish(where condition: ((topic: String, payload: [UInt8])) -> Bool) throws -> Bool {
        if received.contains(where: condition) { return true }
        while let p = try readPacket() {
            if p.type >> 4 == 3 {
                keep(p)
                if let last = received.last, condition(last) { return true }
            }
        }
        return false
    }

    func disconnect() { try? send(0xe0, []) }

    /// The broker closed the connection while we were sending.
    struct Closed: Error {}
}
