import Alerts
import CMosquitto
import Foundation
import Logging
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

/// MQTT → durable inbox. Each group of messages is committed to SQLite on
/// the MQTT thread before its PUBACKs are written (see `MQTTClient`).
struct IngestService: Service {
    let client: MQTTClient

    init(options: MQTTClient.Options, store: DisputeStore, logger: Logger, health: HubHealth? = nil, onCommit: (@Sendable (Int) -> Void)? = nil) {
        client = MQTTClient(options: options, logger: logger) { batch in
            do {
                let inserted = try store.ingest(batch.map(\.inboxMessage))
                health?.ingestCommitted(inserted)
                onCommit?(inserted)
                return true
            } catch {
                logger.error("inbox.commit_failed", metadata: ["error": "\(error)", "inbox.batch": "\(batch.count)"])
                health?.ingestFailed("\(error)")
                return false
            }
        }
    }

    func run() async throws {
        try client.start()
        try? await gracefulShutdown()
        // Stop taking messages: the current group is committed and acknowledged first.
        client.stop()
    }
}

/// Inbox → decode → rules → store, in batches, on a thread of its own at a
/// lower scheduling priority: when messages arrive faster than they are
/// processed, the MQTT thread (whose commits hold back the PUBACKs) gets the
/// CPU first and the durable inbox absorbs the burst. Drains the inbox on
/// shutdown.
struct PipelineService: Service {
    let makeProcessor: @Sendable () throws -> PipelineProcessor
    let batchSize: Int
    let logger: Logger
    /// Processed inbox rows older than this are pruned (hourly).
    var inboxRetention: TimeInterval = 7 * 86_400
    /// Added to the thread's nice value (Linux: per thread).
    var niceness: Int32 = 10
    /// Case deadline supervision (reminder letters, supervision orders), ticked every `tickSeconds`.
    var supervision: SupervisionScheduler?
    /// Told of every step, for `/healthz`.
    var health: HubHealth?

    func run() async throws {
        let stop = StopFlag()
        // Graceful shutdown drains; cancellation (another service failed) stops too.
        let done: Result<Void, any Error> = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (cont: CheckedContinuation<Result<Void, any Error>, Never>) in
                    let thread = Thread {
                        _ = patrolhub_nice_current_thread(niceness)
                        cont.resume(returning: Result { try self.loop(stop: stop) })
                    }
                    thread.name = "pipeline"
                    thread.start()
                }
            } onGracefulShutdown: {
                stop.set()
            }
        } onCancel: {
            stop.set()
        }
        try done.get()
    }

    private func loop(stop: StopFlag) throws {
        TrapRecorder.prepareThread() // a stack overflow on this thread still records its trap
        let processor = try makeProcessor()
        if let path = processor.store.path {
            do {
                processor.trapRecorder = try TrapRecorder(evidenceFile: path + "-trap")
            } catch {
                logger.warning("pipeline.trap_recorder_unavailable", metadata: ["error": "\(error)"])
            }
        }
        let recovery = try processor.recover()
        if let range = recovery.inProgress {
            logger.warning("pipeline.unclean_stop", metadata: [
                "pipeline.previous_stop": "\(recovery.previousStop)", "inbox.in_progress": "\(range.lowerBound)...\(range.upperBound)",
                "pipeline.stops": "\(recovery.stops)", "pipeline.isolate_through": "\(recovery.isolateThrough)",
            ])
        }
        if recovery.limitReached {
            logger.critical("pipeline.crash_limit_reached", metadata: [
                "pipeline.set_aside_last_hour": "\(PipelineProcessor.maxSetAsidePerHour)",
                "pipeline.action": "the message that stopped the hub is kept: the fault looks like the hub's, not the input's",
            ])
        }
        if let seq = recovery.crashedSeq {
            logger.error("pipeline.message_crashed", metadata: [
                "inbox.seq": "\(seq)", "inbox.key": "\(recovery.crashedKey ?? "")",
                "pipeline.action": "dead-lettered as crashed; processing goes on",
            ])
        }
        do {
            try run(processor, stop: stop)
        } catch {
            processor.trapRecorder?.recordErrorExit() // an error, not a crash: the next start retries the batch as it is
            throw error
        }
    }

    private func run(_ processor: PipelineProcessor, stop: StopFlag) throws {
        var lastPrune = Date.distantPast
        var lastCheckpoint = Date()
        var patrol = PatrolTicker(logger: logger)
        var lastSupervision = Date.distantPast
        while !stop.isSet {
            let drained = try step(processor).messages < batchSize
            if drained { usleep(10_000) }
            try patrol.tickIfDue(processor, drained: drained)
            if let s = supervision, Date().timeIntervalSince(lastSupervision) >= TimeInterval(s.supervisor.rules.tickSeconds) {
                lastSupervision = Date()
                superviseCases(s, now: lastSupervision)
            }
            if Date().timeIntervalSince(lastCheckpoint) > 1 {
                lastCheckpoint = Date()
                try processor.store.checkpointInbox()
            }
            if Date().timeIntervalSince(lastPrune) > 3600 {
                lastPrune = Date()
                let pruned = try processor.store.pruneInbox(olderThan: lastPrune.addingTimeInterval(-inboxRetention))
                if pruned > 0 { logger.info("inbox.pruned", metadata: ["inbox.rows": "\(pruned)"]) }
            }
        }
        // Drain what the ingester committed before it stopped.
        while try step(processor).messages > 0 {}
        logger.info("pipeline.drained")
    }

    /// One supervision pass; a failure is logged and retried at the next tick, never stops the pipeline.
    private func superviseCases(_ s: SupervisionScheduler, now: Date) {
        do {
            let slips = try s.tick(now: now)
            for slip in slips {
                logger.info("supervision.issued", metadata: ["slip.id": "\(slip.id)", "slip.kind": "\(slip.kind.rawValue)", "case.id": "\(slip.caseID ?? "")"])
            }
        } catch {
            logger.error("supervision.failed", metadata: ["error": "\(error)"])
        }
    }

    private func step(_ p: PipelineProcessor) throws -> BatchResult {
        let mark = health?.pipelineStepStarting() ?? 0
        let r: BatchResult
        do {
            r = try p.processPending(limit: batchSize)
        } catch {
            health?.pipelineFailed("\(error)")
            throw error
        }
        health?.pipelineStepFinished(mark: mark, processed: r.messages, drained: r.messages < batchSize)
        if r.messages > 0 {
            logger.debug("pipeline.batch", metadata: ["batch.messages": "\(r.messages)", "batch.events": "\(r.events)", "batch.dead_letters": "\(r.deadLetters)", "batch.slips": "\(r.slipsChanged)"])
        }
        return r
    }
}

/// Outbox → `{prefix}/out/...` at QoS 1. A row is deleted only after the
/// broker acknowledged it, so an outcome is published at least once even
/// across crashes; consumers key on the outcome's `id`.
struct PublisherService: Service {
    let client: MQTTClient
    let store: DisputeStore
    let logger: Logger

    func run() async throws {
        try client.start()
        // Cancellation (not only graceful shutdown) must end this loop: a
        // cancelled Task.sleep returns at once and would turn it into a spin.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if try await flush() == 0 { try? await Task.sleep(for: .milliseconds(20)) }
        }
        // Publish what the drained pipeline wrote last.
        var rounds = 0
        while rounds < 50, !Task.isCancelled, try await flush() > 0 { rounds += 1 }
        client.stop()
    }

    /// Publishes one page of the outbox; returns how many were acknowledged.
    func flush() async throws -> Int {
        let page = try store.outbox(limit: 500)
        guard !page.isEmpty, client.isConnected else { return 0 }
        var byMid: [Int32: Int64] = [:]
        for m in page {
            do {
                byMid[try client.publish(topic: m.topic, payload: m.payload)] = m.id
            } catch {
                logger.warning("outbox.publish_failed", metadata: ["error": "\(error)"])
                break
            }
        }
        let acked = await client.waitForAcks(Array(byMid.keys), timeout: .seconds(5))
        try store.deleteOutbox(ids: acked.compactMap { byMid[$0] })
        return acked.count
    }
}

/// A flag one task sets and a thread polls.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
