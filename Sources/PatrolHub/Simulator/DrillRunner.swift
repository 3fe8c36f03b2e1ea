import Alerts
import Foundation
import Logging
import PatrolHubRuntime
import Simulation

/// A drill: the scenario's silences set up in the hub, the scenario run
/// through the simulator while the hub's outcomes are polled, a settling
/// period, then every expectation scored (`DrillScorer`).
struct DrillRunner {
    var scenario: Scenario
    var plan: SimulationPlan
    var runner: SimulatorRunner.Options
    var source: any OutcomeSource
    /// Longest wait after the run for outcomes still on their way.
    var settle: TimeInterval = 15
    /// The settling ends early once every expectation holds and nothing changed for this long.
    var quiet: TimeInterval = 1.5
    var pollInterval: Duration = .milliseconds(250)
    var tolerance: TimeInterval = 1
    var logger: Logger

    /// Outcome kinds to watch: cases and slips always (for unexpected ones), risk items when expected.
    var kinds: [DrillExpectation.Kind] {
        var k: [DrillExpectation.Kind] = [.case, .warning, .reminder, .supervision]
        if scenario.expectations.contains(where: { $0.kind == .riskItem }) { k.append(.riskItem) }
        return k
    }

    func run() async throws -> DrillResult {
        for s in scenario.silences {
            let id = try await source.addSilence(s, startsAt: plan.clock.eventTime(s.from), endsAt: plan.clock.eventTime(s.to))
            logger.info("drill.silence", metadata: ["silence.id": "\(id)", "silence.comment": "\(s.comment)"])
        }
        let since = Date().addingTimeInterval(-tolerance)
        let watcher = OutcomeWatcher(source: source, kinds: kinds, since: since, riskSince: plan.clock.scenarioStart.addingTimeInterval(-tolerance))
        let poller = Task { await watcher.run(interval: pollInterval) }
        defer { watcher.stop() } // not `poller.cancel()`: see `OutcomeWatcher.run`

        let sim = SimulatorRunner(options: runner, logger: logger)
        let report = try await sim.run(plan)
        var timeline = DrillTimeline(clock: plan.clock, startedAt: report.startedAt, finishedAt: report.finishedAt,
                                     triggerSent: report.triggerSent, progress: report.progress, skipped: Set(plan.skippedSteps),
                                     settle: settle, tolerance: tolerance)
        func score() -> DrillResult {
            DrillScorer.score(scenario: scenario, seed: plan.seed, messages: report.published, acknowledged: report.acknowledged,
                              timeline: timeline, outcomes: watcher.outcomes)
        }
        // Settle: until every expectation holds and nothing changed for `quiet`, at most `settle`.
        let deadline = report.finishedAt.addingTimeInterval(settle)
        while Date() < deadline {
            try await Task.sleep(for: pollInterval)
            let r = score()
            if r.missed == 0, Date().timeIntervalSince(watcher.changedAt) >= quiet,
               Date().timeIntervalSince(report.finishedAt) >= quiet {
                break
            }
        }
        watcher.stop()
        await poller.value
        await watcher.poll()
        if let error = watcher.error { logger.warning("drill.poll_failed", metadata: ["error": "\(error)"]) }
        timeline.settle = max(settle, Date().timeIntervalSince(report.finishedAt))
        return score()
    }
}
