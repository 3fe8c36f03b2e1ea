import Alerts
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Counts in the store: inbox, dead letters, risk items, slips, cases.")

        @OptionGroup var config: ConfigOptions

        @Flag(help: "Print one JSON object (keys inbox, dead_letters, risk_items, slips, cases).")
        var json = false

        @Option(help: "A store file to read instead of the config's store.path (e.g. data/demo/patrolhub.sqlite).")
        var store: String?

        func run() throws {
            let path: String, whereFrom: String
            var sample = false
            var timeZone = HubConfig().timezone
            if let store {
                (path, whereFrom) = (store, "")
                if FileManager.default.fileExists(atPath: config.config) { timeZone = try config.load().timezone }
            } else {
                let cfg = try config.load()
                (path, whereFrom) = (try configuredSQLiteStore(cfg), "store.path in \(cfg.file); the demo's store is data/demo/patrolhub.sqlite: use --store")
                sample = cfg.sample
                timeZone = cfg.timezone
            }
            let status = try openExistingStore(path, whereFrom: whereFrom).status()
            if json {
                var object = status.json
                if sample, case .object(var o) = object { o["sample_config"] = .bool(true); object = .object(o) }
                print(object.serialized)
            } else {
                if sample { print(Self.sampleNotice(config.config)) }
                print(status.text(time: LocalTime(timeZone).callAsFunction))
            }
        }

        /// The line `status` leads with when the config is the sample (`sample: true`).
        static func sampleNotice(_ file: String) -> String {
            "SAMPLE CONFIG \(file): invented district data (sample: true); serve runs without the patrol plan"
        }
    }
}
