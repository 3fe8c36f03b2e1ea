import Alerts
import AlertsStore
import AlertsStorePostgres
import Foundation
import Logging
import PatrolHubHTTP
import PatrolHubMQTT
import PatrolHubRuntime
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The embedded `mosquitto` as a service: started first, stopped last.
struct BrokerService: Service {
    let broker: EmbeddedBroker

    func run() async throws {
        if !broker.isRunning { try broker.start() }
        try? await gracefulShutdown()
        broker.stop()
    }
}

/// Holds the PostgreSQL store's connection open while the hub runs, and
/// closes it when the hub stops (after the services that use it: it is
/// listed before them, and services stop in reverse order).
struct PostgresStoreService: Service {
    /// Closes the connection(s).
    let close: @Sendable () -> Void

    init(store: PostgresStore) { close = store.close }

    init(close: @escaping @Sendable () -> Void) { self.close = close }

    func run() async throws {
        try? await gracefulShutdown()
        let close = self.close
        // Closing waits for the connection: off the cooperative pool.
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            Thread { close(); cont.resume() }.start()
        }
    }
}

/// Inbox → decode → rules → store, in batches, on a thread of its own at the
/// same scheduling priority as ingestion: in a burst the two share the CPU, the
/// durable inbox absorbs what the pipeline has not reached yet, and the
/// pipeline keeps pace instead of deciding the burst's tail alone after the
/// broker's queue is empty (BENCHMARKS.md §7 measures both). Drains the inbox on
/// shutdown.
///
/// Once the inbox is drained the thread sleeps until the ingest path rings
/// `inbox` or the next timer (patrol tick, supervision, housekeeping;
/// `PipelineTimers`) is due, whichever comes first: no polling. WAL
/// checkpoints are `CheckpointService`'s, on a thread of their own.
///
/// Generic over the store the outcomes go to (SQLite's `DisputeStore`, or
/// `PostgresStore` with `store.kind: postgres`); the inbox is the hub's SQLite file either way.
struct PipelineService<Store: PipelineProcessorStore & SupervisionStore>: Service {
    let makeProcessor: @Sendable () throws -> BatchProcessor<Store>
    /// Where the trap recorder keeps its evidence (beside the store file); nil: no recorder.
    var trapEvidenceFile: String?
    /// The housekeeper of the processor's store, or of its inbox alone beside PostgreSQL (nil: none).
    var makeHousekeeper: @Sendable (BatchProcessor<Store>) -> (any Housekeeping)? = { _ in nil }
    /// Names the camera or device of new dead letters (`DeadLetterSource`); nil where the store cannot yet.
    var labelDeadLetterSources: (@Sendable (BatchProcessor<Store>) throws -> Void)?
    /// The hub's clock: supervision, the patrol scheduler and inbox pruning run on its time.
    var clock = HubClock.real
    let batchSize: Int
    let logger: Logger
    /// Case deadline supervision (reminder letters, supervision orders), ticked every `tickSeconds`.
    var supervision: SupervisionScheduler<Store>?
    /// Told of every step, for `/healthz`.
    var health: HubHealth?
    /// Rung by the ingest path after each committed group: the thread's wake-up.
    let inbox: Doorbell
    /// Rung after each commit of outcomes (the publisher and the event stream wait on it).
    var outcomes: Doorbell?
    /// Told of every batch (messages by kind, batch time, receipt → commit latency).
    var metrics: HubMetrics?
    /// A hub of a group: whether it leads the group now (nil: a lone hub, always). While it does
    /// not, the thread holds no processor and waits; on a gain the processor is made anew (its
    /// `makeProcessor` takes the lead in the store and reloads the engine from it).
    var isLeader: (@Sendable () -> Bool)?
    /// The longest wait with nothing to do, in seconds: a group's shared inbox is also filled by
    /// the other hubs, which ring no bell here (nil: only timers and `inbox` end a wait).
    var pollInterval: TimeInterval?
    /// A hub of a group: whether this hub's own record of how it last stopped (the trap recorder's)
    /// is about the batch the store's in-progress mark names, i.e. whether this hub wrote the mark.
    var ownsInProgressMark: (@Sendable (BatchProcessor<Store>) throws -> Bool)?
    /// A hub of a group: forgets the store's leader epoch (after `pipeline_lead_lost`).
    var dropLead: (@Sendable () -> Void)?

    func run() async throws {
        try await runOnOwnThread(name: "pipeline", wake: inbox) { stop in
            try self.loop(stop: stop)
        }
    }

    private func loop(stop: StopFlag) throws {
        TrapRecorder.prepareThread() // a stack overflow on this thread still records its trap
        var processor: BatchProcessor<Store>?
        var failures = StoreFailures(logger: logger, what: "pipeline")
        defer {
            // Leaving this loop is never a crash: after a graceful stop no batch is in
            // progress, and after an error the next start retries its batch as it is.
            processor?.trapRecorder?.recordErrorExit()
        }
        var housekeeper: (any Housekeeping)?
        var housekeepingRetryAt = Date.distantPast
        var patrol = PatrolTicker(logger: logger, clock: clock)
        var lastSupervision = Date.distantPast
        while !stop.isSet {
            do {
                // Read before the inbox: a group committed from here on ends the wait below at once.
                let seen = inbox.rings
                if let isLeader, !isLeader() {
                    // Another hub leads the group: this one decides nothing until it gains the lead.
                    if processor != nil { logger.notice("pipeline.standing_by", metadata: ["pipeline.reason": "this hub no longer leads its group"]) }
                    processor = nil
                    inbox.wait(after: seen, timeout: 1)
                    continue
                }
                let p = try processor ?? openProcessor()
                processor = p
                let done = try step(p).messages
                // Only a committed batch shows the store writable again (an empty step writes nothing).
                if done > 0 { failures.succeeded() }
                let drained = done < batchSize
                let ticked = try patrol.tickIfDue(p, drained: drained)
                let now = clock.now()
                var supervised = false
                if let s = supervision, now.timeIntervalSince(lastSupervision) >= TimeInterval(s.supervisor.rules.tickSeconds) {
                    lastSupervision = now
                    superviseCases(s, now: now)
                    supervised = true
                }
                if done > 0 || supervised || ticked { outcomes?.ring() }
                if housekeeper == nil, now >= housekeepingRetryAt { housekeeper = makeHousekeeper(p) }
                do {
                    if let pruned = try housekeeper?.tick(now: now) { logPruned(pruned) }
                } catch let error as HubError where error.code != .pipelineLeadLost {
                    // Pruning can wait: a failed step (a statement the store refused, a timeout) must not
                    // stop the pipeline, nor every start of the hub. A new pass begins in a minute.
                    logger.error("store.prune_failed", metadata: ["error": "\(error)", "store.action": "housekeeping starts again in 60 s"])
                    housekeeper = nil
                    housekeepingRetryAt = now.addingTimeInterval(60)
                }
                // Wait only once a step found nothing: a short step is not proof of an empty
                // inbox (the crash quarantine's recovery processes one message at a time).
                guard done == 0, !stop.isSet else { continue }
                let timers = PipelineTimers(
                    patrol: patrol.nextDue(p),
                    supervision: supervision.map { lastSupervision.addingTimeInterval(TimeInterval($0.supervisor.rules.tickSeconds)) },
                    wallSeconds: housekeeper?.wallSecondsUntilDue(now: now, speed: clock.speed))
                let timeout = timers.wait(now: clock.now(), speed: clock.speed)
                inbox.wait(after: seen, timeout: pollInterval.map { min(timeout, $0) } ?? timeout)
            } catch let error as HubError where error.code == .pipelineLeadLost {
                // Another hub took the group's lead: this batch was rolled back and is that hub's now.
                // This hub's lease cannot be valid (the other took the lead under its own lease): its
                // ping notices within `interval + pingTimeout` (4 s). Waiting that long before looking
                // again keeps it from taking the store back in between.
                logger.warning("pipeline.lead_lost", metadata: ["error": "\(error)", "pipeline.action": "standing by"])
                processor?.trapRecorder?.recordErrorExit()
                processor = nil
                dropLead?()
                stop.wait(timeout: 4.5)
            } catch let error as StoreDatabaseError {
                // The store cannot be written now (disk full, read-only, locked by
                // another process): the batch was rolled back and stays pending in
                // the inbox. The processor's in-memory windows may already hold its
                // effects, so a fresh one reloads them from the store, as a restart
                // would; the batch is retried after a backoff (an error, not a
                // crash: the crash quarantine retries the batch as it is).
                processor?.trapRecorder?.recordErrorExit()
                processor = nil
                failures.failed(error, action: "the batch stays in the inbox and is retried")
                failures.wait(until: stop)
            }
        }
        // Drain what the ingester committed before it stopped (as far as the store can be written).
        // Not in a group: the shared inbox is in PostgreSQL for the next leader, and the other hubs
        // may forward for ever, so a drain might never end.
        if isLeader != nil {
            logger.info("pipeline.handed_over", metadata: ["pipeline.action": "the next leader goes on from the shared inbox"])
            return
        }
        do {
            let p = try processor ?? openProcessor()
            processor = p
            while try step(p).messages > 0 {}
            logger.info("pipeline.drained")
        } catch let error as HubError where error.code == .pipelineLeadLost {
            logger.warning("pipeline.lead_lost", metadata: ["error": "\(error)", "pipeline.action": "the new leader processes what is left"])
        } catch let error as StoreDatabaseError {
            logger.error("pipeline.drain_failed", metadata: ["error": "\(error)", "pipeline.action": "what is left stays in the inbox for the next start"])
        }
    }

    private func logPruned(_ counts: Housekeeper.Counts) {
        guard counts.total > 0 || counts.vacuumedPages > 0 else { return }
        var metadata: Logger.Metadata = ["store.vacuumed_pages": "\(counts.vacuumedPages)"]
        for (table, n) in counts.rows where n > 0 { metadata["pruned.\(table)"] = "\(n)" }
        logger.info("store.pruned", metadata: metadata)
    }

    /// A processor with its trap recorder, after the crash quarantine's
    /// recovery: a batch left in progress by an unclean stop is retried, or
    /// isolated one message at a time, and a message that trapped again is
    /// set aside as `crashed`.
    private func openProcessor() throws -> BatchProcessor<Store> {
        let processor = try makeProcessor()
        if let trapEvidenceFile {
            do {
                processor.trapRecorder = try TrapRecorder(evidenceFile: trapEvidenceFile)
            } catch {
                logger.warning("pipeline.trap_recorder_unavailable", metadata: ["error": "\(error)"])
            }
        }
        if let ownsInProgressMark { processor.trustsLocalStopEvidence = try ownsInProgressMark(processor) }
        let recovery = try processor.recover()
        if let range = recovery.inProgress {
            logger.warning("pipeline.unclean_stop", metadata: [
                "pipeline.previous_stop": "\(recovery.previousStop)", "inbox.in_progress": "\(range.lowerBound)...\(range.upperBound)",
                "pipeline.stops": "\(recovery.stops)", "pipeline.isolate_through": "\(recovery.isolateThrough)",
            ])
        }
        if recovery.limitReached {
            logger.critical("pipeline.crash_limit_reached", metadata: [
                "pipeline.set_aside_last_hour": "\(BatchProcessor<Store>.maxSetAsidePerHour)",
                "pipeline.action": "the message that stopped the hub is kept: the fault looks like the hub's, not the input's",
            ])
        }
        labelDeadLetters(processor)
        if let seq = recovery.crashedSeq {
            logger.error("pipeline.message_crashed", metadata: [
                "inbox.seq": "\(seq)", "inbox.key": "\(recovery.crashedKey ?? "")",
                "pipeline.action": "dead-lettered as crashed; processing goes on",
            ])
        }
        return processor
    }

    /// Names the camera or device of the dead letters written since the last call (`DeadLetterSource`).
    private func labelDeadLetters(_ p: BatchProcessor<Store>) {
        guard let labelDeadLetterSources else { return }
        do {
            try labelDeadLetterSources(p)
        } catch {
            logger.warning("dead_letters.label_failed", metadata: ["error": "\(error)"])
        }
    }

    /// One supervision pass; a failure is logged and retried at the next tick, never stops the pipeline.
    private func superviseCases(_ s: SupervisionScheduler<Store>, now: Date) {
        do {
            let slips = try s.tick(now: now)
            for slip in slips {
                logger.info("supervision.issued", metadata: ["slip.id": "\(slip.id)", "slip.kind": "\(slip.kind.rawValue)", "case.id": "\(slip.caseID ?? "")"])
            }
        } catch {
            logger.error("supervision.failed", metadata: ["error": "\(error)"])
        }
    }

    private func step(_ p: BatchProcessor<Store>) throws -> BatchResult {
        let mark = health?.pipelineStepStarting() ?? 0
        let started = ContinuousClock.now
        let r: BatchResult
        do {
            r = try p.processPending(limit: batchSize)
        } catch {
            health?.pipelineFailed("\(error)")
            throw error
        }
        health?.pipelineStepFinished(mark: mark, processed: r.messages, drained: r.messages < batchSize)
        // What `dead-letters list --source` filters on; a failure leaves them to the next batch or to the CLI.
        if r.deadLetters > 0 { labelDeadLetters(p) }
        metrics?.recordBatch(r, seconds: (ContinuousClock.now - started).seconds, committedAt: clock.now(), speed: clock.speed)
        if r.messages > 0 {
            logger.debug("pipeline.batch", metadata: ["batch.messages": "\(r.messages)", "batch.events": "\(r.events)", "batch.dead_letters": "\(r.deadLetters)", "batch.slips": "\(r.slipsChanged)"])
        }
        return r
    }
}

/// Outbox → `{prefix}/out/...` at QoS 1. A row is deleted only after the
/// broker acknowledged it, so an outcome is published at least once even
/// across crashes; consumers key on the outcome's `id`.
///
/// With the outbox empty it waits for `wake` (the pipeline rings it after
/// each commit, the client after each connect), with a slow `fallback` poll
/// for outbox rows written by anyone else (a `patrolhub` command in another
/// process, a dispatcher's action through the HTTP API).
struct PublisherService: Service {
    let client: MQTTClient
    let store: any OutboxStore
    let logger: Logger
    /// Rung when the outbox may have rows to publish (nil: the fallback poll only).
    let wake: Doorbell?
    /// The longest wait with the outbox empty.
    let fallback: Duration
    /// Whether this hub publishes now: in a group only its leader does (nil: always).
    var isActive: (@Sendable () -> Bool)?
    /// The outbox's reads and deletes wait for the store: on a thread of their own, never on the cooperative pool.
    private let storeThread = StoreThreads(threads: 1)

    /// A publisher of `store`'s outbox through `client`, woken by `wake`.
    init(client: MQTTClient, store: any OutboxStore, logger: Logger, wake: Doorbell? = nil, fallback: Duration = .seconds(1)) {
        self.client = client
        self.store = store
        self.logger = logger
        self.wake = wake
        self.fallback = fallback
    }

    func run() async throws {
        try client.start()
        // Cancellation (not only graceful shutdown) must end this loop: a
        // cancelled Task.sleep returns at once and would turn it into a spin.
        var failures = StoreFailures(logger: logger, what: "outbox")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Read before the outbox: a commit from here on ends the wait at once.
            let seen = wake?.rings ?? 0
            do {
                let sent = isActive?() ?? true ? try await flush() : 0
                failures.succeeded()
                if sent == 0 {
                    let (wake, fallback) = (self.wake, self.fallback)
                    try? await cancelWhenGracefulShutdown {
                        if let wake { await wake.next(after: seen, timeout: fallback) } else { try await Task.sleep(for: fallback) }
                    }
                }
            } catch let error as StoreDatabaseError {
                // The store cannot be read or written now: the outcomes stay in the outbox.
                failures.failed(error, action: "the outcomes stay in the outbox and are published later")
                // The backoff, which a graceful shutdown ends at once (as it ends the idle wait above).
                let delay = failures.delay
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(delay)) }
            }
        }
        // Publish what the drained pipeline wrote last.
        var rounds = 0
        while rounds < 50, !Task.isCancelled, isActive?() ?? true, (try? await flush()) ?? 0 > 0 { rounds += 1 }
        await client.shutdown()
        await storeThread.shutdown()
    }

    /// Publishes one page of the outbox, in order, and deletes the rows the
    /// broker acknowledged; returns how many. The rows after the first one that
    /// could not be sent stay for the next flush, so the order is kept.
    func flush() async throws -> Int {
        let store = self.store
        let page = try await storeThread.offload { try store.outbox(limit: 500) }
        guard !page.isEmpty, client.isConnected else { return 0 }
        let outcomes = await client.publish(page.map { OutgoingMessage(topic: $0.topic, payload: $0.payload) })
        var ids: [Int64] = []
        var firstError: MQTTError?
        for (row, error) in zip(page, outcomes) {
            if let error {
                if firstError == nil { firstError = error }
            } else {
                ids.append(row.id)
            }
        }
        if let firstError {
            logger.warning("outbox.publish_failed", metadata: ["error": "\(firstError)", "outbox.acknowledged": "\(ids.count)", "outbox.page": "\(page.count)"])
        }
        let acknowledged = ids
        try await storeThread.offload { try store.deleteOutbox(ids: acknowledged) }
        return acknowledged.count
    }
}

/// Failed store writes of one service, for its log and its retry delay: the
/// first failure of a run is an error (with the retry delay), the following
/// ones are counted and logged at most every 30 s, and the first success after
/// them says how long the store was unavailable. The delay doubles from 0.1 s
/// to 5 s.
struct StoreFailures {
    let logger: Logger
    let what: String
    private(set) var count = 0
    private(set) var delay = 0.1
    private var since: Date?
    private var lastLogged = Date.distantPast

    init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    mutating func failed(_ error: any Error, action: String) {
        let now = Date()
        if since == nil {
            since = now
            delay = 0.1
        } else {
            delay = min(delay * 2, 5)
        }
        count += 1
        if count == 1 || now.timeIntervalSince(lastLogged) >= 30 {
            lastLogged = now
            logger.error("\(what).store_failed", metadata: [
                "error": "\(error)", "\(what).failures": "\(count)", "\(what).retry_in_s": "\(delay)", "\(what).action": "\(action)",
            ])
        }
    }

    mutating func succeeded() {
        guard let since else { return }
        logger.notice("\(what).store_recovered", metadata: [
            "\(what).failures": "\(count)", "\(what).unavailable_s": "\(HubFormat.fixed(Date().timeIntervalSince(since), digits: 1))",
        ])
        self.since = nil
        count = 0
        delay = 0.1
    }

    /// Blocks the calling (dedicated) thread for the retry delay; a `stop` ends the wait at once.
    func wait(until stop: StopFlag) {
        stop.wait(timeout: delay)
    }
}

/// Runs `body` on a thread of its own (`name`) and returns what it
/// returns or throws. A graceful shutdown, or cancellation (another service failed), sets the
/// `StopFlag` `body` is given and rings `wake`, the bell `body` waits on between its steps: the
/// thread finishes its step, drains if it must, and returns.
func runOnOwnThread(name: String, wake: Doorbell, _ body: @escaping @Sendable (StopFlag) throws -> Void) async throws {
    let stop = StopFlag()
    let done: Result<Void, any Error> = await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Result<Void, any Error>, Never>) in
                let thread = Thread {
                    ProcessSupport.nameCurrentThread(name)
                    cont.resume(returning: Result { try body(stop) })
                }
                thread.name = name
                thread.start()
            }
        } onGracefulShutdown: {
            stop.set()
            wake.ring()
        }
    } onCancel: {
        stop.set()
        wake.ring()
    }
    try done.get()
}

/// A flag one task sets and a dedicated thread reads between its steps, or
/// waits on: setting it rings its bell, so a thread that waits with
/// `wait(timeout:)` wakes at once.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    private let bell = Doorbell()

    /// Sets the flag and wakes every `wait(timeout:)`.
    func set() {
        value.withLock { $0 = true }
        bell.ring()
    }

    /// Whether the flag is set.
    var isSet: Bool { value.withLock { $0 } }

    /// Blocks the calling thread until the flag is set, or for `timeout` seconds
    /// at most; returns at once when it is set already. For dedicated threads only.
    func wait(timeout: TimeInterval) {
        // The bell's count is read before the flag: a `set()` after the check rings past it.
        let seen = bell.rings
        guard !isSet else { return }
        bell.wait(after: seen, timeout: timeout)
    }
}
