import Alerts
import Foundation
import Logging
import Testing
@testable import PatrolHub

/// The services' wake-ups: when the pipeline thread next has timed work
/// (`PipelineTimers`, on a test clock: no real waiting), and the bell that
/// wakes it, the publisher and the event stream (`Doorbell`).
@Suite("Event-driven wake-ups")
struct WakeupTests {
    /// A simulated hub clock whose monotonic time the test sets.
    final class TestClock: @unchecked Sendable {
        private let lock = NSLock()
        private var seconds: TimeInterval = 1000
        func advance(_ s: TimeInterval) { lock.withLock { seconds += s } }
        var monotonic: @Sendable () -> TimeInterval { { [self] in lock.withLock { seconds } } }
        func hubClock(speed: Double) -> HubClock {
            HubClock(simulation: .init(start: Date(timeIntervalSince1970: 1_800_000_000), speed: speed, anchor: Date()),
                     monotonic: monotonic)
        }
    }

    @Test("With nothing due the pipeline waits for the inbox bell, up to the longest wait: never a fixed short nap")
    func idleWaitIsTheLongest() {
        let clock = TestClock().hubClock(speed: 1)
        #expect(PipelineTimers().wait(now: clock.now(), speed: clock.speed) == PipelineTimers.maxWait)
        #expect(PipelineTimers.maxWait >= 10)
    }

    @Test("The wait ends at the first due timer, hub-clock due times scaled by the clock's speed")
    func waitEndsAtTheFirstDueTimer() {
        let test = TestClock()
        let clock = test.hubClock(speed: 720)
        let now = clock.now()
        var timers = PipelineTimers(patrol: now.addingTimeInterval(30), supervision: now.addingTimeInterval(60))
        #expect(timers.wait(now: now, speed: clock.speed) == 30.0 / 720)
        timers.wallSeconds = 0.01
        #expect(timers.wait(now: now, speed: clock.speed) == 0.01)

        // 20 simulated seconds later (1/36 of a wall second): the patrol tick is 10 simulated seconds away.
        test.advance(20.0 / 720)
        timers.wallSeconds = nil
        #expect(abs(timers.wait(now: clock.now(), speed: clock.speed) - 10.0 / 720) < 1e-9)

        // Past due: no wait at all.
        test.advance(1)
        #expect(timers.wait(now: clock.now(), speed: clock.speed) == 0)
    }

    @Test("On the real clock, supervision due in 45 s means a 45 s wait (unless the inbox rings)")
    func realClockSupervision() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let timers = PipelineTimers(supervision: now.addingTimeInterval(45))
        #expect(timers.wait(now: now, speed: 1) == 45)
    }

    @Test("A ring that came while the waiter was working ends its next wait at once (thread and task)", .timeLimit(.minutes(1)))
    func ringIsNeverLost() async {
        let bell = Doorbell()
        let seen = bell.rings
        bell.ring()
        // No timeout: if the ring were lost, these would never return.
        bell.wait(after: seen, timeout: nil)
        await bell.next(after: seen, timeout: .seconds(3600))
        #expect(bell.rings == seen + 1)
    }

    @Test("A waiting task is resumed by the ring, not by its timeout", .timeLimit(.minutes(1)))
    func ringResumesAWaitingTask() async {
        let bell = Doorbell()
        let seen = bell.rings
        async let woken: Void = bell.next(after: seen, timeout: .seconds(3600))
        // Whether the waiter is registered yet or not, the ring is counted: it returns.
        bell.ring()
        await woken
        #expect(bell.rings > seen)
    }

    @Test("A waiting thread is resumed by the ring", .timeLimit(.minutes(1)))
    func ringResumesAWaitingThread() async {
        let bell = Doorbell()
        let seen = bell.rings
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let t = Thread {
                bell.wait(after: seen, timeout: nil)
                done.resume()
            }
            t.start()
            bell.ring()
        }
        #expect(bell.rings == seen + 1)
    }

    @Test("The timeout ends a wait when nothing rings")
    func timeoutEndsTheWait() async {
        let bell = Doorbell()
        let seen = bell.rings
        bell.wait(after: seen, timeout: 0)
        await bell.next(after: seen, timeout: .zero)
        #expect(bell.rings == seen)
    }

    @Test("A stop ends a thread's wait on the stop flag (a store-failure backoff) at once, with its deadline an hour away",
          .timeLimit(.minutes(1)))
    func stopEndsAWaitingThread() async {
        let stop = StopFlag()
        let waiting = Doorbell()
        let seen = waiting.rings
        async let woken: Bool = withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            let t = Thread {
                waiting.ring()
                stop.wait(timeout: 3600)
                done.resume(returning: stop.isSet)
            }
            t.start()
        }
        // Set once the thread is about to wait (or already waits): either way the wait ends now, not in an hour.
        await waiting.next(after: seen, timeout: .seconds(3600))
        stop.set()
        #expect(await woken)
    }

    @Test("A service whose store failed does not wait out its backoff once stopped", .timeLimit(.minutes(1)))
    func storeFailureBackoffEndsOnStop() {
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        var failures = StoreFailures(logger: quiet, what: "pipeline")
        for _ in 0..<10 { failures.failed(HubError(HubError.Code("store"), "disk full"), action: "retried") }
        #expect(failures.delay == 5)
        let stop = StopFlag()
        stop.set()
        failures.wait(until: stop)
        stop.wait(timeout: 3600)
        #expect(stop.isSet)
    }
}
