import Alerts
import Foundation
import Logging
import Testing
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The embedded broker's child process: a start that fails is reported from
/// the child's exit, a stop waits for the exit and reaps the child.
@Suite("Embedded broker: the mosquitto child process", .serialized)
struct EmbeddedBrokerTests {
    static var quiet: Logger {
        var l = Logger(label: "test-broker")
        l.logLevel = .critical
        return l
    }

    @Test("A broker that exits at start is reported with its exit status at once, not after the start timeout",
          .timeLimit(.minutes(1)))
    func exitAtStartIsReported() throws {
        let dir = TempDir("patrolhub-broker-exit")
        defer { dir.cleanup() }
        let broker = EmbeddedBroker(options: .init(executable: "/bin/false", dataDir: dir.path), logger: Self.quiet)
        // An hour to start: only the child's exit can end the start within the test's limit.
        let error = #expect(throws: HubError.self) { try broker.start(timeout: 3600) }
        #expect(error?.message.hasPrefix("mosquitto exited at start (status 256)") == true, "\(String(describing: error))")
        #expect(!broker.isRunning)
    }

    @Test("stop() waits for mosquitto's exit and reaps it; the broker starts again on its port; kill() reaps it too")
    func stopReapsTheChild() throws {
        let dir = TempDir("patrolhub-broker-stop")
        defer { dir.cleanup() }
        let broker = EmbeddedBroker(options: .init(dataDir: dir.path), logger: Self.quiet)
        try broker.start()
        let port = broker.port
        let first = try Self.pid(broker)
        broker.stop()
        #expect(!broker.isRunning)
        // Reaped: no zombie keeps the pid.
        #expect(kill(first, 0) == -1 && errno == ESRCH)

        try broker.start()
        #expect(broker.port == port)
        #expect(broker.isRunning && EmbeddedBroker.canConnect(host: "127.0.0.1", port: port))
        let second = try Self.pid(broker)
        broker.kill()
        #expect(!broker.isRunning)
        #expect(kill(second, 0) == -1 && errno == ESRCH)
    }

    @Test("The broker runs in a process group of its own: a terminal's Ctrl-C (SIGINT to the hub's group) does not reach it")
    func brokerHasItsOwnProcessGroup() throws {
        let dir = TempDir("patrolhub-broker-pgrp")
        defer { dir.cleanup() }
        let broker = EmbeddedBroker(options: .init(dataDir: dir.path), logger: Self.quiet)
        try broker.start()
        defer { broker.stop() }
        let pid = try Self.pid(broker)
        #expect(getpgid(pid) == pid)
        #expect(getpgid(pid) != getpgrp())
    }

    /// The running broker's pid, from its pid file.
    static func pid(_ broker: EmbeddedBroker) throws -> pid_t {
        let text = try String(contentsOfFile: broker.pidPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = pid_t(text), pid > 0 else { throw TestFailure("no pid in \(broker.pidPath): \(text)") }
        return pid
    }
}
