import Alerts
import CMosquitto
import CoreMetrics
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A message received from the broker, copied out of libmosquitto's memory.
package struct ReceivedMessage: Sendable {
    /// The topic it was published on.
    package var topic: String
    /// The payload, copied (libmosquitto frees its own when the callback returns).
    package var payload: [UInt8]
    /// When the hub received it: the event time of events whose device clock is unset.
    package var receivedAt: Date
    /// For a payload over `Options.maxPayloadBytes`: the inbox row already made
    /// (key and SHA-256 of the whole payload, only its head kept); `payload` is that head.
    package var oversized: InboxMessage? = nil

    /// The inbox row for this message.
    package var inboxMessage: InboxMessage { oversized ?? InboxMessage(topic: topic, payload: payload, receivedAt: receivedAt) }
}

/// The MQTT client's errors: `HubError`s with the `mqtt_*` codes below (`code`) and a sentence for people (`message`).
package typealias MQTTError = HubError

extension HubError.Code {
    /// libmosquitto refused a call (its own text is in the message).
    package static let library = Self("mqtt_library")
    /// The client is not connected to the broker now; nothing was sent.
    package static let notConnected = Self("mqtt_not_connected")
    /// The connection ended before the broker acknowledged the message (it may or may not have it).
    package static let connectionLost = Self("mqtt_connection_lost")
    /// The broker did not acknowledge the message within `Options.publishTimeout`.
    package static let timedOut = Self("mqtt_timed_out")
    /// The client was stopped (or was never started).
    package static let stopped = Self("mqtt_stopped")
    /// The waiting task was cancelled before the acknowledgement came.
    package static let cancelled = Self("mqtt_cancelled")
}

extension HubError {
    /// libmosquitto's return code `rc` for `operation`, with its text.
    package init(operation: String, code rc: Int32) {
        self.init(.library, "\(operation) failed: \(String(cString: mosquitto_strerror(rc))) (\(rc))")
    }
}

/// One message to publish.
package struct OutgoingMessage: Sendable {
    /// The topic to publish on.
    package var topic: String
    /// The message body.
    package var payload: [UInt8]
    /// MQTT QoS (0, 1 or 2).
    package var qos: Int32
    /// Whether the broker keeps it as the topic's retained message.
    package var retain: Bool

    /// A message, QoS 1 and not retained by default.
    package init(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// A group of messages read in one network round, as `MQTTClient.batches`
/// hands it over. Their PUBACKs are held until the consumer calls
/// `acknowledge()` (after its commit); `reject()` (or dropping the batch
/// undecided) drops the connection without them, so the broker redelivers
/// every message of the batch after the reconnect.
package final class ReceivedBatch: Sendable {
    /// The messages in the order the broker sent them.
    package let messages: [ReceivedMessage]
    private let decision: BatchDecision

    fileprivate init(messages: [ReceivedMessage], decision: BatchDecision) {
        self.messages = messages
        self.decision = decision
    }

    /// The batch is committed: its PUBACKs may go out. Only the first decision counts.
    package func acknowledge() { decision.settle(true) }

    /// The batch could not be committed: nothing of it is acknowledged.
    package func reject() { decision.settle(false) }

    deinit { decision.settle(false) }
}

/// The received batches of a client made with `.batches`: an `AsyncSequence`
/// for one consumer. When its iteration ends (the loop is left, or its task is
/// cancelled) the client stops: nobody would commit what it reads.
package struct ReceivedBatches: AsyncSequence, Sendable {
    /// One group of messages read together.
    package typealias Element = ReceivedBatch
    fileprivate let stream: AsyncStream<ReceivedBatch>
    fileprivate let ended: @Sendable () -> Void

    /// Iterates the batches; ending its iteration stops the client.
    package struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var base: AsyncStream<ReceivedBatch>.AsyncIterator
        fileprivate let lifetime: IterationLifetime

        /// The next batch; nil once the client stopped (or the task was cancelled).
        package mutating func next() async -> ReceivedBatch? { await base.next() }
    }

    /// The iterator of the one consumer.
    package func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), lifetime: IterationLifetime(ended))
    }
}

/// Calls `ended` when the iterator that holds it goes away.
final class IterationLifetime: Sendable {
    private let ended: @Sendable () -> Void
    init(_ ended: @escaping @Sendable () -> Void) { self.ended = ended }
    deinit { ended() }
}

/// A one-time yes/no that the network thread waits for (a dedicated thread: it may block).
final class BatchDecision: Sendable {
    private let value = Mutex<Bool?>(nil)
    private let decided = DispatchSemaphore(value: 0)

    func settle(_ ok: Bool) {
        let first = value.withLock { v -> Bool in
            guard v == nil else { return false }
            v = ok
            return true
        }
        if first { decided.signal() }
    }

    /// Blocks until settled; returns the decision.
    func wait() -> Bool {
        decided.wait()
        return value.withLock { $0 ?? false }
    }
}

/// Permits for messages in flight: `acquire` suspends (never blocks) while
/// all are taken; `release` hands a permit to the longest waiter.
final class InflightPermits: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>

    init(limit: Int) { state = Mutex(State(available: limit)) }

    /// Permits free now.
    var available: Int { state.withLock { $0.available } }

    /// Takes a permit, waiting for one; throws `CancellationError` if the task is cancelled first.
    func acquire() async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let go = state.withLock { s -> Bool? in
                    if s.cancelled.remove(id) != nil { return false }
                    if s.available > 0, s.waiters.isEmpty {
                        s.available -= 1
                        return true
                    }
                    s.waiters.append((id, c))
                    return nil
                }
                switch go {
                case true?: c.resume()
                case false?: c.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let i = s.waiters.firstIndex(where: { $0.id == id }) { return s.waiters.remove(at: i).continuation }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
        // A cancellation that came after the permit was granted leaves its mark: drop it.
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Returns a permit.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}

/// The only code that touches libmosquitto's C API.
///
/// It runs its own network thread instead of `mosquitto_loop_start`, so that
/// it controls *when* the PUBACKs go out: every packet read in one round is
/// handed over as one group, and only after the group is committed are the
/// queued PUBACKs written (`mosquitto_loop_write`). That is group commit with
/// the acknowledgement held back until the commit: a message acknowledged to
/// the broker is always in the store. If the commit fails, the connection is
/// dropped without writing, so the broker redelivers everything
/// unacknowledged.
///
/// Received groups go where `Delivery` says: to `batches`, an `AsyncSequence`
/// whose consumer acknowledges or rejects each `ReceivedBatch` (the hub's
/// ingest), or to a function called on the network thread. Publishing is
/// `publish(_:)` (suspends until the broker's PUBACK, at most
/// `Options.maxInflight` at a time), or `enqueue` + `waitForAcks` for callers
/// that track message ids themselves.
///
/// The client is put in "threaded" mode so libmosquitto never writes from
/// inside its own read path (unthreaded, it would write a QoS 1 PUBACK
/// before the message callback runs).
package final class MQTTClient: @unchecked Sendable {
    /// How and where the client connects, and how it batches and retries.
    package struct Options: Sendable {
        /// The broker's address.
        package var host = "127.0.0.1"
        /// The broker's port.
        package var port = 1883
        /// The client id; with `cleanSession` false the broker keeps the session (and queues QoS 1 messages) under it.
        package var clientID = "patrolhub"
        /// Seconds between keepalive pings.
        package var keepalive = 30
        /// False (the hub): the broker keeps subscriptions and queues messages while the client is away.
        package var cleanSession = false
        /// The account to connect with; nil: anonymous.
        package var username: String?
        /// The password of `username`.
        package var password: String?
        /// The CA of the broker's certificate (PEM); set, the client connects over TLS.
        package var caFile: String?
        /// A client certificate (PEM), for brokers that require one.
        package var certFile: String?
        /// The private key of `certFile` (PEM).
        package var keyFile: String?
        /// Subscribed at QoS 1 on every (re)connect.
        package var subscriptions: [String] = []
        /// Unsubscribed on every (re)connect, after `subscriptions`: filters a persistent session may
        /// still hold from an earlier configuration (a hub that joined a shared-subscription group
        /// drops its plain filters, which would otherwise still bring it every message).
        package var unsubscriptions: [String] = []
        /// The most messages committed in one group.
        package var maxBatch = 1000
        /// The most payload bytes held in one group: reading stops for the round once
        /// the group reaches it (a group of 1 000 payloads just under the size limit
        /// would otherwise hold 256 MiB; QoS 0 messages are not bounded by the broker's in-flight window).
        package var maxBatchBytes = 64 << 20
        /// The first delay before reconnecting after a refused or lost connection, in seconds; it doubles per failure.
        package var reconnectDelayMin: Double = 0.2
        /// The cap of the doubling reconnect delay, in seconds.
        package var reconnectDelayMax: Double = 10
        /// Client-side limit of QoS 1 messages in flight when publishing (0: no limit):
        /// libmosquitto's own queue, and the permits `publish(_:)` waits for.
        package var maxInflight: UInt32 = 1000
        /// How long `publish(_:)` waits for a message's acknowledgement.
        package var publishTimeout: Duration = .seconds(5)
        /// The last will the broker publishes when this connection dies without a DISCONNECT.
        package var will: Will?
        /// A received payload larger than this is not kept whole: only its head,
        /// size and hash (see `InboxMessage`), as soon as it is read, so that a
        /// group of large messages is never held in memory.
        package var maxPayloadBytes = Int.max
        /// Stamps each received message's `received_at` (the hub's clock).
        package var clock = HubClock.real
        /// Rung after each accepted connection (a publisher waiting to be connected wakes).
        package var onConnect: Doorbell?
        /// Incremented on each connection the broker accepts, and on each one that ends (none by default).
        package var connects: CoreMetrics.Counter?
        /// Incremented on each connection that ends (none by default).
        package var disconnects: CoreMetrics.Counter?

        /// The defaults above.
        package init() {}
    }

    /// A last will (set on every connect): topic, payload, QoS, retain.
    package struct Will: Sendable {
        /// The topic the broker publishes the will on.
        package var topic: String
        /// The will's payload.
        package var payload: [UInt8]
        /// The will's QoS.
        package var qos: Int32 = 1
        /// Whether the broker retains the will (so late subscribers see the client is gone).
        package var retain = true

        /// A will on `topic`.
        package init(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// Where received groups of messages go.
    package enum Delivery: Sendable {
        /// Acknowledged as read (a client that only publishes).
        case acknowledgeAll
        /// To `batches`; each batch's PUBACKs wait for its `acknowledge()`.
        case batches
        /// To this function, on the network thread; it returns whether the
        /// group was committed, and must not block for long.
        case callback(@Sendable ([ReceivedMessage]) -> Bool)
    }

    /// Broker, credentials and session settings.
    package let options: Options
    /// Where connects, drops and failures are logged.
    package let logger: Logger
    /// How received messages are handed over.
    package let delivery: Delivery
    /// Rung when a tracked publish is acknowledged (`publishTracked`, `enqueue`) and when a
    /// connection's epoch ends: a synchronous publisher that reaps with `takeAckedInEpoch()`
    /// waits on it instead of polling (read `rings` before the reap).
    package let acks = Doorbell()

    /// The received groups, in order, for a client made with `.batches`
    /// (empty for the others). One consumer, iterating once; it must decide
    /// every batch (`acknowledge()` after its commit, or `reject()`): the
    /// network thread reads nothing more until it does. The sequence ends when
    /// the client stops; if the consumer stops iterating first, the client stops.
    ///
    /// ```swift
    /// for await batch in client.batches {
    ///     if commit(batch.messages) { batch.acknowledge() } else { batch.reject() }
    /// }
    /// ```
    package var batches: ReceivedBatches {
        ReceivedBatches(stream: batchStream, ended: { [weak self] in self?.consumerEnded() })
    }
    private let batchStream: AsyncStream<ReceivedBatch>
    private let batchSink: AsyncStream<ReceivedBatch>.Continuation

    private var mosq: OpaquePointer?
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var thread: Thread?

    // Network-thread state (touched only by the network thread and callbacks on it).
    fileprivate var batch: [ReceivedMessage] = []
    /// Payload bytes in `batch`.
    fileprivate var batchBytes = 0
    fileprivate var connectedFlag = false
    /// The last group could not be committed: reconnects keep backing off until one is.
    private var commitFailing = false
    private var needsConfigure = false

    private struct Shared {
        var stopping = false
        var connected = false
        var connects = 0
        /// Bumped each time the handle is reinitialised: message ids from an
        /// earlier epoch are void (their messages were dropped unacknowledged).
        var epoch = 0
        /// Set by `abort()`: stop without a DISCONNECT, so the broker publishes the will.
        var aborting = false
        /// Message ids published and not yet acknowledged or given up on.
        var awaited: Set<Int32> = []
        /// Acknowledged ids among `awaited`, until `waitForAcks` takes them.
        var acked: Set<Int32> = []
        var stopped = false
        /// Tasks in `shutdown()`, resumed when the network thread ends.
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// Tasks in `waitForAcks`, by waiter id: resumed by the last of their acks.
        var ackWaiters: [Int: AckWaiter] = [:]
        /// What resumed waiters were acknowledged, until they take it.
        var ackResults: [Int: Set<Int32>] = [:]
        /// Waiters released (timeout, cancellation) before they were registered.
        var releasedWaiters: Set<Int> = []
        var nextWaiter = 0
        /// `publish(_:)`'s messages, by ticket, until their outcome is taken.
        var pending: [UInt64: PendingPublish] = [:]
        /// The ticket of each unresolved `publish(_:)` message id of this epoch.
        var ticketOfMid: [Int32: UInt64] = [:]
        /// Tickets with their deadlines, oldest first (one timeout for all: in order), from `deadlineHead`.
        var deadlines: [(ticket: UInt64, due: ContinuousClock.Instant)] = []
        var deadlineHead = 0
        var nextTicket: UInt64 = 0
        /// The batch the network thread waits on, so that the consumer's going away settles it.
        var undecided: BatchDecision?
        /// The consumer of `batches` stopped iterating.
        var consumerGone = false
    }

    /// A task waiting for the acks of `mids`: those acknowledged move from `acked` to `done`.
    private struct AckWaiter {
        var mids: Set<Int32>
        var done: Set<Int32>
        var continuation: CheckedContinuation<Void, Never>
    }

    /// One message of `publish(_:)`: its outcome (nil inside: acknowledged) once known, and the task waiting for it.
    private struct PendingPublish {
        var mid: Int32
        var outcome: MQTTError?? = nil
        var waiter: CheckedContinuation<MQTTError?, Never>?
    }
    private let shared = Mutex(Shared())
    private let permits: InflightPermits
    /// Held by `publish` (any thread) and by `dropConnection` (network thread):
    /// `mosquitto_reinitialise` frees and re-creates what `mosquitto_publish` uses.
    private let handleLock = NSLock()
    private let stoppedSignal = DispatchSemaphore(value: 0)

    /// A client delivering what it receives as `delivery` says.
    package init(options: Options, logger: Logger, delivery: Delivery = .acknowledgeAll) {
        self.options = options
        self.logger = logger
        self.delivery = delivery
        permits = InflightPermits(limit: options.maxInflight == 0 ? Int.max : Int(options.maxInflight))
        let (stream, sink) = AsyncStream.makeStream(of: ReceivedBatch.self)
        batchStream = stream
        batchSink = sink
        if case .batches = delivery {
            batchSink.onTermination = { [weak self] _ in self?.consumerEnded() }
        } else {
            batchSink.finish()
        }
    }

    /// A client that hands each received group to `onBatch` on the network thread.
    package convenience init(options: Options, logger: Logger, onBatch: @escaping @Sendable ([ReceivedMessage]) -> Bool) {
        self.init(options: options, logger: logger, delivery: .callback(onBatch))
    }

    deinit {
        if let mosq { mosquitto_destroy(mosq) }
        if wakeRead >= 0 { close(wakeRead); close(wakeWrite) }
    }

    /// Whether the client is connected to the broker now.
    package var isConnected: Bool { shared.withLock { $0.connected } }
    /// How many successful connections so far (reconnects included).
    package var connectCount: Int { shared.withLock { $0.connects } }
    /// Changes whenever queued and in-flight messages were dropped with the
    /// connection: ids returned by `enqueue` before the change are void.
    package var epoch: Int { shared.withLock { $0.epoch } }
    /// Messages of `publish(_:)` sent and not yet acknowledged, failed or timed out.
    package var inflight: Int { shared.withLock { $0.ticketOfMid.count } }

    /// Starts the network thread; it connects, and reconnects with backoff.
    package func start() throws {
        _ = Self.libraryInit
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw MQTTError(operation: "pipe", code: MOSQ_ERR_ERRNO.rawValue) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
        _ = fcntl(wakeWrite, F_SETFL, fcntl(wakeWrite, F_GETFL) | O_NONBLOCK)
        try create()
        let t = Thread { [self] in
            ProcessSupport.nameCurrentThread("mqtt")
            self.run()
        }
        t.name = "mqtt-\(options.clientID)"
        thread = t
        t.start()
    }

    /// Stops the network thread and waits for it (blocking the calling
    /// thread): the current group is committed and acknowledged, a
    /// DISCONNECT is sent, and the thread ends. From a task, and always with
    /// `.batches` (whose consumer must run meanwhile), use `shutdown()`.
    package func stop() {
        guard requestStop() else { return }
        stoppedSignal.wait()
    }

    /// Stops as `stop()` does, suspending the task (not blocking its thread) until the network thread ended.
    package func shutdown() async {
        requestStop()
        guard thread != nil else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { s -> Bool in
                if s.stopped { return true }
                s.stopWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    /// Asks the network thread to stop, without waiting. Returns true for the first request of a started client.
    @discardableResult
    package func requestStop() -> Bool {
        let already = shared.withLock { s -> Bool in
            defer { s.stopping = true }
            return s.stopping
        }
        guard !already, thread != nil else { return false }
        wake()
        return true
    }

    /// Cuts the TCP connection without a DISCONNECT, as a network failure
    /// would: the broker publishes the will, and the client reconnects with its
    /// usual backoff. (Fault injection for the simulator.)
    package func interruptConnection() {
        handleLock.lock()
        defer { handleLock.unlock() }
        guard let mosq else { return }
        let sock = mosquitto_socket(mosq)
        if sock >= 0 { _ = Glibc.shutdown(sock, Int32(SHUT_RDWR)) }
    }

    /// Stops like a device losing power: the connection is cut without a
    /// DISCONNECT (the broker publishes the will) and the thread ends.
    package func abort() {
        shared.withLock { $0.aborting = true }
        interruptConnection()
        stop()
    }

    // MARK: Publishing

    /// Publishes one message and suspends until the broker acknowledged it
    /// (the PUBACK for QoS 1; for QoS 0, until it was written).
    ///
    /// Waits for one of `Options.maxInflight` permits first. Throws an
    /// `MQTTError`: `.notConnected` at once while disconnected,
    /// `.connectionLost` if the connection ends first (the broker may or may
    /// not have the message), `.timedOut` after `Options.publishTimeout`,
    /// `.stopped`, `.cancelled` if the task is cancelled.
    package func publish(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) async throws {
        if let error = await publish([OutgoingMessage(topic: topic, payload: payload, qos: qos, retain: retain)])[0] { throw error }
    }

    /// Publishes `messages` in order, each as soon as an in-flight permit is
    /// free, then waits for all of their acknowledgements. Returns one entry
    /// per message: nil when the broker acknowledged it, else why not. After
    /// the first message that could not be sent, the rest are not sent (they
    /// get the same error), so what was sent is always a prefix, in order.
    package func publish(_ messages: [OutgoingMessage]) async -> [MQTTError?] {
        var tickets: [Result<UInt64, MQTTError>] = []
        tickets.reserveCapacity(messages.count)
        var failed: MQTTError?
        for m in messages {
            if let failed {
                tickets.append(.failure(failed))
                continue
            }
            do {
                try await permits.acquire()
            } catch {
                failed = MQTTError(.cancelled, "publish cancelled while waiting for an in-flight slot")
                tickets.append(.failure(failed!))
                continue
            }
            let t = send(m)
            if case .failure(let e) = t {
                permits.release()
                failed = e
            }
            tickets.append(t)
        }
        var outcomes: [MQTTError?] = []
        outcomes.reserveCapacity(messages.count)
        for t in tickets {
            switch t {
            case .success(let ticket): outcomes.append(await outcome(of: ticket))
            case .failure(let e): outcomes.append(e)
            }
        }
        return outcomes
    }

    /// Hands one message to libmosquitto and registers it under a new ticket (a permit is held).
    private func send(_ m: OutgoingMessage) -> Result<UInt64, MQTTError> {
        handleLock.lock()
        defer { handleLock.unlock() }
        guard let mosq else { return .failure(MQTTError(.stopped, "publish: the client was not started")) }
        let timeout = options.publishTimeout
        // Registered under the same lock the ack callback takes: the ack cannot come first.
        // Deadlines are appended in time order (one timeout for all), so they expire from the front.
        let result = shared.withLock { s -> Result<UInt64, MQTTError> in
            if s.stopping || s.stopped { return .failure(MQTTError(.stopped, "publish: the client is stopping")) }
            guard s.connected else {
                return .failure(MQTTError(.notConnected, "publish: not connected to the broker at \(options.host):\(options.port)"))
            }
            var mid: Int32 = 0
            let rc = m.payload.withUnsafeBytes { buf in
                mosquitto_publish(mosq, &mid, m.topic, Int32(buf.count), buf.baseAddress, m.qos, m.retain)
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { return .failure(MQTTError(operation: "publish", code: rc)) }
            s.nextTicket += 1
            let ticket = s.nextTicket
            s.pending[ticket] = PendingPublish(mid: mid)
            s.ticketOfMid[mid] = ticket
            s.deadlines.append((ticket, ContinuousClock.now + timeout))
            return .success(ticket)
        }
        if case .success = result { wake() }
        return result
    }

    /// Suspends until the ticket's outcome is known (or the task is cancelled) and takes it.
    private func outcome(of ticket: UInt64) async -> MQTTError? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<MQTTError?, Never>) in
                let ready = shared.withLock { s -> MQTTError?? in
                    guard var p = s.pending[ticket] else { return .some(.some(MQTTError(.stopped, "publish: no such message"))) }
                    if let outcome = p.outcome {
                        s.pending[ticket] = nil
                        return .some(outcome)
                    }
                    p.waiter = c
                    s.pending[ticket] = p
                    return .none
                }
                if case .some(let outcome) = ready { c.resume(returning: outcome) }
            }
        } onCancel: {
            resolve([ticket], MQTTError(.cancelled, "publish cancelled before the broker's acknowledgement"))
        }
    }

    /// Settles the outcome of `tickets` still open (the first outcome wins):
    /// returns their permits, and resumes their waiters outside the lock.
    private func resolve(_ tickets: [UInt64], _ outcome: MQTTError?) {
        let (waiters, released) = shared.withLock { s -> ([CheckedContinuation<MQTTError?, Never>], Int) in
            var waiters: [CheckedContinuation<MQTTError?, Never>] = []
            var released = 0
            for ticket in tickets {
                guard var p = s.pending[ticket], p.outcome == nil else { continue }
                if s.ticketOfMid[p.mid] == ticket { s.ticketOfMid[p.mid] = nil }
                released += 1
                if let w = p.waiter {
                    s.pending[ticket] = nil
                    waiters.append(w)
                } else {
                    p.outcome = .some(outcome)
                    s.pending[ticket] = p
                }
            }
            return (waiters, released)
        }
        for _ in 0..<released { permits.release() }
        for w in waiters { w.resume(returning: outcome) }
    }

    /// Fails every open `publish(_:)` message with `error` (the connection or the client ended).
    private func resolveAll(_ error: MQTTError) {
        let open = shared.withLock { s -> [UInt64] in
            s.deadlines.removeAll()
            s.deadlineHead = 0
            return s.pending.compactMap { $0.value.outcome == nil ? $0.key : nil }
        }
        resolve(open, error)
    }

    /// Times out the messages whose deadline passed; returns the next deadline.
    private func expireOverdue() -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        let (overdue, next) = shared.withLock { s -> ([UInt64], ContinuousClock.Instant?) in
            var overdue: [UInt64] = []
            while s.deadlineHead < s.deadlines.count, s.deadlines[s.deadlineHead].due <= now {
                overdue.append(s.deadlines[s.deadlineHead].ticket)
                s.deadlineHead += 1
            }
            if s.deadlineHead == s.deadlines.count {
                s.deadlines.removeAll(keepingCapacity: true)
                s.deadlineHead = 0
            } else if s.deadlineHead > 4096 {
                s.deadlines.removeFirst(s.deadlineHead)
                s.deadlineHead = 0
            }
            return (overdue, s.deadlineHead < s.deadlines.count ? s.deadlines[s.deadlineHead].due : nil)
        }
        if !overdue.isEmpty {
            resolve(overdue, MQTTError(.timedOut, "publish: no acknowledgement from the broker within \(options.publishTimeout)"))
        }
        return next
    }

    /// Queues one message without waiting for its acknowledgement; returns its
    /// message id (see `waitForAcks`, `takeAcked`). Not bound by the in-flight permits.
    @discardableResult
    package func enqueue(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) throws -> Int32 {
        try publishTracked(topic: topic, payload: payload, qos: qos, retain: retain).mid
    }

    /// Queues one message; returns its message id and the epoch it belongs
    /// to (a publisher that must not lose messages republishes those of an
    /// epoch that ended before they were acknowledged; see `takeAckedInEpoch`).
    package func publishTracked(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) throws -> (mid: Int32, epoch: Int) {
        guard let mosq else { throw MQTTError(operation: "publish", code: MOSQ_ERR_INVAL.rawValue) }
        var mid: Int32 = 0
        handleLock.lock()
        // The id is registered under the same lock that the ack callback takes,
        // so the ack cannot arrive before it is awaited. (libmosquitto calls
        // on_publish holding only its callback mutex, which mosquitto_publish
        // does not take: no lock-order cycle.)
        let (rc, epoch): (Int32, Int) = shared.withLock { s in
            let rc = payload.withUnsafeBytes { buf in
                mosquitto_publish(mosq, &mid, topic, Int32(buf.count), buf.baseAddress, qos, retain)
            }
            if rc == MOSQ_ERR_SUCCESS.rawValue, qos > 0 {
                s.awaited.insert(mid)
                s.acked.remove(mid)
            }
            return (rc, s.epoch)
        }
        handleLock.unlock()
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: "publish", code: rc) }
        wake()
        return (mid, epoch)
    }

    /// Waits until the broker acknowledged all of `mids` (QoS 1 PUBACK) or the
    /// timeout passes; returns the ids acknowledged.
    ///
    /// The task is suspended on a continuation that the last of the PUBACKs
    /// resumes (from the network thread's `on_publish` callback), the timeout,
    /// cancellation, or the end of the connection's epoch: ids of an epoch
    /// that ended are void (their messages were dropped unacknowledged), so
    /// none of them counts and the caller publishes them again.
    package func waitForAcks(_ mids: [Int32], timeout: Duration) async -> Set<Int32> {
        let wanted = Set(mids)
        let (id, epoch) = shared.withLock { s in
            s.nextWaiter += 1
            return (s.nextWaiter, s.epoch)
        }
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            releaseAckWaiter(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = shared.withLock { s -> Bool in
                    // Acks that came before the wait began (an epoch change voided them all).
                    let done = s.epoch == epoch ? wanted.intersection(s.acked) : []
                    s.acked.subtract(done)
                    if done.count == wanted.count || s.epoch != epoch || s.releasedWaiters.remove(id) != nil {
                        s.ackResults[id] = done
                        return true
                    }
                    s.ackWaiters[id] = AckWaiter(mids: wanted, done: done, continuation: c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            releaseAckWaiter(id)
        }
        timer.cancel()
        await timer.value
        return shared.withLock { s in
            s.releasedWaiters.remove(id)
            let done = s.ackResults.removeValue(forKey: id) ?? []
            // Give up on the rest: a late ack for them must not count for a later
            // publish. (After an epoch change the ids were dropped already, and
            // the same numbers may be in use again.)
            if s.epoch == epoch { s.awaited.subtract(wanted.subtracting(done)) }
            return done
        }
    }

    /// Resumes one `waitForAcks` now (timeout or cancellation) with the acks it has.
    private func releaseAckWaiter(_ id: Int) {
        let waiter = shared.withLock { s -> AckWaiter? in
            guard let w = s.ackWaiters.removeValue(forKey: id) else {
                s.releasedWaiters.insert(id)
                return nil
            }
            s.ackResults[id] = w.done
            return w
        }
        waiter?.continuation.resume()
    }

    /// Takes the acknowledged ids seen so far with the epoch they belong to, in
    /// one step (an epoch change clears them, so they are never mixed).
    package func takeAckedInEpoch() -> (epoch: Int, mids: Set<Int32>) {
        shared.withLock { s in
            defer { s.acked.removeAll() }
            return (s.epoch, s.acked)
        }
    }

    /// Takes the acknowledged ids seen so far (for synchronous publishers).
    package func takeAcked() -> Set<Int32> {
        shared.withLock { s in
            defer { s.acked.removeAll() }
            return s.acked
        }
    }

    // MARK: - Internals

    private static let libraryInit: Void = { _ = mosquitto_lib_init() }()

    private func wake() {
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    private func create() throws {
        let handle = mosquitto_new(options.clientID, options.cleanSession, Unmanaged.passUnretained(self).toOpaque())
        guard let handle else { throw MQTTError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue) }
        mosq = handle
        try configure(handle)
    }

    private func configure(_ m: OpaquePointer) throws {
        func check(_ rc: Int32, _ op: String) throws {
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: op, code: rc) }
        }
        try check(mosquitto_threaded_set(m, true), "threaded_set")
        try check(mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY")
        try check(mosquitto_max_inflight_messages_set(m, options.maxInflight), "max_inflight")
        if options.username != nil || options.password != nil {
            try check(mosquitto_username_pw_set(m, options.username, options.password), "username_pw_set")
        }
        if options.caFile != nil || options.certFile != nil {
            try check(mosquitto_tls_set(m, options.caFile, nil, options.certFile, options.keyFile, nil), "tls_set")
        }
        if let will = options.will {
            let rc = will.payload.withUnsafeBytes { buf in
                mosquitto_will_set(m, will.topic, Int32(buf.count), buf.baseAddress, will.qos, will.retain)
            }
            try check(rc, "will_set")
        }
        mosquitto_connect_callback_set(m, mqttOnConnect)
        mosquitto_disconnect_callback_set(m, mqttOnDisconnect)
        mosquitto_message_callback_set(m, mqttOnMessage)
        mosquitto_publish_callback_set(m, mqttOnPublish)
    }

    private var isStopping: Bool { shared.withLock { $0.stopping } }

    private func run() {
        var delay = options.reconnectDelayMin
        while !isStopping {
            guard let m = mosq else { break }
            if needsConfigure {
                // A half-configured handle (not in threaded mode) could write a
                // PUBACK before its commit: never connect with one.
                if (try? reconfigure(m)) == nil {
                    logger.warning("mqtt.reconnect_deferred", metadata: ["mqtt.reason": "the client could not be configured", "mqtt.retry_in_s": "\(delay)"])
                    sleepInterruptibly(delay)
                    delay = min(delay * 2, options.reconnectDelayMax)
                    continue
                }
            }
            if !connectedFlag {
                // Always a full connect: dropping a connection reinitialises the handle.
                let rc = mosquitto_connect(m, options.host, Int32(options.port), Int32(options.keepalive))
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    logger.warning("mqtt.connect_failed", metadata: ["mqtt.error": "\(String(cString: mosquitto_strerror(rc)))", "mqtt.retry_in_s": "\(delay)"])
                    sleepInterruptibly(delay)
                    delay = min(delay * 2, options.reconnectDelayMax)
                    continue
                }
                connectedFlag = true // TCP is up; CONNACK comes through the read path
            }
            if !pumpOnce(m) {
                dropConnection()
                sleepInterruptibly(delay)
                delay = min(delay * 2, options.reconnectDelayMax)
            } else if isConnected, !commitFailing {
                delay = options.reconnectDelayMin
            }
        }
        if let m = mosq, connectedFlag, !shared.withLock({ $0.aborting }) {
            if flushBatch() {
                _ = mosquitto_loop_write(m, 1)
                _ = mosquitto_disconnect(m)
                for _ in 0..<10 where mosquitto_want_write(m) { _ = mosquitto_loop_write(m, 1) }
            } else {
                // The last group was not committed: close without its PUBACKs (the broker redelivers it).
                handleLock.lock()
                mosquitto_reinitialise(m, options.clientID, options.cleanSession, Unmanaged.passUnretained(self).toOpaque())
                handleLock.unlock()
            }
        }
        markDisconnected()
        resolveAll(MQTTError(.stopped, "publish: the client stopped before the broker's acknowledgement"))
        batchSink.finish()
        let waiters = shared.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.stopped = true
            defer { s.stopWaiters.removeAll() }
            return s.stopWaiters
        }
        stoppedSignal.signal()
        for w in waiters { w.resume() }
    }

    /// Reads in one round that may add no message before the round ends (control packets
    /// between messages are rare; the next round starts after the next poll).
    static let maxEmptyReads = 8

    /// One round: wait for the socket, read what is there (up to maxBatch
    /// messages), commit them, then write the queued PUBACKs and other packets.
    /// Returns false when the connection must be dropped.
    private func pumpOnce(_ m: OpaquePointer) -> Bool {
        let sock = mosquitto_socket(m)
        guard sock >= 0 else { return false }
        var fds = [
            pollfd(fd: sock, events: Int16(POLLIN) | (mosquitto_want_write(m) ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        // At most 500 ms (keepalive), less when a publish's deadline comes first.
        var timeoutMs: Int32 = 500
        if let due = expireOverdue() {
            let left = due - ContinuousClock.now
            timeoutMs = left <= .zero ? 0 : Int32(min(500, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
        }
        let n = poll(&fds, 2, timeoutMs)
        if n < 0 && errno != EINTR { return false }
        if fds[1].revents != 0 {
            var sink = [UInt8](repeating: 0, count: 256)
            while read(wakeRead, &sink, 256) > 0 {}
        }
        if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            // Read packets while the socket has more, up to about a full group (a call reads one
            // packet, or a few when libmosquitto holds messages of its own to move on, so a group can
            // pass `maxBatch` by those few). A call that found the socket empty returns success with errno EAGAIN
            // (libmosquitto's own loop tests the same), so an empty socket costs one read, not a
            // poll per packet. EAGAIN alone does not say the socket was empty: queuing a PUBACK
            // writes a byte to libmosquitto's internal wake-up pipe, which nothing drains in this
            // loop and which answers EAGAIN once full. A call that added no message did read nothing
            // new then (or a packet of another kind, which only ends this round early). Calls that
            // add no message are also bounded in number, and end the round once the connection has
            // no socket: a call that succeeds without reading can never keep this loop spinning.
            var emptyReads = 0
            while true {
                let before = batch.count
                errno = 0
                let rc = mosquitto_loop_read(m, 1)
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    // Commit what was read; the PUBACKs are dropped with the connection.
                    flushBatch()
                    logger.warning("mqtt.connection_lost", metadata: ["mqtt.error": "\(String(cString: mosquitto_strerror(rc)))"])
                    return false
                }
                if batch.count == before {
                    if errno == EAGAIN || errno == EWOULDBLOCK { break }
                    emptyReads += 1
                    if emptyReads >= Self.maxEmptyReads || mosquitto_socket(m) < 0 { break }
                }
                if batch.count >= options.maxBatch || batchBytes >= options.maxBatchBytes { break }
            }
        }
        let group = batch.count
        guard flushBatch() else {
            commitFailing = true
            logger.error("mqtt.commit_failed", metadata: ["mqtt.action": "dropping the connection so the broker redelivers"])
            return false
        }
        if mosquitto_want_write(m) {
            // A group's PUBACKs are written one packet per call (libmosquitto has no vectored
            // write). With TCP_NODELAY each would be a segment of its own, and on loopback the
            // writing thread also runs the receiving side's processing of every segment. Corked,
            // they leave as a few full segments when the cork comes off, at once.
            // The socket as it is now; a failed write closes it (libmosquitto), and its number may
            // then be another thread's: uncorked only while it is still this connection's.
            let s = mosquitto_socket(m)
            let cork = group >= Self.corkFrom && s >= 0 && setCork(s, true)
            let rc = mosquitto_loop_write(m, 1)
            if cork, mosquitto_socket(m) == s { _ = setCork(s, false) }
            if rc != MOSQ_ERR_SUCCESS.rawValue { return false }
        }
        let rc = mosquitto_loop_misc(m)
        return rc == MOSQ_ERR_SUCCESS.rawValue
    }

    /// The smallest group whose PUBACKs are corked: below it the two extra calls cost more than the segments they save.
    static let corkFrom = 4

    /// Sets or clears TCP_CORK on the connection's socket; false when the socket refuses it.
    private func setCork(_ sock: Int32, _ on: Bool) -> Bool {
        #if os(Linux)
        var value: Int32 = on ? 1 : 0
        return setsockopt(sock, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
        #else
        return false
        #endif
    }

    @discardableResult
    private func flushBatch() -> Bool {
        guard !batch.isEmpty else { return true }
        let ok = deliver(batch)
        batch.removeAll(keepingCapacity: true)
        batchBytes = 0
        if ok { commitFailing = false }
        return ok
    }

    /// Hands one group over as `delivery` says; returns whether it was committed.
    private func deliver(_ group: [ReceivedMessage]) -> Bool {
        switch delivery {
        case .acknowledgeAll:
            return true
        case .callback(let onBatch):
            return onBatch(group)
        case .batches:
            let decision = BatchDecision()
            // Registered before it is handed over: a consumer that goes away settles it.
            let gone = shared.withLock { s -> Bool in
                if !s.consumerGone { s.undecided = decision }
                return s.consumerGone
            }
            if gone { return false }
            // If the stream has ended, the batch is dropped at once and its deinit rejects it.
            batchSink.yield(ReceivedBatch(messages: group, decision: decision))
            let ok = decision.wait()
            shared.withLock { $0.undecided = nil }
            return ok
        }
    }

    /// The consumer of `batches` stopped iterating: the batch it held is not
    /// acknowledged, and the client stops (nobody would commit what it reads).
    private func consumerEnded() {
        guard case .batches = delivery else { return }
        let undecided = shared.withLock { s -> BatchDecision? in
            s.consumerGone = true
            return s.undecided
        }
        undecided?.settle(false)
        requestStop()
    }

    /// Drops the connection without writing anything queued (the PUBACKs of
    /// an uncommitted group must never reach the broker), keeping the session.
    private func dropConnection() {
        connectedFlag = false
        markDisconnected()
        guard let m = mosq else { return }
        batch.removeAll()
        batchBytes = 0
        needsConfigure = true
        _ = try? reconfigure(m)
    }

    /// Reinitialises the handle (dropping everything queued, PUBACKs included)
    /// and configures it again; `needsConfigure` stays set until that succeeds.
    private func reconfigure(_ m: OpaquePointer) throws {
        handleLock.lock()
        defer { handleLock.unlock() }
        mosquitto_reinitialise(m, options.clientID, options.cleanSession, Unmanaged.passUnretained(self).toOpaque())
        // Message ids start again: the waiters return at once with the acks of their
        // epoch; the rest of their ids are void (dropped unacknowledged).
        let voided = shared.withLock { s -> [AckWaiter] in
            s.awaited.removeAll()
            s.acked.removeAll()
            s.epoch += 1
            for (id, w) in s.ackWaiters { s.ackResults[id] = w.done }
            defer { s.ackWaiters.removeAll() }
            return Array(s.ackWaiters.values)
        }
        for w in voided { w.continuation.resume() }
        acks.ring()
        resolveAll(MQTTError(.connectionLost, "publish: the connection to \(options.host):\(options.port) ended before the broker's acknowledgement"))
        do {
            try configure(m)
            needsConfigure = false
        } catch {
            logger.error("mqtt.configure_failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Sleeps for `seconds`, or until `stop()`. Publishes also write to the
    /// wake pipe; those are drained here and do not cut the sleep short
    /// (otherwise a disconnected publisher would spin on reconnects).
    private func sleepInterruptibly(_ seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopping {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 1, Int32(left * 1000) + 1) > 0 {
                var sink = [UInt8](repeating: 0, count: 256)
                while read(wakeRead, &sink, 256) > 0 {}
            }
        }
    }

    fileprivate func connected(rc: Int32) {
        guard let m = mosq else { return }
        if rc != 0 {
            logger.error("mqtt.connect_refused", metadata: ["mqtt.reason": "\(String(cString: mosquitto_connack_string(rc)))"])
            return
        }
        for topic in options.subscriptions {
            let src = mosquitto_subscribe(m, nil, topic, 1)
            if src != MOSQ_ERR_SUCCESS.rawValue {
                logger.error("mqtt.subscribe_failed", metadata: ["mqtt.topic": "\(topic)", "mqtt.error": "\(String(cString: mosquitto_strerror(src)))"])
            }
        }
        for topic in options.unsubscriptions {
            let src = mosquitto_unsubscribe(m, nil, topic)
            if src != MOSQ_ERR_SUCCESS.rawValue {
                logger.error("mqtt.unsubscribe_failed", metadata: ["mqtt.topic": "\(topic)", "mqtt.error": "\(String(cString: mosquitto_strerror(src)))"])
            }
        }
        shared.withLock { $0.connected = true; $0.connects += 1 }
        options.connects?.increment()
        options.onConnect?.ring()
        logger.info("mqtt.connected", metadata: ["mqtt.broker": "\(options.host):\(options.port)", "mqtt.client_id": "\(options.clientID)"])
    }

    /// Marks the connection ended, counting it once if it was up.
    private func markDisconnected() {
        if shared.withLock({ s in defer { s.connected = false }; return s.connected }) { options.disconnects?.increment() }
    }

    fileprivate func disconnected(rc: Int32) {
        markDisconnected()
        if rc != 0 { connectedFlag = false }
    }

    fileprivate func received(_ msg: UnsafePointer<mosquitto_message>) {
        let m = msg.pointee
        let topic = String(cString: m.topic)
        let payload: [UInt8]
        if m.payloadlen > 0, let p = m.payload {
            payload = Array(UnsafeRawBufferPointer(start: p, count: Int(m.payloadlen)))
        } else {
            payload = []
        }
        let now = options.clock.now()
        if payload.count > options.maxPayloadBytes {
            let row = InboxMessage(topic: topic, payload: payload, receivedAt: now, maxPayloadBytes: options.maxPayloadBytes)
            batch.append(ReceivedMessage(topic: topic, payload: row.payload, receivedAt: now, oversized: row))
            batchBytes += row.payload.count
            return
        }
        batch.append(ReceivedMessage(topic: topic, payload: payload, receivedAt: now))
        batchBytes += payload.count
    }

    fileprivate func published(mid: Int32) {
        if let ticket = shared.withLock({ $0.ticketOfMid[mid] }) {
            resolve([ticket], nil)
            return
        }
        var reapable = false
        let complete = shared.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.awaited.remove(mid) != nil else { return [] }
            guard let id = s.ackWaiters.first(where: { $0.value.mids.contains(mid) })?.key,
                  var w = s.ackWaiters.removeValue(forKey: id) else {
                s.acked.insert(mid) // for a waiter yet to come, or `takeAcked`
                reapable = true
                return []
            }
            w.done.insert(mid) // taken out of the table first: no copy of the set
            guard w.done.count == w.mids.count else {
                s.ackWaiters[id] = w
                return []
            }
            s.ackResults[id] = w.done
            return [w.continuation]
        }
        // Resumed outside the lock; resuming only schedules the task (the network thread never blocks on it).
        for c in complete { c.resume() }
        if reapable { acks.ring() }
    }
}

// libmosquitto callbacks: plain nonisolated functions (a closure in main.swift
// would be main-actor isolated and trap on libmosquitto's thread).

private func client(_ obj: UnsafeMutableRawPointer?) -> MQTTClient? {
    obj.map { Unmanaged<MQTTClient>.fromOpaque($0).takeUnretainedValue() }
}

private func mqttOnConnect(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32) {
    client(obj)?.connected(rc: rc)
}

private func mqttOnDisconnect(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32) {
    client(obj)?.disconnected(rc: rc)
}

private func mqttOnMessage(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ msg: UnsafePointer<mosquitto_message>?) {
    guard let msg else { return }
    client(obj)?.received(msg)
}

private func mqttOnPublish(_ mosq: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ mid: Int32) {
    client(obj)?.published(mid: mid)
}
