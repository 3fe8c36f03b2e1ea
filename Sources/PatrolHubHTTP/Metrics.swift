import Alerts
import AlertsStore
import Foundation

/// `GET /metrics`: the store's counts and the pipeline's lag in the
/// Prometheus text exposition format (version 0.0.4), written by hand: a
/// few gauges read from the store at each scrape, so every hub process and
/// `patrolhub status` agree on the numbers.
struct MetricsExposition {
    private var out = ""

    /// The exposition for one scrape.
    static func render(status: StoreStatus, lag: TimeInterval, streamClients: Int, httpConnections: Int = 0, changeSeq: Int64) -> String {
        var m = MetricsExposition()
        m.gauge("patrolhub_inbox_received", "Messages in the inbox (received and not yet pruned).", [([], status.inboxReceived)])
        m.gauge("patrolhub_inbox_processed", "Inbox messages the pipeline has processed.", [([], status.inboxProcessed)])
        m.gauge("patrolhub_inbox_pending", "Inbox messages waiting for the pipeline.", [([], status.inboxPending)])
        m.gauge("patrolhub_pipeline_lag_seconds", "Age of the oldest message the pipeline has not processed (0 when drained).", [([], lag)])
        let reasons = Set(DecodeError.Reason.allCases.map(\.rawValue)).union(status.deadLetters.keys).sorted()
        m.gauge("patrolhub_dead_letters", "Dead letters by reason.", reasons.map { ([("reason", $0)], status.deadLetters[$0] ?? 0) })
        let itemStates = Set(["open", "closed"]).union(status.riskItems.keys).sorted()
        m.gauge("patrolhub_risk_items", "Risk items by state.", itemStates.map { ([("state", $0)], status.riskItems[$0] ?? 0) })
        m.gauge("patrolhub_risk_items_suppressed", "Risk items muted by a silence or inhibition.", [([], status.riskItemsSuppressed)])
        var slips: [([(String, String)], Double)] = []
        for kind in Set(Slip.Kind.allCases.map(\.rawValue)).union(status.slips.keys).sorted() {
            for state in Set(["open", "closed"]).union(status.slips[kind].map { Array($0.keys) } ?? []).sorted() {
                slips.append(([("kind", kind), ("state", state)], Double(status.slips[kind]?[state] ?? 0)))
            }
        }
        m.gauge("patrolhub_slips", "Slips (warning slips, reminder letters, supervision orders) by kind and state.", slips)
        let caseStates = Set(Case.State.allCases.map(\.rawValue)).union(status.cases.keys).sorted()
        m.gauge("patrolhub_cases", "Cases by state.", caseStates.map { ([("state", $0)], status.cases[$0] ?? 0) })
        m.gauge("patrolhub_unmapped_inputs", "Messages that decoded to nothing because no rule maps their ONVIF topic, Frigate label or onvif2mqtt event (since the store was created), by format and name; at most \(maxUnmappedSeries) names per format, the rest under name=\"\(UnmappedInputs.overflowLabel)\".",
                unmappedSamples(status.unmapped))
        m.counter("patrolhub_late_events_total", "Events older than the lateness bound (event_time.lateness_seconds) when they arrived: kept as risk items marked late, opening no slip or case.", Double(status.lateEvents))
        if let newest = status.newestEventTime {
            m.gauge("patrolhub_newest_event_time_seconds", "The newest event time the pipeline has seen (unix seconds): events older than it minus the lateness bound are late.", [([], newest.timeIntervalSince1970)])
        }
        m.counter("patrolhub_store_pruned_rows_total", "Rows the housekeeper deleted under the retention.* and store.inbox_retention_days settings since the store was created, by table.",
                  status.pruned.sorted { $0.key < $1.key }.map { ([("table", $0.key)], Double($0.value)) })
        m.gauge("patrolhub_stream_clients", "Clients connected to /api/v1/stream.", [([], streamClients)])
        m.gauge("patrolhub_http_connections", "HTTP connections open (at http.max_connections new ones wait to be accepted).", [([], httpConnections)])
        m.counter("patrolhub_changes_total", "Changes of risk items, slips and cases and case transitions recorded (the stream's last event id).", Double(changeSeq))
        return m.out
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

    private mutating func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Int)]) {
        gauge(name, help, samples.map { ($0.0, Double($0.1)) })
    }

    private mutating func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
        for (labels, value) in samples { sample(name, labels, value) }
    }

    private mutating func counter(_ name: String, _ help: String, _ value: Double) {
        counter(name, help, [([], value)])
    }

    private mutating func counter(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
        for (labels, value) in samples { sample(name, labels, value) }
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        out += name
        if !labels.isEmpty {
            out += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        out += " " + Self.format(value) + "\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.3f", v)
    }
}
