import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct StoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store",
            abstract: "Maintain the store files (docs/STORAGE.md).",
            subcommands: [Backup.self, Vacuum.self])

        struct Backup: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Copy the store (and the inbox) to new files while the hub runs: a consistent snapshot, checked.",
                discussion: """
                    SQLite's online backup, in one read transaction per file: the hub goes on writing. Each copy \
                    is one self-contained file, checked with PRAGMA integrity_check; an existing file is never \
                    overwritten. Restore: stop the hub, put the copy at store.path (and the inbox copy beside it \
                    as NAME.inbox.sqlite), remove the old -wal and -shm files, start the hub.
                    """)
            @OptionGroup var config: ConfigOptions
            @Option(help: "A store file instead of the config's store.path.") var store: String?
            @Option(help: "Also copy the inbox (the raw messages received) to this new file.") var inbox: String?
            @Argument(help: "The new file the store is copied to.") var destination: String

            func run() throws {
                let path = try store ?? config.load().store.path
                let source = try openExistingStore(path, whereFrom: store == nil ? "store.path" : "--store")
                do {
                    let r = try source.backup(to: destination, inbox: inbox)
                    print("backed up \(path) to \(r.path): \(r.bytes) bytes, \(r.cases) cases, \(r.slips) slips, \(r.riskItems) risk items (integrity ok)")
                    if let inboxPath = r.inboxPath, let bytes = r.inboxBytes {
                        print("backed up the inbox to \(inboxPath): \(bytes) bytes (integrity ok)")
                    }
                } catch let error as HubError where error.code == .backupRefused {
                    throw HubError.cli(error.description)
                } catch {
                    throw HubError.cli("backup of \(path) failed: \(error)")
                }
            }
        }

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
                } catch let error as HubError where error.code == .vacuumRefused {
                    throw HubError.cli(error.description)
                }
            }
        }
    }
}
