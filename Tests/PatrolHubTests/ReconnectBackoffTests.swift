import Foundation
@testable import PatrolHubMQTT
import Testing
@testable import PatrolHub

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
}
