import Alerts
import ArgumentParser
import CMosquitto
import Foundation
import Logging

extension PatrolHubCommand {
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the hub with its embedded broker, feed it a built-in set of camera events, and print what it generates.")

        @OptionGroup var config: ConfigOptions
        @OptionGroup var log: LogOptions

        @Option(help: "Where the demo keeps its store and broker files (wiped at start).")
        var dataDir: String = "data/demo"

        @Flag(help: "Keep the hub running after the feed (until Ctrl-C), so the live board can be opened.")
        var serve = false

        func run() async throws {
            var cfg = try config.load()
            patrolhub_line_buffer_stdout()
            log.bootstrap()
            var logger = Logger(label: "patrolhub")
            logger.logLevel = Logger.Level(rawValue: log.logLevel) ?? .warning
            try? FileManager.default.removeItem(atPath: dataDir)
            cfg.dataDir = dataDir
            cfg.store.path = (dataDir as NSString).appendingPathComponent("patrolhub.sqlite")
            cfg.broker.mode = .embedded
            cfg.broker.port = 0
            let hub = try Hub(config: cfg, logger: logger)
            let group = try hub.start()
            print("PatrolHub demo: embedded mosquitto on 127.0.0.1:\(hub.brokerPort), store \(cfg.store.path)")

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                if let http = hub.http {
                    let port = try await http.waitForPort()
                    print("live board (指挥调度大屏): http://\(cfg.http.host.contains(":") ? "[\(cfg.http.host)]" : cfg.http.host):\(port)/")
                }

                // Watch the output topic like an integrator would.
                var watch = MQTTClient.Options()
                watch.host = hub.brokerHost
                watch.port = hub.brokerPort
                watch.clientID = "patrolhub-demo-watch"
                watch.cleanSession = true
                watch.subscriptions = ["\(cfg.topicPrefix)/out/#"]
                let watcher = MQTTClient(options: watch, logger: logger) { batch in
                    for m in batch { print(Self.describe(topic: m.topic, payload: m.payload)) }
                    return true
                }
                try watcher.start()
                var feedOptions = watch
                feedOptions.clientID = "patrolhub-demo-feed"
                feedOptions.subscriptions = []
                let feed = MQTTClient(options: feedOptions, logger: logger)
                try feed.start()
                try await Self.waitUntil(timeout: 15) { hub.ingest.client.isConnected && watcher.isConnected && feed.isConnected }

                let messages = DemoFeed.messages(prefix: cfg.topicPrefix, registry: hub.registry, now: Date())
                print("publishing \(messages.count) events from \(Set(messages.map(\.topic)).count) topics …")
                var mids: [Int32] = []
                for m in messages { mids.append(try feed.publish(topic: m.topic, payload: Array(m.payload.utf8))) }
                let acked = await feed.waitForAcks(mids, timeout: .seconds(15))
                print("broker acknowledged \(acked.count) of \(mids.count)")

                // Wait until everything is processed and published.
                try await Self.waitUntil(timeout: 30) {
                    let s = try hub.store.status()
                    let outboxEmpty = try hub.store.outbox(limit: 1).isEmpty
                    return s.inboxPending == 0 && s.inboxReceived >= messages.count - DemoFeed.duplicateCount && outboxEmpty
                }
                try await Task.sleep(for: .milliseconds(300))
                feed.stop()
                watcher.stop()
                let status = try hub.store.status()
                print("\nstore (\(cfg.store.path)):\n\(status.text)")
                print("\ndead letters:")
                for d in try hub.store.deadLetters() { print("  \(d.reason.padding(toLength: 15, withPad: " ", startingAt: 0)) \(d.topic): \(d.detail)") }
                print("\nlook again later: .build/debug/patrolhub status --store \(cfg.store.path) [--json]")
                if serve {
                    print("the hub keeps running for the live board: Ctrl-C stops it")
                    try await tasks.next()
                    return
                }
                await group.triggerGracefulShutdown()
                try await tasks.next()
            }
        }

        static func describe(topic: String, payload: [UInt8]) -> String {
            guard let v = try? JSONParser.parse(payload) else { return "\(topic): \(String(decoding: payload, as: UTF8.self))" }
            let id = v["id"]?.stringValue ?? "?"
            let kind = v["kind"]?.stringValue ?? "?"
            let items = v["risk_item_ids"].map { if case .array(let a) = $0 { return a.count }; return 0 } ?? 0
            return "\(topic)  \(id) [\(kind)] zone \(v["zone"]?.stringValue ?? "?") \(v["category"]?.stringValue ?? "?") sev \(Int(v["severity"]?.doubleValue ?? 0)) items \(items): \(v["text"]?.stringValue ?? "")"
        }

        static func waitUntil(timeout: Double, _ condition: () throws -> Bool) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if try condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ValidationError("timed out after \(Int(timeout)) s waiting for the hub")
        }
    }
}

/// The demo's built-in feed: a few minutes of a district's cameras, with the
/// situations a dispatch room should see and the noise it should not.
enum DemoFeed {
    struct Message { var topic: String; var payload: String }

    /// Messages published twice on purpose (absorbed by the inbox).
    static let duplicateCount = 1

    static func messages(prefix: String, registry: Registry, now: Date) -> [Message] {
        let cams = registry.cameras.keys.sorted()
        guard cams.count >= 4 else { return [] }
        func t(_ minutesAgo: Double) -> String { now.addingTimeInterval(-minutesAgo * 60).rfc3339 }
        func event(_ cam: String, _ id: String, _ type: String, _ minutesAgo: Double, extra: String = "") -> Message {
            Message(topic: "\(prefix)/camera/\(cam)/event", payload: #"{"id":"\#(id)","type":"\#(type)","time":"\#(t(minutesAgo))","confidence":0.9\#(extra)}"#)
        }
        var out: [Message] = []
        // Intrusions into a closed area at cam[0]: three in 8 minutes (threshold 3 in 10) → warning slip.
        out.append(event(cams[0], "d-1001", "intrusion", 9))
        out.append(event(cams[0], "d-1002", "intrusion", 5))
        out.append(event(cams[0], "d-1003", "intrusion", 1))
        // A crowd gathering (severity 2) → warning slip at once.
        out.append(event(cams[4], "d-1101", "crowd_gathering", 3, extra: #","count":60"#))
        // A fight on cam[1]: severity 1 → slip at once.
        out.append(event(cams[1], "d-2001", "fight", 2))
        // Scattered low-level noise: no slip.
        out.append(event(cams[2], "d-3001", "illegal_parking", 7))
        out.append(event(cams[3], "d-3002", "garbage", 6))
        out.append(event(cams[2], "d-3003", "loitering", 4))
        // A QoS 1 redelivery / device retry of the same bytes.
        out.append(out[4])
        // cam[3] goes offline, then reports an intrusion: muted (inhibition).
        out.append(Message(topic: "\(prefix)/camera/\(cams[3])/status", payload: #"{"status":"offline","time":"\#(t(3))"}"#))
        out.append(event(cams[3], "d-4001", "intrusion", 2))
        // A grid worker's fall alarm from a patrol device: severity 1 → slip at once.
        if let device = registry.devices.keys.sorted().first {
            out.append(Message(topic: "\(prefix)/device/\(device)/sos", payload: #"{"id":"sos-1","time":"\#(t(1))","kind":"fall","location":{"lat":29.6552,"lon":91.1318}}"#))
        }
        // A GB/T 28181 gateway forwards a crowd-density alarm (method 5, type 10) in Beijing time.
        if cams.count > 5 {
            let local = String(now.addingTimeInterval(8 * 3600 - 120).rfc3339.prefix(19))
            out.append(Message(topic: "\(prefix)/gb28181/gw-01/alarm", payload: """
                <?xml version="1.0" encoding="UTF-8"?>
                <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>\(cams[5])</DeviceID><AlarmPriority>2</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>\(local)</AlarmTime><AlarmDescription>人员密度超限</AlarmDescription><Info><AlarmType>10</AlarmType></Info></Notify>
                """))
        }
        // Bad input: each becomes a dead letter with its reason.
        out.append(Message(topic: "\(prefix)/camera/\(cams[0])/event", payload: #"{"id":"d-9001","type":"fight","time":"#))
        out.append(Message(topic: "\(prefix)/camera/\(cams[0])/event", payload: #"{"id":"d-9002","time":"\#(t(1))"}"#))
        out.append(Message(topic: "\(prefix)/camera/\(cams[0])/event", payload: #"{"id":"d-9003","type":"fight","time":"\#(t(1))","confidence":"high"}"#))
        out.append(Message(topic: "\(prefix)/camera/cam-999/event", payload: #"{"id":"d-9004","type":"fight","time":"\#(t(1))"}"#))
        return out
    }
}
