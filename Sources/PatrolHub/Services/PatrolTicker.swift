import Alerts
import AlertsStore
import Foundation
import Logging

/// Runs the missed-checkpoint scheduler from the pipeline thread, between
/// batches: every `tick_seconds`, only once the inbox is drained, and not
/// before `settle_seconds` after start — so check-ins the broker queued while
/// the hub was down are processed before their slots could be declared missed.
/// The scheduler itself (`PatrolStage.tick`) is clock-driven and tested without
/// this timing; a restart's first tick covers the downtime once. Both
/// intervals are seconds of the hub's clock (simulated ones on a simulated clock).
struct PatrolTicker {
    let logger: Logger
    let clock: HubClock
    let started: Date
    var last = Date.distantPast

    init(logger: Logger, clock: HubClock) {
        self.logger = logger
        self.clock = clock
        started = clock.now()
    }

    /// When the next tick is due on the hub's clock (nil without a patrol
    /// scheduler); it runs then only once the inbox is drained.
    func nextDue<Store>(_ processor: BatchProcessor<Store>) -> Date? {
        guard let options = processor.patrol?.plan.scheduler else { return nil }
        return max(started.addingTimeInterval(options.settleSeconds), last.addingTimeInterval(options.tickSeconds))
    }

    /// Runs the scheduler if a tick is due and the inbox is drained; returns whether it ran.
    @discardableResult
    mutating func tickIfDue<Store>(_ processor: BatchProcessor<Store>, drained: Bool) throws -> Bool {
        guard let options = processor.patrol?.plan.scheduler, drained else { return false }
        let now = clock.now()
        guard now.timeIntervalSince(started) >= options.settleSeconds, now.timeIntervalSince(last) >= options.tickSeconds else { return false }
        last = now
        let r = try processor.tickPatrol(now: now)
        if !r.missed.isEmpty {
            logger.info("patrol.missed", metadata: ["patrol.slots": "\(r.missed.count)", "patrol.letters": "\(r.letters.joined(separator: ","))"])
        }
        return true
    }
}
