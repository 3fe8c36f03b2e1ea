import Alerts
import Foundation

/// What the dispatch room's HTTP API, event stream and `/metrics` read and
/// write of the dispute store: one interface, two implementations
/// (`DisputeStore` on SQLite, `PostgresDispatchStore` on PostgreSQL), so the
/// HTTP layer never knows which store it serves.
///
/// Every call is synchronous and may block its thread while it waits for the
/// store: the HTTP side calls it from its own threads (`StoreThreads`), never
/// from an event loop or Swift concurrency's cooperative pool.
public protocol DispatchStore: ReportStore {
    // MARK: Lists and objects

    /// A page of risk items matching `q`, newest first.
    func riskItemsPage(_ q: ListQuery) throws -> ListPage<RiskItem>
    /// A page of cases matching `q`, newest first.
    func casesPage(_ q: ListQuery) throws -> ListPage<Case>
    /// A page of slips matching `q`, newest first.
    func slipsPage(_ q: ListQuery) throws -> ListPage<Slip>
    /// Whether the store knows the zone `code`.
    func knowsZone(_ code: String) throws -> Bool
    /// One case with its transitions, risk items and slips; nil when unknown.
    func caseDetail(id: String) throws -> CaseDetail?
    /// Every zone with its live counts, aggregated up the hierarchy.
    func zoneSummaries() throws -> [ZoneSummary]

    // MARK: The change log (the event stream)

    /// Up to `limit` changes after `seq`, oldest first, each with the object it names as it is now.
    func changesWithObjects(after seq: Int64, limit: Int) throws -> [(Change, JSONValue?)]
    /// The newest change's `seq` (0 when none).
    func latestChangeSeq() throws -> Int64
    /// The oldest `seq` still in the change log (nil when empty) and the newest ever given.
    func changeLogBounds() throws -> (oldest: Int64?, latest: Int64)
    /// Deletes change-log rows older than `cutoff` and all but the newest `keepingNewest`; returns how many.
    func pruneChanges(olderThan cutoff: Date, keepingNewest: Int64, chunk: Int) throws -> Int

    // MARK: Operator actions

    /// Applies an operator action to a case (see `DisputeStore.act(on:_:now:outputPrefix:)`).
    func act(on caseID: String, _ action: CaseAction, now: Date, outputPrefix: String) throws -> Case
    /// Silences ending after `after` (all when nil), by start time.
    func silences(endingAfter after: Date?) throws -> [Silence]
    /// Creates a silence after validating it; returns it with its id.
    func addSilence(_ silence: Silence, policy: SilencePolicy, authority: SilenceAuthority) throws -> Silence
    /// Ends a silence now; returns whether it existed.
    func expireSilence(id: String, by actor: String, at now: Date) throws -> Bool
    /// Deletes a silence; returns whether it existed.
    func deleteSilence(id: String, by actor: String, at now: Date) throws -> Bool

    // MARK: Dead letters

    /// A page of dead letters, newest first, without their bytes.
    func deadLettersPage(_ q: DeadLetterQuery) throws -> (items: [DeadLetter], next: Int64?)
    /// One dead letter with its stored bytes.
    func deadLetter(id: Int64) throws -> DeadLetter?
    /// Dead letters not replayed yet, by reason and by source (the `top` largest), largest first.
    func deadLetterCounts(top: Int) throws -> (byReason: [(String, Int)], bySource: [(String, Int)])
    /// Queues the selected dead letters into the hub's inbox again and marks them replayed.
    func replayDeadLetters(_ q: DeadLetterQuery, by actor: String, force: Bool, dryRun: Bool, now: Date) throws -> DeadLetterReplay

    // MARK: Metrics

    /// The newest dead letter id and change seq now: `/metrics` counts what comes after them.
    func metricsMarks() throws -> (deadLetter: Int64, change: Int64)
    /// Dead letters and changes after the marks, by label, with the next marks.
    func metricsTallies(afterDeadLetter deadLetter: Int64, afterChange change: Int64) throws -> StoreTallies
    /// The figures `/metrics` reads at each scrape (inbox, open items, slips, cases, counters).
    func metricsStatus() throws -> StoreStatus
    /// When the oldest message the pipeline has not processed yet was received (nil when none waits).
    func oldestPendingReceivedAt() throws -> Date?
}

extension HubError.Code {
    /// The store could not take an operator's action now (PostgreSQL: the pipeline's batches held it
    /// longer than the action waits); nothing was written, the action may be sent again.
    public static let storeBusy = Self("store_busy")
}

extension DispatchStore {
    /// Dead letters not replayed yet, by reason and by their 20 largest sources.
    public func deadLetterCounts() throws -> (byReason: [(String, Int)], bySource: [(String, Int)]) {
        try deadLetterCounts(top: 20)
    }

    /// Prunes the change log 2 000 rows a transaction.
    public func pruneChanges(olderThan cutoff: Date, keepingNewest: Int64) throws -> Int {
        try pruneChanges(olderThan: cutoff, keepingNewest: keepingNewest, chunk: 2000)
    }
}

extension DisputeStore: DispatchStore {}
