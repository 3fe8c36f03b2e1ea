import Alerts
import Foundation

/// A simulator scenario (`simulators/*.yaml`): what a fleet of cameras and
/// patrol devices publishes, and what the hub is expected to make of it.
///
/// Times inside a scenario are **scenario seconds** from its start. Where
/// that start lies on the calendar is decided when a run begins (see
/// `SimulationClock`), so the same scenario can be replayed at any speed and
/// any day without its event times running ahead of the hub's clock.
/// `simulators/README.md` documents the file format key by key.
public struct Scenario: Sendable {
    /// The file it was read from, for error messages.
    public var file: String
    /// The scenario's `name`, shown in drill reports.
    public var name: String
    /// Free text from the file's `description`, for readers of the report.
    public var description: String
    /// Scenario seconds simulated.
    public var duration: TimeInterval
    /// Seed of every random draw; `--seed` overrides it.
    public var seed: UInt64
    /// Default `--speed`: scenario seconds per wall-clock second.
    public var speed: Double
    /// Local time of day (seconds after midnight) at the scenario's start, for
    /// the daily rhythm; nil uses the real local time of the run.
    public var dayStartsAt: TimeInterval?
    /// Whether events carry `drill: true` (default true).
    public var drill: Bool
    /// The input format of each camera.
    public var formats: Formats
    /// Background noise under the incidents; nil: none.
    public var background: Background?
    /// Cameras going down during the run.
    public var outages: [Outage]
    /// The scripted situations the drill is about.
    public var incidents: [Incident]
    /// Patrol rounds along the hub's patrol plan; nil: no check-ins.
    public var patrol: PatrolRounds?
    /// Duplicates, broken payloads, late and skewed events, bursts and disconnects.
    public var faults: Faults
    /// Silences the drill creates in the hub before it runs (scenario times).
    public var silences: [SilenceSpec]
    /// What the hub must produce (or not), scored after the run.
    public var expectations: [DrillExpectation]

    /// A scenario from its parts; `ScenarioParser` builds it from YAML, tests build it directly.
    public init(file: String, name: String, description: String = "", duration: TimeInterval, seed: UInt64 = 1, speed: Double = 60,
                dayStartsAt: TimeInterval? = nil, drill: Bool = true, formats: Formats = Formats(), background: Background? = nil,
                outages: [Outage] = [], incidents: [Incident] = [], patrol: PatrolRounds? = nil, faults: Faults = Faults(),
                silences: [SilenceSpec] = [], expectations: [DrillExpectation] = []) {
        self.file = file
        self.name = name
        self.description = description
        self.duration = duration
        self.seed = seed
        self.speed = speed
        self.dayStartsAt = dayStartsAt
        self.drill = drill
        self.formats = formats
        self.background = background
        self.outages = outages
        self.incidents = incidents
        self.patrol = patrol
        self.faults = faults
        self.silences = silences
        self.expectations = expectations
    }

    /// Every scripted step of every incident, in file order.
    public var steps: [Step] { incidents.flatMap(\.steps) }

    // MARK: - Parts

    /// Which input format each camera publishes in.
    public struct Formats: Sendable {
        /// The format of cameras not listed in `cameras`.
        public var defaultFormat: InputFormat = .native
        /// Cameras that publish in another format than the default.
        public var cameras: [String: InputFormat] = [:]
        /// Line of each camera's entry, for errors.
        public var lines: [String: Int] = [:]
        /// Every camera in the native format.
        public init() {}

        /// The format `camera` publishes in: its own entry, else the default.
        public func format(of camera: String) -> InputFormat { cameras[camera] ?? defaultFormat }
    }

    /// Background detections: a Poisson process per camera whose rate follows
    /// a daily rhythm, with categories drawn by weight.
    public struct Background: Sendable {
        /// nil: every registered camera.
        public var cameras: [String]?
        /// Detections per camera per hour when the rhythm is at 1.0.
        public var ratePerHour: Double
        /// Category weights, in file order.
        public var categories: [(category: Category, weight: Double)]
        /// 24 hourly factors (local time), each ≥ 0.
        public var rhythm: [Double]
        /// The rhythm's name in the file (`flat`, `city`, …), for reports.
        public var rhythmName: String
        /// Line of the `background` key, for errors.
        public var line: Int

        /// Background noise at `ratePerHour` per camera, shaped by `rhythm`.
        public init(cameras: [String]? = nil, ratePerHour: Double, categories: [(category: Category, weight: Double)],
                    rhythm: [Double] = Rhythm.flat, rhythmName: String = "flat", line: Int = 0) {
            self.cameras = cameras
            self.ratePerHour = ratePerHour
            self.categories = categories
            self.rhythm = rhythm
            self.rhythmName = rhythmName
            self.line = line
        }
    }

    /// A camera going down for a while: a retained status message, or its
    /// connection dying so the broker publishes its last will.
    public struct Outage: Sendable {
        /// How the outage reaches the hub.
        public enum Via: String, Sendable, CaseIterable {
            /// A retained `{prefix}/camera/{id}/status` message.
            case status
            /// The camera's own MQTT connection drops; the broker publishes its will (retained).
            case will
        }
        /// The camera that goes down.
        public var camera: String
        /// Scenario seconds at which it goes down.
        public var at: TimeInterval
        /// How long until it reports `online` again; nil: not within the scenario.
        public var duration: TimeInterval?
        /// The status it reports while down (`offline`, `degraded`, …).
        public var status: CameraStatus
        /// Whether a status message or the broker's last will tells the hub.
        public var via: Via
        /// Line of the outage in the file, for errors.
        public var line: Int

        /// An outage of `camera` from `at` for `duration` (nil: to the end).
        public init(camera: String, at: TimeInterval, duration: TimeInterval?, status: CameraStatus = .offline, via: Via = .status, line: Int = 0) {
            self.camera = camera
            self.at = at
            self.duration = duration
            self.status = status
            self.via = via
            self.line = line
        }
    }

    /// A scripted situation: a few steps at given times and places.
    public struct Incident: Sendable {
        /// Names the incident in steps' labels and reports.
        public var id: String
        /// Free text for readers of the report.
        public var description: String
        /// Its events, in file order.
        public var steps: [Step]
        /// Line of the incident in the file, for errors.
        public var line: Int

        /// An incident made of `steps`.
        public init(id: String, description: String = "", steps: [Step], line: Int = 0) {
            self.id = id
            self.description = description
            self.steps = steps
            self.line = line
        }
    }

    /// One scripted event (repeated `repeatCount` times, `every` apart).
    public struct Step: Sendable {
        /// The message a step publishes.
        public enum What: Sendable, Hashable {
            /// A camera analytics detection, in the camera's format.
            case detection(camera: String, category: Category, count: Int?)
            /// A grid worker's report from a patrol device.
            case report(device: String, category: Category, description: String?, parties: [String], amountCNY: Double?)
            /// An SOS / man-down from a patrol device (`sos`, `fall`, `duress`).
            case sos(device: String, kind: String)
            /// A check-in at a checkpoint.
            case checkin(device: String, checkpoint: String)
            /// A camera health status (retained).
            case status(camera: String, status: CameraStatus)
        }
        /// Unique across the scenario; expectations name it in `after`.
        public var id: String?
        /// The incident this step belongs to.
        public var incident: String
        /// Scenario seconds of the first publication.
        public var at: TimeInterval
        /// The message published.
        public var what: What
        /// Where it happens; nil: the camera's or device's registered place.
        public var location: GeoPoint?
        /// How many times it is published (a repeated detection, a fight seen again).
        public var repeatCount: Int
        /// Scenario seconds between repetitions.
        public var every: TimeInterval
        /// Line of the step in the file, for errors.
        public var line: Int
        /// The key path in the file (`incidents[0].steps[1]`), for errors.
        public var path: String

        /// A step of `incident` at `at`, published `repeatCount` times `every` seconds apart.
        public init(id: String?, incident: String, at: TimeInterval, what: What, location: GeoPoint? = nil,
                    repeatCount: Int = 1, every: TimeInterval = 60, line: Int = 0, path: String = "") {
            self.id = id
            self.incident = incident
            self.at = at
            self.what = what
            self.location = location
            self.repeatCount = repeatCount
            self.every = every
            self.line = line
            self.path = path
        }

        /// The step's name in reports: its id, else `incident#n`.
        public var label: String { id ?? "\(incident)@\(Int(at))s" }
    }

    /// Patrol rounds following the hub's patrol plan (`config/patrol.yaml`).
    public struct PatrolRounds: Sendable {
        /// nil: every route of the plan.
        public var routes: [String]?
        /// Fraction of check-ins made after the slot's grace (late but within the window).
        public var late: Double
        /// Fraction of checkpoints skipped (the hub must record them missed).
        public var missed: Double
        /// Fraction of check-ins made outside the checkpoint's radius.
        public var outsideRadius: Double
        /// Line of the `patrol` key, for errors.
        public var line: Int

        /// Rounds along `routes` (nil: all) with the given fractions of late, missed and misplaced check-ins.
        public init(routes: [String]? = nil, late: Double = 0, missed: Double = 0, outsideRadius: Double = 0, line: Int = 0) {
            self.routes = routes
            self.late = late
            self.missed = missed
            self.outsideRadius = outsideRadius
            self.line = line
        }
    }

    /// Faults injected into the stream.
    public struct Faults: Sendable {
        /// Fraction of messages published twice (a device retrying, a QoS 1 redelivery).
        public var duplicates: Double = 0
        /// Number of broken payloads (each kind in turn; see `MalformedKind`).
        public var malformed: Int = 0
        /// Fraction of background messages sent after their successor.
        public var outOfOrder: Double = 0
        /// Fraction of background events sent `lateBy` after their event time.
        public var lateFraction: Double = 0
        /// How far after its event time a late event is sent (seconds).
        public var lateBy: TimeInterval = 600
        /// Events stamped `clockSkewAhead` ahead of the wall clock when sent.
        public var clockSkewCount: Int = 0
        /// How far ahead of the wall clock a skewed event is stamped (seconds).
        public var clockSkewAhead: TimeInterval = 900
        /// Floods of detections from one camera.
        public var bursts: [Burst] = []
        /// Drops of the simulator's own broker connection.
        public var disconnects: [Disconnect] = []
        /// Line of the `faults` key, for errors.
        public var line: Int = 0
        /// No faults.
        public init() {}

        /// Whether no fault at all is injected (the drill report then says so).
        public var isEmpty: Bool {
            duplicates == 0 && malformed == 0 && outOfOrder == 0 && lateFraction == 0 && clockSkewCount == 0
                && bursts.isEmpty && disconnects.isEmpty
        }
    }

    /// Many detections from one camera in a short time.
    public struct Burst: Sendable {
        /// Scenario seconds at which the burst starts.
        public var at: TimeInterval
        /// The camera that floods.
        public var camera: String
        /// How many detections it sends.
        public var messages: Int
        /// Scenario seconds the detections are spread over.
        public var over: TimeInterval
        /// Category of every detection of the burst.
        public var category: Category
        /// Line of the burst in the file, for errors.
        public var line: Int

        /// `messages` detections of `category` from `camera`, spread over `over` seconds from `at`.
        public init(at: TimeInterval, camera: String, messages: Int, over: TimeInterval = 10, category: Category = .motion, line: Int = 0) {
            self.at = at
            self.camera = camera
            self.messages = messages
            self.over = over
            self.category = category
            self.line = line
        }
    }

    /// The simulator's own broker connection dropping without a DISCONNECT.
    public struct Disconnect: Sendable {
        /// Scenario seconds at which the connection drops.
        public var at: TimeInterval
        /// How long (scenario seconds) the simulator stays away before it reconnects.
        public var duration: TimeInterval
        /// Line of the disconnect in the file, for errors.
        public var line: Int

        /// A drop at `at`, reconnecting `duration` scenario seconds later.
        public init(at: TimeInterval, duration: TimeInterval, line: Int = 0) {
            self.at = at
            self.duration = duration
            self.line = line
        }
    }

    /// A silence the drill creates before the run (event-time window in scenario seconds).
    public struct SilenceSpec: Sendable {
        /// Zone the silence covers (with the zones under it); nil: any.
        public var zone: String?
        /// Category it mutes; nil: any.
        public var category: Category?
        /// Camera or device it mutes; nil: any.
        public var source: String?
        /// Start of the muted event times, scenario seconds.
        public var from: TimeInterval
        /// End of the muted event times, scenario seconds.
        public var to: TimeInterval
        /// The silence's comment, required by the hub's API.
        public var comment: String
        /// Line of the silence in the file, for errors.
        public var line: Int

        /// A silence over `from`…`to` matching what its optional fields name.
        public init(zone: String? = nil, category: Category? = nil, source: String? = nil, from: TimeInterval, to: TimeInterval, comment: String, line: Int = 0) {
            self.zone = zone
            self.category = category
            self.source = source
            self.from = from
            self.to = to
            self.comment = comment
            self.line = line
        }
    }
}

/// The input formats a simulated camera can publish in (SPEC.md "Input contract").
public enum InputFormat: String, Sendable, CaseIterable, Hashable {
    case native
    case frigate
    case gb28181
    case onvif

    /// Whether this format can carry a detection of `category` through the hub's
    /// default adapter mappings (docs/ADAPTERS.md).
    public func canExpress(_ category: Category) -> Bool {
        switch self {
        case .native: return category.family == .cameraAnalytics
        case .frigate: return [.intrusion, .fireSmoke, .illegalParking].contains(category)
        case .gb28181: return GBCodes.code(for: category) != nil
        case .onvif: return ONVIFTopics.topic(for: category) != nil
        }
    }

    /// The analytics categories this format can carry.
    public var categories: [Category] { Category.allCases.filter { $0.family == .cameraAnalytics && canExpress($0) } }
}

/// What the drill expects the hub to produce (or not).
public struct DrillExpectation: Sendable {
    /// The outcome looked for, by its API list.
    public enum Kind: String, Sendable, CaseIterable, Hashable {
        case `case`
        case warning
        case reminder
        case supervision
        case riskItem = "risk_item"

        /// The slip kind, for the three slip lists.
        public var slipKind: Slip.Kind? {
            switch self {
            case .warning: return .warning
            case .reminder: return .reminder
            case .supervision: return .supervision
            case .case, .riskItem: return nil
            }
        }
    }

    /// Which list the outcome is looked for in.
    public var kind: Kind
    /// The zone the outcome must be in; nil: any.
    public var zone: String?
    /// The category it must have; nil: any.
    public var category: Category?
    /// The severity it must have; nil: any.
    public var severity: Severity?
    /// Risk items only: the source (camera or device id).
    public var source: String?
    /// Risk items only: whether it must be muted (true) or not (false).
    public var suppressed: Bool?
    /// nil: at least one; n: exactly n (0: none at all).
    public var count: Int?
    /// The step whose event should cause it; latency is measured from its publication.
    public var after: String?
    /// Seconds after the trigger's publication (wall clock: the hub's response time).
    public var within: TimeInterval?
    /// Scenario-time window the outcome must come from (default: the whole run).
    public var during: ClosedRange<TimeInterval>?
    /// Free text shown beside the result in the report.
    public var note: String?
    /// Line of the expectation in the file, for errors.
    public var line: Int

    /// An expectation; every nil field matches anything.
    public init(kind: Kind, zone: String? = nil, category: Category? = nil, severity: Severity? = nil, source: String? = nil,
                suppressed: Bool? = nil, count: Int? = nil, after: String? = nil, within: TimeInterval? = nil,
                during: ClosedRange<TimeInterval>? = nil, note: String? = nil, line: Int = 0) {
        self.kind = kind
        self.zone = zone
        self.category = category
        self.severity = severity
        self.source = source
        self.suppressed = suppressed
        self.count = count
        self.after = after
        self.within = within
        self.during = during
        self.note = note
        self.line = line
    }

    /// One line naming what is expected, for reports:
    /// `case zone 540102-002-002-03 fight sev 1 within 30 s of fight`.
    public var summary: String {
        var parts: [String] = []
        switch count {
        case 0?: parts.append("no \(kind.rawValue)")
        case let n?: parts.append("exactly \(n) \(kind.rawValue)")
        case nil: parts.append(kind.rawValue)
        }
        if let zone { parts.append("zone \(zone)") }
        if let category { parts.append(category.rawValue) }
        if let severity { parts.append("sev \(severity.rawValue)") }
        if let source { parts.append("from \(source)") }
        if let suppressed { parts.append(suppressed ? "suppressed" : "not suppressed") }
        if let after { parts.append("within \(SimDuration.format(within ?? DrillExpectation.defaultWithin)) of \(after)") }
        if let during { parts.append("during \(SimDuration.format(during.lowerBound))–\(SimDuration.format(during.upperBound))") }
        return parts.joined(separator: " ")
    }

    /// `within` when an expectation names a trigger but no bound.
    public static let defaultWithin: TimeInterval = 60
}

/// Daily rhythms: 24 hourly factors of the background rate (local time).
public enum Rhythm {
    /// The same rate all day.
    public static let flat = [Double](repeating: 1, count: 24)
    /// An ordinary city street: quiet nights, commuter peaks, a busy evening.
    public static let city: [Double] = [0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.8, 1.0, 0.85, 0.7, 0.75,
                                        0.8, 0.7, 0.65, 0.7, 0.8, 0.95, 1.0, 0.9, 0.75, 0.55, 0.35, 0.2]
    /// A market quarter: early setup, a morning peak, a second one after work.
    public static let market: [Double] = [0.05, 0.03, 0.03, 0.03, 0.05, 0.3, 0.7, 0.95, 1.0, 1.0, 0.9, 0.85,
                                          0.7, 0.6, 0.6, 0.7, 0.85, 1.0, 0.95, 0.8, 0.5, 0.3, 0.15, 0.08]
    /// Night life: busy late evenings and nights.
    public static let night: [Double] = [0.9, 0.8, 0.6, 0.4, 0.2, 0.1, 0.1, 0.15, 0.2, 0.2, 0.25, 0.3,
                                         0.3, 0.3, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.0, 0.95]

    /// The rhythms by the name a scenario's `rhythm` key uses.
    public static let named: [String: [Double]] = ["flat": flat, "city": city, "market": market, "night": night]
}

/// Durations as scenario files write them: `90`, `90s`, `20m`, `2h`, `1h30m`, `1d`.
public enum SimDuration {
    /// Parses a duration; nil when it is not one.
    public static func parse(_ text: String) -> TimeInterval? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let v = Double(t), v.isFinite, v >= 0 { return v }
        var total: TimeInterval = 0
        var number = ""
        var sawUnit = false
        for c in t {
            if c.isNumber || c == "." {
                number.append(c)
                continue
            }
            let unit: TimeInterval
            switch c {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            default: return nil
            }
            guard let v = Double(number), v.isFinite, v >= 0 else { return nil }
            total += v * unit
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }

    /// `90 s` → `1m30s`; whole seconds.
    public static func format(_ seconds: TimeInterval) -> String {
        if seconds < 60 {
            return seconds == seconds.rounded() ? "\(Int(seconds))s" : HubFormat.fixed(seconds, digits: 1) + "s"
        }
        var s = Int(seconds.rounded())
        var out = ""
        if s >= 86_400 { out += "\(s / 86_400)d"; s %= 86_400 }
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 { out += "\(s)s" }
        return out
    }
}
