import Alerts
import Foundation
import Hummingbird
import Synchronization

/// What `/healthz` reports, kept in memory so the health check never
/// touches the store or a lock the pipeline can hold: a wedged database or
/// a stuck pipeline cannot hang the check that is meant to find them.
///
/// Ingest reports each inbox commit (or its failure); the pipeline reports
/// each step. The hub is unhealthy when the last inbox commit failed, or when
/// the pipeline has work and has not moved for `stallAfter` seconds.
///
/// Liveness is measured in wall seconds, whatever the hub's clock: a stall is
/// a process that does not move. The answer also shows the hub's clock (its
/// time now, and whether and how fast it is simulated).
public final class HubHealth: Sendable {
    private let state: Mutex<HealthState>
    /// The hub's clock, shown in the answer.
    public let clock: HubClock

    /// A hub that has just started, at wall time `now`.
    public init(clock: HubClock = .real, now: Date = Date()) {
        self.clock = clock
        state = Mutex(HealthState(startedAt: now))
    }

    /// Ingest committed `count` messages to the inbox.
    public func ingestCommitted(_ count: Int, at now: Date = Date()) {
        state.withLock { $0.ingestCommitted(count, at: now) }
    }

    /// An inbox commit failed (the messages stay unacknowledged at the broker).
    public func ingestFailed(_ error: String, at now: Date = Date()) {
        state.withLock { $0.ingestFailed(error, at: now) }
    }

    /// Called before each pipeline step; pass the mark to `pipelineStepFinished`.
    public func pipelineStepStarting() -> Int {
        state.withLock { $0.received }
    }

    /// The pipeline finished a step: `processed` messages, `drained` when it
    /// took everything that was waiting (fewer than a full batch).
    public func pipelineStepFinished(mark: Int, processed: Int, drained: Bool, at now: Date = Date()) {
        state.withLock { $0.stepFinished(mark: mark, processed: processed, drained: drained, at: now) }
    }

    /// A pipeline step failed.
    public func pipelineFailed(_ error: String, at now: Date = Date()) {
        state.withLock { $0.pipelineFailed(error, at: now) }
    }

    /// The answer of `/healthz` at wall time `now`.
    public func report(now: Date = Date(), stallAfter: TimeInterval) -> HealthReport {
        var r = state.withLock { $0.report(now: now, stallAfter: stallAfter) }
        r.body.clock = HealthBody.Clock(now: clock.now(), simulated: clock.isSimulated,
                                        speed: clock.simulation.map { Number($0.speed) }, start: clock.simulation?.start)
        return r
    }
}

/// The health state as a value: what ingest and the pipeline last reported.
struct HealthState: Sendable {
    var startedAt: Date
    /// Messages committed to the inbox since start.
    var received = 0
    var lastReceivedAt: Date?
    var lastIngestError: String?
    var lastIngestErrorAt: Date?
    var lastIngestOKAt: Date?
    /// Messages the pipeline processed since start.
    var processed = 0
    /// When the pipeline last processed a message or found the inbox empty.
    var lastProgressAt: Date?
    /// `received` as it was when the pipeline last found the inbox empty;
    /// nil until it has (a backlog from before the start counts as work).
    var caughtUpTo: Int?
    var lastPipelineError: String?
    var lastPipelineErrorAt: Date?

    init(startedAt: Date) {
        self.startedAt = startedAt
    }

    mutating func ingestCommitted(_ count: Int, at now: Date) {
        received += count
        if count > 0 { lastReceivedAt = now }
        lastIngestOKAt = now
    }

    mutating func ingestFailed(_ error: String, at now: Date) {
        lastIngestError = error
        lastIngestErrorAt = now
    }

    mutating func stepFinished(mark: Int, processed count: Int, drained: Bool, at now: Date) {
        processed += count
        if count > 0 || drained { lastProgressAt = now }
        // Everything committed before the step began was either read by it or already done.
        if drained { caughtUpTo = max(caughtUpTo ?? 0, mark) }
    }

    mutating func pipelineFailed(_ error: String, at now: Date) {
        lastPipelineError = error
        lastPipelineErrorAt = now
    }

    /// Whether the pipeline has work it has not shown to be done.
    var pending: Bool { caughtUpTo.map { received > $0 } ?? true }

    var ingestFailing: Bool {
        guard let failedAt = lastIngestErrorAt else { return false }
        return lastIngestOKAt.map { failedAt > $0 } ?? true
    }

    func report(now: Date, stallAfter: TimeInterval) -> HealthReport {
        let idle = now.timeIntervalSince(lastProgressAt ?? startedAt)
        let stalled = pending && idle > stallAfter
        var problems: [String] = []
        if ingestFailing { problems.append("ingest failing: \(lastIngestError ?? "")") }
        if stalled { problems.append("pipeline stalled: work pending and no progress for \(Int(idle)) s") }
        func age(_ d: Date?) -> Number? { d.map { Number((now.timeIntervalSince($0) * 10).rounded() / 10) } }
        let body = HealthBody(
            status: problems.isEmpty ? "ok" : "unhealthy", problems: problems,
            ingest: .init(received: received, last_received_seconds_ago: age(lastReceivedAt), failing: ingestFailing,
                          last_error: lastIngestError, last_error_seconds_ago: age(lastIngestErrorAt)),
            pipeline: .init(processed: processed, pending: pending, last_progress_seconds_ago: age(lastProgressAt), stalled: stalled,
                            last_error: lastPipelineError, last_error_seconds_ago: age(lastPipelineErrorAt)))
        return HealthReport(healthy: problems.isEmpty, body: body)
    }
}

/// `/healthz`'s answer: 200 when healthy, 503 otherwise, with the details.
public struct HealthReport: Sendable {
    /// False when the hub has a problem (`/healthz` answers 503).
    public var healthy: Bool
    /// The answer's body.
    var body: HealthBody

    /// The body as `/healthz` sends it, parsed (for callers that read one field).
    public var json: JSONValue {
        (try? APIEncoding.buffer(body)).flatMap { try? JSONParser.parse(Array($0.readableBytesView)) } ?? .null
    }
}

/// The body of `/healthz`.
struct HealthBody: ResponseEncodable, Sendable {
    /// What ingest last reported.
    struct Ingest: Encodable, Sendable {
        var received: Int
        @Null var last_received_seconds_ago: Number?
        var failing: Bool
        @Null var last_error: String?
        @Null var last_error_seconds_ago: Number?
    }

    /// What the pipeline last reported.
    struct Pipeline: Encodable, Sendable {
        var processed: Int
        var pending: Bool
        @Null var last_progress_seconds_ago: Number?
        var stalled: Bool
        @Null var last_error: String?
        @Null var last_error_seconds_ago: Number?
    }

    /// The hub's clock: its time now, and whether and how fast it is simulated (`speed`, `start` only then).
    struct Clock: Encodable, Sendable {
        var now: Date
        var simulated: Bool
        var speed: Number?
        var start: Date?
    }

    /// `ok` or `unhealthy`.
    var status: String
    var problems: [String]
    var ingest: Ingest
    var pipeline: Pipeline
    /// Set by `HubHealth` (the state itself does not know the clock).
    var clock: Clock?
}
