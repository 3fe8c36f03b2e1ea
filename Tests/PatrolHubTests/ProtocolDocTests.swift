import Alerts
import Foundation
import AlertsStore
import GRDB
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

/// docs/PROTOCOL.md is written for integrators who copy its examples: every `mosquitto_pub`
/// line in it is run here, with the real `mosquitto_pub`, against `patrolhub serve` with the
/// repository's sample configuration, and must have the result its `# expect:` line states.
@Suite("docs/PROTOCOL.md examples", .serialized)
struct ProtocolDocTests {
    struct Example: CustomStringConvertible {
        var expect: [String]
        var command: String
        var user: String
        var topic: String
        var description: String { "\(expect.joined(separator: " ")) ← \(topic)" }
    }

    /// The examples of the document: a `# expect: …` line, then a `mosquitto_pub` command
    /// (continued over lines ending in `\`), inside ```sh blocks.
    static func examples(in text: String) throws -> [Example] {
        var out: [Example] = []
        var inShell = false
        var expect: [String]?
        var command: String?
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inShell = line == "```sh"; expect = nil; continue }
            guard inShell else { continue }
            if var c = command {
                c += "\n" + line
                command = c
                if !line.hasSuffix("\\") {
                    out.append(try example(expect: expect ?? [], command: c))
                    command = nil
                    expect = nil
                }
            } else if line.hasPrefix("# expect: ") {
                expect = line.dropFirst("# expect: ".count).split(separator: " ").map(String.init)
            } else if line.hasPrefix("mosquitto_pub ") {
                guard expect != nil else { throw TestFailure("an example without an '# expect:' line: \(line)") }
                if line.hasSuffix("\\") { command = line } else { out.append(try example(expect: expect!, command: line)); expect = nil }
            }
        }
        return out
    }

    static func example(expect: [String], command: String) throws -> Example {
        func argument(_ flag: String) throws -> String {
            let words = command.replacingOccurrences(of: "\\\n", with: " ").split(whereSeparator: \.isWhitespace).map(String.init)
            guard let i = words.firstIndex(of: flag), i + 1 < words.count else { throw TestFailure("no \(flag) in: \(command)") }
            return words[i + 1].trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        }
        return Example(expect: expect, command: command, user: try argument("-u"), topic: try argument("-t"))
    }

    @Test("every mosquitto_pub example is accepted by the hub with the result it states, and every input topic has one")
    func everyExampleHasItsStatedResult() async throws {
        let doc = try String(contentsOf: packageRoot.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let examples = try Self.examples(in: doc)
        // One example per input kind at least: a topic the document forgets fails here.
        for kind in ["/camera/cam-", "/status", "/device/dev-", "/report", "/sos", "/checkin", "frigate/events", "/gb28181/", "/onvif/", "onvif2mqtt/"] {
            #expect(examples.contains { $0.topic.contains(kind) }, "an example publishes to a topic with '\(kind)'")
        }
        #expect(examples.count >= 10, "\(examples.count) examples")
        let pub = try #require(["/usr/bin/mosquitto_pub", "/usr/local/bin/mosquitto_pub"].first { FileManager.default.isExecutableFile(atPath: $0) },
                               "mosquitto_pub is installed (Debian package mosquitto-clients, in `make deps`)")

        let dir = TempDir("patrolhub-protocol")
        defer { dir.cleanup() }
        let config = packageRoot.appendingPathComponent("config").path
        let port = try EmbeddedBroker.freePort()
        // The NVR and bridge accounts the document tells the installer to add by hand.
        try FileManager.default.createDirectory(atPath: dir.file("broker"), withIntermediateDirectories: true)
        _ = dir.write("broker/credentials", "nvr  frigate-1  -\nnvr  onvif-bridge  -\n")
        chmod(dir.file("broker/credentials"), 0o600)
        let configPath = dir.write("patrolhub.yaml", """
            data_dir: .
            broker:
              mode: embedded
              port: \(port)
            store:
              path: hub.sqlite
            registry:
              zones: \(config)/zones.geojson
              cameras: \(config)/cameras.csv
              devices: \(config)/devices.csv
              patrol: \(config)/patrol.yaml
            rules: \(config)/rules.yaml
            http:
              listen: 127.0.0.1:0
            """)
        let hub = try HubProcess(config: configPath, logLevel: "warning")
        defer { hub.stop() }
        func passwords() -> [String: String] {
            let text = (try? String(contentsOfFile: dir.file("broker/credentials"), encoding: .utf8)) ?? ""
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let f = line.split(whereSeparator: \.isWhitespace)
                if f.count == 3, f[2] != "-" { out[String(f[1])] = String(f[2]) }
            }
            return out
        }
        try await waitUntil("the hub's broker listens with every account", timeout: 60) {
            guard hub.isRunning else { throw TestFailure("the hub exited: \(hub.log)") }
            return passwords()["onvif-bridge"] != nil && EmbeddedBroker.canConnect(host: "127.0.0.1", port: port)
        }
        let accounts = passwords()
        let storePath = dir.file("hub.sqlite")

        // The hub's subscription is active some time after the broker listens: probe with a camera
        // status (each with its own time, so none is a duplicate) until one reaches the inbox. The
        // probes' times come before the examples' (fixed in the document), so no example is late or
        // too old whatever the date the suite runs on.
        let probeTopic = "patrolhub/v1/camera/cam-010/status"
        let simulator = try #require(accounts["patrolhub-sim"], "the simulator's account")
        func inboxCount(_ clause: String) -> Int {
            guard FileManager.default.fileExists(atPath: storePath), let store = try? DisputeStore(path: storePath) else { return 0 }
            return (try? store.inboxWriter.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox WHERE \(clause)", arguments: [probeTopic]) }) ?? 0
        }
        var probes = 0
        try await waitUntil("the hub receives a probe", timeout: 60) {
            probes += 1
            let time = String(format: "2026-12-01T07:%02d:%02d+08:00", probes / 60 % 60, probes % 60)
            _ = try runProcess("/bin/sh", ["-c", "\(pub) -h 127.0.0.1 -p \(port) -q 1 -i probe -u patrolhub-sim -P '\(simulator)' -t \(probeTopic) -m '{\"status\":\"online\",\"time\":\"\(time)\"}'"], timeout: 30)
            return inboxCount("topic = ?") > 0
        }

        for e in examples {
            let password = try #require(accounts[e.user], "an account for \(e.user)")
            #expect(!password.contains("'"))
            let script = "export HUB=127.0.0.1 PORT=\(port) PASS='\(password)'\n"
                + e.command.replacingOccurrences(of: "mosquitto_pub ", with: "\(pub) ")
            let run = try runProcess("/bin/sh", ["-c", script], timeout: 30)
            #expect(run.status == 0, "\(e): mosquitto_pub exited \(run.status): \(run.output)")
        }

        do {
            try await waitUntil("every example processed", timeout: 60) {
                guard let s = storeStatus(storePath) else { return false }
                return inboxCount("topic != ?") >= examples.count && s.inboxPending == 0
            }
        } catch {
            let s = storeStatus(storePath)
            throw TestFailure("\(error): received \(s?.inboxReceived ?? -1), processed \(s?.inboxProcessed ?? -1); hub log:\n\(hub.log)")
        }
        let store = try DisputeStore(path: storePath)
        let items = try store.riskItems()
        let dead = try store.deadLetters()
        let records = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT device, checkpoint FROM patrol_records").map { "\($0[0] as String? ?? "") \($0[1] as String? ?? "")" }
        }
        var expectedDead: [String] = []
        for e in examples {
            switch e.expect.first {
            case "item":
                let (category, source) = (e.expect[1], e.expect[2])
                #expect(items.contains { $0.category.rawValue == category && $0.source == source },
                        "\(e): items \(items.map { "\($0.source) \($0.category.rawValue)" })")
            case "patrol-record":
                #expect(records.contains("\(e.expect[1]) \(e.expect[2])"), "\(e): patrol records \(records)")
            case "dead-letter":
                expectedDead.append("\(e.expect[1]) \(e.topic)")
            default:
                Issue.record("\(e): unknown expectation '\(e.expect.joined(separator: " "))'")
            }
        }
        #expect(dead.map { "\($0.reason) \($0.topic)" }.sorted() == expectedDead.sorted(),
                "dead letters: \(dead.map { "\($0.reason) \($0.topic): \($0.detail)" })")
    }
}
