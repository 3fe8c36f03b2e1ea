import Alerts
import Foundation

/// When the pipeline thread next has timed work, as a pure function of the
/// timers' due times: the thread waits for the inbox bell or this, whichever
/// comes first, instead of napping a fixed interval.
///
/// Due times of the hub's clock (patrol ticks, supervision) are turned into
/// wall seconds with the clock's speed (a simulated clock at 720× reaches a
/// 30 s patrol tick in 42 ms); wall-clock timers (housekeeping, whose passes
/// and steps it times itself) are given in wall
/// seconds already. A timer that is nil is not armed.
struct PipelineTimers: Equatable {
    /// The next patrol scheduler tick (hub clock).
    var patrol: Date?
    /// The next case supervision pass (hub clock).
    var supervision: Date?
    /// Wall seconds until the next wall-clock timer (a housekeeping step).
    var wallSeconds: TimeInterval?

    /// The longest wait: the timers are looked at again at least this often.
    static let maxWait: TimeInterval = 60

    /// Wall seconds to wait at `now` (hub clock, running at `speed`): 0 when
    /// a timer is due, `maxWait` at most.
    func wait(now: Date, speed: Double) -> TimeInterval {
        var wait = Self.maxWait
        for due in [patrol, supervision] {
            guard let due else { continue }
            wait = min(wait, due.timeIntervalSince(now) / max(speed, .leastNonzeroMagnitude))
        }
        if let wallSeconds { wait = min(wait, wallSeconds) }
        return max(0, wait)
    }
}
