import Foundation
import Logging
@testable import PatrolHubMQTT
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

/// `MQTTClient`'s reconnect backoff: the delays it chooses (from its log),
/// not how fast the machine runs them.
@Suite("MQTT reconnect backoff", .serialized)
struct ReconnectBackoffTests {
    /// The retry delays of the failed connects logged so far, from the `skip`-th on.
    static func delays(_ log: CapturedLog, from skip: Int = 0) -> [Double] {
        log.messages("mqtt.connect_failed").dropFirst(skip).compactMap { $0.metadata["mqtt.retry_in_s"].flatMap(Double.init) }
    }

    @Test("reconnect delays double from the minimum up to the cap, and start again from the minimum after a connection")
    func doublesUpToTheCapAndResets() async throws {
        let port = try EmbeddedBroker.freePort()
        let log = CapturedLog()
        var o = MQTTClient.Options()
        o.port = port // nobody listens there yet: every connect is refused
        o.clientID = "test-backoff-\(UUID().uuidString.prefix(6))"
        o.cleanSession = true
        o.reconnectDelayMin = 0.05
        o.reconnectDelayMax = 0.4
        let client = MQTTClient(options: o, logger: log.logger())
        try client.start()
        defer { client.stop() }

        try await waitUntil("7 refused connects", timeout: 30) { Self.delays(log).count >= 7 }
        let first = Array(Self.delays(log).prefix(7))
        #expect(first == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4])
        // Each retry came no sooner than its delay (a lower bound: a slow machine only adds to it).
        let times = log.messages("mqtt.connect_failed").prefix(7).map(\.at)
        for i in 1..<times.count {
            #expect(times[i].timeIntervalSince(times[i - 1]) >= first[i - 1] * 0.95, "retry \(i) came after its delay of \(first[i - 1]) s")
        }

        // A broker appears on the port: the client connects (the delay goes back to the minimum)...
        let broker = try TestBroker(port: port)
        try await waitUntil("connected", timeout: 30) { client.isConnected }
        let before = log.messages("mqtt.connect_failed").count
        // ...and when it goes away, the backoff starts again from the bottom: the drop waits
        // the minimum, and the refused connects after it wait 2×, 4×, then the cap.
        broker.stop()
        try await waitUntil("3 refused reconnects", timeout: 30) { Self.delays(log, from: before).count >= 3 }
        #expect(Array(Self.delays(log, from: before).prefix(3)) == [0.1, 0.2, 0.4])
    }

    /// A client whose handle cannot be configured again after a drop (here: its CA file is gone)
    /// keeps retrying on the same capped backoff as a refused connect, and recovers once it can.
    @Test("a reconnect whose configuration fails backs off up to the cap and recovers")
    func failedReconfigurationBacksOffUpToTheCap() async throws {
        let dir = TempDir("patrolhub-reconfigure")
        defer { dir.cleanup() }
        let (cert, key, ca) = (dir.file("broker.crt"), dir.file("broker.key"), dir.file("client-ca.crt"))
        let made = try runProcess("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                                                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(made.status == 0, "\(made.output)")
        try FileManager.default.copyItem(atPath: cert, toPath: ca)
        var logger = Logger(label: "test-tls-broker")
        logger.logLevel = .error
        let tlsPort = try EmbeddedBroker.freePort()
        var bo = EmbeddedBroker.Options(port: 0, dataDir: dir.file("broker"))
        bo.tls = .init(host: "127.0.0.1", port: tlsPort, certFile: cert, keyFile: key)
        let broker = EmbeddedBroker(options: bo, logger: logger)
        try broker.start()
        defer { broker.stop() }

        let log = CapturedLog()
        var o = MQTTClient.Options()
        o.port = tlsPort
        o.clientID = "test-reconfigure-\(UUID().uuidString.prefix(6))"
        o.cleanSession = true
        o.caFile = ca
        o.reconnectDelayMin = 0.05
        o.reconnectDelayMax = 0.4
        let client = MQTTClient(options: o, logger: log.logger())
        try client.start()
        defer { client.stop() }
        try await waitUntil("connected over TLS", timeout: 30) { client.isConnected }

        // The CA file goes away, then the connection: every reconfiguration of the handle fails.
        try FileManager.default.removeItem(atPath: ca)
        broker.stop()
        func deferred() -> [Double] {
            log.messages("mqtt.reconnect_deferred").compactMap { $0.metadata["mqtt.retry_in_s"].flatMap(Double.init) }
        }
        try await waitUntil("6 deferred reconnects", timeout: 30) { deferred().count >= 6 }
        let delays = Array(deferred().prefix(6))
        #expect(delays.allSatisfy { $0 <= 0.4 }, "delays \(delays) stay under the 0.4 s cap")
        #expect(delays.suffix(3) == [0.4, 0.4, 0.4], "delays \(delays) reach the cap and stay there")

        // The CA file is back and the broker too: the client configures its handle and connects.
        try FileManager.default.copyItem(atPath: cert, toPath: ca)
        try broker.start()
        try await waitUntil("reconnected over TLS", timeout: 30) { client.isConnected }
    }
}
