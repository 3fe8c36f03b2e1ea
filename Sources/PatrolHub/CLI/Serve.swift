import Alerts
import ArgumentParser
import Foundation
import Logging

extension PatrolHubCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the hub: broker connection (or embedded broker), pipeline, outputs.")

        @OptionGroup var config: ConfigOptions
        @OptionGroup var log: LogOptions

        func run() async throws {
            let cfg = try config.load()
            log.bootstrap()
            let logger = Logger(label: "patrolhub")
            let hub: Hub
            do {
                hub = try Hub(config: cfg, logger: logger)
            } catch let error as ConfigError {
                throw CLIError("invalid config: \(error)")
            }
            logger.info("hub.starting", metadata: ["broker": "\(cfg.broker.mode.rawValue) \(hub.brokerHost):\(hub.brokerPort)", "store": "\(cfg.store.path)"])
            try await hub.start().run()
            logger.info("hub.stopped")
        }
    }
}
