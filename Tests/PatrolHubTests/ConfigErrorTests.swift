import Foundation
import Testing
@testable import PatrolHub

/// `patrolhub serve` refuses a broken config at start, naming the key and file.
@Suite("Broken config refused at start")
struct ConfigErrorTests {
    @Test(arguments: [
        ("unknown key", "broker:\n  mode: external\n  prot: 1883\n", ["key 'broker.prot'", "unknown key", ":3"]),
        ("wrong type", "broker:\n  port: eighteen\n", ["key 'broker.port'", "expected a whole number", ":2"]),
        ("bad value", "broker:\n  mode: cloud\n", ["key 'broker.mode'", "must be one of embedded, external", ":2"]),
        ("bad shared group", "broker:\n  mode: external\n  shared_group: a/b\n", ["key 'broker.shared_group'", "must not contain '/'", ":3"]),
        ("not YAML", "broker: [\n", ["not valid YAML"]),
        ("postgres without a URL", "store:\n  kind: postgres\n", ["key 'store.kind'", "needs store.url", ":2"]),
        ("store URL with a password", "store:\n  kind: postgres\n  url: postgres://hub:s3cret@db.example/city\nhttp:\n  enabled: false\n",
         ["key 'store.url'", "holds a password", ":3"]),
        ("store URL on SQLite", "store:\n  url: postgres://hub@db.example/city\n", ["key 'store.url'", "is for store.kind: postgres", ":2"]),
        ("bad sslmode", "store:\n  kind: postgres\n  url: postgres://hub@db.example/city?sslmode=allow\n", ["key 'store.url'", "sslmode must be one of", ":3"]),
    ])
    func serveRefuses(name: String, yaml: String, expected: [String]) throws {
        let exe = try patrolhubExecutable()
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.write("bad.yaml", yaml)
        let (status, output) = try runProcess(exe, ["serve", "--config", file])
        #expect(status != 0)
        #expect(output.contains(file), "names the file: \(output)")
        for text in expected { #expect(output.contains(text), "\(name): \(output)") }
    }

    @Test("a store URL with a password is refused without echoing the password")
    func storePasswordNotEchoed() throws {
        let exe = try patrolhubExecutable()
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.write("bad.yaml", "store:\n  kind: postgres\n  url: postgres://hub:s3cret-pw@db.example/city\n")
        let (status, output) = try runProcess(exe, ["serve", "--config", file])
        #expect(status != 0)
        #expect(output.contains("store.url"), "\(output)")
        #expect(!output.contains("s3cret-pw"), "\(output)")
    }

    @Test func missingFile() throws {
        let exe = try patrolhubExecutable()
        let (status, output) = try runProcess(exe, ["serve", "--config", "/nonexistent/patrolhub.yaml"])
        #expect(status != 0)
        #expect(output.contains("/nonexistent/patrolhub.yaml"))
        #expect(output.contains("cannot read the file"))
    }

    @Test func badCamerasFile() throws {
        let exe = try patrolhubExecutable()
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", "id,name,lat,lon\ncam-1,A,29.6,91.1\ncam-1,B,29.7,91.2\n")
        let file = dir.write("hub.yaml", "data_dir: .\nbroker:\n  mode: external\n  port: 1\nregistry:\n  cameras: cameras.csv\n")
        let (status, output) = try runProcess(exe, ["serve", "--config", file])
        #expect(status != 0)
        #expect(output.contains("cameras.csv:3"), "\(output)")
        #expect(output.contains("duplicate camera id 'cam-1'"), "\(output)")
    }
}
