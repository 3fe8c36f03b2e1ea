import Alerts
import AlertsStore
import AlertsStorePostgres
import ArgumentParser
import Foundation
import Logging

extension PatrolHubCommand {
    struct StoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store",
            abstract: "Maintain the store files (docs/STORAGE.md).",
            subcommands: [Backup.self, Vacuum.self, Migrate.self])

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
                let path = try store ?? configuredSQLiteStore(config.load())
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
                let path = try store ?? configuredSQLiteStore(config.load())
                do {
                    let (before, after) = try DisputeStore.vacuum(path: path)
                    print("vacuumed \(path): \(before) bytes before, \(after) after")
                } catch let error as HubError where error.code == .vacuumRefused {
                    throw HubError.cli(error.description)
                }
            }
        }
        struct Migrate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Copy a district's SQLite store into an empty PostgreSQL database, verified by counts (docs/POSTGRES.md).",
                discussion: """
                    Stop the hub first. The PostgreSQL schema is created (migrated) first, then every one of its \
                    tables is copied, ids included, in one transaction: a failure leaves the database empty and the \
                    copy can be run again. A database that already holds data is refused. Each table's rows are \
                    then counted on both sides; a difference fails the command. The password comes from \
                    --password-file or PATROLHUB_STORE_PASSWORD, never from the URL. TLS follows the URL's \
                    sslmode (disable, prefer, require, verify-ca, verify-full; default disable on loopback, \
                    verify-full elsewhere) and sslrootcert (a PEM CA file).
                    """)
            @Option(help: "The SQLite store: sqlite:PATH.") var from: String
            @Option(help: "The PostgreSQL database: postgres://user@host:port/database[?sslmode=MODE&sslrootcert=CA.pem] (no password).")
            var to: String
            @Option(help: "A file whose first line is the PostgreSQL password (else PATROLHUB_STORE_PASSWORD).") var passwordFile: String?
            @Option(help: "Rows read and inserted at a time.") var batchRows: Int = 500

            func run() throws {
                guard from.hasPrefix("sqlite:"), from.count > "sqlite:".count else {
                    throw HubError.cli("--from must be sqlite:PATH, not '\(from)'")
                }
                guard batchRows >= 1 else { throw HubError.cli("--batch-rows must be at least 1, not \(batchRows)") }
                let path = String(from.dropFirst("sqlite:".count))
                let source = try openExistingStore(path, whereFrom: "--from")
                let target: PostgresStore
                do {
                    try PostgresStoreURL(parsing: to).checkTLS()
                } catch {
                    throw HubError.cli(error.message.replacingOccurrences(of: "store.url", with: "--to"))
                }
                do {
                    // Warnings only: the output is the count table (the schema's migration is not news here).
                    var logger = Logger(label: "patrolhub.store.postgres")
                    logger.logLevel = .warning
                    target = try PostgresStore(url: to, passwordFile: passwordFile, logger: logger)
                } catch let error as HubError {
                    throw HubError.cli("--to: \(error.message)")
                }
                defer { target.close() }
                let counts: [TableCopyCount]
                do {
                    counts = try target.copy(from: source, batchRows: batchRows)
                } catch let error as HubError {
                    throw HubError.cli("migrate to \(target.url) failed: \(error.message)")
                }
                print("copied \(path) to \(target.url)")
                print(Self.countTable(counts), terminator: "")
                let differing = counts.filter { !$0.ok }.map(\.table)
                guard differing.isEmpty else {
                    throw HubError.cli("row counts differ for \(differing.joined(separator: ", ")): was the hub still running?")
                }
            }

            /// table, SQLite rows, PostgreSQL rows, ok — one line each, columns aligned.
            static func countTable(_ counts: [TableCopyCount]) -> String {
                let width = max(5, counts.map(\.table.count).max() ?? 0)
                func line(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
                    HubFormat.spacePadded(a, width: width, alignment: .left) + "  " + HubFormat.spacePadded(b, width: 8, alignment: .right) + "  "
                        + HubFormat.spacePadded(c, width: 8, alignment: .right) + "  " + d + "\n"
                }
                return line("table", "sqlite", "postgres", "ok")
                    + counts.map { line($0.table, "\($0.sqliteRows)", "\($0.postgresRows)", $0.ok ? "yes" : "NO") }.joined()
            }
        }
    }
}
