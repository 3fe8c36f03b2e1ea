import Alerts
import AlertsStore
import AlertsStorePostgres
import Foundation
import PostgresTestSupport
import Testing
@testable import PatrolHub

/// `patrolhub store migrate`, run as the built executable: a store with zones
/// and cases copied into a fresh database of a real PostgreSQL, its count
/// table printed line for line; a second run refused; bad arguments named in one line.
@Suite("Store migrate command line", .serialized)
struct StoreMigrateCLITests {
    /// The count table's lines as the command prints them, from the SQLite store's counts.
    static func expectedLines(_ store: DisputeStore) throws -> [String] {
        let tables = PostgresStore.copiedTables
        let width = max(5, tables.map(\.count).max() ?? 0)
        func line(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
            HubFormat.spacePadded(a, width: width) + "  " + HubFormat.spacePadded(b, width: 8, alignment: .right) + "  "
                + HubFormat.spacePadded(c, width: 8, alignment: .right) + "  " + d
        }
        return try [line("table", "sqlite", "postgres", "ok")] + tables.map { t in
            let n = "\(try store.exportCount(table: t))"
            return line(t, n, n, "yes")
        }
    }

    @Test("copies a store into an empty database and prints each table's counts; a second run is refused")
    func migrateThenRefuse() async throws {
        let f = try CasesCLITests.Fixture()
        defer { f.dir.cleanup() }
        let db = try await onDedicatedThread { try TestPostgres.freshDatabase("cli_migrate") }
        let path = f.dir.file("s.sqlite")
        let exe = try patrolhubExecutable()

        let run = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)", "--to", db.url])
        #expect(run.status == 0, "\(run.output)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        let url = try PostgresStoreURL(parsing: db.url)
        #expect(lines == ["copied \(path) to \(url)"] + (try Self.expectedLines(f.store)), "\(run.output)")
        #expect(try f.store.exportCount(table: "cases") == 2)
        #expect(try f.store.exportCount(table: "zones") > 0)

        let again = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)", "--to", db.url])
        #expect(again.status != 0)
        let first = try #require(PostgresStore.copiedTables.first { !["pipeline_cursor", "counters"].contains($0) && ((try? f.store.exportCount(table: $0)) ?? 0) > 0 })
        let rows = try f.store.exportCount(table: first)
        #expect(again.output == "Error: migrate to \(url) failed: \(url) already holds data (\(first) has \(rows) rows): migrate into an empty database\n",
                "\(again.output)")
    }

    @Test("bad arguments and an unreachable server fail in one line naming the flag")
    func refusals() throws {
        let f = try CasesCLITests.Fixture()
        defer { f.dir.cleanup() }
        let exe = try patrolhubExecutable()
        let path = f.dir.file("s.sqlite")

        let noScheme = try runProcess(exe, ["store", "migrate", "--from", path, "--to", "postgres://u@127.0.0.1:1/db"])
        #expect(noScheme.status != 0)
        #expect(noScheme.output == "Error: --from must be sqlite:PATH, not '\(path)'\n", "\(noScheme.output)")

        let missing = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(f.dir.file("none.sqlite"))", "--to", "postgres://u@127.0.0.1:1/db"])
        #expect(missing.status != 0)
        #expect(missing.output.hasPrefix("Error: no store at \(f.dir.file("none.sqlite")) (--from)"), "\(missing.output)")

        let withPassword = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)", "--to", "postgres://u:secret@127.0.0.1:1/db"])
        #expect(withPassword.status != 0)
        #expect(withPassword.output == "Error: --to must be postgres://user@host:port/database: it holds a password; "
                + "give it in PATROLHUB_STORE_PASSWORD or a password file instead\n", "\(withPassword.output)")
        #expect(!withPassword.output.contains("secret"))

        // A bad TLS mode, or a CA file that is not there: refused before connecting, naming the parameter.
        let badMode = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)", "--to", "postgres://u@127.0.0.1:1/db?sslmode=verify_full"])
        #expect(badMode.status != 0)
        #expect(badMode.output == "Error: --to: sslmode must be one of disable, prefer, require, verify-ca, verify-full, not 'verify_full'\n",
                "\(badMode.output)")
        let noCA = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)",
                                        "--to", "postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=\(f.dir.file("none.pem"))"])
        #expect(noCA.status != 0)
        #expect(noCA.output == "Error: --to: sslrootcert \(f.dir.file("none.pem")) cannot be read\n", "\(noCA.output)")

        // Port 1 on loopback: nothing listens there.
        let unreachable = try runProcess(exe, ["store", "migrate", "--from", "sqlite:\(path)", "--to", "postgres://u@127.0.0.1:1/db"])
        #expect(unreachable.status != 0)
        #expect(unreachable.output.hasPrefix("Error: --to: PostgreSQL: cannot connect to postgres://u@127.0.0.1:1/db?sslmode=disable: "), "\(unreachable.output)")
        #expect(unreachable.output.split(separator: "\n").count == 1, "\(unreachable.output)")
    }
}
