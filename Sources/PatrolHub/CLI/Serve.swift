import Alerts
import AlertsStore
import ArgumentParser
import Foundation
import Logging
import PatrolHubHTTP

extension PatrolHubCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the hub: broker connection (or embedded broker), pipeline, outputs.")

        @OptionGroup var config: ConfigOptions
        @OptionGroup var log: LogOptions
        @OptionGroup var listen: HTTPListenOptions

        @Option(help: ArgumentHelp(
            "For soak runs and drills only: run the hub's clock from START at SPEED simulated seconds per wall second (START@SPEED, e.g. 2026-01-01T00:00:00+08:00@720).",
            discussion: "Every time the hub reads (receive times, deadlines, the patrol scheduler, retention) is then simulated; `simulate --simulated-clock` with the same value sends on the same clock. Use a store of its own.",
            valueName: "START@SPEED"))
        var simulatedClock: String?

        func validate() throws {
            if let simulatedClock {
                do {
                    _ = try HubClock.parse(simulatedClock)
                } catch {
                    throw ValidationError("--simulated-clock: \(error)")
                }
            }
        }

        func run() async throws {
            var cfg = try config.load()
            try listen.apply(to: &cfg)
            log.bootstrap(timeZone: cfg.timezone)
            let logger = Logger(label: "patrolhub")
            if cfg.sample {
                // An invented district must not act: no patrol plan, so no reminder letter for a route that does not exist.
                cfg.patrolFile = nil
                logger.warning("hub.sample_config", metadata: [
                    "config": "\(cfg.file)",
                    "hint": "SAMPLE DATA: this config describes an invented district (sample: true); the patrol plan is off and the board says so. Describe your district and remove 'sample: true' (docs/DEPLOY.md)",
                ])
            }
            var clock = HubClock.real
            if let simulatedClock {
                let (start, speed) = try HubClock.parse(simulatedClock)
                try FilePermissions.secureFolder(cfg.dataDir)
                let (simulation, continued) = try SimulatedClockFile.forHub(start: start, speed: speed, dataDir: cfg.dataDir)
                clock = HubClock(simulation: simulation)
                logger.warning("hub.simulated_clock", metadata: [
                    "clock.start": "\(start.rfc3339)", "clock.speed": "\(speed)", "clock.now": "\(clock.now().rfc3339)",
                    "clock.continued": "\(continued)", "clock.file": "\(SimulatedClockFile.path(dataDir: cfg.dataDir))",
                    "hint": "the hub's clock is SIMULATED (soak runs and drills only): deadlines, reports and retention follow it, not the wall clock",
                ])
            }
            let hub: Hub
            do {
                hub = try Hub(config: cfg, logger: logger, clock: clock)
            } catch let error as HubError where error.code == .config {
                throw HubError.cli("invalid config: \(error)")
            }
            HubMetrics.bootstrapGlobal(hub.metrics) // once per process: libraries using swift-metrics report to /metrics too
            // On PostgreSQL the store is the database (its URL never holds a password); the SQLite path is the inbox's then.
            let store = cfg.store.kind == .postgres ? cfg.store.url.map { "\($0)" } ?? "postgres" : cfg.store.path
            logger.info("hub.starting", metadata: ["broker": "\(cfg.broker.mode.rawValue) \(hub.brokerHost):\(hub.brokerPort)", "store": "\(store)"])
            try await hub.start().run()
            logger.info("hub.stopped")
        }
    }
}
