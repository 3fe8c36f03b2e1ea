import Foundation
import Testing

/// The hub's own threads carry names the system shows (`top -H`, `ps -L`,
/// `perf`), so an operator can tell which part of the hub spends the CPU.
@Suite("Thread names")
struct ThreadNameTests {
    /// The names of this process's threads, from `/proc/self/task/*/comm`.
    static func threadNames() throws -> Set<String> {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        return Set(tasks.compactMap { tid in
            (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        })
    }

    @Test("A running hub's pipeline, MQTT and checkpoint threads are named", .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/task")))
    func runningHubNamesItsThreads() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        let hub = try TestHub(brokerPort: broker.port, dir: dir, clientID: "hub-thread-names")
        try await hub.stopping {
            try await hub.waitConnected()
            try await waitUntil("the hub's threads named") {
                try Self.threadNames().isSuperset(of: ["pipeline", "mqtt", "checkpoint"])
            }
        }
    }
}
