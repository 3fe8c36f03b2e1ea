import Alerts
import AlertsStore
import Foundation
import Logging
import PatrolHubMQTT

#if canImport(Glibc)
import Glibc
import PatrolHubRuntime
#endif

/// Issue 16's benchmark: `patrolhub serve` as a black box, two builds of it
/// side by side in one run (a baseline and a candidate, alternating, so a
/// noisy neighbour hurts both).
///
/// - **idle**: the hub with its embedded broker and no traffic; its
///   process's CPU time (`/proc/PID/stat` utime + stime) over `idleSeconds`,
///   after a settle period.
/// - **latency**: a local `mosquitto`; a publisher sends camera events at
///   `rate` per second (QoS 1, paced on its own thread) and stamps each with
///   its send time; a reader polls the store's processed-inbox cursor every
///   millisecond. Messages from one connection reach the inbox in order, so
///   the message sent `i`-th is inbox row `i`: its latency is the time the
///   cursor passed it minus its send time (the first second is warm-up and
///   left out). The same reader reads the inbox's newest row: publish →
///   in the inbox is the ingest half of the latency (broker, the hub's MQTT
///   thread, the inbox commit) and the rest is the pipeline's.
/// - **backlog**: `backlog` events queued for the hub's persistent session
///   while it is stopped; the time from starting the process to the cursor
///   reaching the last of them, next to a bare `mosquitto_sub` (mosquitto's own
///   client) draining a queue of the same size from the same broker.
struct EventsBenchmark {
    struct Binary {
        var name: String
        var path: String
    }

    var binaries: [Binary]
    var runs = 3
    var idleSeconds: Double = 60
    var settleSeconds: Double = 5
    var rate = 5000
    var latencySeconds: Double = 10
    var backlog = 100_000
    var measurements: Set<String> = ["idle", "latency", "backlog"]
    /// When set, each latency run's messages go to `DIR/NAME-runR.csv` (`sent_s,latency_ms,inbox_ms`,
    /// send time from the first message): where in time the tail comes from.
    var traceDir: String?
    /// The broker's `max_inflight_messages`: how many QoS 1 messages it sends a client before the
    /// client's PUBACKs. The hub acknowledges a group only once it is committed, so this window
    /// bounds how many messages one inbox commit can take while a backlog drains.
    var brokerInflight = HubConfig().broker.maxInflightMessages
    var logger: Logger

    /// One binary's figures in one run.
    struct Sample {
        var idleCPU: Double?
        var p50: Double?
        var p99: Double?
        var max: Double?
        /// Publish → committed to the hub's inbox, ms.
        var inboxP50: Double?
        var inboxP99: Double?
        var drainSeconds: Double?
        var bareSeconds: Double?
    }

    static let cameras = (1...50).map { "cam-\(HubFormat.zeroPadded($0, width: 3))" }

    func run(report: (String, Int, Sample) -> Void) async throws -> [String: [Sample]] {
        let root = NSTemporaryDirectory() + "patrolhub-bench-events-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let broker = EmbeddedBroker(options: .init(dataDir: root + "/broker", maxQueuedMessages: max(backlog * 2, 1_000_000), maxInflightMessages: brokerInflight), logger: logger)
        if measurements.contains("latency") || measurements.contains("backlog") {
            try FileManager.default.createDirectory(atPath: root + "/broker", withIntermediateDirectories: true)
            try broker.start()
        }
        defer { broker.stop() }
        var out: [String: [Sample]] = [:]
        for r in 1...runs {
            let order = r % 2 == 1 ? binaries : Array(binaries.reversed())
            for b in order {
                var s = Sample()
                let dir = "\(root)/\(b.name)-\(r)"
                if measurements.contains("idle") { s.idleCPU = try await idle(b, dir: dir + "-idle") }
                if measurements.contains("latency") {
                    let l = try await latency(b, dir: dir + "-latency", port: broker.port, run: r)
                    s.p50 = l.p50
                    s.p99 = l.p99
                    s.max = l.max
                    s.inboxP50 = l.inboxP50
                    s.inboxP99 = l.inboxP99
                }
                if measurements.contains("backlog") {
                    s.drainSeconds = try await drain(b, dir: dir + "-backlog", port: broker.port, run: r)
                    s.bareSeconds = try await drainMosquittoSub(run: r * 10 + (b.name == binaries[0].name ? 0 : 1), port: broker.port)
                }
                report(b.name, r, s)
                out[b.name, default: []].append(s)
            }
        }
        return out
    }

    // MARK: - The hub process

    /// Writes a config (embedded broker when `port` is nil) and the camera list into `dir`.
    func writeConfig(dir: String, port: Int?, clientID: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cams = "id,name,lat,lon,crs,zone\n" + Self.cameras.enumerated().map { i, c in
            "\(c),\(c),29.6525,91.1320,wgs84,540102-001-001-0\(i % 5 + 1)"
        }.joined(separator: "\n") + "\n"
        try cams.write(toFile: dir + "/cameras.csv", atomically: true, encoding: .utf8)
        let broker = port.map { "  mode: external\n  host: 127.0.0.1\n  port: \($0)\n" } ?? "  mode: embedded\n  port: 0\n"
        let yaml = """
            data_dir: .
            broker:
            \(broker)  client_id: \(clientID)
            store:
              path: hub.sqlite
            registry:
              cameras: cameras.csv
            http:
              listen: 127.0.0.1:0

            """
        try yaml.write(toFile: dir + "/hub.yaml", atomically: true, encoding: .utf8)
        return dir + "/hub.yaml"
    }

    /// Starts `serve`; its output goes to `dir/hub.log`.
    func start(_ b: Binary, config: String, dir: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: b.path)
        p.arguments = ["serve", "--config", config, "--log-level", "info"]
        FileManager.default.createFile(atPath: dir + "/hub.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/hub.log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        return p
    }

    /// SIGTERM, then waits for the process to end.
    func stop(_ p: Process) async {
        p.terminate()
        while p.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Waits until the hub's log shows its ingest client connected.
    func waitConnected(dir: String, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: dir + "/hub.log", encoding: .utf8), text.contains("mqtt.connected") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HubError(.bench, "the hub in \(dir) did not connect (see its hub.log)")
    }

    /// The process's CPU time so far (user + system), in seconds.
    static func cpuSeconds(pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces) in parentheses: utime and stime are the 14th and 15th.
        guard let close = stat.lastIndex(of: ")") else { throw HubError(.bench, "unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else {
            throw HubError(.bench, "unreadable /proc/\(pid)/stat")
        }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    // MARK: - Measurements

    /// Percent of one core the idle hub uses.
    func idle(_ b: Binary, dir: String) async throws -> Double {
        let config = try writeConfig(dir: dir, port: nil, clientID: "patrolhub")
        let p = try start(b, config: config, dir: dir)
        try await waitConnected(dir: dir)
        try await Task.sleep(for: .seconds(settleSeconds))
        let (c0, t0) = (try Self.cpuSeconds(pid: p.processIdentifier), ContinuousClock.now)
        try await Task.sleep(for: .seconds(idleSeconds))
        let (c1, t1) = (try Self.cpuSeconds(pid: p.processIdentifier), ContinuousClock.now)
        await stop(p)
        return 100 * (c1 - c0) / (t1 - t0).seconds
    }

    /// Publish → processed latency percentiles, in milliseconds.
    func latency(_ b: Binary, dir: String, port: Int, run: Int) async throws -> (p50: Double, p99: Double, max: Double, inboxP50: Double, inboxP99: Double) {
        let clientID = "hub-lat-\(b.name)-\(run)-\(getpid())"
        let config = try writeConfig(dir: dir, port: port, clientID: clientID)
        let p = try start(b, config: config, dir: dir)
        defer { if p.isRunning { p.terminate() } }
        try await waitConnected(dir: dir)
        let store = try DisputeStore(path: dir + "/hub.sqlite")
        let base = try store.cursor()
        let total = Int(Double(rate) * latencySeconds)

        var o = MQTTClient.Options()
        o.port = port
        o.clientID = "bench-lat-pub-\(run)-\(getpid())"
        o.cleanSession = true
        let pub = MQTTClient(options: o, logger: logger)
        try pub.start()
        defer { pub.stop() }
        let deadline = Date().addingTimeInterval(15)
        while !pub.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }

        let times = StampTable(count: total)
        // The reader: the inbox's newest seq and the cursor every millisecond, each message
        // seen at the first read past it.
        let inboxBase = try store.inboxNewestSeq()
        let reader = Thread {
            var last = base, lastIn = inboxBase
            while last < base + Int64(total), !times.isCancelled {
                if let n = try? store.inboxNewestSeq(), n > lastIn {
                    let now = ContinuousClock.now
                    for seq in (lastIn + 1)...n where seq - inboxBase - 1 < Int64(total) { times.stored(Int(seq - inboxBase - 1), at: now) }
                    lastIn = n
                }
                if let c = try? store.cursor(), c > last {
                    let now = ContinuousClock.now
                    for seq in (last + 1)...c where seq - base - 1 < Int64(total) { times.seen(Int(seq - base - 1), at: now) }
                    last = c
                }
                usleep(1000)
            }
            times.finish()
        }
        reader.start()
        // The publisher: message i at start + i / rate, on its own thread.
        let rate = self.rate, cams = Self.cameras
        let publisher = Thread {
            let start = ContinuousClock.now
            if traceDir != nil { FileHandle.standardError.write(Data("latency run \(run) \(b.name): hub pid \(p.processIdentifier), first message at unix \(HubFormat.fixed(Date().timeIntervalSince1970, digits: 3))\n".utf8)) }
            for i in 0..<total {
                let due = start + .nanoseconds(Int64(Double(i) / Double(rate) * 1e9))
                let wait = due - ContinuousClock.now
                if wait > .zero { usleep(UInt32(max(1, wait.seconds * 1e6))) }
                let payload = Array(#"{"id":"lat-\#(run)-\#(i)","type":"intrusion","time":"\#(Date().rfc3339)","confidence":0.87,"count":1,"location":{"lat":29.6525,"lon":91.1320}}"#.utf8)
                times.sent(i, at: ContinuousClock.now)
                _ = try? pub.enqueue(topic: "patrolhub/v1/camera/\(cams[i % cams.count])/event", payload: payload)
                if i % 1000 == 999 { _ = pub.takeAcked() }
            }
        }
        publisher.start()
        let waitUntil = Date().addingTimeInterval(latencySeconds + 60)
        while !times.isFinished {
            if Date() > waitUntil {
                times.cancel()
                throw HubError(.bench, "latency run: \(times.seenCount) of \(total) processed")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop(p)
        try await clearSession(clientID: clientID, port: port)
        if let traceDir {
            let rows = times.trace().map {
                "\(HubFormat.fixed($0.sent, digits: 4)),\(HubFormat.fixed($0.latency * 1000, digits: 3)),\(HubFormat.fixed($0.inbox * 1000, digits: 3))"
            }
            try ("sent_s,latency_ms,inbox_ms\n" + rows.joined(separator: "\n") + "\n")
                .write(toFile: "\(traceDir)/\(b.name)-run\(run).csv", atomically: true, encoding: .utf8)
        }
        let warmup = rate // the first second
        let ms = times.latencies().dropFirst(warmup).map { $0 * 1000 }.sorted()
        let inbox = times.inboxLatencies().dropFirst(warmup).map { $0 * 1000 }.sorted()
        func pct(_ xs: [Double], _ q: Double) -> Double { xs.isEmpty ? 0 : xs[min(xs.count - 1, Int(Double(xs.count) * q))] }
        return (pct(ms, 0.5), pct(ms, 0.99), ms.last ?? 0, pct(inbox, 0.5), pct(inbox, 0.99))
    }

    /// Ends the broker's persistent session of a stopped hub (a clean-session connect
    /// under its client id). Left in place, the broker would queue every later run's
    /// messages for it too, and its periodic save of them stalls every client:
    /// a cost that grows run after run, not the hub's.
    func clearSession(clientID: String, port: Int) async throws {
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = clientID
        o.cleanSession = true
        let client = MQTTClient(options: o, logger: logger)
        try client.start()
        defer { client.stop() }
        let deadline = Date().addingTimeInterval(15)
        while !client.isConnected {
            guard Date() < deadline else { throw HubError(.bench, "could not connect as \(clientID) to end its session") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Seconds from starting the hub to the last of `backlog` queued events processed.
    func drain(_ b: Binary, dir: String, port: Int, run: Int) async throws -> Double {
        let clientID = "hub-drain-\(b.name)-\(run)-\(getpid())"
        let config = try writeConfig(dir: dir, port: port, clientID: clientID)
        // Create the session (and the store), then stop while the queue fills.
        let first = try start(b, config: config, dir: dir)
        try await waitConnected(dir: dir)
        await stop(first)
        let store = try DisputeStore(path: dir + "/hub.sqlite")
        let base = try store.cursor()
        let queuer = IngestBenchmark(messages: backlog, runs: 1, synchronous: .normal, inflight: 100, logger: logger)
        let all = queuer.payloads(run: run, kind: "drain-\(b.name)")
        var byCamera: [String: [[UInt8]]] = [:]
        for (i, payload) in all.enumerated() { byCamera[Self.cameras[i % Self.cameras.count], default: []].append(payload) }
        for (cam, ps) in byCamera { try await queuer.queue(ps, topic: "patrolhub/v1/camera/\(cam)/event", port: port) }
        sync()
        let inboxBase = try store.inboxNewestSeq()
        let t0 = ContinuousClock.now
        let p = try start(b, config: config, dir: dir)
        defer { if p.isRunning { p.terminate() } }
        // Where the time goes: the first message in the inbox (start-up and
        // connection), the last one in it (ingest), the last one decided.
        // Each poll reads two SQLite files, on the two cores the hub and the broker share (about
        // 0.1 CPU-s per drain at one poll every 2 ms, where the yardstick's poll is a waitpid): every
        // 20 ms until no more than one pipeline batch (20 000) or 5 % is left, then every 2 ms, so
        // the end is read to 2 ms. The phases are read to 20 ms.
        var firstInbox: Duration?, fullInbox: Duration?
        while true {
            let decided = try store.cursor() - base
            if decided >= Int64(backlog) { break }
            let now = ContinuousClock.now - t0
            if now > .seconds(600) { throw HubError(.bench, "backlog run timed out") }
            if fullInbox == nil, let n = try? store.inboxNewestSeq(), n > inboxBase {
                if firstInbox == nil { firstInbox = now }
                if n >= inboxBase + Int64(backlog) { fullInbox = now }
            }
            let left = Int64(backlog) - decided
            try await Task.sleep(for: .milliseconds(left > max(Int64(backlog) / 20, 20_000) ? 20 : 2))
        }
        let elapsed = (ContinuousClock.now - t0).seconds
        func s(_ d: Duration?) -> String { d.map { HubFormat.fixed($0.seconds, digits: 3) } ?? "-" }
        logger.notice("backlog phases", metadata: ["build": "\(b.name)", "run": "\(run)", "first_in_inbox_s": "\(s(firstInbox))",
                                                 "all_in_inbox_s": "\(s(fullInbox))", "all_processed_s": "\(HubFormat.fixed(elapsed, digits: 3))"])
        await stop(p)
        try await clearSession(clientID: clientID, port: port)
        return elapsed
    }

    /// Seconds from starting a bare `mosquitto_sub` (mosquitto's own client, QoS 1,
    /// persistent session, output to /dev/null) to its exit after receiving
    /// `backlog` events queued for its session on the same broker: the drain's yardstick.
    func drainMosquittoSub(run: Int, port: Int) async throws -> Double {
        let clientID = "bench-mosquitto-sub-\(run)-\(getpid())"
        let topic = "bench/\(run)/mosquitto_sub"
        func sub(_ extra: [String]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
            p.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-i", clientID, "-c", "-q", "1", "-t", topic] + extra
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mosquitto_sub") else {
            throw HubError(.bench, "the drain's yardstick needs mosquitto_sub (Debian package mosquitto-clients)")
        }
        // The persistent session: subscribe and leave at once, then queue the events for it.
        let session = try sub(["-E"])
        session.waitUntilExit()
        guard session.terminationStatus == 0 else { throw HubError(.bench, "mosquitto_sub could not subscribe (exit \(session.terminationStatus))") }
        let queuer = IngestBenchmark(messages: backlog, runs: 1, synchronous: .normal, inflight: 100, logger: logger)
        try await queuer.queue(queuer.payloads(run: run, kind: "mosquitto_sub"), topic: topic, port: port)
        let t0 = ContinuousClock.now
        let drain = try sub(["-C", "\(backlog)"])
        while drain.isRunning {
            if ContinuousClock.now - t0 > .seconds(600) {
                drain.terminate()
                throw HubError(.bench, "mosquitto_sub did not receive \(backlog) events in 600 s")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        return (ContinuousClock.now - t0).seconds
    }

    // MARK: - Report

    static func median(_ xs: [Double]) -> Double { IngestBenchmark.Result.median(xs) }

    /// The figures per binary (medians over the runs) as a Markdown table.
    func markdown(_ samples: [String: [Sample]]) -> String {
        var lines = ["| build | idle CPU % of a core | latency p50 ms | latency p99 ms | latency max ms | inbox p50 ms | inbox p99 ms | backlog drain s | mosquitto_sub drain s | drain ratio (mosquitto_sub s / hub s) |",
                     "|---|---|---|---|---|---|---|---|---|---|"]
        func f(_ x: Double?, _ d: Int = 1) -> String { x.map { HubFormat.fixed($0, digits: d) } ?? "-" }
        for r in 0..<runs {
            for b in binaries {
                if let s = samples[b.name], r < s.count { lines.append(Self.row(b.name, r + 1, s[r])) }
            }
        }
        for b in binaries {
            let s = samples[b.name] ?? []
            func med(_ k: (Sample) -> Double?) -> Double? {
                let xs = s.compactMap(k)
                return xs.isEmpty ? nil : Self.median(xs)
            }
            let ratios = s.compactMap { x in x.bareSeconds.flatMap { bare in x.drainSeconds.map { bare / $0 } } }
            lines.append("| **\(b.name), median of \(s.count)** | \(f(med(\.idleCPU), 3)) | \(f(med(\.p50))) | \(f(med(\.p99))) | \(f(med(\.max))) | \(f(med(\.inboxP50))) | \(f(med(\.inboxP99))) | \(f(med(\.drainSeconds), 2)) | \(f(med(\.bareSeconds), 2)) | \(ratios.isEmpty ? "-" : HubFormat.fixed(Self.median(ratios), digits: 2)) |")
        }
        return lines.joined(separator: "\n")
    }

    /// One line per binary and run.
    static func row(_ name: String, _ run: Int, _ s: Sample) -> String {
        func f(_ x: Double?, _ d: Int = 1) -> String { x.map { HubFormat.fixed($0, digits: d) } ?? "-" }
        let ratio = s.bareSeconds.flatMap { bare in s.drainSeconds.map { HubFormat.fixed(bare / $0, digits: 2) } } ?? "-"
        return "| \(name) run \(run) | \(f(s.idleCPU, 3)) | \(f(s.p50)) | \(f(s.p99)) | \(f(s.max)) | \(f(s.inboxP50)) | \(f(s.inboxP99)) | \(f(s.drainSeconds, 2)) | \(f(s.bareSeconds, 2)) | \(ratio) |"
    }
}

/// Send and seen instants of the latency run, shared by its two threads.
final class StampTable: @unchecked Sendable {
    private let lock = NSLock()
    private var sentAt: [ContinuousClock.Instant?]
    private var seenAt: [ContinuousClock.Instant?]
    private var storedAt: [ContinuousClock.Instant?]
    private var seenN = 0
    private var finished = false
    private var cancelled = false

    init(count: Int) {
        sentAt = Array(repeating: nil, count: count)
        seenAt = Array(repeating: nil, count: count)
        storedAt = Array(repeating: nil, count: count)
    }

    func sent(_ i: Int, at t: ContinuousClock.Instant) { lock.withLock { sentAt[i] = t } }
    func stored(_ i: Int, at t: ContinuousClock.Instant) { lock.withLock { if storedAt[i] == nil { storedAt[i] = t } } }
    func seen(_ i: Int, at t: ContinuousClock.Instant) { lock.withLock { if seenAt[i] == nil { seenAt[i] = t; seenN += 1 } } }
    func finish() { lock.withLock { finished = true } }
    func cancel() { lock.withLock { cancelled = true } }
    var isFinished: Bool { lock.withLock { finished } }
    var isCancelled: Bool { lock.withLock { cancelled } }
    var seenCount: Int { lock.withLock { seenN } }

    /// Each message's send time (seconds after the first send), latency and time to the inbox
    /// (seconds; -1 when the reader missed it), in send order.
    func trace() -> [(sent: Double, latency: Double, inbox: Double)] {
        lock.withLock {
            guard let first = sentAt.first ?? nil else { return [] }
            return sentAt.indices.compactMap { i in
                guard let s = sentAt[i], let t = seenAt[i] else { return nil }
                return ((s - first).seconds, (t - s).seconds, storedAt[i].map { ($0 - s).seconds } ?? -1)
            }
        }
    }

    /// Seconds from send to committed in the inbox, in send order.
    func inboxLatencies() -> [Double] {
        lock.withLock { zip(sentAt, storedAt).compactMap { s, t in s.flatMap { s in t.map { ($0 - s).seconds } } } }
    }

    /// Seconds from send to seen, in send order.
    func latencies() -> [Double] {
        lock.withLock { zip(sentAt, seenAt).compactMap { s, t in s.flatMap { s in t.map { ($0 - s).seconds } } } }
    }
}
