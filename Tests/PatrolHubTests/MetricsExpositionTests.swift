import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// `/metrics`: the exposition from given store figures (no I/O), and a live
/// hub's exposition read by a reference parser (prometheus_client) while real
/// MQTT messages go through it.
@Suite("Metrics exposition")
struct MetricsExpositionTests {
    @Test("every family has HELP and TYPE, known label values appear at zero, values and labels are formatted")
    func exposition() {
        var s = StoreStatus()
        s.inboxReceived = 12
        s.inboxProcessed = 10
        s.inboxPending = 2
        s.riskItems = ["open": 5]
        s.slips = ["warning": ["open": 2, "closed": 1]]
        s.cases = ["new": 1]
        s.pruned = ["event_keys": 7000, "inbox": 12]
        s.deadLettersPending = 4
        s.deadLettersReplayed = 8
        s.unmapped = [UnmappedInputCount(format: "onvif", name: #"Vendor/"Odd""#, count: 7, firstSeen: .distantPast, lastSeen: .distantPast, device: "cam")]
        let text = MetricsExposition.render(status: s, lag: 2.5, streamClients: 3, httpConnections: 4, changeSeq: 42)
        let lines = text.split(separator: "\n").map(String.init)
        for expected in [
            "patrolhub_inbox_received 12.0", "patrolhub_inbox_processed 10.0", "patrolhub_inbox_pending 2.0",
            "patrolhub_pipeline_lag_seconds 2.5", #"patrolhub_dead_letters_total{reason="malformed"} 0"#,
            #"patrolhub_dead_letters_total{reason="clock_skew"} 0"#, #"patrolhub_messages_in_total{kind="frigate",format="frigate"} 0"#,
            #"patrolhub_risk_items{state="open"} 5.0"#, #"patrolhub_outcomes_total{kind="risk_item",op="new"} 0"#,
            #"patrolhub_slips{kind="warning",state="closed"} 1.0"#, #"patrolhub_slips{kind="supervision",state="open"} 0.0"#,
            #"patrolhub_cases{state="new"} 1.0"#, #"patrolhub_cases{state="false_alarm"} 0.0"#,
            "# TYPE patrolhub_dead_letters_pending gauge", "patrolhub_dead_letters_pending 4.0",
            "# TYPE patrolhub_dead_letters_replayed_total counter", "patrolhub_dead_letters_replayed_total 8",
            "patrolhub_stream_clients 3.0", "patrolhub_http_connections 4.0", #"patrolhub_unmapped_inputs{format="onvif",name="Vendor/\"Odd\""} 7.0"#,
            "# TYPE patrolhub_changes_total counter", "patrolhub_changes_total 42",
            "# TYPE patrolhub_store_pruned_rows_total counter", #"patrolhub_store_pruned_rows_total{table="event_keys"} 7000"#,
            #"patrolhub_store_pruned_rows_total{table="inbox"} 12"#,
            "# TYPE patrolhub_pipeline_batch_seconds histogram", "patrolhub_pipeline_batch_seconds_count 0",
            "# TYPE patrolhub_message_commit_latency_seconds histogram", #"patrolhub_message_commit_latency_seconds_bucket{le="0.001"} 0"#,
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        #expect(!lines.contains { $0.hasPrefix(#"patrolhub_risk_items{state="closed"}"#) }, "closed risk items are not counted at each scrape")
        let families = lines.filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) }
        #expect(families.count == 22, "\(families.sorted())") // patrolhub_newest_event_time_seconds only once an event was seen
        #expect(Set(families).count == families.count)
        #expect(lines.filter { $0.hasPrefix("# HELP ") }.count == families.count)
        for line in lines where !line.hasPrefix("#") {
            #expect(families.contains { f in ["", "_bucket", "_sum", "_count"].contains { line.hasPrefix(f + $0 + " ") || line.hasPrefix(f + $0 + "{") } },
                    "sample \(line) belongs to a declared family")
        }
    }

    @Test("unmapped inputs: the most frequent names per format, the rest in one (other) series")
    func unmappedSeriesAreCapped() {
        var s = StoreStatus()
        let n = MetricsExposition.maxUnmappedSeries + 5
        s.unmapped = (0..<n).map { i in
            UnmappedInputCount(format: "onvif", name: "T\(i)", count: n - i, firstSeen: .distantPast, lastSeen: .distantPast, device: "d")
        } + [UnmappedInputCount(format: "onvif", name: "", count: 100, firstSeen: .distantPast, lastSeen: .distantPast, device: "d"),
             UnmappedInputCount(format: "frigate", name: "goat", count: 1, firstSeen: .distantPast, lastSeen: .distantPast, device: "yard")]
        let lines = MetricsExposition.render(status: s, lag: 0, streamClients: 0, changeSeq: 0).split(separator: "\n").map(String.init)
        let series = lines.filter { $0.hasPrefix("patrolhub_unmapped_inputs{") }
        #expect(series.count == MetricsExposition.maxUnmappedSeries + 2)
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="onvif",name="T0"} \#(n).0"#))
        #expect(!series.contains { $0.contains(#"name="T\#(n - 1)""#) })
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="onvif",name="(other)"} 115.0"#)) // 5 smallest (1…5) + the store's overflow 100
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="frigate",name="goat"} 1.0"#))
    }

    @Test("scrape after scrape: a name that left the unmapped list leaves the exposition; store totals stay counters that follow the store")
    func seriesFollowTheStore() {
        let m = HubMetrics()
        var state = HubMetrics.ScrapeState()
        var s = StoreStatus()
        s.unmapped = [UnmappedInputCount(format: "frigate", name: "goat", count: 2, firstSeen: .distantPast, lastSeen: .distantPast, device: "yard")]
        s.lateEvents = 3
        m.update(status: s, lag: 0, streamClients: 0, httpConnections: 0, changeSeq: 42, state: &state)
        s.unmapped = [UnmappedInputCount(format: "frigate", name: "yak", count: 1, firstSeen: .distantPast, lastSeen: .distantPast, device: "yard")]
        s.lateEvents = 5
        m.update(status: s, lag: 0, streamClients: 0, httpConnections: 0, changeSeq: 50, state: &state)
        let lines = m.registry.emitToString().split(separator: "\n").map(String.init)
        #expect(lines.contains(#"patrolhub_unmapped_inputs{format="frigate",name="yak"} 1.0"#))
        #expect(!lines.contains { $0.contains(#"name="goat""#) })
        #expect(lines.contains("patrolhub_late_events_total 5"))
        #expect(lines.contains("patrolhub_changes_total 50"))
    }

    @Test("a live hub's /metrics parses with prometheus_client; messages, dead letters, outcomes, MQTT reconnects, HTTP requests and both histograms move")
    func liveHub() async throws {
        try await withLiveHub { _, hub, pub in
            let port = try await hub.hub.http!.waitForPort()
            let c = TestHTTPClient(port: port, token: nil)
            let before = try await Scrape.get(c)
            for (family, type) in [
                ("patrolhub_messages_in", "counter"), ("patrolhub_dead_letters", "counter"), ("patrolhub_outcomes", "counter"),
                ("patrolhub_slips_issued", "counter"), ("patrolhub_mqtt_connects", "counter"), ("patrolhub_mqtt_disconnects", "counter"),
                ("patrolhub_pipeline_batch_seconds", "histogram"), ("patrolhub_message_commit_latency_seconds", "histogram"),
                ("patrolhub_inbox_pending", "gauge"), ("patrolhub_pipeline_lag_seconds", "gauge"), ("patrolhub_stream_clients", "gauge"),
                ("patrolhub_http_connections", "gauge"), ("patrolhub_changes", "counter"), ("patrolhub_late_events", "counter"),
                ("patrolhub_dead_letters_pending", "gauge"), ("patrolhub_dead_letters_replayed", "counter"),
            ] {
                #expect(before.families[family]?.type == type, "\(family) is a \(type) in:\n\(before.text)")
            }
            #expect(before.value("patrolhub_mqtt_connects_total", ["client": "ingest"]) == 1)
            #expect(before.value("patrolhub_messages_in_total", ["kind": "camera_event", "format": "native"]) == 0)

            let now = Date()
            try await pub.publishAll([
                (eventTopic("cam-001"), cameraEvent("m-1", type: "fight", time: now.addingTimeInterval(-30))),
                (eventTopic("cam-001"), cameraEvent("m-2", type: "intrusion", time: now.addingTimeInterval(-20))),
                (eventTopic("cam-002"), cameraEvent("m-3", type: "intrusion", time: now.addingTimeInterval(-10))),
                (eventTopic("cam-001"), Array("{not json".utf8)),
                ("patrolhub/v1/camera/cam-001/status", Array(#"{"status":"online"}"#.utf8)),
            ])
            try await hub.waitProcessed(received: 5)
            // The histogram is told of a batch just after its commit: wait for it, not for a time.
            let after = try await Scrape.waitFor(c, "5 messages measured") {
                ($0.value("patrolhub_message_commit_latency_seconds_count") ?? 0) >= 5
            }
            func rise(_ sample: String, _ labels: [String: String] = [:]) -> Double {
                (after.value(sample, labels) ?? .nan) - (before.value(sample, labels) ?? .nan)
            }
            #expect(rise("patrolhub_messages_in_total", ["kind": "camera_event", "format": "native"]) == 4)
            #expect(rise("patrolhub_messages_in_total", ["kind": "camera_status", "format": "native"]) == 1)
            #expect(rise("patrolhub_dead_letters_total", ["reason": "malformed"]) == 1)
            #expect(rise("patrolhub_outcomes_total", ["kind": "risk_item", "op": "new"]) >= 3)
            #expect(rise("patrolhub_message_commit_latency_seconds_count") == 5)
            #expect(rise("patrolhub_pipeline_batch_seconds_count") >= 1)
            #expect(rise("patrolhub_message_commit_latency_seconds_sum") > 0)
            #expect(after.value("patrolhub_inbox_pending") == 0)
            #expect(after.value("patrolhub_inbox_received") == 5)
            #expect(after.value("patrolhub_http_requests_total", ["route": "/metrics", "method": "GET", "status": "200"]) ?? 0 >= 1)
            for histogram in ["patrolhub_pipeline_batch_seconds", "patrolhub_message_commit_latency_seconds"] {
                try after.checkHistogram(histogram)
            }
            #expect(after.value("patrolhub_dead_letters_pending") == Double(try hub.store.status().deadLettersTotal), "the broken payload and the status without its time")
            #expect(after.value("patrolhub_dead_letters_pending") == 2)
            #expect(after.value("patrolhub_dead_letters_replayed_total") == 0)

            // The malformed message replayed: it is marked replayed and, malformed again, a new dead letter under the replay's key.
            let replay = try await c.post("/api/v1/dead-letters/replay", #"{"reason":"malformed","by":"test"}"#)
            #expect(replay.status == 200, "\(replay.text)")
            try await hub.waitProcessed(received: 6)
            let replayed = try await Scrape.waitFor(c, "the replayed copy dead-lettered again") {
                $0.value("patrolhub_dead_letters_total", ["reason": "malformed"]) == (before.value("patrolhub_dead_letters_total", ["reason": "malformed"]) ?? .nan) + 2
            }
            #expect(replayed.value("patrolhub_dead_letters_replayed_total") == 1)
            #expect(replayed.value("patrolhub_dead_letters_pending") == 2, "the replayed one is no longer pending, its failed copy is")

            // A lost connection: counted when it ends and again when the client is back.
            hub.hub.ingest.client.interruptConnection()
            try await waitUntil("the ingest client reconnected") { hub.hub.ingest.client.connectCount >= 2 && hub.hub.ingest.client.isConnected }
            // Paths a client chooses become no label: the route's pattern does, or nothing.
            #expect(try await c.get("/api/v1/cases/AJ-attacker-chosen").status == 404)
            #expect(try await c.get("/attacker/chosen/path").status == 404)
            let last = try await Scrape.get(c)
            #expect(last.value("patrolhub_mqtt_connects_total", ["client": "ingest"]) == 2)
            #expect(last.value("patrolhub_mqtt_disconnects_total", ["client": "ingest"]) == 1)
            #expect(last.value("patrolhub_mqtt_connects_total", ["client": "publisher"]) ?? 0 >= 1)
            #expect(last.value("patrolhub_http_requests_total", ["route": "/api/v1/cases/{id}", "method": "GET", "status": "404"]) == 1)
            #expect(!last.text.contains("attacker"), "no label holds a path a client sent:\n\(last.text)")

            // The sample dashboard and the docs name only series the hub has; docs/METRICS.md names every family.
            let pattern = try Regex("patrolhub_[a-z0-9_]+")
            for doc in ["docs/grafana-dashboard.json", "docs/METRICS.md", "docs/DEPLOY.md"] {
                let text = try String(contentsOf: packageRoot.appendingPathComponent(doc), encoding: .utf8)
                // Series that appear once there is one: an unmapped input, a pruned row.
                let onceSeen: Set = ["patrolhub_unmapped_inputs", "patrolhub_store_pruned_rows_total"]
                for name in Set(text.matches(of: pattern).map { String(text[$0.range]) }).subtracting(onceSeen) {
                    #expect(last.family(of: name) != nil, "\(doc) names \(name), which /metrics does not have")
                }
                if doc == "docs/METRICS.md" {
                    for family in last.families.keys { #expect(text.contains(family), "docs/METRICS.md documents \(family)") }
                }
            }
        }
    }
}

/// One scrape of `/metrics`, parsed by prometheus_client (scripts/metrics/parse_exposition.py).
struct Scrape {
    struct Sample { var name: String; var labels: [String: String]; var value: Double }
    struct Family { var type: String; var samples: [Sample] }
    let text: String
    let families: [String: Family]

    /// The value of the sample named `name` with exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.values.lazy.flatMap(\.samples).first { $0.name == name && $0.labels == labels }?.value
    }

    /// The family a series name belongs to (`_total` of a counter, `_bucket`, `_sum`, `_count` of a histogram).
    func family(of name: String) -> String? {
        if families[name] != nil { return name }
        for suffix in ["_total", "_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if families[base] != nil { return base }
        }
        return nil
    }

    /// Buckets ascend and are cumulative; `+Inf` equals `_count`.
    func checkHistogram(_ name: String) throws {
        let family = try #require(families[name])
        let buckets = family.samples.filter { $0.name == name + "_bucket" }
        let bounds = buckets.map { $0.labels["le"] == "+Inf" ? Double.infinity : Double($0.labels["le"]!)! }
        #expect(bounds == bounds.sorted() && bounds.last == .infinity, "\(name): \(bounds)")
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value }, "\(name) buckets are cumulative")
        #expect(buckets.last?.value == value(name + "_count"))
    }

    /// GETs `/metrics` and parses it; fails unless the reference parser accepts the whole text.
    static func get(_ c: TestHTTPClient) async throws -> Scrape {
        let r = try await c.get("/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return try parse(r.text)
    }

    /// Scrapes until `condition` holds (throws after `timeout` seconds, naming `what`).
    static func waitFor(_ c: TestHTTPClient, _ what: String, timeout: Double = 20, _ condition: (Scrape) -> Bool) async throws -> Scrape {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let s = try await get(c)
            if condition(s) { return s }
            guard Date() < deadline else { throw TestFailure("timed out after \(timeout) s waiting for /metrics: \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Debian's python3 with python3-prometheus-client (`make deps` installs it).
    static let python = "/usr/bin/python3"

    static func parse(_ text: String) throws -> Scrape {
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.write("metrics.txt", text)
        let script = packageRoot.appendingPathComponent("scripts/metrics/parse_exposition.py").path
        let (status, output) = try runProcess(python, [script, file])
        try #require(status == 0, "prometheus_client refused the exposition (python3-prometheus-client comes with `make deps`): \(output)\n\(text)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]])
        var families: [String: Family] = [:]
        for (name, f) in json {
            let samples = (f["samples"] as? [[String: Any]] ?? []).map {
                Sample(name: $0["name"] as? String ?? "", labels: $0["labels"] as? [String: String] ?? [:], value: ($0["value"] as? NSNumber)?.doubleValue ?? .nan)
            }
            families[name] = Family(type: f["type"] as? String ?? "", samples: samples)
        }
        return Scrape(text: text, families: families)
    }
}
