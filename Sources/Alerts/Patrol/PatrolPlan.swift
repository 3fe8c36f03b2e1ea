import Foundation

/// The patrol plan (`config/patrol.yaml`): where grid workers must check in
/// (checkpoints) and when (routes with schedules). Immutable once loaded;
/// `PatrolPlan.load(file:registry:zones:timeZone:)` validates it.
///
/// The plan turns into **slots**: one slot is one checkpoint of one route at
/// one due time, with a window around it:
///
/// ```
///   opens            due         grace ends                 closes
///     |── early ──────|── grace ───|────────── late ────────────|
///     |      on time (check-in here → on_time)  | late         |  after: no slot
/// ```
///
/// A check-in between `opens` and `graceEnds` (inclusive) is on time, up to
/// `closes` (exclusive) late. A slot with no check-in at `graceEnds` is
/// missed. Windows of consecutive slots of one device at one checkpoint never
/// overlap (the loader refuses such a plan), so a check-in matches at most one slot.
///
/// All times of day are read in the plan's time zone (the hub's `timezone`),
/// and days begin at local midnight.
public struct PatrolPlan: Sendable {
    /// A place a worker must visit (NFC tag, QR code or a GPS point).
    public struct Checkpoint: Sendable, Hashable {
        /// The id check-ins name (`checkpoint` in a check-in payload).
        public var id: String
        /// A name people recognise, used in reminder letters.
        public var name: String
        /// The grid zone the checkpoint belongs to.
        public var zone: String
        /// Where it is, in the CRS the file gives (distances convert to WGS-84).
        public var location: GeoPoint
        /// A check-in farther than this from `location` is flagged `outside_radius`.
        public var radiusMetres: Double

        /// A checkpoint as the plan file describes it.
        public init(id: String, name: String, zone: String, location: GeoPoint, radiusMetres: Double) {
            self.id = id
            self.name = name
            self.zone = zone
            self.location = location
            self.radiusMetres = radiusMetres
        }
    }

    /// A checkpoint on a route and when it is due after the round starts.
    public struct Stop: Sendable, Hashable {
        /// The checkpoint's id.
        public var checkpoint: String
        /// Minutes after the round's start at which this stop is due.
        public var offsetMinutes: Int

        /// A stop due `offsetMinutes` into the round.
        public init(checkpoint: String, offsetMinutes: Int = 0) {
            self.checkpoint = checkpoint
            self.offsetMinutes = offsetMinutes
        }
    }

    /// Day of the week, ISO order (Monday first).
    public enum Weekday: String, Sendable, Hashable, CaseIterable, Comparable {
        case mon, tue, wed, thu, fri, sat, sun

        /// From Foundation's weekday number (1 = Sunday … 7 = Saturday).
        public init(calendarWeekday w: Int) {
            self = [.sun, .mon, .tue, .wed, .thu, .fri, .sat][(w - 1 + 7) % 7]
        }

        /// 0 for Monday … 6 for Sunday.
        public var index: Int { Self.allCases.firstIndex(of: self)! }
        /// Monday first, as the plan's `days` are written.
        public static func < (a: Weekday, b: Weekday) -> Bool { a.index < b.index }
    }

    /// When a route's rounds start.
    public struct Schedule: Sendable, Hashable {
        /// Rounds at a fixed interval, or at listed times.
        public enum Kind: Sendable, Hashable {
            /// Every `minutes` from `from` to `to` (minutes of the day, both inclusive).
            case interval(minutes: Int, from: Int, to: Int)
            /// Fixed times of day (minutes of the day).
            case times([Int])
        }

        /// When in the day rounds start.
        public var kind: Kind
        /// Days on which the route runs (a round belongs to the day it starts on).
        public var days: Set<Weekday>

        /// A schedule running on `days` (every day by default).
        public init(kind: Kind, days: Set<Weekday> = Set(Weekday.allCases)) {
            self.kind = kind
            self.days = days
        }

        /// Round start times, minutes after local midnight, ascending.
        public var roundStarts: [Int] {
            switch kind {
            case .interval(let every, let from, let to):
                return Array(stride(from: from, through: to, by: every))
            case .times(let t):
                return t.sorted()
            }
        }
    }

    /// A worker's route: stops, a schedule and the slot window.
    public struct Route: Sendable, Hashable {
        /// The route's id, part of every slot id.
        public var id: String
        /// A name people recognise, used in reminder letters.
        public var name: String
        /// The patrol device that checks in (registered in `devices.csv`).
        public var device: String
        /// The grid worker carrying it.
        public var worker: String
        /// The worker's unit (from `devices.csv`): reminder letters go there.
        public var unit: String?
        /// The checkpoints in walking order, each with its offset.
        public var stops: [Stop]
        /// When its rounds start.
        public var schedule: Schedule
        /// A check-in this long before the due time still counts for the slot.
        public var earlyMinutes: Int
        /// On time until due + grace; missed when nothing came by then.
        public var graceMinutes: Int
        /// Late until due + window (window ≥ grace).
        public var windowMinutes: Int

        /// A route as the plan file describes it (the loader checks the windows).
        public init(id: String, name: String, device: String, worker: String, unit: String?, stops: [Stop], schedule: Schedule,
                    earlyMinutes: Int = 10, graceMinutes: Int = 10, windowMinutes: Int = 60) {
            self.id = id
            self.name = name
            self.device = device
            self.worker = worker
            self.unit = unit
            self.stops = stops
            self.schedule = schedule
            self.earlyMinutes = earlyMinutes
            self.graceMinutes = graceMinutes
            self.windowMinutes = windowMinutes
        }
    }

    /// How the hub runs the missed-checkpoint scheduler.
    public struct SchedulerOptions: Sendable, Hashable {
        /// How often the hub evaluates slots whose grace has ended.
        public var tickSeconds: Double = 30
        /// After a start, wait this long (and for the inbox to drain) before
        /// the first evaluation, so check-ins the broker queued while the hub
        /// was down are counted before anything is declared missed.
        public var settleSeconds: Double = 15
        /// A 30 s tick and a 15 s settle after start.
        public init() {}
    }

    /// Checkpoints by id.
    public var checkpoints: [String: Checkpoint]
    /// Routes in file order.
    public var routes: [Route]
    /// The zone every time of day in the plan is read in (the hub's `timezone`).
    public var timeZone: TimeZone
    /// Slots due before this instant never exist (the plan's first day, local midnight).
    public var effectiveFrom: Date?
    /// How the hub's scheduler evaluates the plan.
    public var scheduler: SchedulerOptions
    /// The file it was read from (for messages).
    public var file: String

    let routesByDevice: [String: [Int]]
    let calendar: Calendar

    /// A plan from its parts, indexed by device; `load(file:…)` validates a file into one.
    public init(checkpoints: [Checkpoint], routes: [Route], timeZone: TimeZone, effectiveFrom: Date? = nil,
                scheduler: SchedulerOptions = SchedulerOptions(), file: String = "patrol.yaml") {
        self.checkpoints = Dictionary(checkpoints.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.routes = routes
        self.timeZone = timeZone
        self.effectiveFrom = effectiveFrom
        self.scheduler = scheduler
        self.file = file
        var byDevice: [String: [Int]] = [:]
        for (i, r) in routes.enumerated() { byDevice[r.device, default: []].append(i) }
        routesByDevice = byDevice
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        calendar = cal
    }

    /// The routes a device walks, in file order.
    public func routes(forDevice device: String) -> [Route] {
        (routesByDevice[device] ?? []).map { routes[$0] }
    }

    /// The route with this id, nil when the plan has none.
    public func route(id: String) -> Route? { routes.first { $0.id == id } }
}

/// One checkpoint of one route at one due time: the unit patrol
/// supervision counts. Its `id` is the correlation id of every record about
/// it (check-ins, the missed verdict, the risk item's lifecycle, the letter's trigger).
public struct PatrolSlot: Sendable, Hashable, Comparable {
    /// `route:checkpoint:YYYY-MM-DDTHH:MM±HH:MM` (due time in the plan's zone).
    public var id: String
    /// The route's id.
    public var route: String
    /// The checkpoint's id.
    public var checkpoint: String
    /// The patrol device expected to check in.
    public var device: String
    /// The grid worker carrying the device.
    public var worker: String
    /// The unit a reminder letter for this slot goes to.
    public var unit: String?
    /// The checkpoint's grid zone.
    public var zone: String
    /// The local day the slot's round belongs to, `YYYY-MM-DD`.
    public var day: String
    /// When the checkpoint is due.
    public var due: Date
    /// The earliest check-in that counts (due − early).
    public var opens: Date
    /// The last on-time instant (due + grace, inclusive); missed when nothing came by then.
    public var graceEnds: Date
    /// The end of the window (due + window, exclusive): later check-ins match no slot.
    public var closes: Date

    /// How a check-in at `time` counts for this slot (nil: outside the window).
    public func timeliness(of time: Date) -> PatrolStatus? {
        guard time >= opens, time < closes else { return nil }
        return time <= graceEnds ? .onTime : .late
    }

    /// Due time first, then id, so slots sort the same everywhere.
    public static func < (a: PatrolSlot, b: PatrolSlot) -> Bool { (a.due, a.id) < (b.due, b.id) }
}

/// What became of a slot or a check-in.
public enum PatrolStatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Checked in within the radius by due + grace.
    case onTime = "on_time"
    /// Checked in within the radius after the grace, before the window closed
    /// (also a slot first declared missed, then checked in within its window).
    case late
    /// Nothing within the radius by due + grace.
    case missed
    /// Checked in within the window but farther from the checkpoint than its
    /// radius (GPS distance): flagged for review, not counted as covered.
    case outsideRadius = "outside_radius"
    /// A check-in at a known checkpoint that matches no slot of the device's
    /// routes (another worker's checkpoint, or outside every window): kept, not counted.
    case unscheduled

    /// Covered: the checkpoint was visited within its window.
    public var isCovered: Bool { self == .onTime || self == .late }
}

// MARK: - Slot arithmetic (pure)

extension PatrolPlan {
    /// A calendar day (see `LocalDay`); days begin at local midnight in the plan's zone.
    public typealias LocalDay = Alerts.LocalDay

    /// The local day an instant falls on.
    public func localDay(of date: Date) -> LocalDay {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return LocalDay(year: c.year!, month: c.month!, day: c.day!)
    }

    /// The instant a local day begins (local midnight; the first instant of the day).
    public func start(of day: LocalDay) -> Date {
        calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day))!
    }

    /// The instant `minutes` after the start of `day`, read as a local wall-clock
    /// time (so 09:00 is 09:00 on a daylight-saving day too). Minutes past 24 h
    /// (a stop offset after midnight) roll into the next day.
    func instant(_ day: LocalDay, minutes: Int) -> Date {
        let d = day.adding(days: minutes / 1440)
        let m = minutes % 1440
        return calendar.date(from: DateComponents(year: d.year, month: d.month, day: d.day, hour: m / 60, minute: m % 60))!
    }

    /// The correlation id of a slot: route, checkpoint and the due time as
    /// local wall-clock time with its offset.
    func slotID(route: String, checkpoint: String, due: Date) -> String {
        "\(route):\(checkpoint):\(HubFormat.isoMinute(due, in: timeZone))"
    }

    /// The slots of one route's rounds that start on `day` (if the route runs that day
    /// and the plan is in effect then: a round of the day before `effective_from` has no
    /// slots, also those of its stops due after midnight).
    public func slots(of route: Route, on day: LocalDay) -> [PatrolSlot] {
        guard route.schedule.days.contains(day.weekday) else { return [] }
        if let effectiveFrom, start(of: day) < effectiveFrom { return [] }
        var out: [PatrolSlot] = []
        for start in route.schedule.roundStarts {
            for stop in route.stops {
                guard let cp = checkpoints[stop.checkpoint] else { continue }
                let due = instant(day, minutes: start + stop.offsetMinutes)
                if let effectiveFrom, due < effectiveFrom { continue }
                out.append(PatrolSlot(
                    id: slotID(route: route.id, checkpoint: cp.id, due: due), route: route.id, checkpoint: cp.id,
                    device: route.device, worker: route.worker, unit: route.unit, zone: cp.zone, day: day.description,
                    due: due, opens: due.addingTimeInterval(-Double(route.earlyMinutes) * 60),
                    graceEnds: due.addingTimeInterval(Double(route.graceMinutes) * 60),
                    closes: due.addingTimeInterval(Double(route.windowMinutes) * 60)))
            }
        }
        return out
    }

    /// Every slot of every route whose rounds start on `day`, sorted by due time.
    public func slots(on day: LocalDay) -> [PatrolSlot] {
        routes.flatMap { slots(of: $0, on: day) }.sorted()
    }

    /// The slots whose grace ends in `(after, through]`, sorted by due time:
    /// what the scheduler must decide when its clock moves from `after` to `through`.
    public func slots(graceEndingAfter after: Date, through: Date) -> [PatrolSlot] {
        guard through > after else { return [] }
        let longest = routes.map { Double($0.graceMinutes + ($0.stops.map(\.offsetMinutes).max() ?? 0)) * 60 }.max() ?? 0
        // A round that starts on day D can end its grace a day or more later (offsets, grace).
        var day = localDay(of: after.addingTimeInterval(-longest - 86_400))
        let last = localDay(of: through)
        var out: [PatrolSlot] = []
        while day <= last {
            for route in routes {
                for s in slots(of: route, on: day) where s.graceEnds > after && s.graceEnds <= through { out.append(s) }
            }
            day = day.adding(days: 1)
        }
        return out.sorted()
    }

    /// The slots of the routes `device` walks whose grace ends in `[from, before)`,
    /// sorted by due time: what event-time gap detection decides between two
    /// check-ins of the device (see `PatrolStage.checkin`).
    public func slots(ofDevice device: String, graceEndingFrom from: Date, before: Date) -> [PatrolSlot] {
        let routes = routes(forDevice: device)
        guard before > from, !routes.isEmpty else { return [] }
        let longest = routes.map { Double($0.graceMinutes + ($0.stops.map(\.offsetMinutes).max() ?? 0)) * 60 }.max() ?? 0
        var day = localDay(of: from.addingTimeInterval(-longest - 86_400))
        let last = localDay(of: before)
        var out: [PatrolSlot] = []
        while day <= last {
            for route in routes {
                for s in slots(of: route, on: day) where s.graceEnds >= from && s.graceEnds < before { out.append(s) }
            }
            day = day.adding(days: 1)
        }
        return out.sorted()
    }

    /// How a check-in by `device` at `checkpoint` at `time` matches the plan.
    public enum Match: Sendable, Hashable {
        /// The slot whose window contains the time, and how the time counts for it.
        case slot(PatrolSlot, PatrolStatus)
        /// A known checkpoint, but no slot of the device's routes is open then.
        case unscheduled(Checkpoint, route: String?)
        /// The checkpoint id is not in the plan.
        case unknownCheckpoint
        /// The device walks no route.
        case noRoute
    }

    /// Matches a check-in to the due slot of the device's routes (pure).
    public func match(device: String, checkpoint: String, at time: Date) -> Match {
        guard let cp = checkpoints[checkpoint] else { return .unknownCheckpoint }
        let routes = routes(forDevice: device)
        guard !routes.isEmpty else { return .noRoute }
        let onRoutes = routes.filter { $0.stops.contains { $0.checkpoint == checkpoint } }
        let today = localDay(of: time)
        for route in onRoutes {
            // A round that started up to two days earlier can still be open (offsets past midnight).
            for day in [today.adding(days: -2), today.adding(days: -1), today, today.adding(days: 1)] {
                for slot in slots(of: route, on: day) where slot.checkpoint == checkpoint {
                    if let t = slot.timeliness(of: time) { return .slot(slot, t) }
                }
            }
        }
        return .unscheduled(cp, route: onRoutes.first?.id)
    }
}
