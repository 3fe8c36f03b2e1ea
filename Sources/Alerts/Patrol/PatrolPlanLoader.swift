import Foundation
import Yams

extension PatrolPlan {
    /// Loads and validates `patrol.yaml` against the registry (devices) and
    /// the grid (zone codes). Every error names the file, the line and the key,
    /// e.g. `patrol.yaml:41: key 'routes[2].checkpoints[1]': unknown checkpoint 'cp-9' (…)`;
    /// a bad file never half-loads.
    ///
    /// - Parameters:
    ///   - registry: devices a route may name; their worker and unit complete the route.
    ///   - zones: the grid; with it, checkpoint zones must exist and contain the checkpoint.
    ///   - timeZone: the hub's `timezone`: times of day and days are read in it.
    public static func load(file: String, registry: Registry, zones: ZoneIndex?, timeZone: TimeZone) throws(HubError) -> PatrolPlan {
        try parse(ConfigMap.load(file: file), registry: registry, zones: zones, timeZone: timeZone)
    }

    /// Parses an already-read mapping (tests use inline YAML).
    public static func parse(_ root: ConfigMap, registry: Registry, zones: ZoneIndex?, timeZone: TimeZone) throws(HubError) -> PatrolPlan {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone

        var effectiveFrom: Date?
        if let text = try root.string("effective_from") {
            guard let day = LocalDay(text) else { throw root.error("effective_from", "expected a date YYYY-MM-DD, found '\(text)'") }
            effectiveFrom = cal.date(from: DateComponents(year: day.year, month: day.month, day: day.day))
        }

        var scheduler = SchedulerOptions()
        let s = try root.map("scheduler")
        scheduler.tickSeconds = try s.double("tick_seconds", default: scheduler.tickSeconds, range: 1...3600)
        scheduler.settleSeconds = try s.double("settle_seconds", default: scheduler.settleSeconds, range: 0...3600)
        try s.finish()

        let d = try root.map("defaults")
        let defaultRadius = try d.double("radius_m", default: 50, range: 1...10_000)
        let defaultEarly = try d.int("early_minutes", default: 10, range: 0...720)
        let defaultGrace = try d.int("grace_minutes", default: 10, range: 0...720)
        let defaultWindow = try d.int("window_minutes", default: 60, range: 1...1440)
        try d.finish()

        // Checkpoints
        var checkpoints: [Checkpoint] = []
        var cpLine: [String: Int] = [:]
        let cpList = try root.mapList("checkpoints")
        for c in cpList {
            let id = try c.requiredString("id")
            try checkID(id, c, "id")
            if let first = cpLine[id] { throw c.error("id", "duplicate checkpoint id '\(id)' (first on line \(first))") }
            cpLine[id] = c.error("id", "").line ?? 0
            let name = try c.string("name", default: id)
            let zone = try c.requiredString("zone")
            let loc = try c.map("location")
            guard c.contains("location") else { throw c.error("location", "is required (lat, lon, optional crs)") }
            let lat = try loc.double("lat", default: .nan, range: -90...90)
            let lon = try loc.double("lon", default: .nan, range: -180...180)
            if lat.isNaN { throw loc.error("lat", "is required") }
            if lon.isNaN { throw loc.error("lon", "is required") }
            let crs = try loc.choice("crs", default: CoordinateSystem.wgs84)
            try loc.finish()
            let point = GeoPoint(lat: lat, lon: lon, crs: crs)
            let radius = try c.double("radius_m", default: defaultRadius, range: 1...10_000)
            try c.finish()
            if let zones {
                guard zones.zone(code: zone) != nil else {
                    throw c.error("zone", "unknown zone '\(zone)' (not in the zone file)")
                }
                let located = zones.locate(point.wgs84)
                if !located.chain.contains(zone) {
                    throw c.error("location", "the point \(lat), \(lon) (\(crs.rawValue)) is not in zone \(zone) (it falls in \(located.zone))")
                }
            }
            checkpoints.append(Checkpoint(id: id, name: name, zone: zone, location: point, radiusMetres: radius))
        }

        // Routes
        var routes: [Route] = []
        var slotsPerDay: [String: Int] = [:]
        var routeLine: [String: Int] = [:]
        for r in try root.mapList("routes") {
            let id = try r.requiredString("id")
            try checkID(id, r, "id")
            if let first = routeLine[id] { throw r.error("id", "duplicate route id '\(id)' (first on line \(first))") }
            routeLine[id] = r.error("id", "").line ?? 0
            let name = try r.string("name", default: id)
            let device = try r.requiredString("device")
            guard let record = registry.devices[device] else {
                throw r.error("device", "unknown device '\(device)' (not in the devices file, registry.devices)")
            }
            var worker = record.worker
            if let w = try r.string("worker"), !w.isEmpty {
                if !record.worker.isEmpty && w != record.worker {
                    throw r.error("worker", "worker '\(w)' does not carry device \(device) (devices file: \(record.worker))")
                }
                worker = w
            }
            if worker.isEmpty { throw r.error("worker", "is required (the devices file names no worker for \(device))") }

            var stops: [Stop] = []
            guard let cpNode = r.node("checkpoints") else { throw r.error("checkpoints", "is required (a list of checkpoint ids)") }
            guard case .sequence(let seq) = cpNode, !seq.isEmpty else { throw r.error("checkpoints", "expected a non-empty list", at: cpNode) }
            for (i, item) in seq.enumerated() {
                let key = "checkpoints[\(i)]"
                var stop: Stop
                switch item {
                case .scalar(let sc):
                    stop = Stop(checkpoint: sc.string)
                case .mapping(let mapping):
                    let m = ConfigMap(file: r.file, path: r.keyPath(key), mapping: mapping, mark: item.mark)
                    stop = Stop(checkpoint: try m.requiredString("id"), offsetMinutes: try m.int("offset_minutes", default: 0, range: 0...1440))
                    try m.finish()
                default:
                    throw r.error(key, "expected a checkpoint id or {id, offset_minutes}", at: item)
                }
                guard cpLine[stop.checkpoint] != nil else {
                    throw r.error(key, "unknown checkpoint '\(stop.checkpoint)' (not under checkpoints:)", at: item)
                }
                if stops.contains(where: { $0.checkpoint == stop.checkpoint && $0.offsetMinutes == stop.offsetMinutes }) {
                    throw r.error(key, "checkpoint '\(stop.checkpoint)' is listed twice at the same offset", at: item)
                }
                stops.append(stop)
            }

            let schedule = try parseSchedule(try r.map("schedule"), parent: r)
            let early = try r.int("early_minutes", default: defaultEarly, range: 0...720)
            let grace = try r.int("grace_minutes", default: defaultGrace, range: 0...720)
            let window = try r.int("window_minutes", default: defaultWindow, range: 1...1440)
            if window < grace {
                throw r.error(r.contains("window_minutes") ? "window_minutes" : "grace_minutes",
                              "window_minutes (\(window)) must be at least grace_minutes (\(grace)): a late check-in comes after the grace")
            }
            try r.finish()
            let route = Route(id: id, name: name, device: device, worker: worker, unit: record.unit.isEmpty ? nil : record.unit,
                              stops: stops, schedule: schedule, earlyMinutes: early, graceMinutes: grace, windowMinutes: window)
            routes.append(route)
            // Each route is checked against the device's earlier ones below, over eight days of
            // slots: bounded per device, a plan cannot make start-up take minutes and gigabytes.
            slotsPerDay[device, default: 0] += stops.count * route.schedule.roundStarts.count
            if let n = slotsPerDay[device], n > Self.maxSlotsPerDevicePerDay {
                throw r.error("schedule", "device \(device)'s routes make \(n) check-in slots a day; at most \(Self.maxSlotsPerDevicePerDay) per device "
                              + "(a check-in every 5 minutes for 24 hours at 7 checkpoints): fewer rounds or checkpoints")
            }

            // Windows of one device at one checkpoint must not overlap (this route and the
            // device's earlier ones), or a check-in could count for two slots. Checked
            // over a week of every day, the worst case of any `days:`.
            let plan = PatrolPlan(checkpoints: checkpoints, routes: routes.filter { $0.device == device }, timeZone: timeZone)
            if let clash = plan.firstOverlap() {
                let key = r.contains("window_minutes") ? "window_minutes" : "schedule"
                throw r.error(key, "slot windows overlap at checkpoint \(clash.0.checkpoint): \(clash.0.id) (until \(clash.0.closes.rfc3339)) and \(clash.1.id) (from \(clash.1.opens.rfc3339)); "
                              + "space the rounds further apart or shorten early_minutes/window_minutes")
            }
        }
        try root.finish()
        return PatrolPlan(checkpoints: checkpoints, routes: routes, timeZone: timeZone, effectiveFrom: effectiveFrom,
                          scheduler: scheduler, file: root.file)
    }

    /// The most check-in slots one device's routes may make in a day.
    static let maxSlotsPerDevicePerDay = 2_016

    /// The first two slots of one device at one checkpoint whose windows overlap, over two weeks.
    func firstOverlap() -> (PatrolSlot, PatrolSlot)? {
        var everyDay = self
        everyDay.routes = routes.map { var r = $0; r.schedule.days = Set(Weekday.allCases); return r }
        let monday = LocalDay(year: 2024, month: 1, day: 1)
        var byKey: [String: [PatrolSlot]] = [:]
        for d in 0..<8 {
            for s in everyDay.slots(on: monday.adding(days: d)) { byKey["\(s.device)|\(s.checkpoint)", default: []].append(s) }
        }
        for key in byKey.keys.sorted() {
            let list = byKey[key]!.sorted { $0.opens < $1.opens }
            for (a, b) in zip(list, list.dropFirst()) where b.opens < a.closes { return (a, b) }
        }
        return nil
    }

    static func parseSchedule(_ s: ConfigMap, parent: ConfigMap) throws(HubError) -> Schedule {
        guard parent.contains("schedule") else { throw parent.error("schedule", "is required (every_minutes with from/to, or times)") }
        let hasEvery = s.contains("every_minutes"), hasTimes = s.contains("times")
        if hasEvery == hasTimes {
            throw parent.error("schedule", "give either every_minutes (with from and to) or times, not \(hasEvery ? "both" : "neither")")
        }
        let kind: Schedule.Kind
        if hasEvery {
            let every = try s.int("every_minutes", default: 60, range: 5...1440)
            let from = try timeOfDay(s, "from", required: true)!
            let to = try timeOfDay(s, "to", required: true)!
            if to < from { throw s.error("to", "must not be before from (a round belongs to the day it starts on)") }
            kind = .interval(minutes: every, from: from, to: to)
        } else {
            guard let node = s.node("times"), case .sequence(let seq) = node, !seq.isEmpty else {
                throw s.error("times", "expected a non-empty list of times of day such as \"09:00\"")
            }
            var times: [Int] = []
            for (i, item) in seq.enumerated() {
                guard case .scalar(let sc) = item, let m = minutes(sc.string) else {
                    throw s.error("times[\(i)]", "expected a time of day HH:MM (00:00–23:59), found '\(item.string ?? "?")'", at: item)
                }
                if times.contains(m) { throw s.error("times[\(i)]", "\(sc.string) is listed twice", at: item) }
                times.append(m)
            }
            kind = .times(times)
        }
        var days = Set(Weekday.allCases)
        if let node = s.node("days") {
            guard case .sequence(let seq) = node, !seq.isEmpty else { throw s.error("days", "expected a non-empty list such as [mon, tue, wed, thu, fri]", at: node) }
            days = []
            for (i, item) in seq.enumerated() {
                guard case .scalar(let sc) = item, let w = Weekday(rawValue: sc.string.lowercased().prefix(3).description),
                      ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].contains(sc.string.lowercased())
                else {
                    throw s.error("days[\(i)]", "expected a day (mon, tue, wed, thu, fri, sat, sun), found '\(item.string ?? "?")'", at: item)
                }
                days.insert(w)
            }
        }
        try s.finish()
        return Schedule(kind: kind, days: days)
    }

    static func timeOfDay(_ m: ConfigMap, _ key: String, required: Bool) throws(HubError) -> Int? {
        guard let text = try m.string(key) else {
            if required { throw m.error(key, "is required (a time of day HH:MM)") }
            return nil
        }
        guard let v = minutes(text) else { throw m.error(key, "expected a time of day HH:MM (00:00–23:59), found '\(text)'") }
        return v
    }

    /// `HH:MM` → minutes after midnight.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    static func checkID(_ id: String, _ m: ConfigMap, _ key: String) throws(HubError) {
        let ok = id.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" || $0 == "." }
        if !ok || id.count > 64 { throw m.error(key, "'\(id)' must be 1–64 letters, digits, '-', '_' or '.'") }
    }
}
