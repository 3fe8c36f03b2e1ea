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

    @Test("a keepalive that replaced an unsent change still sends it; a plain keepalive reads nothing")
    func aHeartbeatStandsForTheChangeItReplaced() async {
        #expect(EventStream.read(after: .changed(through: 7), cursor: 7) == 7)
        #expect(EventStream.read(after: .heartbeat(through: 7), cursor: 5) == 7, "the change to 7 was replaced by the keepalive")
        #expect(EventStream.read(after: .heartbeat(through: 7), cursor: 7) == nil)
        #expect(EventStream.read(after: .heartbeat(through: -1), cursor: 0) == nil, "a feed that has not read the log yet")
        // A client keeps only its newest signal: a change followed at once by a keepalive leaves the keepalive.
        let (signals, source) = AsyncStream<ChangeFeed.Signal>.makeStream(bufferingPolicy: .bufferingNewest(1))
        source.yield(.changed(through: 9))
        source.yield(.heartbeat(through: 9))
        source.finish()
        var wake = signals.makeAsyncIterator()
        let signal = await wake.next()
        #expect(signal == .heartbeat(through: 9))
        #expect(signal.flatMap { EventStream.read(after: $0, cursor: 4) } == 9)
    }
}
