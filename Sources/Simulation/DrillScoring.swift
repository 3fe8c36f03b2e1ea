import Alerts
import Foundation

/// An outcome the drill saw through the hub's HTTP API.
public struct ObservedOutcome: Sendable, Hashable {
    /// Which API list it came from.
    public var kind: DrillExpectation.Kind
    /// Its id in the hub (`RI-…`, `YJ-…`, `AJ-…`).
    public var id: String
    /// The zone the hub placed it in.
    public var zone: String
    /// Its category; nil when the API sends none.
    public var category: Category?
    /// Cases: every category of their evidence (the API's `categories`, when it sends one).
    public var categories: [Category]
    /// Its severity; nil when the API sends none.
    public var severity: Severity?
    /// Risk items: the camera or device.
    public var source: String?
    /// Risk items: whether muted (`suppressed_by` set).
    public var suppressed: Bool?
    /// The hub's processing-time stamp: `issued_at` (slips), `opened_at` (cases); nil for risk items.
    public var stampedAt: Date?
    /// Risk items: `first_seen` / `last_seen` (event time).
    public var firstSeen: Date?
    /// Risk items: the event time of the newest detection.
    public var lastSeen: Date?
    /// When the drill first saw it.
    public var observedAt: Date

    /// An outcome as read from the API; the drill runner makes them.
    public init(kind: DrillExpectation.Kind, id: String, zone: String, category: Category?, categories: [Category] = [], severity: Severity?,
                source: String? = nil, suppressed: Bool? = nil, stampedAt: Date? = nil, firstSeen: Date? = nil, lastSeen: Date? = nil,
                observedAt: Date) {
        self.kind = kind
        self.id = id
        self.zone = zone
        self.category = category
        self.categories = categories
        self.severity = severity
        self.source = source
        self.suppressed = suppressed
        self.stampedAt = stampedAt
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.observedAt = observedAt
    }

    /// `YJ-00000003 warning 540102-001-001-02 loitering sev 3`.
    public var summary: String {
        var s = "\(id) \(kind.rawValue) \(zone)"
        if let category { s += " \(category.rawValue)" }
        if let severity { s += " sev \(severity.rawValue)" }
        if let source { s += " from \(source)" }
        if suppressed == true { s += " (suppressed)" }
        return s
    }
}

/// What happened on the wall clock during a run, as the simulator recorded it.
public struct DrillTimeline: Sendable {
    /// Maps scenario seconds to the event times the run stamped.
    public var clock: SimulationClock
    /// When the first message went out.
    public var startedAt: Date
    /// When the last message was acknowledged by the broker.
    public var finishedAt: Date
    /// Trigger label → when its message was published.
    public var triggerSent: [String: Date]
    /// (scenario offset, wall time) of published messages, in order, for mapping `during` windows.
    public var progress: [(offset: TimeInterval, wall: Date)]
    /// Labels of steps beyond a shortened `--duration` (their expectations are not run).
    public var skipped: Set<String>
    /// How long after the run the drill keeps looking for outcomes.
    public var settle: TimeInterval
    /// Allowed difference between the simulator's and the hub's clocks.
    public var tolerance: TimeInterval

    /// A timeline recorded by the simulator.
    public init(clock: SimulationClock, startedAt: Date, finishedAt: Date, triggerSent: [String: Date],
                progress: [(offset: TimeInterval, wall: Date)], skipped: Set<String> = [], settle: TimeInterval = 10, tolerance: TimeInterval = 1) {
        self.clock = clock
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.triggerSent = triggerSent
        self.progress = progress
        self.skipped = skipped
        self.settle = settle
        self.tolerance = tolerance
    }

    /// How far the run had got at wall time `w`: the scenario offset of the last
    /// message published at or before it (0 before the first).
    public func offset(at w: Date) -> TimeInterval {
        var lo = 0, hi = progress.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if progress[mid].wall <= w { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? progress[lo - 1].offset : 0
    }
}

/// The verdict on one expectation.
public struct ExpectationResult: Sendable {
    /// `matched`: an outcome fits; `missed`: none does; `not run`: the run stopped before its trigger or window.
    public enum Status: String, Sendable { case matched, missed, notRun = "not run" }
    /// The expectation judged.
    public var expectation: DrillExpectation
    /// The verdict.
    public var status: Status
    /// Outcomes that fit the expectation.
    public var matches: [ObservedOutcome]
    /// Seconds from the trigger's publication to the first match.
    public var latency: TimeInterval?
    /// Why it failed, in one line.
    public var detail: String
}

/// The scored drill.
public struct DrillResult: Sendable {
    /// The scenario's name.
    public var scenario: String
    /// The scenario's file.
    public var file: String
    /// The seed of the run, to replay it exactly.
    public var seed: UInt64
    /// Scenario seconds per wall-clock second of the run.
    public var speed: Double
    /// Messages the simulator published.
    public var messages: Int
    /// Of those, how many the broker acknowledged.
    public var acknowledged: Int
    /// When the run started, finished and sent each trigger.
    public var timeline: DrillTimeline
    /// One verdict per expectation, in file order.
    public var results: [ExpectationResult]
    /// Outcomes that no positive expectation accounts for.
    public var unexpected: [ObservedOutcome]

    /// Expectations met.
    public var matched: Int { results.filter { $0.status == .matched }.count }
    /// Expectations the hub failed.
    public var missed: Int { results.filter { $0.status == .missed }.count }
    /// Expectations the run never reached.
    public var notRun: Int { results.filter { $0.status == .notRun }.count }
    /// 0–100: the share of expectations that were run and met.
    public var score: Int {
        let run = results.count - notRun
        return run == 0 ? 0 : Int((Double(matched) / Double(run) * 100).rounded(.down))
    }
    /// The drill passes when nothing was missed and something was matched (`patrolhub demo` exits 0).
    public var passed: Bool { missed == 0 && matched > 0 }
}

/// Scores a drill: each expectation against the outcomes the hub produced.
///
/// Times: `within` is the hub's response time on the wall clock, from the
/// trigger's publication to the outcome's `issued_at`/`opened_at` (when the
/// hub stamps processing time) or, for risk items, to when the drill first saw
/// it. `during` windows are scenario time: for risk items, their event times;
/// for slips and cases (stamped with processing time), how far the simulator
/// had got when the hub stamped them — at high speed that includes the hub's
/// processing delay times the speed.
public enum DrillScorer {
    /// Judges every expectation (the scenario's unless `expectations` is given) against `outcomes`, and lists the outcomes no positive expectation accounts for.
    public static func score(scenario: Scenario, expectations: [DrillExpectation]? = nil, seed: UInt64, messages: Int, acknowledged: Int,
                             timeline: DrillTimeline, outcomes: [ObservedOutcome]) -> DrillResult {
        let expectations = expectations ?? scenario.expectations
        var results: [ExpectationResult] = []
        var accounted = Set<String>()
        for e in expectations {
            let r = evaluate(e, timeline: timeline, outcomes: outcomes)
            if e.count != 0 { for m in r.matches { accounted.insert(m.id) } }
            results.append(r)
        }
        let runStart = timeline.startedAt.addingTimeInterval(-timeline.tolerance)
        let unexpected = outcomes.filter { o in
            o.kind != .riskItem && !accounted.contains(o.id) && wallTime(o, timeline) >= runStart
        }.sorted { ($0.observedAt, $0.id) < ($1.observedAt, $1.id) }
        return DrillResult(scenario: scenario.name, file: scenario.file, seed: seed, speed: timeline.clock.speed, messages: messages,
                           acknowledged: acknowledged, timeline: timeline, results: results, unexpected: unexpected)
    }

    /// The wall time an outcome appeared: the hub's processing stamp when it has
    /// one from this run, else when the drill first saw it.
    static func wallTime(_ o: ObservedOutcome, _ t: DrillTimeline) -> Date {
        if let s = o.stampedAt, s >= t.startedAt.addingTimeInterval(-t.tolerance), s <= o.observedAt.addingTimeInterval(t.tolerance) { return s }
        return o.observedAt
    }

    static func fits(_ e: DrillExpectation, _ o: ObservedOutcome) -> Bool {
        guard o.kind == e.kind else { return false }
        if let z = e.zone, o.zone != z { return false }
        if let c = e.category, o.category != c, !o.categories.contains(c) { return false }
        if let s = e.severity, o.severity != s { return false }
        if let src = e.source, o.source != src { return false }
        if let sup = e.suppressed, (o.suppressed ?? false) != sup { return false }
        return true
    }

    static func evaluate(_ e: DrillExpectation, timeline t: DrillTimeline, outcomes: [ObservedOutcome]) -> ExpectationResult {
        if let after = e.after, t.skipped.contains(after) || t.skipped.contains(after.split(separator: "#").first.map(String.init) ?? after) {
            return ExpectationResult(expectation: e, status: .notRun, matches: [], latency: nil,
                                     detail: "its trigger '\(after)' is beyond the run's --duration")
        }
        var triggerSent: Date?
        if let after = e.after {
            guard let sent = t.triggerSent[after] else {
                return ExpectationResult(expectation: e, status: .notRun, matches: [], latency: nil,
                                         detail: "its trigger '\(after)' was not published")
            }
            triggerSent = sent
        }
        let candidates = outcomes.filter { fits(e, $0) }
        let inWindow: [ObservedOutcome]
        let windowText: String
        if let sent = triggerSent {
            let within = e.within ?? DrillExpectation.defaultWithin
            let triggerEvent = t.clock.eventTime(offsetOfTrigger(sent, t))
            inWindow = candidates.filter { o in
                let w = wallTime(o, t)
                guard w >= sent.addingTimeInterval(-t.tolerance), w <= sent.addingTimeInterval(within) else { return false }
                if o.kind == .riskItem, let last = o.lastSeen, last < triggerEvent.addingTimeInterval(-t.tolerance) { return false }
                return true
            }
            windowText = "within \(SimDuration.format(within)) of \(e.after!)"
        } else {
            let range = e.during ?? 0...t.clock.duration
            let eventFrom = t.clock.eventTime(range.lowerBound), eventTo = t.clock.eventTime(range.upperBound)
            let toEnd = range.upperBound >= t.clock.duration
            inWindow = candidates.filter { o in
                if o.kind == .riskItem {
                    let first = o.firstSeen ?? o.observedAt, last = o.lastSeen ?? first
                    return first <= eventTo && last >= eventFrom
                }
                // Slips and cases carry processing time: place them on the scenario's
                // axis by how far the simulator had got when the hub stamped them.
                let w = wallTime(o, t)
                guard w >= t.startedAt.addingTimeInterval(-t.tolerance) else { return false }
                let at = t.offset(at: w)
                return at >= range.lowerBound && (toEnd || at <= range.upperBound)
            }
            windowText = e.during == nil ? "during the run" : "during \(SimDuration.format(range.lowerBound))–\(SimDuration.format(range.upperBound))"
        }
        let sorted = inWindow.sorted { (wallTime($0, t), $0.id) < (wallTime($1, t), $1.id) }
        // The hub stamps milliseconds (rounded down): a latency just below zero is zero.
        let latency = triggerSent.flatMap { sent in sorted.first.map { max(0, wallTime($0, t).timeIntervalSince(sent)) } }
        let ids = sorted.prefix(5).map(\.id).joined(separator: ", ") + (sorted.count > 5 ? ", …" : "")
        let ok: Bool
        let detail: String
        switch e.count {
        case nil:
            ok = !sorted.isEmpty
            if ok {
                detail = sorted.count == 1 ? sorted[0].id : "\(sorted.count): \(ids)"
            } else if let near = candidates.min(by: { abs(wallTime($0, t).timeIntervalSince(triggerSent ?? t.startedAt)) < abs(wallTime($1, t).timeIntervalSince(triggerSent ?? t.startedAt)) }) {
                let off = wallTime(near, t).timeIntervalSince(triggerSent ?? t.startedAt)
                detail = "none \(windowText); nearest \(near.id) at \(HubFormat.signedFixed(off, digits: 1)) s"
            } else {
                let sameKind = outcomes.filter { $0.kind == e.kind }.count
                detail = "none \(windowText) (the hub produced \(sameKind) \(e.kind.rawValue)\(sameKind == 1 ? "" : "s") in all)"
            }
        case let n?:
            ok = sorted.count == n
            detail = ok ? (n == 0 ? "none" : ids) : "found \(sorted.count)\(sorted.isEmpty ? "" : ": " + ids) \(windowText)"
        }
        return ExpectationResult(expectation: e, status: ok ? .matched : .missed, matches: sorted, latency: latency, detail: detail)
    }

    /// The scenario offset of a trigger, from when it was sent.
    static func offsetOfTrigger(_ sent: Date, _ t: DrillTimeline) -> TimeInterval { t.offset(at: sent) }
}

// MARK: - Reports

extension DrillResult {
    /// The one line naming each failed expectation (what a CI log shows).
    public var failureLines: [String] {
        results.filter { $0.status == .missed }.map { r in
            "FAILED \(file):\(r.expectation.line): expected \(r.expectation.summary) — \(r.detail)"
        }
    }

    func latencyText(_ r: ExpectationResult) -> String {
        guard let l = r.latency else { return "–" }
        return HubFormat.fixed(l, digits: 2) + " s"
    }

    var elapsed: TimeInterval { timeline.finishedAt.timeIntervalSince(timeline.startedAt) }

    var headline: String {
        "\(passed ? "PASSED" : "FAILED"): \(matched) matched, \(missed) missed, \(notRun) not run, \(unexpected.count) unexpected — score \(score)/100"
    }

    /// Plain text for a terminal.
    public var text: String {
        var lines: [String] = []
        lines.append("Drill: \(scenario) (\(file)), seed \(seed), speed \(formatSpeed(speed))")
        lines.append("Run: \(messages) messages, \(acknowledged) acknowledged, in \(HubFormat.fixed(elapsed, digits: 1)) s; scenario time \(timeline.clock.scenarioStart.rfc3339) + \(SimDuration.format(timeline.clock.duration))")
        lines.append("")
        for r in results {
            let mark: String
            switch r.status {
            case .matched: mark = "ok  "
            case .missed: mark = "FAIL"
            case .notRun: mark = "skip"
            }
            var line = "\(mark) line \(r.expectation.line): \(r.expectation.summary) — \(r.detail)"
            if r.latency != nil { line += " (latency \(latencyText(r)))" }
            lines.append(line)
        }
        if !unexpected.isEmpty {
            lines.append("")
            lines.append("Unexpected outcomes (no expectation names them):")
            for o in unexpected.prefix(50) { lines.append("  \(o.summary)") }
            if unexpected.count > 50 { lines.append("  … and \(unexpected.count - 50) more") }
        }
        lines.append("")
        lines.append(contentsOf: failureLines)
        if let hint = lateHint { lines.append(hint) }
        lines.append(headline)
        return lines.joined(separator: "\n")
    }

    /// When expectations were missed in a run faster than real time: the most
    /// common cause is not the hub's rules but its event-time watermark.
    public var lateHint: String? {
        guard missed > 0, speed > 1 else { return nil }
        return "hint: this run's events are stamped from \(timeline.clock.scenarioStart.rfc3339) on; a hub (or store) that has "
            + "seen newer events treats older ones as late (event_time.lateness_seconds) and opens nothing for them, even after "
            + "a restart (the watermark is restored from the store). Drill a fast scenario against a fresh store, or at --speed 1."
    }

    /// Markdown, for a drill log or a ticket.
    public var markdown: String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var lines: [String] = []
        lines.append("# Drill report: \(scenario)")
        lines.append("")
        lines.append("- scenario file: `\(file)`, seed \(seed), speed \(formatSpeed(speed))")
        lines.append("- \(messages) messages published, \(acknowledged) acknowledged, in \(HubFormat.fixed(elapsed, digits: 1)) s")
        lines.append("- scenario time: \(timeline.clock.scenarioStart.rfc3339) + \(SimDuration.format(timeline.clock.duration))")
        lines.append("- **\(headline)**")
        lines.append("")
        lines.append("| result | line | expectation | outcome | latency |")
        lines.append("|---|---|---|---|---|")
        for r in results {
            lines.append("| \(r.status == .matched ? "matched" : r.status == .missed ? "**missed**" : "not run") | \(r.expectation.line) | \(cell(r.expectation.summary)) | \(cell(r.detail)) | \(latencyText(r)) |")
        }
        if !unexpected.isEmpty {
            lines.append("")
            lines.append("## Unexpected outcomes")
            lines.append("")
            for o in unexpected { lines.append("- \(o.summary)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A standalone HTML page.
    public var html: String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var rows = ""
        for r in results {
            let cls = r.status == .matched ? "ok" : r.status == .missed ? "fail" : "skip"
            rows += "<tr class=\"\(cls)\"><td>\(esc(r.status.rawValue))</td><td>\(r.expectation.line)</td><td>\(esc(r.expectation.summary))</td><td>\(esc(r.detail))</td><td>\(esc(latencyText(r)))</td></tr>\n"
        }
        var extra = ""
        if !unexpected.isEmpty {
            extra = "<h2>Unexpected outcomes</h2>\n<ul>\n" + unexpected.map { "<li>\(esc($0.summary))</li>" }.joined(separator: "\n") + "\n</ul>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Drill report: \(esc(scenario))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}
            td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left}tr.ok td:first-child{color:#176f2c}
            tr.fail td{background:#fde8e8}tr.fail td:first-child{color:#a61b1b;font-weight:bold}tr.skip td{color:#777}
            .score{font-size:1.4em;font-weight:bold}</style></head><body>
            <h1>Drill report: \(esc(scenario))</h1>
            <p>Scenario file <code>\(esc(file))</code>, seed \(seed), speed \(esc(formatSpeed(speed))); \(messages) messages published, \(acknowledged) acknowledged, in \(HubFormat.fixed(elapsed, digits: 1)) s.</p>
            <p class="score">\(esc(headline))</p>
            <table><tr><th>result</th><th>line</th><th>expectation</th><th>outcome</th><th>latency</th></tr>
            \(rows)</table>
            \(extra)</body></html>

            """
    }

    func formatSpeed(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))×" : HubFormat.fixed(s, digits: 2) + "×"
    }
}
