import AlertsStore
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `make demo` (`patrolhub demo --serve`): after the drill the hub, its board and a background
/// scenario stay up until Ctrl-C; `--http` moves the board; a port in use is named at once.
@Suite("Demo that stays up", .serialized)
struct DemoServeTests {
    @Test("after the drill the board answers and the scenario keeps arriving, until SIGINT ends the demo cleanly")
    func staysUpUntilInterrupted() async throws {
        let dir = TempDir("patrolhub-demo-serve")
        defer { dir.cleanup() }
        let port = try EmbeddedBroker.freePort()
        let run = try DemoProcess(["demo", "--config", "config/patrolhub.yaml", "--data-dir", dir.file("data"), "--serve",
                                   "--http", "127.0.0.1:\(port)", "--log-level", "warning"], dir: dir)
        let demo = run.process
        func output() -> String { run.output() }

        try await waitUntil("the drill ends and the demo says it stays up", timeout: 180) {
            try run.checkRunning()
            return output().contains("The hub keeps running")
        }
        let text = output()
        #expect(text.contains("PASSED"), "\(text)")
        #expect(text.contains("The hub keeps running: live board http://127.0.0.1:\(port)/"), "\(text)")
        #expect(text.contains("Ctrl-C stops it"))
        #expect(try await TestHTTPClient(port: port).get("/").status == 200, "the board answers after the drill")

        // The scenario keeps arriving: the inbox grows past what the drill sent.
        let store = dir.file("data/patrolhub.sqlite")
        let afterDrill = try #require(storeStatus(store)).inboxReceived
        try await waitUntil("background traffic after the drill", timeout: 60) {
            (storeStatus(store)?.inboxReceived ?? 0) > afterDrill
        }

        kill(demo.processIdentifier, SIGINT)
        let exited = try await waitUntilExit(demo, timeout: 60)
        #expect(exited, "the demo stops on Ctrl-C: \(output().suffix(2000))")
        #expect(demo.terminationStatus == 0, "\(output().suffix(2000))")
        #expect(throws: (any Error).self, "the board is gone") { _ = try connectLoopback(port: port, timeout: 2) }
    }

    @Test("SIGINT during the drill stops the drill with the hub: the demo exits, without a score")
    func interruptDuringTheDrill() async throws {
        let dir = TempDir("patrolhub-demo-interrupt")
        defer { dir.cleanup() }
        // Real time: the drill lasts the scenario's 20 minutes, far beyond this test.
        let run = try DemoProcess(["demo", "--config", "config/patrolhub.yaml", "--data-dir", dir.file("data"), "--speed", "1",
                                   "--http", "127.0.0.1:\(try EmbeddedBroker.freePort())", "--log-level", "warning"], dir: dir)
        let demo = run.process
        func output() -> String { run.output() }

        // The drill is under way once the first messages are in the inbox.
        let store = dir.file("data/patrolhub.sqlite")
        try await waitUntil("the drill publishing", timeout: 120) {
            try run.checkRunning()
            return (storeStatus(store)?.inboxReceived ?? 0) > 0
        }
        kill(demo.processIdentifier, SIGINT)
        let exited = try await waitUntilExit(demo, timeout: 60)
        #expect(exited, "the demo stops on Ctrl-C during the drill: \(output().suffix(2000))")
        #expect(demo.terminationStatus != 0, "no drill result: not a pass")
        let text = output()
        #expect(text.contains("The hub stopped before the drill ended: no score."), "\(text.suffix(2000))")
        #expect(!text.contains("PASSED"))
    }

    @Test("--http on a port another program holds: refused at once, naming the port as in use")
    func aTakenPortIsNamed() throws {
        let taken = try TestBroker() // something listening on the port the demo is told to use
        defer { taken.stop() }
        let dir = TempDir("patrolhub-demo-port")
        defer { dir.cleanup() }
        let (status, out) = try runProcess(try patrolhubExecutable(), ["demo", "--config", packageRoot.appendingPathComponent("config/patrolhub.yaml").path,
                                                                      "--data-dir", dir.file("data"), "--http", "127.0.0.1:\(taken.port)",
                                                                      "--scenario", packageRoot.appendingPathComponent("simulators/demo.yaml").path,
                                                                      "--log-level", "error"], timeout: 60)
        #expect(status != 0)
        #expect(out.contains("127.0.0.1:\(taken.port): the port is in use by another program"), "\(out)")
    }

    @Test("--http that is not HOST:PORT is refused naming the option")
    func aBadListenIsRefused() throws {
        let (status, out) = try runProcess(try patrolhubExecutable(), ["demo", "--config", packageRoot.appendingPathComponent("config/patrolhub.yaml").path,
                                                                      "--http", "localhost"], timeout: 60)
        #expect(status != 0)
        #expect(out.contains("--http: expected HOST:PORT"), "\(out)")
    }

    /// Waits for `p` to exit; false after `timeout` seconds.
    func waitUntilExit(_ p: Process, timeout: Double) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return !p.isRunning
    }
}
