import Alerts
import AlertsStore
import Foundation
import PatrolHubRuntime
import Simulation

/// Issue 4's benchmark: in-process pipeline throughput on one thread —
/// inbox → decode → locate → dedup → mute → group/correlate → store —
/// over a realistic mix of the input formats, measured next to a
/// decode-only pass and a decode + rules pass (no store) over the same
/// messages, in one run, so the table shows where the time goes.
///
/// Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`):
/// events per second of one core, whatever else runs on the machine. The
/// full pipeline's SQLite work runs on the same thread (GRDB's writer runs
/// the transaction on the caller's thread), so it is included.
///
/// The messages are generated once (deterministic) and appended to a fresh
/// SQLite inbox before each full run (not timed); every full run starts from
/// an empty store file, as a hub that falls behind would drain its inbox.
struct PipelineBenchmark {
    var messages: Int
    var runs: Int
    var batch: Int
    var configDir: String
    /// Only the full pipeline runs (no comparison passes, no profiled run): for a profiler.
    var fullOnly = false

    struct Result {
        var decode: [Double] = []
        var rules: [Double] = []
        var full: [Double] = []
        var messages: Int
        var events: Int
        var mix: [String: Int]
        var outcome: String
        /// A separate, untimed run with per-stage CPU accounting (the clock reads cost time themselves).
        var profile = StageProfile()
        /// Decode CPU time per message, by input format (from the last run).
        var perBatch = ""
        var decodeByFormat: [String: (seconds: Double, messages: Int)] = [:]

        static func median(_ xs: [Double]) -> Double { IngestBenchmark.Result.median(xs) }

        var markdown: String {
            func rate(_ s: Double) -> String { HubFormat.fixed(Double(events) / s, digits: 0) }
            var lines = [
                "| run | decode only events/s | decode + rules events/s | full pipeline (SQLite) events/s | full / decode |",
                "|---|---|---|---|---|",
            ]
            for i in 0..<full.count {
                lines.append("| \(i + 1) | \(rate(decode[i])) | \(rate(rules[i])) | \(rate(full[i])) | \(HubFormat.fixed(decode[i] / full[i], digits: 2)) |")
            }
            let d = Self.median(decode), r = Self.median(rules), f = Self.median(full)
            lines.append("| **median** | **\(rate(d))** | **\(rate(r))** | **\(rate(f))** | **\(HubFormat.fixed(d / f, digits: 2))** |")
            let p = profile
            func us(_ x: Double) -> String { HubFormat.fixed(x / Double(events) * 1e6, digits: 2) }
            func pct(_ x: Double) -> String { (HubFormat.fixed(x / p.total * 100, digits: 0) + " " + "%") }
            lines.append("")
            lines.append("Where the full pipeline's time goes (a separate profiled run; µs of CPU per event):")
            lines.append("")
            lines.append("| stage | µs/event | share |")
            lines.append("|---|---|---|")
            for (name, x) in [("read inbox", p.read), ("decode", p.decode), ("event keys (the batch's, recorded at once; a key already there is a duplicate)", p.dedup),
                              ("rules (place, dedup/lifecycle, mute, group, correlate)", p.rules), ("effects (event log entries, item/slip/case bookkeeping)", p.eventRows),
                              ("risk item rows", p.itemRows), ("slip rows and links", p.slipRows),
                              ("cases, outbox, audit", p.outcomes), ("commit", p.commit)] {
                lines.append("| \(name) | \(us(x)) | \(pct(x)) |")
            }
            lines.append("| **total** | **\(us(p.total))** | |")
            lines.append("")
            lines.append("Profiled run: " + perBatch)
            lines.append("")
            lines.append("Decode alone, by format (µs of CPU per message): " + decodeByFormat.sorted { $0.key < $1.key }.map {
                "\($0.key) \(HubFormat.fixed($0.value.seconds / Double(max($0.value.messages, 1)) * 1e6, digits: 2))"
            }.joined(separator: ", "))
            return lines.joined(separator: "\n")
        }
    }

    func run() throws -> Result {
        let registry = try Registry.load(camerasFile: configDir + "/cameras.csv", devicesFile: configDir + "/devices.csv")
        let zones = try ZoneFile.load(contentsOf: URL(fileURLWithPath: configDir + "/zones.geojson"))
        let placer = Placer(registry: registry, zones: zones)
        var rules = try RuleSet.load(file: configDir + "/rules.yaml")
        rules.lateness = 600
        var generator = MixGenerator(registry: registry, seed: 42)
        let inbox = (0..<messages).map { _ in generator.next() }
        let now = generator.clock.addingTimeInterval(60)
        func decodeStage() -> DecodeStage {
            DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), adapters: rules.adapters)
        }

        let dir = NSTemporaryDirectory() + "patrolhub-bench-pipeline-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let keep = ProcessInfo.processInfo.environment["PATROLHUB_BENCH_KEEP"] != nil // to inspect the stores afterwards
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }

        var result = Result(messages: messages, events: 0, mix: generator.mix, outcome: "")
        for run in 1...runs {
            // A fresh store with the inbox filled (not timed).
            let path = "\(dir)/run-\(run).sqlite"
            let store = try DisputeStore(path: path)
            for chunk in stride(from: 0, to: inbox.count, by: 10_000) {
                try store.ingest(Array(inbox[chunk..<min(chunk + 10_000, inbox.count)]))
            }
            try store.checkpointInbox()
            let records = try store.pending(limit: messages)

            // 1. Decode only: the same records, the same stage.
            let decode = decodeStage()
            var events = 0
            var t = Self.cpuNow()
            for r in records where !fullOnly {
                events += (try? decode.decode(topic: r.topic, payload: r.payload, now: now, receivedAt: r.receivedAt))?.count ?? 0
            }
            result.decode.append(Self.seconds(since: t))
            result.events = events
            result.decodeByFormat = [:]
            for r in records where !fullOnly {
                let format = Self.format(of: r.topic)
                let t0 = Self.cpuNow()
                _ = try? decode.decode(topic: r.topic, payload: r.payload, now: now, receivedAt: r.receivedAt)
                let spent = Self.cpuNow() - t0
                result.decodeByFormat[format, default: (0, 0)].seconds += spent
                result.decodeByFormat[format, default: (0, 0)].messages += 1
            }

            // 2. Decode + rules (place, dedup, mute, group, correlate), no store.
            var engine = RiskEngine(rules: rules, place: placer.place)
            var seen = Set<String>()
            var effects = 0
            t = Self.cpuNow()
            for r in records where !fullOnly {
                guard let evs = try? decode.decode(topic: r.topic, payload: r.payload, now: now, receivedAt: r.receivedAt) else { continue }
                for e in evs where seen.insert(e.key).inserted { effects += engine.handle(e, now: now).count }
            }
            result.rules.append(Self.seconds(since: t))

            // 3. The full pipeline, as the hub runs it: batches from the inbox, one transaction each.
            let processor = try PipelineProcessor(store: store, decode: decode, engine: RiskEngine(rules: rules, place: placer.place),
                                                  outputPrefix: "patrolhub/v1", clock: { now })
            var processed = 0, decoded = 0
            t = Self.cpuNow()
            while true {
                let r = try processor.processPending(limit: batch)
                if r.messages == 0 { break }
                processed += r.messages
                decoded += r.events + r.duplicates
            }
            result.full.append(Self.seconds(since: t))
            if fullOnly { result.events = decoded } // no decode pass ran: the events the pipeline decoded
            let s = try store.status()
            guard processed == messages else { throw HubError(.bench, "processed \(processed) of \(messages)") }
            result.outcome = "\(s.riskItemsTotal) risk items, \(s.slipsTotal) slips, \(s.casesTotal) cases, \(s.deadLettersTotal) dead letters"
            _ = effects
            for suffix in ["", "-wal", "-shm"] where !keep {
                try? FileManager.default.removeItem(atPath: path + suffix)
                try? FileManager.default.removeItem(atPath: DisputeStore.inboxPath(for: path) + suffix)
            }
        }
        if fullOnly { return result }
        // The profiled run (not timed: each stage boundary reads the thread's CPU clock).
        let path = "\(dir)/profile.sqlite"
        let store = try DisputeStore(path: path)
        for chunk in stride(from: 0, to: inbox.count, by: 10_000) {
            try store.ingest(Array(inbox[chunk..<min(chunk + 10_000, inbox.count)]))
        }
        let processor = try PipelineProcessor(store: store, decode: decodeStage(), engine: RiskEngine(rules: rules, place: placer.place),
                                              outputPrefix: "patrolhub/v1", clock: { now })
        processor.profile = StageProfile()
        var batches = 0, items = 0, slips = 0, cases = 0
        while true {
            let r = try processor.processPending(limit: batch)
            if r.messages == 0 { break }
            batches += 1
            items += r.itemsChanged
            slips += r.slipsChanged
            cases += r.casesChanged
        }
        result.perBatch = "\(batches) batches; per batch \(items / max(batches, 1)) risk items, \(slips / max(batches, 1)) slips, \(cases / max(batches, 1)) cases written"
        result.profile = processor.profile ?? StageProfile()
        return result
    }

    /// CPU time of the calling thread: the benchmark runs on one thread, so
    /// this is "one core's" time, and other processes on this shared machine
    /// do not inflate it (wall time does).
    static func cpuNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func seconds(since t: Double) -> Double { cpuNow() - t }

    static func format(of topic: String) -> String {
        if topic.hasPrefix("frigate/") { return "frigate" }
        for f in ["gb28181", "onvif", "device", "camera"] where topic.contains("/\(f)/") { return f }
        return "other"
    }
}

/// A deterministic stream of messages shaped as the sources send them, in
/// the proportions a district's network produces: mostly native camera
/// analytics (noisy categories repeat and fold), Frigate object lifecycles,
/// GB/T 28181 alarms, ONVIF property events, camera status, patrol check-ins
/// and reports, and a few malformed payloads. Event times advance 20 ms per
/// message from a fixed start.
struct MixGenerator {
    var rng: SeededRandom
    let cameras: [CameraRecord]
    let devices: [String]
    var clock = Date(timeIntervalSince1970: 1_800_000_000)
    /// Event time between two messages.
    var interval: TimeInterval = 0.02
    var seq = 0
    var mix: [String: Int] = [:]
    /// Frigate objects in flight: (camera, object id, updates left).
    var frigateObjects: [(camera: String, id: String, left: Int, update: Int)] = []

    init(registry: Registry, seed: UInt64) {
        rng = SeededRandom(seed: seed)
        cameras = registry.cameras.values.sorted { $0.id < $1.id }
        devices = registry.devices.keys.sorted()
    }

    static let nativeTypes: [(String, Int)] = [
        ("motion", 30), ("intrusion", 12), ("loitering", 10), ("street_vending", 14), ("illegal_parking", 10), ("garbage", 10),
        ("crowd_gathering", 5), ("tripwire", 5), ("left_object", 2), ("banner", 1), ("fight", 1),
    ]

    mutating func pick(_ table: [(String, Int)]) -> String {
        let total = table.reduce(0) { $0 + $1.1 }
        var r = Int(rng.next() % UInt64(total))
        for (v, w) in table { if r < w { return v }; r -= w }
        return table[0].0
    }

    mutating func next() -> InboxMessage {
        seq += 1
        clock = clock.addingTimeInterval(interval)
        let roll = Int(rng.next() % 1000)
        let (kind, topic, payload): (String, String, String)
        let cam = cameras[Int(rng.next() % UInt64(cameras.count))]
        let time = clock.rfc3339
        switch roll {
        case 0..<550:
            let type = pick(Self.nativeTypes)
            var p = #"{"id":"ev-\#(seq)","type":"\#(type)","time":"\#(time)","confidence":0.\#(60 + rng.next() % 40)"#
            if rng.next() % 5 == 0, let loc = cam.location {
                p += #","location":{"lat":\#(loc.lat + Double(rng.next() % 100) * 1e-6),"lon":\#(loc.lon),"crs":"wgs84"}"#
            }
            (kind, topic, payload) = ("native", "patrolhub/v1/camera/\(cam.id)/event", p + "}")
        case 550..<700:
            (kind, topic, payload) = ("frigate", "frigate/events", frigate(camera: cam.id))
        case 700..<800:
            let type = ["5", "6", "8", "10", "2"][Int(rng.next() % 5)]
            let local = Date(timeIntervalSince1970: clock.timeIntervalSince1970 + 8 * 3600).rfc3339.prefix(19)
            (kind, topic, payload) = ("gb28181", "patrolhub/v1/gb28181/\(cam.id)/alarm", """
                <?xml version="1.0" encoding="GB2312"?>
                <Notify>
                <CmdType>Alarm</CmdType>
                <SN>\(seq)</SN>
                <DeviceID>\(cam.id)</DeviceID>
                <AlarmPriority>\(1 + rng.next() % 4)</AlarmPriority>
                <AlarmMethod>5</AlarmMethod>
                <AlarmTime>\(local)</AlarmTime>
                <AlarmDescription>区域告警</AlarmDescription>
                <Info><AlarmType>\(type)</AlarmType></Info>
                </Notify>
                """)
        case 800..<900:
            let inside = rng.next() % 2 == 0
            (kind, topic, payload) = ("onvif", "patrolhub/v1/onvif/\(cam.id)/RuleEngine/FieldDetector/ObjectsInside", """
                {"UtcTime":"\(time)","PropertyOperation":"Changed","Source":{"VideoSourceConfigurationToken":"VS","Rule":"Field\(rng.next() % 3)"},"Data":{"IsInside":"\(inside)"}}
                """)
        case 900..<930:
            let status = rng.next() % 10 == 0 ? "offline" : "online"
            (kind, topic, payload) = ("status", "patrolhub/v1/camera/\(cam.id)/status", #"{"status":"\#(status)","time":"\#(time)"}"#)
        case 930..<980:
            let dev = devices[Int(rng.next() % UInt64(devices.count))]
            (kind, topic, payload) = ("checkin", "patrolhub/v1/device/\(dev)/checkin",
                                      #"{"id":"ck-\#(seq)","checkpoint":"CP-\#(rng.next() % 40)","time":"\#(time)","method":"nfc"}"#)
        case 980..<995:
            let dev = devices[Int(rng.next() % UInt64(devices.count))]
            let category = ["dispute", "safety_hazard", "other", "public_order", "neighbour_conflict"][Int(rng.next() % 5)]
            (kind, topic, payload) = ("report", "patrolhub/v1/device/\(dev)/report",
                                      #"{"id":"rp-\#(seq)","category":"\#(category)","time":"\#(time)","description":"网格员上报"}"#)
        default:
            (kind, topic, payload) = ("malformed", "patrolhub/v1/camera/\(cam.id)/event", #"{"id":"bad-\#(seq)","type":"#)
        }
        mix[kind, default: 0] += 1
        return InboxMessage(topic: topic, payload: Array(payload.utf8), receivedAt: clock)
    }

    /// The next message of a Frigate object lifecycle: new → updates (entering a zone) → end.
    mutating func frigate(camera: String) -> String {
        if frigateObjects.count < 8 {
            frigateObjects.append((camera, "\(Int(clock.timeIntervalSince1970)).\(seq)-f", 3 + Int(rng.next() % 12), 0))
        }
        let i = Int(rng.next() % UInt64(frigateObjects.count))
        var o = frigateObjects[i]
        let frame = clock.timeIntervalSince1970
        // Every field Frigate 0.13 sends for a tracked object (the adapter reads a dozen of them).
        func state(_ u: Int, end: Bool) -> String {
            let zones = u >= 2 ? #"["yard"]"# : "[]"
            let x = 400 + u * 7
            return #"{"id":"\#(o.id)","camera":"\#(o.camera)","frame_time":\#(frame),"#
                + #""snapshot":{"frame_time":\#(frame - 0.5),"box":[\#(x),489,\#(x + 113),700],"area":23744,"region":[260,446,660,846],"score":0.77,"attributes":[]},"#
                + #""label":"person","sub_label":null,"top_score":0.9,"false_positive":false,"#
                + #""start_time":\#(frame - Double(u)),"end_time":\#(end ? "\(frame)" : "null"),"score":0.8,"#
                + #""box":[\#(x + 9),500,\#(x + 121),712],"area":23744,"ratio":0.53,"region":[264,450,667,853],"#
                + #""current_zones":\#(zones),"entered_zones":\#(zones),"thumbnail":null,"has_snapshot":true,"has_clip":true,"#
                + #""active":true,"stationary":false,"motionless_count":0,"position_changes":\#(u),"attributes":{},"current_attributes":[]}"#
        }
        let type: String
        if o.update == 0 { type = "new" } else if o.left == 0 { type = "end" } else { type = "update" }
        let payload = #"{"type":"\#(type)","before":\#(state(max(o.update - 1, 0), end: false)),"after":\#(state(o.update, end: type == "end"))}"#
        o.update += 1
        o.left -= 1
        if type == "end" { frigateObjects.remove(at: i) } else { frigateObjects[i] = o }
        return payload
    }
}
