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
            if let store {
                (path, whereFrom) = (store, "")
            } else {
                let cfg = try config.load()
                (path, whereFrom) = (cfg.store.path, "store.path in \(cfg.file); the demo's store is data/demo/patrolhub.sqlite: use --store")
            }
            let status = try openExistingStore(path, whereFrom: whereFrom).status()
            print(json ? status.json.serialized : status.text)
        }
    }
}
