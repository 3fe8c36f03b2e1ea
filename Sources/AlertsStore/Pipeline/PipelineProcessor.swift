import Alerts
import Foundation

/// What one pass over the inbox did.
public struct BatchResult: Sendable, Equatable {
    /// Inbox messages taken.
    public var messages = 0
    /// Events handled (not duplicates, not dead letters).
    public var events = 0
    /// Events whose key the store or the batch already had.
    public var duplicates = 0
    /// Messages or events refused into the dead-letter table.
    public var deadLetters = 0
    /// Risk items opened or changed.
    public var itemsChanged = 0
    /// Slips issued or changed.
    public var slipsChanged = 0
    /// Cases opened or joined by new evidence.
    public var casesChanged = 0
    /// What the batch took from the inbox, by input kind, with receive times (the hub's metrics).
    public var inputs = BatchInputs()
    /// A pass that did nothing.
    public init() {}
}

/// Where a pipeline thread's CPU time went, by stage (for `bench pipeline`).
public struct StageProfile: Sendable, Equatable {
    /// CPU seconds per stage: reading the inbox, decoding, dedup, the rules, writing event, item and slip rows, outcomes, the commit.
    public var read = 0.0, decode = 0.0, dedup = 0.0, rules = 0.0, eventRows = 0.0, itemRows = 0.0, slipRows = 0.0, outcomes = 0.0, commit = 0.0
    /// All stages at zero.
    public init() {}
    /// CPU seconds over all stages.
    public var total: Double { read + decode + dedup + rules + eventRows + itemRows + slipRows + outcomes + commit }

    /// The calling thread's CPU time in seconds.
    @inline(__always) public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// What `PipelineProcessor.recover()` found and did.
public struct PipelineRecovery: Sendable, Equatable {
    /// How the previous process stopped (from the trap recorder).
    public var previousStop: PipelineStop = .unknown
    /// The inbox seqs that were in progress when it stopped uncleanly (nil after a clean stop).
    public var inProgress: ClosedRange<Int64>?
    /// Unclean stops seen in that batch so far.
    public var stops = 0
    /// The inbox seq and key of the message dead-lettered as `crashed`, if the batch was that one message.
    public var crashedSeq: Int64?
    /// Its idempotency key, as text, for the log.
    public var crashedKey: String?
    /// Rows through this seq are processed one at a time (0: none).
    public var isolateThrough: Int64 = 0
    /// The message that stopped the hub was kept: too many were set aside in the last hour.
    public var limitReached = false
}

/// The pipeline on the SQLite store: inbox and store proper in `DisputeStore`'s two files.
public typealias PipelineProcessor = BatchProcessor<DisputeStore>

/// Consumes the durable inbox in batches. Per batch, in one store
/// transaction (`PipelineStore.batch`): the reads the batch needs, then
/// `BatchStage` (decode, event-key dedup, check-ins, the risk engine: pure
/// values in, a `BatchOutcome` out), then the outcome's one write with the
/// cursor (`commit(_:cursor:now:)`), so a crash anywhere either keeps the whole
/// batch or none of it, and a restart resumes where it stopped. Around it:
/// the crash quarantine (the in-progress mark, `recover()`, `setAside`).
///
/// Generic over the store proper (`PipelineProcessorStore`: SQLite's
/// `DisputeStore`, or `PostgresStore`); the inbox is always the hub's own
/// SQLite file (`inbox`, a `DisputeStore`). The store is called a few times
/// per batch, never per event.
///
/// Not `Sendable`: one pipeline task owns it.
public final class BatchProcessor<Store: PipelineProcessorStore> {
    /// The store it commits outcomes to (and, for `DisputeStore`, reads the inbox from).
    public let store: Store
    /// Where the messages come from, read in `seq` order after the store's cursor: the hub's
    /// inbox file, or the shared inbox in PostgreSQL a group of hubs forwards into.
    public let inbox: any PipelineInbox
    /// Topic routing, registry and limits of decoding; replaced when the registry is reloaded.
    public var decode: DecodeStage
    /// The rules engine and its memory, rebuilt from the store at start.
    public private(set) var engine: RiskEngine
    /// The prefix of the output topics outbox messages are addressed to.
    public let outputPrefix: String
    /// Patrol supervision (check-ins → slots; the missed-checkpoint scheduler); nil without a patrol plan.
    public let patrol: PatrolStage?
    let clock: @Sendable () -> Date

    /// What this process last published of each slip and case (`PublishedMemory`).
    var published = PublishedMemory()
    /// How long event keys are kept behind the newest event time (`retention.event_keys_hours`;
    /// nil: for ever). An event older than the newest event time minus this could be a
    /// duplicate whose key is gone: it is dead-lettered as `too_old` (Housekeeper.swift).
    public var keyRetention: TimeInterval?
    /// `published` is pruned to the open slips and cases when it grows past this
    /// (twice what was left at the last pruning): bounded by open state, not by events.
    var publishedLimit = PipelineProcessor.minPublishedLimit
    static var minPublishedLimit: Int { 4096 }
    /// Slips and cases in `published` (for `bench memory`).
    public var publishedCount: Int { published.count }
    /// When set, CPU time per stage is added up here (costs a clock read per stage and event).
    public var profile: StageProfile?
    /// The change log's newest seq after this process's last batch: slips changed after
    /// it were changed by someone else (a case action closing its case's warning slips).
    var changesSeen: Int64 = 0
    /// Set when a batch's transaction rolled back after the engine ran: before the next
    /// batch the engine is reloaded from the store (as after a restart) and `published` emptied. Not a copy of them
    /// kept for each batch: the copy's shared buffers make the batch's first change of
    /// each window copy that window whole: a cost per batch that grows with the
    /// windows, not with the batch, and live traffic comes in small batches.
    var stale = false
    /// The store's cursor as this processor last read or moved it (nil: read it from the store).
    /// While a processor runs nothing else moves the cursor (one hub per store, `StoreLock`),
    /// so it is read once, not before every batch; any failed write drops it.
    var knownCursor: Int64?

    // Crash quarantine (see `recover()`).
    /// What the previous process recorded about its stop; set before the first batch.
    public var trapRecorder: TrapRecorder?
    /// Whether `trapRecorder`'s record of the previous stop is about the batch the store's mark
    /// names. False in a group of hubs when another hub wrote the mark: how that hub stopped is
    /// not known here, and the stop counts as unexplained (`.unknown`).
    public var trustsLocalStopEvidence = true
    var recovered = false
    /// Inbox rows through this seq are processed one per transaction (0: batches as usual).
    public private(set) var isolateThrough: Int64 = 0
    /// Unclean stops already seen in the batch after the current cursor (until a batch commits).
    var carriedStops = 0
    /// The keys of messages that crashed the pipeline: a copy is dead-lettered without being decoded.
    var crashedKeys: Set<MessageKey> = []

    /// A processor that continues from what `store` holds (`reload()` runs here), reading `inbox`'s
    /// messages after the store's cursor; `clock` stamps processing times.
    public init(store: Store, inbox: any PipelineInbox, decode: DecodeStage, engine: RiskEngine, outputPrefix: String, patrol: PatrolStage? = nil,
                clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.store = store
        self.inbox = inbox
        self.decode = decode
        self.engine = engine
        self.outputPrefix = outputPrefix
        self.patrol = patrol
        self.clock = clock
        try reload()
    }

    /// Rebuilds the engine's windows from the store (at start).
    public func reload() throws {
        let (snapshot, seen) = try store.engineSnapshot(rules: engine.rules)
        changesSeen = seen
        engine.restore(snapshot)
        published = PublishedMemory(restoring: snapshot)
    }

    /// Processes up to `limit` pending inbox rows; returns what it did.
    @discardableResult
    public func processPending(limit: Int) throws -> BatchResult {
        if !recovered { try recover() }
        let t = profile != nil ? StageProfile.now() : 0
        let after = try knownCursor ?? store.cursor()
        knownCursor = after
        var records = try inbox.pending(after: after, limit: isolateThrough > 0 ? 1 : limit)
        if isolateThrough > 0, let first = records.first, first.seq > isolateThrough {
            isolateThrough = 0 // the suspects are done: batches again
            records = try inbox.pending(after: after, limit: limit)
        }
        if profile != nil { profile!.read += StageProfile.now() - t }
        guard !records.isEmpty else { return BatchResult() }
        var result = try process(records)
        result.inputs = BatchInputs(records, router: decode.router)
        return result
    }

    // MARK: - Crash quarantine

    /// What `recover()` found and did.
    public typealias Recovery = PipelineRecovery

    /// Finds the batch the previous process was working on when it stopped,
    /// from the durable mark written before each batch and cleared with its
    /// outcomes, and decides what to do with it:
    ///
    /// - after a trap in that batch (or a second unclean stop in it), its
    ///   messages are processed one per transaction, each under its own mark;
    /// - when the batch in progress was one message, and the process trapped
    ///   on it (or stopped in it twice), that message is the culprit: it becomes
    ///   a `crashed` dead letter with its bytes, and the pipeline goes on;
    /// - after one unclean stop without a trap (`kill -9`, power loss) the
    ///   batch is simply retried; that stop is remembered in the next mark.
    ///
    /// Runs once, before the first batch (`processPending` calls it).
    @discardableResult
    public func recover() throws -> Recovery {
        recovered = true
        var report = Recovery()
        report.previousStop = trustsLocalStopEvidence ? trapRecorder?.previousStop ?? .unknown : .unknown
        let keys = try store.crashedMessageKeys()
        for hex in keys where hex.utf8.count == 32 {
            if let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16) {
                crashedKeys.insert(MessageKey(high: high, low: low))
            }
        }
        let cursor = try store.cursor()
        guard let mark = try store.inProgressMark() else { return report }
        let lastSeq = mark.lastSeq, through = mark.isolateThrough, stops = mark.stops
        guard lastSeq > cursor else {
            // No batch was in progress (an isolated message had committed): isolation goes on.
            isolateThrough = through > cursor ? through : 0
            report.isolateThrough = isolateThrough
            return report
        }
        let seqs = try inbox.inboxSeqs(after: cursor, through: lastSeq, limit: 2)
        guard let first = seqs.first else { // pruned or gone: nothing left to suspect
            try store.clearInProgressMark()
            return report
        }
        report.inProgress = first...lastSeq
        var trapped = false
        switch report.previousStop {
        case .trap: trapped = true; report.stops = stops + 1
        case .unknown: report.stops = stops + 1
        case .error: report.stops = stops // it said why it stopped: not a crash
        }
        let suspect = trapped || report.stops >= 2
        if suspect, seqs.count == 1, try recentSetAside(.crashed) >= Self.maxSetAsidePerHour {
            // Message after message "crashes": the fault is the hub's, not the input's. Keep the
            // message (the hub stops on it again, and an operator looks) rather than empty the inbox.
            report.limitReached = true
            isolateThrough = max(lastSeq, through)
        } else if suspect, seqs.count == 1 {
            if let key = try deadLetterCrashed(seq: first, trapped: trapped, stops: report.stops, isolateThrough: through) {
                report.crashedSeq = first
                report.crashedKey = key
            }
            isolateThrough = through > first ? through : 0
        } else if suspect {
            isolateThrough = max(lastSeq, through)
        } else {
            carriedStops = report.stops
            isolateThrough = through > cursor ? through : 0
        }
        report.isolateThrough = isolateThrough
        return report
    }

    /// The message that stopped the process becomes a `crashed` dead letter, and the cursor moves past it.
    private func deadLetterCrashed(seq: Int64, trapped: Bool, stops: Int, isolateThrough through: Int64) throws -> String? {
        guard let record = try inbox.inboxRecord(seq: seq) else { return nil }
        let how = trapped
            ? "the hub trapped while processing this message alone (after a trap in its batch)"
            : "the hub stopped \(stops) times while processing this message alone"
        try setAside(record, HubError.decode(.crashed, "\(how); it is set aside and not processed again (nor are copies of the same bytes)"),
                     isolateThrough: through)
        crashedKeys.insert(MessageKey(high: record.keyHigh, low: record.keyLow))
        return record.key
    }

    /// A dead letter for one message processed alone, with the cursor moved past it, in one transaction.
    private func setAside(_ record: InboxRecord, _ error: HubError, isolateThrough through: Int64) throws {
        knownCursor = nil // it moves to the record (never back): read again after
        try store.setAside(record, as: error, isolateThrough: through, now: clock())
    }

    /// At most this many messages are set aside as `crashed`, and as many as
    /// `unprocessable`, per hour: more means the hub fails on everything (a bug,
    /// not bad input), and it stops instead of emptying the inbox into dead letters.
    public static var maxSetAsidePerHour: Int { 20 }

    /// How many dead letters of this reason were written in the last hour.
    private func recentSetAside(_ reason: DeadLetterReason) throws -> Int {
        try store.deadLetterCount(reason, since: clock().addingTimeInterval(-3600))
    }

    func process(_ records: [InboxRecord]) throws -> BatchResult {
        if stale {
            // A batch rolled back after the engine had run: its windows, counters and
            // `published` may hold that batch's effects. Reloaded from the store as at a
            // start (`published` too), before the in-progress mark: a failure here
            // is not the batch's.
            try reload()
            stale = false
        }
        // The durable "in progress" mark: what a restart after a crash in this batch suspects.
        let lastSeq = records.last!.seq
        let stops = carriedStops
        let through = isolateThrough
        try store.markInProgress(InProgressMark(lastSeq: lastSeq, isolateThrough: through, stops: stops), at: clock())
        var result: BatchResult
        do {
            result = try TrapRecorder.inBatch { try processMarked(records) }
        } catch let error where store.refusal(of: error) != nil {
            // The store refused this batch's outcomes because of what a message made of them:
            // the batch is processed one message at a time, and the message refused alone is set aside.
            guard records.count == 1 else {
                isolateThrough = max(isolateThrough, lastSeq)
                return BatchResult()
            }
            guard try recentSetAside(.unprocessable) < Self.maxSetAsidePerHour else { throw error }
            try setAside(records[0], HubError.decode(.unprocessable, "the store refused what this message produced (\(store.refusal(of: error) ?? "")); set aside"),
                         isolateThrough: isolateThrough)
            result = BatchResult()
            result.messages = 1
            result.deadLetters = 1
        }
        carriedStops = 0
        if isolateThrough > 0, lastSeq >= isolateThrough { isolateThrough = 0 }
        return result
    }

    private func processMarked(_ records: [InboxRecord]) throws -> BatchResult {
        let now = clock()
        // Silences change from the CLI and the API: read them for every batch
        // (a small table; those that ended more than a day before now are skipped).
        engine.silences = try store.silences(endingAfter: now.addingTimeInterval(-86_400))
        if published.count > publishedLimit {
            // Only the slips and cases the engine holds open can change again through it: the
            // rest are forgotten (a later change of one is published once more, at worst).
            published.keep(only: engine.heldIDs)
            publishedLimit = max(Self.minPublishedLimit, 2 * published.count)
        }
        do {
            var t = 0.0
            let result = try store.batch(outputPrefix: outputPrefix) { batch in
                let r = try self.apply(records, now: now, batch: batch)
                if profile != nil { t = StageProfile.now() }
                return r
            }
            if profile != nil { profile!.commit += StageProfile.now() - t }
            knownCursor = records.last!.seq
            return result
        } catch {
            stale = true // the transaction rolled back: the next batch reloads the windows first
            knownCursor = nil
            throw error
        }
    }

    /// Runs the missed-checkpoint scheduler up to `now` (default: the clock) in
    /// one transaction: where evaluation stands and the state of the slots it
    /// may decide, `PatrolStage.tick` (pure), then the tick's one write.
    /// missed_checkpoint items take ids from the engine's counter, which keeps
    /// them only when the tick commits.
    @discardableResult
    public func tickPatrol(now: Date? = nil) throws -> PatrolTickResult {
        guard let patrol else { return PatrolTickResult() }
        let now = now ?? clock()
        var itemIDs = engine.itemIDs
        let outcome = try store.batch(outputPrefix: patrol.outputPrefix) { batch in
            let evaluatedUntil = try batch.patrolEvaluatedUntil()
            let ledger = try batch.patrolLedger(slots: patrol.slotsConcerned(byTickAt: now, evaluatedUntil: evaluatedUntil))
            let outcome = patrol.tick(now: now, evaluatedUntil: evaluatedUntil, ledger: ledger, itemIDs: &itemIDs)
            try batch.commit(outcome, now: now)
            return outcome
        }
        engine.itemIDs = itemIDs
        return outcome.result
    }

    /// One batch in the store's transaction: what it needs from the store, `BatchStage`
    /// (decode, duplicate check, check-ins, the engine), then the outcome's one write.
    /// Before the run, when the batch holds check-ins: their neighbours and the state of
    /// the slots they may decide (`PatrolLedger`).
    private func apply(_ records: [InboxRecord], now: Date, batch: Store.Batch) throws -> BatchResult {
        let profiling = profile != nil
        var p = profile ?? StageProfile()
        var t = profiling ? StageProfile.now() : 0
        /// Adds the time since the last mark to a stage (only when profiling).
        func mark(_ stage: WritableKeyPath<StageProfile, Double>) {
            guard profiling else { return }
            let n = StageProfile.now()
            p[keyPath: stage] += n - t
            t = n
        }
        defer { if profiling { mark(\.outcomes); profile = p } }
        let closed = try batch.slipsClosed(after: changesSeen)
        let tooOldBefore = try keyRetention.map { try batch.newestEventTime() - $0 }
        let decoded = BatchStage.decode(records, with: decode, now: now, crashedKeys: crashedKeys, tooOldBefore: tooOldBefore, keyRetention: keyRetention)
        mark(\.decode)
        let known = try batch.knownKeys(decoded.keys)
        mark(\.dedup)
        var ledger = PatrolLedger()
        if let patrol, case let checkins = PatrolStage.checkins(in: decoded), !checkins.isEmpty {
            let neighbours = try batch.patrolNeighbours(checkins)
            ledger = try batch.patrolLedger(slots: patrol.slotsConcerned(by: decoded, neighbours: neighbours))
            ledger.neighbours = neighbours
        }
        let outcome = BatchStage.run(decoded, known: known, now: now, closedElsewhere: closed, engine: &engine, published: &published,
                                     patrol: patrol, ledger: ledger)
        mark(\.rules)
        let cursor = BatchCursor(inboxSeq: records.last!.seq, isolateThrough: isolateThrough, watermark: engine.watermark, nextSweep: engine.nextSweep)
        let receipt = try batch.commit(outcome, cursor: cursor, now: now,
                                       mark: profiling ? { mark($0) } : nil)
        changesSeen = receipt.changesSeen
        var result = BatchResult()
        result.messages = outcome.messages
        result.events = outcome.events
        result.duplicates = outcome.duplicates
        result.deadLetters = outcome.deadLetters.count
        result.itemsChanged = outcome.items.count
        result.slipsChanged = outcome.slips.count
        result.casesChanged = outcome.cases.count
        return result
    }
}

extension BatchProcessor where Store == DisputeStore {
    /// A processor on the SQLite store, whose inbox is the store's own inbox file.
    public convenience init(store: DisputeStore, decode: DecodeStage, engine: RiskEngine, outputPrefix: String, patrol: PatrolStage? = nil,
                            clock: @escaping @Sendable () -> Date = { Date() }) throws {
        try self.init(store: store, inbox: store, decode: decode, engine: engine, outputPrefix: outputPrefix, patrol: patrol, clock: clock)
    }
}
