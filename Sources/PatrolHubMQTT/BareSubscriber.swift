import Foundation
import Logging
import Synchronization

/// The ingest benchmark's baseline: a subscriber that only counts messages,
/// on the same `MQTTClient` as the hub (QoS 1, persistent session,
/// TCP_NODELAY), acknowledging each group as soon as it is read. What the
/// broker and the client deliver when nothing is committed: the hub's ingest
/// differs from it only by the inbox commit it waits for.
package final class BareSubscriber: Sendable {
    /// The MQTT client id (persistent session).
    package let clientID: String
    /// The topic filter subscribed to.
    package let topic: String
    private let client = Mutex<MQTTClient?>(nil)
    private let tally = Tally()

    /// What the network thread counts, shared with its callback.
    private final class Tally: Sendable {
        let state = Mutex((count: 0, target: Int.max, done: ContinuousClock.Instant?.none))
    }

    /// A subscriber to `topic` (QoS 1) with a persistent session under `clientID`.
    package init(clientID: String, topic: String) throws {
        self.clientID = clientID
        self.topic = topic
    }

    /// Messages counted since the last `expect`.
    package var count: Int { tally.state.withLock { $0.count } }
    /// Whether the broker accepted the connection (and the subscription was sent).
    package var isConnected: Bool { client.withLock { $0?.isConnected ?? false } }
    /// When the `target`-th message arrived.
    package var doneAt: ContinuousClock.Instant? { tally.state.withLock { $0.done } }

    /// Starts counting again, until `n`.
    package func expect(_ n: Int) { tally.state.withLock { $0.target = n; $0.count = 0; $0.done = nil } }

    /// Connects (and reconnects) to the broker on its own network thread.
    package func connect(host: String, port: Int) throws {
        var o = MQTTClient.Options()
        o.host = host
        o.port = port
        o.clientID = clientID
        o.keepalive = 60
        o.subscriptions = [topic]
        let tally = self.tally
        let c = MQTTClient(options: o, logger: Logger.bare, delivery: .callback { group in
            tally.state.withLock { s in
                s.count += group.count
                if s.count >= s.target, s.done == nil { s.done = .now }
            }
            return true
        })
        try c.start()
        client.withLock { $0 = c }
    }

    /// Disconnects (the session stays with the broker) and waits for the network thread to end.
    package func disconnect() {
        client.withLock { c in
            c?.stop()
            c = nil
        }
    }
}

extension Logger {
    /// The bare subscriber's: errors only.
    fileprivate static let bare: Logger = {
        var l = Logger(label: "bare-subscriber")
        l.logLevel = .error
        return l
    }()
}
