import Alerts
import AlertsStore
import Foundation
import PatrolHubMQTT
import PatrolHubRuntime

/// Issue 15's probe: what grows with events processed. Runs the pipeline
/// in process (as `bench pipeline` does: the generated mix of every input
/// format, batches from a SQLite inbox, one transaction each) over many
/// messages, a chunk at a time (processed inbox rows are deleted as it goes,
/// as the hub prunes them), and samples at every `sampleEvery` messages:
/// the process's RSS and anonymous memory, the C heap in use (glibc's
/// mallinfo2), SQLite's heap (`sqlite3_memory_used`) and page caches, and
/// the rules engine's counted state (`RiskEngine.stateCounts`).
struct MemoryBenchmark {
    var messages: Int
    var sampleEvery: Int
    var batch: Int
    var configDir: String
    var memoryMiB: Int
    /// Event time between two generated messages.
    var interval: TimeInterval
    var csv: String?
    var maxOpenItems = RiskEngine.defaultMaxOpenItems

    struct Sample {
        var messages: Int
        var rssKiB: Int
        var anonKiB: Int
        var heapInUse: Int
        var heapHeld: Int
        var sqlite: Int64
        var pageCache: Int64
        var engine: RiskEngine.StateCounts
        var published: Int
        var cpuSeconds: Double
        var storeBytes: Int64

        static let header = "messages,rss_kib,anon_kib,heap_in_use_kib,heap_held_kib,sqlite_kib,sqlite_page_cache_kib,engine_entries,open_items,occurrences,case_evidence,published,store_mib,cpu_s"
        var csv: String {
            "\(messages),\(rssKiB),\(anonKiB),\(heapInUse / 1024),\(heapHeld / 1024),\(sqlite / 1024),\(pageCache / 1024),\(engine.total),\(engine.openItems),"
                + "\(engine.occurrences),\(engine.caseEvidence),\(published),\(storeBytes >> 20),\(HubFormat.fixed(cpuSeconds, digits: 1))"
        }
        var row: String {
            func mib(_ kib: Int) -> String { HubFormat.fixed(Double(kib) / 1024, digits: 1) }
            return "| \(messages) | \(mib(rssKiB)) | \(mib(anonKiB)) | \(mib(heapInUse / 1024)) | \(mib(Int(sqlite / 1024))) | \(mib(Int(pageCache / 1024))) | "
                + "\(engine.total) | \(published) | \(storeBytes >> 20) |"
        }
    }

    static func procStatus() -> (rss: Int, anon: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        var rss = 0, anon = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let v = Int(parts[1]) else { continue }
            if line.hasPrefix("VmRSS:") { rss = v } else if line.hasPrefix("RssAnon:") { anon = v }
        }
        return (rss, anon)
    }

    func run(report: (Sample) -> Void) throws -> [Sample] {
        let registry = try Registry.load(camerasFile: configDir + "/cameras.csv", devicesFile: configDir + "/devices.csv")
        let zones = try ZoneFile.load(contentsOf: URL(fileURLWithPath: configDir + "/zones.geojson"))
        let placer = Placer(registry: registry, zones: zones)
        let rules = try RuleSet.load(file: configDir + "/rules.yaml")
        var generator = MixGenerator(registry: registry, seed: 42)
        generator.interval = interval
        let dir = NSTemporaryDirectory() + "patrolhub-bench-memory-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/store.sqlite"
        let store = try DisputeStore(path: path, memoryMiB: memoryMiB)
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: rules.adapters)
        let clock = BenchClock(generator.clock)
        var engine = RiskEngine(rules: rules, place: placer.place)
        engine.maxOpenItems = maxOpenItems
        let processor = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
        var out = csv.map { FileManager.default.createFile(atPath: $0, contents: nil); return FileHandle(forWritingAtPath: $0)! }
        out?.write(Data((Sample.header + "\n").utf8))
        var samples: [Sample] = []
        var done = 0
        let chunk = min(sampleEvery, 10_000)
        let cpu0 = PipelineBenchmark.cpuNow()
        while done < messages {
            let n = min(chunk, messages - done)
            try store.ingest((0..<n).map { _ in generator.next() })
            clock.now = generator.clock.addingTimeInterval(1)
            while try processor.processPending(limit: batch).messages > 0 {}
            done += n
            // What the hub's pruning and the outbox's publisher take away: processed inbox rows, published outcomes.
            try store.discardInboxAndOutbox()
            try store.checkpointInbox()
            if done % sampleEvery == 0 || done == messages {
                let (rss, anon) = Self.procStatus()
                let (inUse, held) = ProcessSupport.heap() ?? (0, 0)
                let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
                let s = Sample(messages: done, rssKiB: rss, anonKiB: anon, heapInUse: inUse, heapHeld: held, sqlite: SQLiteMemory.used,
                               pageCache: SQLiteMemory.pageCache, engine: processor.engine.stateCounts, published: processor.publishedCount,
                               cpuSeconds: PipelineBenchmark.cpuNow() - cpu0, storeBytes: size)
                samples.append(s)
                out?.write(Data((s.csv + "\n").utf8))
                report(s)
            }
        }
        try out?.close()
        out = nil
        return samples
    }
}

/// The pipeline's clock in the benchmark: moved by the loop, read by the processor.
final class BenchClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Date
    init(_ date: Date) { value = date }
    var now: Date {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
