import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct StoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store",
            abstract: "Maintain the store files (docs/STORAGE.md).",
            subcommands: [Vacuum.self])

        struct Vacuum: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Shrink a stopped hub's store and inbox files to their data, and make them give freed pages back from then on.")
            @OptionGroup var config: ConfigOptions
            @Option(help: "A store file instead of the config's store.path.") var store: String?

            func run() throws {
                let path = try store ?? config.load().store.path
                do {
                    let (before, after) = try DisputeStore.vacuum(path: path)
                    print("vacuumed \(path): \(before) bytes before, \(after) after")
                } catch let error as DisputeStore.VacuumRefused {
                    throw CLIError(error.description)
                }
            }
        }
    }
}
