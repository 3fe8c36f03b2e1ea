import Alerts
import AlertsStore
import AlertsStorePostgres
import Foundation
import Logging
import PatrolHubMQTT
import ServiceLifecycle

/// A hub of a group (`broker.shared_group` with `store.kind: postgres`):
/// copies this hub's inbox file into the group's shared inbox in PostgreSQL
/// (`PostgresSharedInbox.forward`), in order, each row once, on a thread of
/// its own. Woken by the ingest path after each committed group (`wake`);
/// rings `forwarded` after each forward (the leader's pipeline, when it is
/// this hub, waits on it). Also prunes this hub's inbox file through what it
/// has forwarded, and the shared inbox through what the group's pipeline has
/// processed (`store.inbox_retention_days`). Drains the inbox file on
/// shutdown, after ingestion stopped.
///
/// A failed forward (the server unreachable, the connection lost) ends the
/// hub, as the pipeline's errors on PostgreSQL do: its service manager starts
/// it again, and the rows wait in the inbox file meanwhile.
struct ForwarderService: Service {
    let inbox: DisputeStore
    let shared: PostgresSharedInbox
    let policy: Housekeeper.Policy
    let wake: Doorbell
    let forwarded: Doorbell
    var clock = HubClock.real
    let logger: Logger
    /// Rows a forward takes at most (and 16 MiB of payloads).
    var batchSize = 2000

    func run() async throws {
        try await runOnOwnThread(name: "forwarder", wake: wake) { stop in try self.loop(stop: stop) }
    }

    private func loop(stop: StopFlag) throws {
        let origin = inbox.inboxID
        var through = try shared.forwardedThrough(origin: origin)
        logger.info("group.forwarding", metadata: ["inbox.id": "\(origin)", "inbox.forwarded_through": "\(through)"])
        let housekeeper = Housekeeper(inbox: inbox, policy: policy, cursor: { [shared] in try shared.forwardedThrough(origin: origin) })
        var nextSharedPrune = Date.distantPast
        while !stop.isSet {
            let seen = wake.rings
            let moved = try forwardPending(after: &through)
            let now = clock.now()
            if let pruned = try housekeeper.tick(now: now), pruned.total > 0 {
                logger.info("inbox.pruned", metadata: ["pruned.inbox": "\(pruned.total)"])
            }
            if now >= nextSharedPrune {
                nextSharedPrune = now.addingTimeInterval(policy.interval)
                let n = try shared.prune(olderThan: now.addingTimeInterval(-policy.inbox))
                if n > 0 { logger.info("group.shared_inbox_pruned", metadata: ["pruned.shared_inbox": "\(n)"]) }
            }
            guard moved == 0, !stop.isSet else { continue }
            let housekeeping = housekeeper.wallSecondsUntilDue(now: now, speed: clock.speed)
            wake.wait(after: seen, timeout: min(max(housekeeping, 0.05), 1))
        }
        // Ingestion has stopped (it stops first): what it committed goes to the group before the hub exits.
        while try forwardPending(after: &through) > 0 {}
        logger.info("group.forwarder_drained", metadata: ["inbox.forwarded_through": "\(through)"])
    }

    /// Forwards one page of the rows after `through`; returns how many.
    private func forwardPending(after through: inout Int64) throws -> Int {
        let rows = try inbox.pending(after: through, limit: batchSize, maxBytes: 16 << 20)
        guard !rows.isEmpty else { return 0 }
        through = try shared.forward(rows, origin: inbox.inboxID)
        forwarded.ring()
        return rows.count
    }
}

/// A hub of a group: holds or waits for the group's leader lease
/// (`LeaderLease`, a PostgreSQL advisory lock on a connection of its own) for
/// the hub's lifetime. The pipeline (and with it case supervision and the
/// patrol scheduler) and the outbox publisher run only while this hub leads;
/// they read `isLeader` before each step. On a gain it rings `bells` (the
/// pipeline's and the publisher's wake-ups). Listed before the pipeline and
/// the publisher, so it stops after them: a stopping leader drains first.
struct GroupLeaderService: Service {
    let lease: LeaderLease
    let bells: [Doorbell]
    let logger: Logger

    func run() async throws {
        let (lease, bells, logger) = (self.lease, self.bells, self.logger)
        await cancelWhenGracefulShutdown {
            await lease.run(onGain: {
                logger.notice("group.lead_gained", metadata: ["lease.key": "\(lease.key)"])
                for b in bells { b.ring() }
            }, onLoss: {
                // Cancelled: this hub stops and gives the lead up; else its ping failed.
                if Task.isCancelled {
                    logger.notice("group.lead_released", metadata: ["lease.key": "\(lease.key)"])
                } else {
                    logger.warning("group.lead_lost", metadata: ["lease.key": "\(lease.key)"])
                }
                for b in bells { b.ring() }
            })
        }
    }
}
