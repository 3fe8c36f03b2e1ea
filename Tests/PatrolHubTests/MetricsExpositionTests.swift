import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// The Prometheus text of `/metrics`, from given counts (no I/O).
@Suite("Metrics exposition")
struct MetricsExpositionTests {
    @Test("every family has HELP and TYPE, known label values appear at zero, values and labels are formatted")
    func exposition() {
        var s = StoreStatus()
        s.inboxReceived = 12
        s.inboxProcessed = 10
        s.inboxPending = 2
        s.deadLetters = ["malformed": 3, #"we"ird\reason"#: 1]
        s.riskItems = ["open": 5]
        s.slips = ["warning": ["open": 2, "closed": 1]]
        s.cases = ["new": 1]
        s.pruned = ["event_keys": 7000, "inbox": 12]
        s.unmapped = [UnmappedInputCount(format: "onvif", name: #"Vendor/"Odd""#, count: 7, firstSeen: .distantPast, lastSeen: .distantPast, device: "cam")]
        let text = MetricsExposition.render(status: s, lag: 2.5, streamClients: 3, httpConnections: 4, changeSeq: 42)
        let lines = text.split(separator: "\n").map(String.init)
        for expected in [
            "patrolhub_inbox_received 12", "patrolhub_inbox_processed 10", "patrolhub_inbox_pending 2",
            "patrolhub_pipeline_lag_seconds 2.500", #"patrolhub_dead_letters{reason="malformed"} 3"#,
            #"patrolhub_dead_letters{reason="clock_skew"} 0"#, #"patrolhub_dead_letters{reason="we\"ird\\reason"} 1"#,
            #"patrolhub_risk_items{state="open"} 5"#, #"patrolhub_risk_items{state="closed"} 0"#,
            #"patrolhub_slips{kind="warning",state="closed"} 1"#, #"patrolhub_slips{kind="supervision",state="open"} 0"#,
            #"patrolhub_cases{state="new"} 1"#, #"patrolhub_cases{state="false_alarm"} 0"#,
            "patrolhub_stream_clients 3", "patrolhub_http_connections 4", #"patrolhub_unmapped_inputs{format="onvif",name="Vendor/\"Odd\""} 7"#, "# TYPE patrolhub_changes_total counter", "patrolhub_changes_total 42",
            "# TYPE patrolhub_store_pruned_rows_total counter", #"patrolhub_store_pruned_rows_total{table="event_keys"} 7000"#,
            #"patrolhub_store_pruned_rows_total{table="inbox"} 12"#,
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        let families = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(families.count == 15) // patrolhub_newest_event_time_seconds only once an event was seen
        #expect(lines.filter { $0.hasPrefix("# HELP ") }.count == families.count)
        for line in lines where !line.hasPrefix("#") {
            #expect(families.contains { line.hasPrefix($0 + " ") || line.hasPrefix($0 + "{") }, "sample \(line) belongs to a declared family")
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
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="onvif",name="T0"} \#(n)"#))
        #expect(!series.contains { $0.contains(#"name="T\#(n - 1)""#) })
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="onvif",name="(other)"} 115"#)) // 5 smallest (1…5) + the store's overflow 100
        #expect(series.contains(#"patrolhub_unmapped_inputs{format="frigate",name="goat"} 1"#))
    }
}
