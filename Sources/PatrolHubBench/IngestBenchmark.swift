import Alerts
import AlertsStore
import Foundation
import Logging
import PatrolHubMQTT

#if canImport(Glibc)
import Glibc
import PatrolHubRuntime
#endif

/// Issue 2's benchmark: how fast the hub takes messages from a local
/// `mosquitto`, next to a bare libmosquitto subscriber, in one run.
///
/// For each measurement a persistent session is created, N QoS 1 messages
/// are queued for it while it is offline, then the client connects and the
/// clock runs until the N-th message is counted (bare) or committed to the
/// inbox (hub, with the pipeline consuming the inbox concurrently). Queuing
/// first takes the publisher out of the measurement: both sides drain the
/// same broker queue. Bare and hub alternate, so a noisy neighbour hurts both.
struct IngestBenchmark {
    var messages: Int
    var runs: Int
    var synchronous: HubConfig.Store.Synchronous
    var inflight: Int
    var pipeline = true
    var logger: Logger

    struct Result {
        var bare: [Double] = []
        var hub: [Double] = []
        var hubProcessed: [Double] = []
        var messages: Int

        static func median(_ xs: [Double]) -> Double {
            let s = xs.sorted()
            guard !s.isEmpty else { return 0 }
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }

        var markdown: String {
            func rate(_ s: Double) -> String { HubFormat.fixed(Double(messages) / s, digits: 0) }
            var lines = ["| run | bare subscriber msg/s | hub inbox msg/s | hub ratio | hub fully processed msg/s |", "|---|---|---|---|---|"]
            for i in 0..<min(bare.count, hub.count) {
                lines.append("| \(i + 1) | \(rate(bare[i])) | \(rate(hub[i])) | \(HubFormat.fixed(bare[i] / hub[i], digits: 2)) | \(i < hubProcessed.count ? rate(hubProcessed[i]) : "-") |")
            }
            let mb = Self.median(bare), mh = Self.median(hub)
            lines.append("| **median** | **\(rate(mb))** | **\(rate(mh))** | **\(HubFormat.fixed(mb / mh, digits: 2))** | **\(rate(Self.median(hubProcessed)))** |")
            return lines.joined(separator: "\n")
        }
    }

    func run() async throws -> Result {
        let dir = NSTemporaryDirectory() + "patrolhub-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = EmbeddedBroker(options: .init(dataDir: dir, maxQueuedMessages: max(messages * 2, 1_000_000), maxInflightMessages: inflight), logger: logger)
        try broker.start()
        defer { broker.stop() }

        var registry = Registry()
        for i in 1...50 {
            let id = "cam-\(HubFormat.zeroPadded(i, width: 3))"
            registry.cameras[id] = CameraRecord(id: id, name: id, location: nil, zone: "540102-001-001-0\(i % 5 + 1)")
        }
        var result = Result(messages: messages)
        for r in 1...runs {
            // Start each measurement with no dirty pages from the last one.
            sync()
            let bare = try await measureBare(run: r, port: broker.port)
            sync()
            result.bare.append(bare)
            let (hub, processed) = try await measureHub(run: r, port: broker.port, registry: registry, dir: dir)
            result.hub.append(hub)
            result.hubProcessed.append(processed)
            logger.notice("bench.run", metadata: ["run": "\(r)", "bare_msg_s": "\(Int(Double(messages) / bare))", "hub_msg_s": "\(Int(Double(messages) / hub))"])
        }
        return result
    }

    /// N realistic camera events (≈170 bytes), unique ids, 50 cameras.
    func payloads(run: Int, kind: String) -> [[UInt8]] {
        let base = Date()
        let cats = ["intrusion", "loitering", "crowd_gathering", "illegal_parking", "garbage", "tripwire"]
        return (0..<messages).map { i in
            let t = base.addingTimeInterval(Double(i) * 0.001 - 3600).rfc3339
            return Array(#"{"id":"bench-\#(kind)-\#(run)-\#(i)","type":"\#(cats[i % cats.count])","time":"\#(t)","confidence":0.87,"count":\#(i % 40),"location":{"lat":29.6525,"lon":91.1320}}"#.utf8)
        }
    }

    func queue(_ payloads: [[UInt8]], topic: String, port: Int) async throws {
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = "bench-pub-\(UUID().uuidString.prefix(8))"
        o.cleanSession = true
        let pub = MQTTClient(options: o, logger: logger)
        try pub.start()
        defer { pub.stop() }
        try await waitUntil { pub.isConnected }
        var mids: [Int32] = []
        mids.reserveCapacity(payloads.count)
        var acked = 0
        for (i, p) in payloads.enumerated() {
            mids.append(try pub.enqueue(topic: topic, payload: p))
            if mids.count == 5000 || i == payloads.count - 1 {
                acked += await pub.waitForAcks(mids, timeout: .seconds(60)).count
                mids.removeAll(keepingCapacity: true)
            }
        }
        guard acked == payloads.count else { throw HubError(.bench, "the broker acknowledged \(acked) of \(payloads.count) queued messages") }
    }

    func measureBare(run: Int, port: Int) async throws -> Double {
        let topic = "bench/\(run)/bare"
        let sub = try BareSubscriber(clientID: "bench-bare-\(run)-\(getpid())", topic: topic)
        try sub.connect(host: "127.0.0.1", port: port)
        try await waitUntil { sub.isConnected }
        try await Task.sleep(for: .milliseconds(200))
        sub.disconnect()
        try await queue(payloads(run: run, kind: "bare"), topic: topic, port: port)
        sub.expect(messages)
        let start = ContinuousClock.now
        try sub.connect(host: "127.0.0.1", port: port)
        try await waitUntil(timeout: 600) { sub.doneAt != nil }
        let elapsed = sub.doneAt! - start
        sub.disconnect()
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    func measureHub(run: Int, port: Int, registry: Registry, dir: String) async throws -> (Double, Double) {
        let topic = "patrolhub/v1/camera/+/event"
        let storePath = "\(dir)/hub-\(run).sqlite"
        let store = try DisputeStore(path: storePath, synchronous: synchronous)
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = "bench-hub-\(run)-\(getpid())"
        o.subscriptions = [topic]
        // Create the persistent session, then go offline while the queue fills.
        let first = MQTTClient(options: o, logger: logger)
        try first.start()
        try await waitUntil { first.isConnected }
        try await Task.sleep(for: .milliseconds(200))
        first.stop()
        let cams = registry.cameras.keys.sorted()
        let all = payloads(run: run, kind: "hub")
        // One topic per camera, as real cameras publish.
        var byCamera: [String: [[UInt8]]] = [:]
        for (i, p) in all.enumerated() { byCamera[cams[i % cams.count], default: []].append(p) }
        for (cam, ps) in byCamera { try await queue(ps, topic: "patrolhub/v1/camera/\(cam)/event", port: port) }

        let committed = Counter()
        committed.target = messages
        let ingest = IngestService(options: o, store: store, logger: logger) { n in committed.add(n) }
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let start = ContinuousClock.now
        // The hub's ingest path: batches from the client, committed on a store thread, then acknowledged.
        let ingesting = Task { try await ingest.run() }
        // The pipeline runs as in the hub: its own thread, at the ingest's priority.
        let pipelineOn = pipeline
        let total = messages
        let allDone: ContinuousClock.Instant = try await withCheckedThrowingContinuation { cont in
            let t = Thread {
                var processed = 0
                var lastCheckpoint = ContinuousClock.now
                cont.resume(with: Swift.Result {
                    let processor = try PipelineProcessor(store: store, decode: decode, engine: RiskEngine(rules: RuleSet(), place: Placer(registry: registry, zones: nil).place), outputPrefix: "patrolhub/v1")
                    while processed < total {
                        let r = pipelineOn || committed.value >= total ? try processor.processPending(limit: 1000) : BatchResult()
                        processed += r.messages
                        if r.messages == 0 { usleep(2000) }
                        if ContinuousClock.now - lastCheckpoint > .seconds(1) {
                            lastCheckpoint = .now
                            try store.checkpointInbox()
                        }
                        if ContinuousClock.now - start > .seconds(600) { throw HubError(.bench, "hub run timed out: \(committed.value) committed, \(processed) processed") }
                    }
                    return ContinuousClock.now
                })
            }
            t.start()
        }
        let inboxDone = committed.doneAt ?? allDone
        ingest.client.requestStop()
        try await ingesting.value
        func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let status = try store.status()
        guard status.inboxReceived == messages, status.deadLettersTotal == 0 else {
            throw HubError(.bench, "hub run stored \(status.inboxReceived) of \(messages) (dead letters \(status.deadLettersTotal))")
        }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: storePath + suffix)
            try? FileManager.default.removeItem(atPath: DisputeStore.inboxPath(for: storePath) + suffix)
        }
        return (secs(inboxDone - start), secs(allDone - start))
    }

    func waitUntil(timeout: Double = 15, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { throw HubError(.bench, "timed out") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

}

/// A thread-safe counter the MQTT thread adds to.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    private var done: ContinuousClock.Instant?
    var target = Int.max
    func add(_ k: Int) {
        lock.lock()
        n += k
        if n >= target, done == nil { done = .now }
        lock.unlock()
    }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    /// When the count reached `target`.
    var doneAt: ContinuousClock.Instant? { lock.lock(); defer { lock.unlock() }; return done }
}

extension HubError.Code {
    /// A benchmark run could not be measured (a hub that did not connect, messages not acknowledged, a run that timed out).
    static let bench = Self("bench")
}
