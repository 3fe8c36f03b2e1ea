import Alerts
import Foundation

/// Where a run's scenario time lies on the calendar and on the wall clock.
///
/// Scenario second `t` is **sent** at wall time `runStart + t / speed` and
/// carries **event time** `scenarioStart + t`. The scenario's end is anchored
/// to the run's end: `scenarioStart = runStart − duration · (1 − 1/speed)`
/// (whole seconds, rounded down). So every event time is at or before the wall
/// time at which it is sent — by `(duration − t) · (1 − 1/speed)` — and the
/// hub's `clock_skew` check (events from the future are refused) never fires
/// for an ordinary event, however high the speed; the last second of the
/// scenario is sent "live". At `--speed 1` the scenario runs in real time.
/// A second run starts later, so its event times never overlap an earlier
/// run's and the hub's windows never mix two drills.
public struct SimulationClock: Sendable, Hashable {
    /// The run's nominal start on the wall clock (`--start`, default now).
    public var runStart: Date
    /// Scenario seconds per wall-clock second.
    public var speed: Double
    /// Scenario seconds the run covers.
    public var duration: TimeInterval
    /// Event time of scenario second 0.
    public var scenarioStart: Date

    /// A clock for a run starting at `runStart`; `scenarioStart` follows from the formula above.
    public init(runStart: Date, speed: Double, duration: TimeInterval) {
        self.runStart = runStart
        self.speed = speed
        self.duration = duration
        let lead = duration * max(0, 1 - 1 / speed)
        scenarioStart = Date(timeIntervalSince1970: (runStart.timeIntervalSince1970 - lead).rounded(.down))
    }

    /// A run on a simulated clock (`--simulated-clock`): scenario second 0
    /// carries event time `scenarioStart` and is sent when that clock reads it,
    /// so every event time is the clock's time at its sending.
    public init(scenarioStart: Date, speed: Double, duration: TimeInterval) {
        runStart = scenarioStart
        self.speed = speed
        self.duration = duration
        self.scenarioStart = scenarioStart
    }

    /// The event time of scenario second `t`.
    public func eventTime(_ t: TimeInterval) -> Date { scenarioStart.addingTimeInterval(t) }

    /// When scenario second `t` is due on the wall clock, counted from `start`.
    public func wallTime(_ t: TimeInterval, from start: Date? = nil) -> Date {
        (start ?? runStart).addingTimeInterval(t / speed)
    }
}

/// One message the simulator publishes.
public struct PlannedMessage: Sendable, Hashable {
    /// Why the message is in the stream.
    public enum Origin: String, Sendable, CaseIterable, Hashable {
        /// A camera's retained `online` status at the start.
        case fleet
        case background
        case incident
        case outage
        case patrol
        case burst
        case duplicate
        case malformed
        case late
        case clockSkew = "clock_skew"
    }

    /// Scenario second at which it is sent.
    public var offset: TimeInterval
    /// The topic it is published on.
    public var topic: String
    /// The payload bytes, in the source's format.
    public var payload: [UInt8]
    /// Whether the broker retains it (camera statuses).
    public var retain: Bool
    /// What in the scenario produced it, for counts and reports.
    public var origin: Origin
    /// The dead-letter reason the hub should give it (malformed and skewed messages).
    public var expectedDeadLetter: String?

    /// A message sent at scenario second `offset`.
    public init(offset: TimeInterval, topic: String, payload: [UInt8], retain: Bool = false, origin: Origin, expectedDeadLetter: String? = nil) {
        self.offset = offset
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.origin = origin
        self.expectedDeadLetter = expectedDeadLetter
    }
}

/// Something the simulator does besides publishing on its own connection.
public enum PlannedControl: Sendable, Hashable {
    /// A camera's own connection, with `{prefix}/camera/{id}/status` as its
    /// retained last will, is opened and then cut without a DISCONNECT, so the
    /// broker publishes the will.
    case lastWill(offset: TimeInterval, camera: String, topic: String, payload: [UInt8], label: String?)
    /// The simulator's connection is cut without a DISCONNECT and stays away
    /// for `duration` scenario seconds; messages due meanwhile go out after it reconnects.
    case disconnect(offset: TimeInterval, duration: TimeInterval)

    /// Scenario second at which the action happens.
    public var offset: TimeInterval {
        switch self {
        case .lastWill(let o, _, _, _, _), .disconnect(let o, _): return o
        }
    }
}

/// Everything a run publishes, computed before the first message goes out:
/// the same scenario, seed and clock always give the same plan, byte for byte.
public struct SimulationPlan: Sendable {
    /// The scenario's name.
    public var scenario: String
    /// The seed every random draw came from.
    public var seed: UInt64
    /// Where the plan's scenario time lies on the calendar and the wall clock.
    public var clock: SimulationClock
    /// In send order.
    public var messages: [PlannedMessage]
    /// In offset order.
    public var controls: [PlannedControl]
    /// Step label (`fight`, `intrusions#3`) → index of the message that carries it.
    public var triggers: [String: Int]
    /// Outage label → offset of the will (outages sent through the broker's last will).
    public var controlTriggers: [String: TimeInterval]
    /// Steps beyond a shortened `--duration`.
    public var skippedSteps: [String]
    /// What the run will not do as the scenario reads (a burst whose keys collide, …), shown before the run.
    public var warnings: [String]

    /// Messages by origin.
    public var counts: [PlannedMessage.Origin: Int] {
        var c: [PlannedMessage.Origin: Int] = [:]
        for m in messages { c[m.origin, default: 0] += 1 }
        return c
    }

    /// Dead letters the hub should record, by reason (wills excluded: they are well-formed).
    public var expectedDeadLetters: [String: Int] {
        var c: [String: Int] = [:]
        for m in messages { if let r = m.expectedDeadLetter { c[r, default: 0] += 1 } }
        return c
    }

    /// The message sequence as JSON lines (`offset`, `topic`, `retain`, `payload`), the
    /// form `simulate --dump` writes and the determinism tests compare.
    public var transcript: String {
        let enc = PayloadEncoder()
        var out = ""
        for m in messages {
            out += #"{"offset":"# + enc.fixed(m.offset, 3) + #","topic":"# + enc.json(m.topic) + #","retain":"# + (m.retain ? "true" : "false")
                + #","payload":"# + enc.json(String(decoding: m.payload, as: UTF8.self)) + "}\n"
        }
        for c in controls {
            switch c {
            case .lastWill(let o, let camera, let topic, let payload, _):
                out += #"{"offset":"# + enc.fixed(o, 3) + #","will":"# + enc.json(camera) + #","topic":"# + enc.json(topic) + #","payload":"# + enc.json(String(decoding: payload, as: UTF8.self)) + "}\n"
            case .disconnect(let o, let d):
                out += #"{"offset":"# + enc.fixed(o, 3) + #","disconnect":"# + enc.fixed(d, 3) + "}\n"
            }
        }
        return out
    }
}
