import Alerts
import Foundation
import Synchronization
import Testing

/// The hub's clock: the real one, and a simulated one driven by a fake monotonic clock.
@Suite("Hub clock")
struct HubClockTests {
    final class FakeMonotonic: Sendable {
        let seconds = Mutex<TimeInterval>(1_000)
        func advance(_ s: TimeInterval) { seconds.withLock { $0 += s } }
        var read: @Sendable () -> TimeInterval { { self.seconds.withLock { $0 } } }
    }

    let start = Date(timeIntervalSince1970: 1_767_196_800) // 2026-01-01T00:00:00+08:00

    @Test func aSimulatedClockRunsFromItsStartAtItsSpeed() {
        let mono = FakeMonotonic()
        let anchor = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = HubClock(simulation: .init(start: start, speed: 720, anchor: anchor), wallNow: anchor, monotonic: mono.read)
        #expect(clock.isSimulated && clock.speed == 720)
        #expect(clock.now() == start)
        mono.advance(10)
        #expect(clock.now() == start.addingTimeInterval(7_200))
        mono.advance(110)
        #expect(clock.now() == start.addingTimeInterval(86_400), "120 wall seconds at 720× are one simulated day")
    }

    @Test func twoClocksWithTheSameAnchorReadTheSameTimeWhenEverTheyAreMade() {
        let anchor = Date(timeIntervalSince1970: 1_800_000_000)
        let s = HubClock.Simulation(start: start, speed: 720, anchor: anchor)
        // A simulator made 5 wall seconds after the hub reads the hub's time, not START.
        let later = HubClock(simulation: s, wallNow: anchor.addingTimeInterval(5), monotonic: FakeMonotonic().read)
        #expect(later.now() == start.addingTimeInterval(3_600))
        #expect(s.time(atWall: anchor.addingTimeInterval(5)) == start.addingTimeInterval(3_600))
        #expect(s.wall(at: start.addingTimeInterval(3_600)) == anchor.addingTimeInterval(5))
    }

    @Test func theRealClockIsTheWallClock() {
        let before = Date()
        let now = HubClock.real.now()
        #expect(!HubClock.real.isSimulated && HubClock.real.speed == 1)
        #expect(now >= before && now <= Date())
    }

    @Test func parsesStartAtSpeed() throws {
        let (s, speed) = try HubClock.parse("2026-01-01T00:00:00+08:00@720")
        #expect(s == start && speed == 720)
        let (z, half) = try HubClock.parse("2025-12-31T16:00:00Z@0.5")
        #expect(z == start && half == 0.5)
        #expect(HubClock.Simulation(start: s, speed: 720, anchor: s).text == "2025-12-31T16:00:00.000Z@720")
    }

    @Test(arguments: [
        ("2026-01-01T00:00:00+08:00", "START@SPEED"),
        ("2026-01-01T00:00:00@720", "with its offset"),
        ("2026-01-01@720", "with its offset"),
        ("yesterday+08:00@720", "START"),
        ("2026-01-01T00:00:00+08:00@", "SPEED"),
        ("2026-01-01T00:00:00+08:00@0", "SPEED"),
        ("2026-01-01T00:00:00+08:00@-5", "SPEED"),
        ("2026-01-01T00:00:00+08:00@nan", "SPEED"),
        ("2026-01-01T00:00:00+08:00@inf", "SPEED"),
        ("2026-01-01T00:00:00+08:00@1e9", "SPEED"),
        ("2026-01-01T00:00:00+08:00@fast", "SPEED"),
    ])
    func refusesABadValueSayingWhy(text: String, says: String) {
        do {
            _ = try HubClock.parse(text)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.description.contains(says), "\(error)")
        }
    }
}
