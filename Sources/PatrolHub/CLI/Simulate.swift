import Alerts
import AlertsStore
import ArgumentParser
import Foundation
import Logging
import PatrolHubRuntime
import Reports
import Simulation

extension PatrolHubCommand {
    /// `patrolhub simulate`: a fleet of cameras and patrol devices without hardware.
    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a scenario's camera and patrol-device traffic over MQTT (QoS 1), faster than real time if asked.",
            discussion: """
                Reads the cameras, devices and zones from the hub's config, plans every message of the scenario \
                (deterministic for a seed and start), then publishes them on schedule: scenario second t goes out \
                at start + t / speed, stamped with event time scenarioStart + t, where the scenario's end is \
                anchored to the run's end, so no event time is ever ahead of the clock. See simulators/README.md.
                """)

        @OptionGroup var config: ConfigOptions
        @OptionGroup var scenario: ScenarioOptions
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var log: LogOptions

        @Flag(help: "Plan only: print what would be published, publish nothing.")
        var dryRun = false

        @Option(help: "Write the planned message sequence to this file (JSON lines: offset, topic, retain, payload).")
        var dump: String?

        @Flag(inversion: .prefixedNo, help: "Show a progress line (default: when standard error is a terminal).")
        var progress: Bool?

        @Option(help: "The target hub's store, to warn when it has seen newer events than the scenario's (default: the config's store.path).")
        var store: String?

        func run() async throws {
            let cfg = try config.load()
            log.bootstrap(timeZone: cfg.timezone)
            var logger = Logger(label: "patrolhub.simulate")
            logger.logLevel = Logger.Level(rawValue: log.logLevel) ?? .info
            let simulated = try scenario.simulation(config: cfg)
            if let simulated, !simulated.shared {
                print("warning: no hub on this simulated clock in \(SimulatedClockFile.path(dataDir: cfg.dataDir)): the simulator's clock starts now, and event times differ from a hub's that started earlier")
            }
            let (scn, _, plan) = try scenario.plan(config: cfg, simulation: simulated?.simulation)
            print(plan.describe(file: scn.file, timeZone: cfg.timezone))
            if let warning = plan.lateWarning(config: cfg, store: store) { print("  warning: \(warning)") }
            if let dump {
                try writeTextFile(plan.transcript, to: dump)
                print("  wrote the message sequence to \(dump)")
            }
            if dryRun { return }

            var options = SimulatorRunner.Options()
            options.mqtt = try broker.mqttOptions(config: cfg)
            options.accounts = try Dictionary(broker.credentials(config: cfg)?.accounts.map { ($0.username, $0.password) } ?? [], uniquingKeysWith: { a, _ in a })
            options.progress = progress ?? standardErrorIsTerminal
            options.wallStart = simulated.map { $0.simulation.wall(at: plan.clock.scenarioStart) }
            let runner = SimulatorRunner(options: options, logger: logger)
            let report = try await runner.run(plan)
            print(report.summary(plan: plan))
            if report.acknowledged < report.published {
                throw HubError.cli("the broker acknowledged \(report.acknowledged) of \(report.published) messages")
            }
        }
    }
}

extension SimulationPlan {
    /// A warning when the target hub (its store: `store`, else the config's
    /// `store.path`) has already seen events newer than this run's: the events
    /// older than its newest event time minus the lateness bound are late there —
    /// kept as risk items marked `late`, opening no slip or case. Nil otherwise
    /// (also when the store cannot be read: the warning is advice, not a check).
    func lateWarning(config: HubConfig, store: String?) -> String? {
        // With store.kind: postgres a file at store.path is not the hub's store: no advice from it.
        guard store != nil || config.store.kind != .postgres else { return nil }
        let path = store ?? config.store.path
        guard let newest = try? DisputeStore.newestEventTime(path: path), let first = messages.first else { return nil }
        let firstTime = clock.eventTime(first.offset)
        guard newest > firstTime else { return nil }
        let lateness = (try? config.rulesFile.map { try RuleSet.load(file: $0) }?.lateness) ?? RuleSet().lateness
        let bound = newest.addingTimeInterval(-lateness)
        let late = messages.lazy.filter { self.clock.eventTime($0.offset) < bound }.count
        let local = LocalTime(config.timezone)
        var text = "the hub's store (\(path)) has seen events up to \(local(newest)), newer than this scenario's first event (\(local(firstTime)))"
        if late > 0 {
            text += "; \(late) of \(messages.count) messages are older than that minus event_time.lateness_seconds (\(Int(lateness)) s): "
                + "the hub keeps them as risk items marked late, which open no slip or case"
        }
        return text + " (start later with --start, or use a fresh store)"
    }
}

extension SimulatorRunner.Report {
    /// The end-of-run summary.
    func summary(plan: SimulationPlan) -> String {
        var lines = ["published \(published) messages (\(acknowledged) acknowledged, \(republished) republished after a reconnect) "
                     + "in \(HubFormat.fixed(elapsed, digits: 2)) s: \(HubFormat.fixed(rate, digits: 0)) msg/s"]
        if wills > 0 || disconnects > 0 { lines.append("  \(wills) camera connection(s) cut for their last will, \(disconnects) disconnect(s) of the simulator") }
        let dead = plan.expectedDeadLetters
        if !dead.isEmpty {
            lines.append("  the hub should dead-letter: " + dead.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
