import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The hub's clock: every wall-clock read of the running hub (receive times,
/// the clock-skew check, item, slip and case times, deadline supervision, the
/// patrol scheduler, retention) goes through one of these.
///
/// `real` is `Date()`. A simulated clock (soak runs and drills only) runs
/// from `start` at `speed` simulated seconds per wall second, anchored at a
/// wall instant: it reads `start + (wall − anchor) × speed`, advanced with the
/// monotonic clock after it is made, so setting the system time does not move
/// it. Two processes given the same simulation (start, speed and anchor)
/// read the same time: the hub and the simulator share one axis that way.
public struct HubClock: Sendable {
    /// A simulated clock's definition.
    public struct Simulation: Sendable, Hashable {
        /// The simulated instant at `anchor`.
        public var start: Date
        /// Simulated seconds per wall second.
        public var speed: Double
        /// The wall instant at which the clock reads `start`.
        public var anchor: Date

        /// A clock reading `start` at wall time `anchor` and running `speed` times as fast.
        public init(start: Date, speed: Double, anchor: Date) {
            self.start = start
            self.speed = speed
            self.anchor = anchor
        }

        /// What the clock reads at wall instant `wall`.
        public func time(atWall wall: Date) -> Date {
            start.addingTimeInterval(wall.timeIntervalSince(anchor) * speed)
        }

        /// The wall instant at which the clock reads `time`.
        public func wall(at time: Date) -> Date {
            anchor.addingTimeInterval(time.timeIntervalSince(start) / speed)
        }

        /// The value of `--simulated-clock` (`START@SPEED`), anchor aside.
        public var text: String { "\(start.rfc3339)@\(speed == speed.rounded() ? String(Int(speed)) : String(speed))" }
    }

    /// Nil for the real clock.
    public let simulation: Simulation?
    /// The clock's reading when it was made, and the monotonic seconds then.
    private let base: Date
    private let origin: TimeInterval
    private let monotonic: @Sendable () -> TimeInterval

    /// The wall clock (`Date()`).
    public static let real = HubClock()

    private init() {
        simulation = nil
        base = .distantPast
        origin = 0
        monotonic = { 0 }
    }

    /// A simulated clock. `wallNow` and `monotonic` are the wall and monotonic
    /// clocks (tests pass their own).
    public init(simulation: Simulation, wallNow: Date = Date(),
                monotonic: @escaping @Sendable () -> TimeInterval = HubClock.monotonicSeconds) {
        self.simulation = simulation
        self.monotonic = monotonic
        origin = monotonic()
        base = simulation.time(atWall: wallNow)
    }

    /// Whether the clock is simulated (`--simulated-clock`) rather than the wall clock.
    public var isSimulated: Bool { simulation != nil }

    /// Simulated seconds per wall second (1 for the real clock).
    public var speed: Double { simulation?.speed ?? 1 }

    /// The time now.
    public func now() -> Date {
        guard let s = simulation else { return Date() }
        return base.addingTimeInterval((monotonic() - origin) * s.speed)
    }

    /// `now` as a closure, for the types that take one.
    public var function: @Sendable () -> Date { { self.now() } }

    /// Seconds of `CLOCK_MONOTONIC`.
    @Sendable public static func monotonicSeconds() -> TimeInterval {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return TimeInterval(ts.tv_sec) + TimeInterval(ts.tv_nsec) / 1e9
    }

    /// Speeds `--simulated-clock` accepts.
    public static let speeds: ClosedRange<Double> = 0.001...1_000_000

    /// Reads `START@SPEED`: an RFC 3339 instant with its UTC offset (or `Z`)
    /// and a speed in `speeds`. The error says what is wrong.
    public static func parse(_ text: String) throws(HubError) -> (start: Date, speed: Double) {
        guard let at = text.lastIndex(of: "@") else {
            throw HubError(.simulatedClock, "expected START@SPEED, e.g. 2026-01-01T00:00:00+08:00@720, found '\(text)'")
        }
        let startText = String(text[..<at]), speedText = String(text[text.index(after: at)...])
        // The offset is required: a simulated month must not depend on the machine's zone.
        let hasOffset = startText.hasSuffix("Z") || startText.hasSuffix("z")
            || startText.range(of: #"[+-]\d\d:?\d\d$"#, options: .regularExpression) != nil
        guard startText.contains("T") || startText.contains("t"), hasOffset,
              let start = TimeParser(defaultZone: TimeZone(identifier: "UTC")!).parse(startText) else {
            throw HubError(.simulatedClock, "START: expected an RFC 3339 time with its offset, e.g. 2026-01-01T00:00:00+08:00, found '\(startText)'")
        }
        guard let speed = Double(speedText), speed.isFinite, speeds.contains(speed) else {
            throw HubError(.simulatedClock, "SPEED: expected simulated seconds per wall second, a number from \(speeds.lowerBound) to \(Int(speeds.upperBound)), found '\(speedText)'")
        }
        return (start, speed)
    }
}

extension HubError.Code {
    /// A `--simulated-clock` value that cannot be read.
    public static let simulatedClock = Self("simulated_clock")
}
