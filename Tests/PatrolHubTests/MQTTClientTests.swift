import Foundation
import Testing
@testable import PatrolHubMQTT
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `MQTTClient` against a real `mosquitto` on loopback: received batches as
/// an `AsyncSequence` whose PUBACKs wait for the consumer's decision, and
/// `publish` suspended until the broker's PUBACK, bounded by `maxInflight`.
@Suite("MQTT client: batches and async publish", .serialized)
struct MQTTClientTests {
    /// A started client with options `o`, once it is connected.
    static func connected(_ o: MQTTClient.Options) async throws -> MQTTClient {
        let client = MQTTClient(options: o, logger: testLogger)
        try client.start()
        do {
            try await waitUntil("connected") { client.isConnected }
        } catch {
            client.stop()
            throw error
        }
        return client
    }

    static func options(port: Int, id: String, subscriptions: [String] = [], cleanSession: Bool = true) -> MQTTClient.Options {
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = "\(id)-\(UUID().uuidString.prefix(6))"
        o.cleanSession = cleanSession
        o.subscriptions = subscriptions
        o.reconnectDelayMin = 0.05
        o.reconnectDelayMax = 0.2
        return o
    }

    static func payloads(_ range: Range<Int>, tag: String) -> [(String, [UInt8])] {
        range.map { ("test/\(tag)", Array("\(tag)-\($0)".utf8)) }
    }

    /// Subscribed once a probe published after the connect comes back (the SUBACK is not awaited by the client).
    static func waitSubscribed(_ sub: MQTTClient, seen: @escaping @Sendable () -> [String], publisher: TestPublisher, topic: String) async throws {
        try await waitUntil("subscriber connected") { sub.isConnected }
        try await publisher.waitConnected()
        var n = 0
        try await waitUntil("subscription active", timeout: 30) {
            n += 1
            if seen().contains(where: { $0.hasPrefix("probe-") }) { return true }
            if n % 5 == 1 { _ = try publisher.client.enqueue(topic: topic, payload: Array("probe-\(n)".utf8)) }
            return false
        }
    }

    @Test("Received groups arrive through `batches` in the order published, and every message once")
    func batchesArriveInOrder() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let topic = "test/order"
        let sub = MQTTClient(options: Self.options(port: broker.port, id: "batches", subscriptions: [topic], cleanSession: false),
                             logger: testLogger, delivery: .batches)
        let received = LockedBox<[String]>([])
        let batchCount = LockedBox(0)
        try sub.start()
        let consumer = Task {
            for await batch in sub.batches {
                received.withLock { $0.append(contentsOf: batch.messages.map { String(decoding: $0.payload, as: UTF8.self) }) }
                batchCount.withLock { $0 += 1 }
                batch.acknowledge()
            }
        }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await Self.waitSubscribed(sub, seen: { received.withLock { $0 } }, publisher: pub, topic: topic)
        received.withLock { $0.removeAll() }

        let n = 500
        try await pub.publishAll(Self.payloads(0..<n, tag: "order").map { (topic, $0.1) })
        try await waitUntil("all \(n) received", timeout: 30) { received.withLock { $0.filter { !$0.hasPrefix("probe-") }.count } >= n }
        try await Task.sleep(for: .milliseconds(200)) // a duplicate would come now
        let got = received.withLock { $0.filter { !$0.hasPrefix("probe-") } }
        #expect(got == (0..<n).map { "order-\($0)" })
        #expect(batchCount.withLock { $0 } >= 1)

        await sub.shutdown()
        await consumer.value // the sequence ends when the client stops
        #expect(!sub.isConnected)
    }

    @Test("A rejected batch is not acknowledged: the connection drops and the broker redelivers it; acknowledged ones never come back")
    func rejectedBatchIsRedelivered() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let topic = "test/redeliver"
        let options = Self.options(port: broker.port, id: "redeliver", subscriptions: [topic], cleanSession: false)
        let sub = MQTTClient(options: options, logger: testLogger, delivery: .batches)
        let accepted = LockedBox<[String]>([])
        let rejected = LockedBox<[String]>([])
        let rejectNext = LockedBox(false)
        try sub.start()
        let consumer = Task {
            for await batch in sub.batches {
                let texts = batch.messages.map { String(decoding: $0.payload, as: UTF8.self) }
                let reject = rejectNext.withLock { r in defer { r = false }; return r && texts.contains { $0.hasPrefix("r-") } }
                if reject {
                    rejected.withLock { $0.append(contentsOf: texts) }
                    batch.reject()
                } else {
                    accepted.withLock { $0.append(contentsOf: texts) }
                    batch.acknowledge()
                }
            }
        }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await Self.waitSubscribed(sub, seen: { accepted.withLock { $0 } }, publisher: pub, topic: topic)
        let connects = sub.connectCount

        rejectNext.withLock { $0 = true }
        let n = 20
        try await pub.publishAll(Self.payloads(0..<n, tag: "r").map { (topic, $0.1) })
        try await waitUntil("all \(n) accepted after the redelivery", timeout: 30) {
            Set(accepted.withLock { $0 }.filter { $0.hasPrefix("r-") }).count == n
        }
        let rejectedTexts = rejected.withLock { $0 }.filter { $0.hasPrefix("r-") }
        #expect(!rejectedTexts.isEmpty, "the first batch was rejected")
        #expect(sub.connectCount > connects, "the rejection dropped the connection and the client reconnected")
        // Each message of the rejected batch came again; none was accepted twice.
        let acceptedR = accepted.withLock { $0 }.filter { $0.hasPrefix("r-") }
        #expect(Set(rejectedTexts).isSubset(of: Set(acceptedR)))
        #expect(acceptedR.count == Set(acceptedR).count, "no message accepted twice: \(acceptedR)")

        // What was acknowledged is gone from the session: a new connection on it gets only what comes next.
        await sub.shutdown()
        await consumer.value
        let again = MQTTClient(options: options, logger: testLogger, delivery: .batches)
        let later = LockedBox<[String]>([])
        try again.start()
        let consumer2 = Task {
            for await batch in again.batches {
                later.withLock { $0.append(contentsOf: batch.messages.map { String(decoding: $0.payload, as: UTF8.self) }) }
                batch.acknowledge()
            }
        }
        try await waitUntil("reconnected") { again.isConnected }
        try await pub.publishAll([(topic, Array("marker".utf8))])
        try await waitUntil("the marker arrived") { later.withLock { $0.contains("marker") } }
        #expect(later.withLock { $0 }.filter { $0.hasPrefix("r-") }.isEmpty, "an acknowledged message came back")
        await again.shutdown()
        await consumer2.value
    }

    @Test("A consumer that stops iterating stops the client, and the batch it held is not acknowledged")
    func consumerGoneStopsTheClient() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let topic = "test/gone"
        let options = Self.options(port: broker.port, id: "gone", subscriptions: [topic], cleanSession: false)
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        // The session and its subscription first, then a message queued for it while it is offline.
        let seen = LockedBox<[String]>([])
        let setup = MQTTClient(options: options, logger: testLogger) { group in
            seen.withLock { $0.append(contentsOf: group.map { String(decoding: $0.payload, as: UTF8.self) }) }
            return true
        }
        try setup.start()
        try await Self.waitSubscribed(setup, seen: { seen.withLock { $0 } }, publisher: pub, topic: topic)
        setup.stop()
        try await pub.publishAll([(topic, Array("kept".utf8))])

        let sub = MQTTClient(options: options, logger: testLogger, delivery: .batches)
        try sub.start()
        let held = LockedBox<[String]>([])
        let consumer = Task {
            // Takes the first batch with the message and leaves without deciding it.
            for await batch in sub.batches {
                let texts = batch.messages.map { String(decoding: $0.payload, as: UTF8.self) }
                if texts.contains("kept") {
                    held.withLock { $0 = texts }
                    break
                }
                batch.acknowledge()
            }
        }
        try await waitUntil("the queued message arrived", timeout: 30) { held.withLock { $0.contains("kept") } }
        await consumer.value
        await sub.shutdown() // returns: leaving the loop stopped the client
        #expect(!sub.isConnected)

        // The session still holds the message: it was never acknowledged.
        let again = MQTTClient(options: options, logger: testLogger, delivery: .batches)
        try again.start()
        let later = LockedBox<[String]>([])
        let consumer2 = Task {
            for await batch in again.batches {
                later.withLock { $0.append(contentsOf: batch.messages.map { String(decoding: $0.payload, as: UTF8.self) }) }
                batch.acknowledge()
            }
        }
        try await waitUntil("the unacknowledged message came again", timeout: 30) { later.withLock { $0.contains("kept") } }
        await again.shutdown()
        await consumer2.value
    }

    @Test("publish returns once the broker acknowledged: the subscriber has the message, nothing is left in flight")
    func publishResumesOnPuback() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let topic = "test/puback"
        let seen = LockedBox<[String]>([])
        let watcher = MQTTClient(options: Self.options(port: broker.port, id: "watch", subscriptions: [topic]), logger: testLogger) { group in
            seen.withLock { $0.append(contentsOf: group.map { String(decoding: $0.payload, as: UTF8.self) }) }
            return true
        }
        try watcher.start()
        defer { watcher.stop() }
        let client = MQTTClient(options: Self.options(port: broker.port, id: "async-pub"), logger: testLogger)
        try client.start()
        defer { client.stop() }
        try await waitUntil("connected") { client.isConnected && watcher.isConnected }
        // The watcher's subscription is active once a probe reaches it.
        var probes = 0
        while !seen.withLock({ $0.contains { $0.hasPrefix("probe-") } }) {
            probes += 1
            try #require(probes < 400, "the watcher never got a probe")
            try await client.publish(topic: topic, payload: Array("probe-\(probes)".utf8))
            try await Task.sleep(for: .milliseconds(50))
        }

        try await client.publish(topic: topic, payload: Array("one".utf8))
        #expect(client.inflight == 0)
        let outcomes = await client.publish((0..<100).map { OutgoingMessage(topic: topic, payload: Array("m-\($0)".utf8)) })
        #expect(outcomes.count == 100)
        #expect(outcomes.allSatisfy { $0 == nil }, "every message acknowledged: \(outcomes.compactMap { $0 }.prefix(3))")
        #expect(client.inflight == 0)
        try await waitUntil("the watcher has all 101") { seen.withLock { $0.filter { !$0.hasPrefix("probe-") }.count } >= 101 }
        #expect(seen.withLock { $0.filter { !$0.hasPrefix("probe-") } } == ["one"] + (0..<100).map { "m-\($0)" }, "published in order")
    }

    @Test("publish fails with a clear error: timed out while the broker is frozen, connection lost when it dies, not connected while it is gone")
    func publishFailsWhenTheBrokerGoesAway() async throws {
        let broker = try TestBroker()
        defer { try? broker.resume(); broker.stop() }
        var o = Self.options(port: broker.port, id: "fail-pub")
        o.publishTimeout = .milliseconds(500)
        o.reconnectDelayMin = 5 // stays away once the broker died, for the not-connected check
        o.reconnectDelayMax = 5
        let client = try await Self.connected(o)
        defer { client.stop() }

        // Frozen broker: no PUBACK within the timeout.
        try broker.suspend()
        let started = ContinuousClock.now
        let timedOut = await #expect(throws: MQTTError.self) { try await client.publish(topic: "test/fail", payload: [1]) }
        #expect(timedOut?.code == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(client.inflight == 0, "the timed-out message holds no slot")

        // Dies with messages in flight: they fail as connection lost, not as a hang.
        var long = o
        long.clientID += "-2"
        long.publishTimeout = .seconds(60)
        try broker.resume()
        let second = MQTTClient(options: long, logger: testLogger)
        try second.start()
        defer { second.stop() }
        try await waitUntil("second connected") { second.isConnected }
        try broker.suspend()
        let pending = Task { await second.publish((0..<5).map { OutgoingMessage(topic: "test/fail", payload: [UInt8($0)]) }) }
        try await waitUntil("5 in flight") { second.inflight == 5 }
        broker.broker.kill()
        let outcomes = await pending.value
        #expect(outcomes.allSatisfy { $0?.code == .connectionLost }, "\(outcomes.map { $0?.description ?? "acknowledged" })")
        #expect(second.inflight == 0)

        // Gone: a publish fails at once.
        try await waitUntil("disconnected") { !second.isConnected }
        let notConnected = await #expect(throws: MQTTError.self) { try await second.publish(topic: "test/fail", payload: [2]) }
        #expect(notConnected?.code == .notConnected)
    }

    @Test("no more than maxInflight messages are in flight; the rest wait for a slot and go out when PUBACKs return")
    func maxInflightHolds() async throws {
        let broker = try TestBroker()
        defer { try? broker.resume(); broker.stop() }
        var o = Self.options(port: broker.port, id: "inflight")
        o.maxInflight = 3
        o.publishTimeout = .seconds(60)
        let client = try await Self.connected(o)
        defer { client.stop() }

        try broker.suspend()
        let pending = Task { await client.publish((0..<10).map { OutgoingMessage(topic: "test/inflight", payload: [UInt8($0)]) }) }
        try await waitUntil("3 in flight") { client.inflight == 3 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(client.inflight == 3, "still 3: the others wait for a slot")
        try broker.resume()
        let outcomes = await pending.value
        #expect(outcomes.count == 10)
        #expect(outcomes.allSatisfy { $0 == nil }, "\(outcomes.compactMap { $0 }.prefix(3))")
        #expect(client.inflight == 0)
    }

    @Test("a cancelled publish returns at once with `cancelled`, and frees its slot")
    func cancelledPublishFreesItsSlot() async throws {
        let broker = try TestBroker()
        defer { try? broker.resume(); broker.stop() }
        var o = Self.options(port: broker.port, id: "cancel")
        o.maxInflight = 1
        o.publishTimeout = .seconds(60)
        let client = try await Self.connected(o)
        defer { client.stop() }
        try broker.suspend()
        let first = Task { try await client.publish(topic: "test/cancel", payload: [1]) }
        try await waitUntil("1 in flight") { client.inflight == 1 }
        let second = Task { try await client.publish(topic: "test/cancel", payload: [2]) } // waits for the slot
        try await Task.sleep(for: .milliseconds(100))
        second.cancel()
        first.cancel()
        for task in [first, second] {
            let error = await #expect(throws: MQTTError.self) { try await task.value }
            #expect(error?.code == .cancelled)
        }
        #expect(client.inflight == 0)
        try broker.resume()
        try await client.publish(topic: "test/cancel", payload: [3]) // the slot is free again
    }
}

/// The `patrolhub-bench` executable built next to this test bundle.
func patrolhubBenchExecutable() throws -> String {
    let hub = try patrolhubExecutable()
    let bench = ((hub as NSString).deletingLastPathComponent as NSString).appendingPathComponent("patrolhub-bench")
    guard FileManager.default.isExecutableFile(atPath: bench) else {
        throw TestFailure("the patrolhub-bench executable is not built next to patrolhub: run `swift build` before `swift test`")
    }
    return bench
}

@Suite("patrolhub-bench", .serialized)
struct BenchExecutableTests {
    @Test("`patrolhub-bench grid` on a tiny grid exits 0 with its table")
    func gridRuns() throws {
        let r = try runProcess(try patrolhubBenchExecutable(), ["grid", "--polygons", "400", "--repetitions", "1"], timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("| 400 |"), "\(r.output)")
    }

    @Test("`patrolhub-bench ingest` on 1 000 messages runs the bare subscriber and the hub's ingest through a real mosquitto and exits 0")
    func ingestRuns() throws {
        let r = try runProcess(try patrolhubBenchExecutable(), ["ingest", "--messages", "1000", "--runs", "1"], timeout: 240)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("| **median** |"), "\(r.output)")
    }

    @Test("`patrolhub` no longer has a bench subcommand; `patrolhub-bench --help` lists every benchmark")
    func subcommandsMoved() throws {
        let help = try runProcess(try patrolhubBenchExecutable(), ["--help"])
        #expect(help.status == 0)
        for name in ["ingest", "events", "grid", "pipeline", "sim", "memory"] {
            #expect(help.output.contains("  \(name)"), "\(name) missing from:\n\(help.output)")
        }
        let old = try runProcess(try patrolhubExecutable(), ["bench", "grid"])
        #expect(old.status != 0)
    }
}

/// A value behind a lock, shared with the tasks and callbacks of a test.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension MQTTClientTests {
    @Test("A tracked publish's PUBACK rings `acks`, so a synchronous publisher waits for it instead of polling")
    func acksDoorbellRings() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let client = try await Self.connected(Self.options(port: broker.port, id: "acks-bell"))
        defer { client.stop() }
        for i in 0..<20 {
            let seen = client.acks.rings
            let (mid, epoch) = try client.publishTracked(topic: "test/acks", payload: Array("ack-\(i)".utf8))
            var acked: Set<Int32> = []
            // The bell ends each wait; without a ring the count stays at `seen` and the last expectation fails.
            var waits = 0
            while !acked.contains(mid), waits < 3 {
                let before = client.acks.rings
                let got = client.takeAckedInEpoch()
                #expect(got.epoch == epoch)
                acked.formUnion(got.mids)
                if acked.contains(mid) { break }
                await client.acks.next(after: before, timeout: .seconds(10))
                waits += 1
            }
            #expect(acked.contains(mid), "message \(i): the PUBACK did not ring the bell")
            #expect(client.acks.rings > seen)
        }
    }
}

extension MQTTClientTests {
    @Test("A group holds at most maxBatchBytes of payloads (plus one message): a backlog of large payloads is read in several groups, every message once")
    func groupsAreBoundedByBytes() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let topic = "test/bytes"
        var options = Self.options(port: broker.port, id: "bytes", subscriptions: [topic], cleanSession: false)
        options.maxBatchBytes = 256 << 10
        let payloadSize = 32 << 10
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        // The session and its subscription first, then a backlog queued for it while it is offline:
        // on the reconnect the broker sends its whole in-flight window (100) at once, 3.2 MiB.
        let seen = LockedBox<[String]>([])
        let setup = MQTTClient(options: options, logger: testLogger) { group in
            seen.withLock { $0.append(contentsOf: group.map { String(decoding: $0.payload.prefix(16), as: UTF8.self) }) }
            return true
        }
        try setup.start()
        try await Self.waitSubscribed(setup, seen: { seen.withLock { $0 } }, publisher: pub, topic: topic)
        setup.stop()
        let n = 300
        try await pub.publishAll((0..<n).map { i in
            let tag = Array("big-\(i)-".utf8)
            return (topic, tag + [UInt8](repeating: 0x61, count: payloadSize - tag.count))
        })

        let groups = LockedBox<[(count: Int, bytes: Int)]>([])
        let received = LockedBox<[String]>([])
        let sub = MQTTClient(options: options, logger: testLogger) { group in
            groups.withLock { $0.append((group.count, group.reduce(0) { $0 + $1.payload.count })) }
            received.withLock { r in
                r.append(contentsOf: group.compactMap { m in
                    let text = String(decoding: m.payload.prefix(16), as: UTF8.self)
                    return text.hasPrefix("big-") ? String(text.split(separator: "-").prefix(2).joined(separator: "-")) : nil
                })
            }
            return true
        }
        try sub.start()
        defer { sub.stop() }
        try await waitUntil("all \(n) received", timeout: 60) { Set(received.withLock { $0 }).count == n }
        let largest = groups.withLock { $0.map(\.bytes).max() ?? 0 }
        #expect(largest <= options.maxBatchBytes + payloadSize, "a group held \(largest >> 10) KiB: \(groups.withLock { $0.map(\.count) })")
        #expect(received.withLock { $0.count } == n, "every message once")
    }
}
