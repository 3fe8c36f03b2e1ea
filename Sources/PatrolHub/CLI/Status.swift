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
            let path: String
            if let store {
                path = store
            } else {
                let cfg = try config.load()
                path = cfg.store.path
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CLIError("no store at \(path) (store.path in \(cfg.file)): has the hub run yet? (the demo's store is data/demo/patrolhub.sqlite: use --store)")
                }
            }
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("no store at \(path)") }
            let status = try DisputeStore(path: path).status()
            print(json ? status.json.serialized : status.text)
        }
    }
}
