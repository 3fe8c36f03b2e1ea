import CMosquitto
import Foundation
import Synchronization

/// The benchmark's baseline: a plain libmosquitto subscriber as its manual
/// shows it (`mosquitto_loop_start`, QoS 1, persistent session,
/// TCP_NODELAY) that only counts messages. What the broker and
/// libmosquitto can deliver to a client that does nothing.
package final class BareSubscriber: @unchecked Sendable {
    private var mosq: OpaquePointer?
    /// The topic filter it subscribes to on connect.
    package let topic: String
    fileprivate let state = Mutex((count: 0, connected: false, target: Int.max, done: ContinuousClock.Instant?.none))

    /// A subscriber with a persistent session under `clientID`, not yet connected.
    package init(clientID: String, topic: String) throws {
        _ = mosquitto_lib_init()
        self.topic = topic
        mosq = mosquitto_new(clientID, false, nil)
        guard let mosq else { throw MQTTError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue) }
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        _ = mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_callback_set(mosq, bareOnConnect)
        mosquitto_message_callback_set(mosq, bareOnMessage)
    }

    deinit { if let mosq { mosquitto_destroy(mosq) } }

    /// Messages received since the last `expect`.
    package var count: Int { state.withLock { $0.count } }
    /// Whether the broker accepted the connection and it has not been dropped.
    package var isConnected: Bool { state.withLock { $0.connected } }
    /// When the `target`-th message arrived.
    package var doneAt: ContinuousClock.Instant? { state.withLock { $0.done } }

    /// Starts counting again, towards `n` messages (`doneAt` is then set at the n-th).
    package func expect(_ n: Int) { state.withLock { $0.target = n; $0.count = 0; $0.done = nil } }

    /// Connects and starts libmosquitto's network thread; subscribes once connected.
    package func connect(host: String, port: Int) throws {
        let rc = mosquitto_connect(mosq, host, Int32(port), 60)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: "connect", code: rc) }
        let lrc = mosquitto_loop_start(mosq)
        guard lrc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: "loop_start", code: lrc) }
    }

    /// Disconnects and stops the network thread.
    package func disconnect() {
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        state.withLock { $0.connected = false }
    }

    fileprivate func onConnect() {
        mosquitto_subscribe(mosq, nil, topic, 1)
        state.withLock { $0.connected = true }
    }
}

private func bareOnConnect(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard let obj, rc == 0 else { return }
    Unmanaged<BareSubscriber>.fromOpaque(obj).takeUnretainedValue().onConnect()
}

private func bareOnMessage(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ msg: UnsafePointer<mosquitto_message>?) {
    guard let obj else { return }
    Unmanaged<BareSubscriber>.fromOpaque(obj).takeUnretainedValue().state.withLock { s in
        s.count += 1
        if s.count == s.target { s.done = .now }
    }
}
