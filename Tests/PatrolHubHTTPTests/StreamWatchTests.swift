import Foundation
import Testing
@testable import PatrolHubHTTP

/// The event stream's watch (`EventStream.WriteWatch`): what ends a stream whose client
/// stopped reading, or that outlives the hub's shutdown. Each wait here ends by itself when
/// the watch works; a broken watch leaves it waiting until the time limit.
@Suite("Event stream watch")
struct StreamWatchTests {
    @Test("a write that waits past the stall ends the watch", .timeLimit(.minutes(1)))
    func aStalledWriteEndsTheWatch() async throws {
        let watch = EventStream.WriteWatch()
        let client = Task { try await watch.write { try await Task.sleep(for: .seconds(3600)) } } // a client that never reads
        defer { client.cancel() }
        try await watch.stalled(after: .milliseconds(100))
    }

    @Test("the watch ends its grace after shutdown began", .timeLimit(.minutes(1)))
    func shutdownEndsTheWatchAfterItsGrace() async throws {
        let watch = EventStream.WriteWatch()
        let waiting = Task { try await watch.shutdown(thenAfter: .milliseconds(50)) }
        watch.shutdownBegan()
        try await waiting.value
    }
}
