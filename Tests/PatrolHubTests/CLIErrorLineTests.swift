import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// Every CLI failure is exactly one line, `Error: …`, naming the file or flag
/// and what is wrong — no Foundation error dump, no SQLite code, no system-call
/// name, no usage text after it — and exits non-zero.
@Suite("Command line: one-line errors")
struct CLIErrorLineTests {
    /// A folder with a store a hub could have written (`s.sqlite`) and a config pointing at it.
    struct Fixture {
        let dir = TempDir("patrolhub-cli-errors")
        let store: String
        let config: String
        let zones = packageRoot.appendingPathComponent("config/zones.geojson").path

        init() throws {
            store = dir.file("s.sqlite")
            _ = try DisputeStore(path: store)
            config = dir.write("hub.yaml", "store:\n  path: s.sqlite\n")
        }

        /// Runs `patrolhub ARGS` (`{store}`, `{zones}`, `{dir}` replaced) and returns its exit status and output.
        func run(_ args: [String]) throws -> (status: Int32, output: String) {
            let expanded = args.map { expand($0) }
            return try runProcess(try patrolhubExecutable(), expanded, timeout: 90)
        }

        func expand(_ s: String) -> String {
            s.replacingOccurrences(of: "{store}", with: store).replacingOccurrences(of: "{zones}", with: zones)
                .replacingOccurrences(of: "{dir}", with: dir.path).replacingOccurrences(of: "{config}", with: config)
                .replacingOccurrences(of: "{root}", with: packageRoot.path)
        }
    }

    @Test(arguments: [
        // A report into a folder that does not exist (was a raw NSCocoaErrorDomain Code=4 dump).
        (["report", "weekly", "--store", "{store}", "--config", "{dir}/none.yaml", "-o", "/nonexistent/dir/x.html"],
         "cannot write /nonexistent/dir/x.html: the folder /nonexistent/dir does not exist"),
        (["report", "weekly", "--store", "{store}", "--config", "{dir}/none.yaml", "-o", "{store}/x.html"],
         "cannot write {store}/x.html: {store} is not a folder"),
        (["report", "weekly", "--store", "{store}", "--config", "{dir}/none.yaml", "-o", "{dir}"], "cannot write {dir}: it is a folder"),
        // A mistyped store (was: an empty store created, exit 0).
        (["silences", "add", "--store", "{dir}/typo.sqlite", "--category", "motion", "--by", "op", "--comment", "c", "--duration", "1h"],
         "no store at {dir}/typo.sqlite: has the hub run yet? (a hub creates its store at its first start)"),
        (["silences", "list", "--store", "{dir}/typo.sqlite"],
         "no store at {dir}/typo.sqlite: has the hub run yet? (a hub creates its store at its first start)"),
        (["status", "--store", "{dir}"], "{dir} is a folder, not a store file"),
        // A zone file given as the store (was "SQLite error 26").
        (["status", "--store", "{zones}"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["silences", "list", "--store", "{zones}"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["cases", "list", "--store", "{zones}", "--config", "{dir}/none.yaml"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["items", "list", "--store", "{zones}", "--config", "{dir}/none.yaml"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["adapters", "unmapped", "--store", "{zones}", "--config", "{dir}/none.yaml"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["report", "daily", "--store", "{zones}", "--config", "{dir}/none.yaml"], "{zones} is not a PatrolHub store (not an SQLite database)"),
        (["store", "backup", "{dir}/copy.sqlite", "--store", "{zones}"], "{zones} (--store) is not a PatrolHub store (not an SQLite database)"),
        // Negative numbers are values, refused naming the flag (were read as a missing value).
        (["cases", "act", "AJ-00000001", "resolve", "--by", "a", "--outcome", "handled", "--amount", "-3", "--store", "{store}", "--config", "{dir}/none.yaml"],
         "--amount must be a number of yuan ≥ 0, not '-3'"),
        (["cases", "list", "--limit", "-3", "--store", "{store}", "--config", "{dir}/none.yaml"], "--limit must be at least 1, not -3"),
        (["items", "list", "--limit", "-3", "--store", "{store}", "--config", "{dir}/none.yaml"], "--limit must be at least 1, not -3"),
        (["silences", "add", "--store", "{store}", "--category", "motion", "--by", "op", "--comment", "c", "--duration", "-1h"],
         "--duration must look like 30m, 2h or 1d, not '-1h'"),
        (["simulate", "--scenario", "{root}/simulators/fault_storm.yaml", "--config", "{root}/config/patrolhub.yaml", "--speed", "-3", "--dry-run"],
         "--speed must be a positive number, not -3.0"),
        (["drill", "--scenario", "{root}/simulators/demo.yaml", "--hub", "http://127.0.0.1:9", "--settle", "-3"],
         "--settle must be a number of seconds ≥ 0, not -3.0"),
        // Usage errors from the parser: one line pointing to --help, not the usage text.
        (["cases", "list", "--bogus"], "Unknown option '--bogus' (see --help)"),
        (["cases", "list", "--limit"], "Missing value for '--limit <limit>' (see --help)"),
        // A zone or cameras file that is not there (was Foundation's "The operation could not be completed").
        (["zones", "check", "{dir}/nowhere.geojson"], "FILE: no zone file at {dir}/nowhere.geojson"),
        (["zones", "check", "{zones}", "--cameras", "{dir}/nowhere.csv"], "--cameras: no cameras file at {dir}/nowhere.csv"),
        (["zones", "locate", "--lat", "29.6", "--lon", "91.1", "--zones", "{dir}"], "--zones: {dir} is a folder, not a zone file"),
        // A listen address that is not HOST:PORT, on either command that takes one.
        (["serve", "--config", "{config}", "--http", "localhost"],
         "--http: expected HOST:PORT (e.g. 127.0.0.1:8081, or port 0 for a free one), found 'localhost' (see --help)"),
        // A config file that is not there.
        (["status", "--config", "{dir}/missing.yaml"], "invalid config: {dir}/missing.yaml: cannot read the file (missing or unreadable)"),
    ])
    func failsWithExactlyOneLine(args: [String], message: String) throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let (status, output) = try f.run(args)
        #expect(status != 0, "\(args)")
        #expect(output == "Error: \(f.expand(message))\n", "\(args)")
        #expect(!FileManager.default.fileExists(atPath: f.dir.file("typo.sqlite")), "a mistyped store is never created")
    }

    /// A command that printed its plan first still ends with one error line, the last.
    @Test(arguments: [
        (["simulate", "--scenario", "{root}/simulators/fault_storm.yaml", "--config", "{root}/config/patrolhub.yaml",
          "--start", "2026-11-29T08:00:00+08:00", "--dry-run", "--dump", "/nonexistent/dir/x.jsonl"],
         "cannot write /nonexistent/dir/x.jsonl: the folder /nonexistent/dir does not exist"),
        // A hub that is not there (was "The operation could not be completed. (NSURLErrorDomain error …)").
        (["drill", "--scenario", "{root}/simulators/demo.yaml", "--config", "{root}/config/patrolhub.yaml", "--hub", "http://127.0.0.1:9", "--broker", "127.0.0.1:9"],
         "the hub's API at http://127.0.0.1:9 did not answer GET /healthz: connection refused (is the hub running, with HTTP on this port?)"),
    ])
    func endsWithOneErrorLineAfterItsPlan(args: [String], message: String) throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let (status, output) = try f.run(args)
        #expect(status != 0)
        let errors = output.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        #expect(errors == ["Error: \(message)"], "\(output)")
        #expect(output.hasSuffix("\n" + errors.joined() + "\n"), "\(output)")
        #expect(!output.contains("NSCocoaErrorDomain") && !output.contains("operation could not be completed"), "\(output)")
    }

    /// `serve` with the defaults of a config that names no broker: the embedded broker's
    /// port taken by another program (as Debian's own mosquitto service takes 1883) is named
    /// at once, not left to mosquitto's exit or to a hub talking to the other broker.
    @Test func aBrokerPortInUseIsOneLineNamingTheKeyAndAddress() throws {
        let taken = try TestBroker()
        defer { taken.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let config = dir.write("hub.yaml", "broker:\n  port: \(taken.port)\nhttp:\n  listen: 127.0.0.1:0\n")
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--log-level", "critical"], timeout: 90)
        #expect(status != 0)
        #expect(out == "Error: broker.port 127.0.0.1:\(taken.port): the port is in use by another program (stop it, or choose another port; 0 picks a free one)\n", "\(out)")
    }

    /// `serve` whose files, folders or broker settings cannot work: one line naming the file,
    /// the line and the key, before mosquitto or the file system meet them (they used to give
    /// mosquitto's log, "could not start /usr/sbin" or a Foundation error without the key).
    @Test(arguments: [
        ("broker:\n  mosquitto_path: \"\"\n", 2, "broker.mosquitto_path", "expected mosquitto's program: a name on PATH (mosquitto) or a path (/usr/sbin/mosquitto)"),
        ("broker:\n  mosquitto_path: /usr\n", 2, "broker.mosquitto_path", "/usr is not an executable file (install the Debian package 'mosquitto', or set broker.mosquitto_path to its mosquitto)"),
        ("broker:\n  mosquitto_path: no-such-mosquitto\n", 2, "broker.mosquitto_path", "'no-such-mosquitto' not found on PATH: install the Debian package 'mosquitto' (or set broker.mosquitto_path)"),
        ("broker:\n  host: 300.1.1.1\n", 2, "broker.host", "the embedded broker listens on an IPv4 address such as 127.0.0.1 or 0.0.0.0 (or localhost)"),
        ("broker:\n  host: broker.invalid\n", 2, "broker.host", "the embedded broker listens on an IPv4 address such as 127.0.0.1 or 0.0.0.0 (or localhost)"),
        ("broker:\n  tls:\n    cert_file: nope.pem\n    key_file: nope.key\n", 3, "broker.tls.cert_file", "cannot read {dir}/nope.pem (missing, unreadable or not a file)"),
        ("data_dir: afile\n", 1, "data_dir", "{dir}/afile is a file, not a folder"),
        ("store:\n  path: afile/s.sqlite\n", 2, "store.path", "{dir}/afile is a file, not a folder"),
        ("store:\n  path: folder\n", 2, "store.path", "{dir}/folder is a folder: name the store's file"),
        ("http:\n  tokens_file: folder\n", 2, "http.tokens_file", "cannot read {dir}/folder (missing, unreadable or not a file)"),
    ])
    func startRefusalsNameTheKeyAndLine(yaml: String, line: Int, key: String, message: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        _ = dir.write("afile", "a file\n")
        try FileManager.default.createDirectory(atPath: dir.file("folder"), withIntermediateDirectories: true)
        let config = dir.write("hub.yaml", yaml + (yaml.contains("http:") ? "" : "http:\n  listen: 127.0.0.1:0\n"))
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--log-level", "critical"], timeout: 90)
        #expect(status != 0)
        let expected = "Error: invalid config: \(config):\(line): key '\(key)': \(message.replacingOccurrences(of: "{dir}", with: dir.path))\n"
        #expect(out == expected, "\(out)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("afile/broker")))
    }

    /// `serve` whose `store.path` names a file that is not a store (a mistyped path): one line,
    /// not SQLite's "file is not a database", and no inbox file made beside it.
    @Test func aStorePathThatIsNotAStoreIsRefusedBeforeAnythingIsCreated() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        let notes = dir.write("notes.txt", "not a database\n")
        let config = dir.write("hub.yaml", "store:\n  path: notes.txt\nbroker:\n  port: 0\nhttp:\n  listen: 127.0.0.1:0\n")
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--log-level", "critical"], timeout: 90)
        #expect(status != 0)
        #expect(out == "Error: \(notes) is not a PatrolHub store (not an SQLite database): check store.path\n", "\(out)")
        #expect(!FileManager.default.fileExists(atPath: DisputeStore.inboxPath(for: notes)))
    }

    /// `serve --http` and `demo --http` on a port another program holds: the line names the flag the user typed.
    @Test func aPortInUseGivenByFlagIsNamedByTheFlag() throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let taken = try TestBroker() // something listening on the port the hub is told to use
        defer { taken.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = writeHubConfig(dir, brokerPort: broker.port, clientID: "port-in-use-flag")
        let line = "Error: --http 127.0.0.1:\(taken.port): the port is in use by another program (stop it, or choose another port)"
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--http", "127.0.0.1:\(taken.port)",
                                                                      "--log-level", "critical"], timeout: 90)
        #expect(status != 0)
        #expect(out == line + "\n", "\(out)")

        // The demo prints its plan first; its one error line is the last.
        let root = packageRoot.path
        let (demoStatus, demoOut) = try runProcess(try patrolhubExecutable(), ["demo", "--config", "\(root)/config/patrolhub.yaml", "--data-dir", dir.file("demo"),
                                                                              "--scenario", "\(root)/simulators/demo.yaml", "--http", "127.0.0.1:\(taken.port)",
                                                                              "--log-level", "critical"], timeout: 90)
        #expect(demoStatus != 0)
        #expect(demoOut.split(separator: "\n").filter { $0.hasPrefix("Error:") } == [Substring(line)], "\(demoOut)")
        #expect(demoOut.hasSuffix("\n" + line + "\n"), "\(demoOut)")
    }

    /// `serve` with its HTTP port taken: one line naming the key and the address, not NIO's system-call text.
    @Test func aPortInUseIsOneLineNamingTheKeyAndAddress() throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let taken = try TestBroker() // something listening on the port the hub is told to use
        defer { taken.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = writeHubConfig(dir, brokerPort: broker.port, clientID: "port-in-use")
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(taken.port)")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out) = try runProcess(try patrolhubExecutable(), ["serve", "--config", config, "--log-level", "critical"], timeout: 90)
        #expect(status != 0)
        #expect(out == "Error: http.listen 127.0.0.1:\(taken.port): the port is in use by another program (stop it, or choose another port)\n", "\(out)")
    }
}
