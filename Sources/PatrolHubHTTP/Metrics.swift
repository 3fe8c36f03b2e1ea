import Alerts
import AlertsStore
import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The hub's metrics: one swift-prometheus registry per hub, exposed at
/// `GET /metrics` in the Prometheus text format (docs/METRICS.md lists every
/// family). What happens in the process is counted as it happens (messages
/// in, dead letters, outcomes, MQTT connections, HTTP requests, batch and
/// latency histograms); what the store holds is read at each scrape, only
/// where that is cheap (`DisputeStore.metricsStatus`).
///
/// The registry is injected, never taken from the global `MetricsSystem`:
/// a test process runs many hubs, and the global can be bootstrapped only
/// once. `patrolhub serve` also bootstraps the global with this registry's
/// factory (`bootstrapGlobal`), so any library using swift-metrics reports
/// there too.
public final class HubMetrics: Sendable {
    /// Where every metric of this hub is registered.
    public let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory over `registry`.
    public let factory: PrometheusMetricsFactory

    private let messagesIn: [Prometheus.Counter]
    private let batchSeconds: ValueHistogram
    private let commitLatency: ValueHistogram
    private let scrapeState = Mutex(ScrapeState())

    /// Upper bounds of `patrolhub_pipeline_batch_seconds` (0.5 ms … 5 s).
    public static let batchBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    /// Upper bounds of `patrolhub_message_commit_latency_seconds` (1 ms … 60 s).
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// The label values of `patrolhub_outcomes_total`: the change log's subject kinds and ops.
    static let outcomeKinds = ["risk_item", "slip", "case", "transition"], outcomeOps = ["new", "updated"]
    /// HTTP methods counted by name; any other is `other` (a client chooses the method).
    static let httpMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// What scrapes carry from one to the next (under one lock: scrapes may overlap).
    struct ScrapeState {
        /// The newest dead letter id and change seq counted (nil: the hub has not started counting).
        var marks: (deadLetter: Int64, change: Int64)?
        /// The store-derived counters' last values, by series.
        var counted: [String: Int64] = [:]
        /// The `patrolhub_unmapped_inputs` series of the last scrape.
        var unmapped: [[String]: Prometheus.Gauge] = [:]
    }

    /// A hub's metrics in `registry` (a new one by default), every known label value at zero.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        factory = PrometheusMetricsFactory(registry: registry)
        messagesIn = InputKind.allCases.map {
            registry.hubCounter(name: "patrolhub_messages_in_total", labels: [("kind", $0.label), ("format", $0.format)],
                                 help: "Messages the pipeline took from the inbox, by topic kind and payload format.")
        }
        batchSeconds = registry.hubHistogram(name: "patrolhub_pipeline_batch_seconds", buckets: Self.batchBuckets,
                                                   help: "Wall seconds of one pipeline batch (decode, rules and its store transaction).")
        commitLatency = registry.hubHistogram(name: "patrolhub_message_commit_latency_seconds", buckets: Self.latencyBuckets,
                                                    help: "Seconds from a message's receipt by the hub to the commit of the pipeline batch that processed it.")
        for reason in DeadLetterReason.allCases { _ = deadLetterCounter(reason.rawValue) }
        for kind in Self.outcomeKinds { for op in Self.outcomeOps { _ = outcomeCounter(kind, op) } }
        for kind in Slip.Kind.allCases { _ = slipsIssuedCounter(kind.rawValue) }
    }

    // MARK: Counted as it happens

    /// One pipeline batch: its messages by kind, its time, and each message's
    /// receipt → commit latency (`committedAt` on the hub's clock, which runs
    /// `speed` times as fast as the wall). Once per batch, not per event.
    public func recordBatch(_ r: BatchResult, seconds: Double, committedAt: Date, speed: Double = 1) {
        guard r.messages > 0 else { return }
        batchSeconds.record(seconds)
        for (kind, n) in r.inputs.byKind.enumerated() where n > 0 { messagesIn[kind].increment(by: Int64(n)) }
        let now = committedAt.timeIntervalSince1970, scale = speed > 0 ? 1 / speed : 1
        for received in r.inputs.receivedAt { commitLatency.record(max(0, (now - received) * scale)) }
    }

    /// One HTTP request answered: `route` is the matched route's pattern
    /// (never the raw path), `method` one of a fixed set.
    public func httpRequest(route: String?, method: String, status: Int) {
        registry.hubCounter(name: "patrolhub_http_requests_total",
                             labels: [("route", route ?? "unmatched"), ("method", Self.httpMethods.contains(method) ? method : "other"), ("status", String(status))],
                             help: "HTTP requests answered, by matched route pattern, method and status code.").increment()
    }

    /// swift-metrics counters of one MQTT client's connections (`client`: `ingest`, `publisher`).
    public func mqttCounters(client: String) -> (connects: CoreMetrics.Counter, disconnects: CoreMetrics.Counter) {
        let connects = registry.hubCounter(name: "patrolhub_mqtt_connects_total", labels: [("client", client)],
                                            help: "Connections of the hub's MQTT clients accepted by the broker (reconnects included).")
        let disconnects = registry.hubCounter(name: "patrolhub_mqtt_disconnects_total", labels: [("client", client)],
                                               help: "Connections of the hub's MQTT clients that ended (lost, or closed at shutdown).")
        return (CoreMetrics.Counter(label: "patrolhub_mqtt_connects_total", dimensions: [("client", client)], handler: connects, factory: factory),
                CoreMetrics.Counter(label: "patrolhub_mqtt_disconnects_total", dimensions: [("client", client)], handler: disconnects, factory: factory))
    }

    private func deadLetterCounter(_ reason: String) -> Prometheus.Counter {
        registry.hubCounter(name: "patrolhub_dead_letters_total", labels: [("reason", reason)],
                             help: "Dead letters recorded since the hub started, by reason.")
    }

    private func outcomeCounter(_ kind: String, _ op: String) -> Prometheus.Counter {
        registry.hubCounter(name: "patrolhub_outcomes_total", labels: [("kind", kind), ("op", op)],
                             help: "Risk items, slips, cases and case transitions written since the hub started (the change log), by kind and op (new, updated).")
    }

    private func slipsIssuedCounter(_ kind: String) -> Prometheus.Counter {
        registry.hubCounter(name: "patrolhub_slips_issued_total", labels: [("kind", kind)],
                             help: "Slips issued since the hub started, by kind (warning, reminder, supervision).")
    }

    /// Starts counting dead letters and changes from what `store` holds now.
    public func startCounting(store: any DispatchStore) throws {
        let marks = try store.metricsMarks()
        scrapeState.withLock { $0.marks = marks }
    }

    /// Sets `MetricsSystem`'s factory to `metrics.factory`, once per process
    /// (swift-metrics allows one bootstrap; later calls do nothing).
    public static func bootstrapGlobal(_ metrics: HubMetrics) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(metrics.factory) }
    }

    private static let bootstrapped = Mutex(false)

    // MARK: Scrapes

    /// The exposition for one scrape: the store's cheap figures and what
    /// was counted since the last scrape are added, then the registry is written.
    public func scrape(store: any DispatchStore, now: Date, streamClients: Int, httpConnections: Int) throws -> String {
        try scrapeState.withLock { state throws in
            if let marks = state.marks {
                let t = try store.metricsTallies(afterDeadLetter: marks.deadLetter, afterChange: marks.change)
                add(t)
                state.marks = (t.deadLetterMark, t.changeMark)
            }
            let status = try store.metricsStatus()
            let lag = try store.oldestPendingReceivedAt().map { max(0, now.timeIntervalSince($0)) } ?? 0
            update(status: status, lag: lag, streamClients: streamClients, httpConnections: httpConnections,
                   changeSeq: try store.latestChangeSeq(), state: &state)
        }
        return registry.emitToString()
    }

    func add(_ t: StoreTallies) {
        let reasons = Set(DeadLetterReason.allCases.map(\.rawValue))
        for (reason, n) in t.deadLetters { deadLetterCounter(reasons.contains(reason) ? reason : "other").increment(by: Int64(n)) }
        for (kind, ops) in t.changes where Self.outcomeKinds.contains(kind) {
            for (op, n) in ops where Self.outcomeOps.contains(op) { outcomeCounter(kind, op).increment(by: Int64(n)) }
        }
        let slipKinds = Set(Slip.Kind.allCases.map(\.rawValue))
        for (kind, n) in t.slipsIssued where slipKinds.contains(kind) { slipsIssuedCounter(kind).increment(by: Int64(n)) }
    }

    /// Sets the store-derived families from `status` and the live gauges.
    func update(status: StoreStatus, lag: TimeInterval, streamClients: Int, httpConnections: Int, changeSeq: Int64, state: inout ScrapeState) {
        func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
            registry.hubGauge(name: name, labels: labels, help: help).set(value)
        }
        func counter(_ name: String, _ help: String, _ value: Int64, labels: [(String, String)] = []) {
            // The store's totals only grow; one that shrank (a replaced store) starts the series again.
            let c = registry.hubCounter(name: name, labels: labels, help: help)
            let key = ([name] + labels.flatMap { [$0.0, $0.1] }).joined(separator: "\u{1}")
            let last = state.counted[key] ?? 0
            if value < last { c.reset() }
            let delta = value < last ? value : value - last
            if delta > 0 { c.increment(by: delta) }
            state.counted[key] = value
        }
        gauge("patrolhub_inbox_received", "Messages the inbox has received since the store was created (its last sequence number).", Double(status.inboxReceived))
        gauge("patrolhub_inbox_processed", "Inbox messages the pipeline has processed (its cursor).", Double(status.inboxProcessed))
        gauge("patrolhub_inbox_pending", "Inbox messages waiting for the pipeline (the inbox's depth).", Double(status.inboxPending))
        gauge("patrolhub_pipeline_lag_seconds", "Age of the oldest message the pipeline has not processed (0 when drained).", lag)
        gauge("patrolhub_risk_items", "Risk items by state (open only: closed ones are counted by patrolhub_outcomes_total).",
              Double(status.riskItems["open"] ?? 0), labels: [("state", "open")])
        gauge("patrolhub_risk_items_suppressed", "Open risk items muted by a silence or inhibition.", Double(status.riskItemsSuppressed))
        for kind in Set(Slip.Kind.allCases.map(\.rawValue)).union(status.slips.keys).sorted() {
            for st in Set(["open", "closed"]).union(status.slips[kind].map { Array($0.keys) } ?? []).sorted() {
                gauge("patrolhub_slips", "Slips (warning slips, reminder letters, supervision orders) by kind and state.",
                      Double(status.slips[kind]?[st] ?? 0), labels: [("kind", kind), ("state", st)])
            }
        }
        for st in Set(Case.State.allCases.map(\.rawValue)).union(status.cases.keys).sorted() {
            gauge("patrolhub_cases", "Cases by state.", Double(status.cases[st] ?? 0), labels: [("state", st)])
        }
        var unmapped: [[String]: Prometheus.Gauge] = [:]
        for (labels, n) in MetricsExposition.unmappedSamples(status.unmapped) {
            let g = registry.hubGauge(name: "patrolhub_unmapped_inputs", labels: labels,
                                       help: "Messages that decoded to nothing because no rule maps their ONVIF topic, Frigate label or onvif2mqtt event (since the store was created), by format and name; at most \(MetricsExposition.maxUnmappedSeries) names per format, the rest under name=\"\(UnmappedInputs.overflowLabel)\".")
            g.set(Double(n))
            unmapped[labels.flatMap { [$0.0, $0.1] }] = g
        }
        for (key, g) in state.unmapped where unmapped[key] == nil { registry.unregisterGauge(g) } // a name that left the top list
        state.unmapped = unmapped
        gauge("patrolhub_dead_letters_pending", "Dead letters in the store not replayed yet (patrolhub dead-letters list --pending).",
              Double(status.deadLettersPending))
        counter("patrolhub_dead_letters_replayed_total", "Dead letters replayed (patrolhub dead-letters replay, POST /api/v1/dead-letters/replay) since the store was created.",
                Int64(status.deadLettersReplayed))
        counter("patrolhub_late_events_total", "Events older than the lateness bound (event_time.lateness_seconds) when they arrived: kept as risk items marked late, opening no slip or case.",
                Int64(status.lateEvents))
        if let newest = status.newestEventTime {
            gauge("patrolhub_newest_event_time_seconds", "The newest event time the pipeline has seen (unix seconds): events older than it minus the lateness bound are late.",
                  newest.timeIntervalSince1970)
        }
        for (table, n) in status.pruned.sorted(by: { $0.key < $1.key }) {
            counter("patrolhub_store_pruned_rows_total", "Rows the housekeeper deleted under the retention.* and store.inbox_retention_days settings since the store was created, by table.",
                    Int64(n), labels: [("table", table)])
        }
        gauge("patrolhub_stream_clients", "Clients connected to /api/v1/stream.", Double(streamClients))
        gauge("patrolhub_http_connections", "HTTP connections open (at http.max_connections new ones wait to be accepted).", Double(httpConnections))
        counter("patrolhub_changes_total", "Changes of risk items, slips and cases and case transitions recorded (the stream's last event id).", changeSeq)
    }
}

extension PrometheusCollectorRegistry {
    /// The counter `name` with `labels` (made at its first use), described by `help`.
    func hubCounter(name: String, labels: [(String, String)] = [], help: String) -> Prometheus.Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The gauge `name` with `labels` (made at its first use), described by `help`.
    func hubGauge(name: String, labels: [(String, String)] = [], help: String) -> Prometheus.Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The histogram `name` with upper bounds `buckets`, described by `help`.
    func hubHistogram(name: String, buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), buckets: buckets)
    }
}

/// The text of one exposition from given store figures (no I/O), and the
/// cap on `patrolhub_unmapped_inputs` series.
enum MetricsExposition {
    /// The exposition of a fresh hub's metrics with these store figures.
    static func render(status: StoreStatus, lag: TimeInterval, streamClients: Int, httpConnections: Int = 0, changeSeq: Int64) -> String {
        let m = HubMetrics()
        var state = HubMetrics.ScrapeState()
        m.update(status: status, lag: lag, streamClients: streamClients, httpConnections: httpConnections, changeSeq: changeSeq, state: &state)
        return m.registry.emitToString()
    }

    /// Series of `patrolhub_unmapped_inputs` per format: the store keeps up to
    /// `UnmappedInputs.maxNames` names, a scrape shows the most frequent.
    static let maxUnmappedSeries = 100

    static func unmappedSamples(_ rows: [UnmappedInputCount]) -> [([(String, String)], Int)] {
        var shown: [String: Int] = [:], other: [String: Int] = [:]
        var samples: [([(String, String)], Int)] = []
        for r in rows { // most frequent first
            if !r.isOverflow, shown[r.format, default: 0] < maxUnmappedSeries {
                shown[r.format, default: 0] += 1
                samples.append(([("format", r.format), ("name", r.name)], r.count))
            } else {
                other[r.format, default: 0] += r.count
            }
        }
        for (format, count) in other.sorted(by: { $0.key < $1.key }) {
            samples.append(([("format", format), ("name", UnmappedInputs.overflowLabel)], count))
        }
        return samples
    }
}
