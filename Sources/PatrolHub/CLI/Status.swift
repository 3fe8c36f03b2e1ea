import Alerts
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Counts in the store: inbox, dead letters, risk items, slips, cases.")

        @OptionGroup var config: ConfigOptions

        @Flag(help: "Print one JSON object (keys inbox, dead_letters, risk_items, slips, cases).")
        var json = false

        func run() throws {
            let cfg = try config.load()
            guard FileManager.default.fileExists(atPath: cfg.store.path) else {
                throw CLIError("no store at \(cfg.store.path) (store.path in \(cfg.file)): has the hub run yet?")
            }
            let status = try DisputeStore(path: cfg.store.path, synchronous: cfg.store.synchronous).status()
            print(json ? status.json.serialized : status.text)
        }
    }
}
