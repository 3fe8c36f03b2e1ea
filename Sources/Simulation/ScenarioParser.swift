import Alerts
import Foundation

/// Reads scenario files (`simulators/*.yaml`). Every error names the file,
/// the line and the key path (`incidents[0].steps[2].camera`), and unknown
/// keys are refused, like the hub's own config. What the file says is checked
/// here; whether the cameras, devices and zones it names exist is checked
/// against the hub's registry by `SimulationPlanner`.
public enum ScenarioParser {
    /// Reads and parses a scenario file.
    public static func load(file: String) throws(HubError) -> Scenario {
        try parse(ConfigMap.load(file: file), file: file)
    }

    /// Parses scenario YAML text (tests use this with inline YAML).
    public static func parse(yaml: String, file: String) throws(HubError) -> Scenario {
        try parse(ConfigMap.parse(yaml: yaml, file: file), file: file)
    }

    static func parse(_ root: ConfigMap, file: String) throws(HubError) -> Scenario {
        let name = try root.requiredString("name")
        let description = try root.string("description", default: "")
        guard let duration = try durationValue(root, "duration") else { throw root.error("duration", "is required (e.g. 30m, 2h, 1d)") }
        guard duration > 0, duration <= 31 * 86_400 else { throw root.error("duration", "must be more than 0 and at most 31d") }
        var s = Scenario(file: file, name: name, description: description, duration: duration)
        if let seedText = try root.string("seed") {
            guard let seed = UInt64(seedText) else { throw root.error("seed", "expected a whole number ≥ 0, found '\(seedText)'") }
            s.seed = seed
        }
        s.speed = try root.double("speed", default: s.speed, range: 0.01...1_000_000)
        if let text = try root.string("day_starts_at") {
            guard let t = timeOfDay(text) else { throw root.error("day_starts_at", "expected a local time of day such as \"07:30\", found '\(text)'") }
            s.dayStartsAt = t
        }
        s.drill = try root.bool("drill", default: true)
        s.formats = try formats(root.map("formats"))
        s.background = try background(root)
        s.outages = try outages(root)
        s.incidents = try incidents(root, duration: duration)
        s.patrol = try patrol(root)
        s.faults = try faults(root)
        s.silences = try silences(root)
        s.expectations = try expectations(root)
        try root.finish()
        try crossCheck(s, root)
        return s
    }

    // MARK: - Sections

    static func formats(_ m: ConfigMap) throws(HubError) -> Scenario.Formats {
        var f = Scenario.Formats()
        for key in m.keys {
            guard let text = try m.string(key), let format = InputFormat(rawValue: text) else {
                throw m.error(key, "must be one of \(InputFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if key == "default" {
                f.defaultFormat = format
            } else {
                f.cameras[key] = format
                f.lines[key] = line(m, key)
            }
        }
        try m.finish()
        return f
    }

    static func background(_ root: ConfigMap) throws(HubError) -> Scenario.Background? {
        guard root.contains("background") else { return nil }
        let b = try root.map("background")
        var cameras: [String]?
        if let n = b.node("cameras") {
            if case .scalar(let sc) = n {
                guard sc.string == "all" else { throw b.error("cameras", "expected 'all' or a list of camera ids") }
            } else {
                cameras = try b.stringList("cameras")
                if cameras?.isEmpty == true { throw b.error("cameras", "lists no camera") }
            }
        }
        guard let rateText = try b.string("rate") else { throw b.error("rate", "is required (detections per camera per hour, e.g. 4/h)") }
        guard let rate = ratePerHour(rateText) else { throw b.error("rate", "expected a rate such as 4/h, 0.5/min or 30/d, found '\(rateText)'") }
        let cats = try b.map("categories")
        var categories: [(category: Category, weight: Double)] = []
        for key in cats.keys {
            guard let c = Category(rawValue: key), c.family == .cameraAnalytics else {
                throw cats.error(key, "not a camera analytics category (\(Category.allCases.filter { $0.family == .cameraAnalytics }.map(\.rawValue).joined(separator: ", ")))")
            }
            categories.append((c, try cats.double(key, default: 1, range: 0...1_000_000)))
        }
        try cats.finish()
        if categories.isEmpty || categories.allSatisfy({ $0.weight == 0 }) {
            throw b.error("categories", "is required: category weights such as {loitering: 3, garbage: 1}")
        }
        var rhythm = Rhythm.flat
        var rhythmName = "flat"
        if let n = b.node("rhythm") {
            if case .scalar(let sc) = n {
                guard let r = Rhythm.named[sc.string] else {
                    throw b.error("rhythm", "must be one of \(Rhythm.named.keys.sorted().joined(separator: ", ")) or a list of 24 hourly factors")
                }
                rhythm = r
                rhythmName = sc.string
            } else {
                let values = try b.stringList("rhythm") ?? []
                let numbers = values.compactMap(Double.init)
                guard numbers.count == 24, values.count == 24, numbers.allSatisfy({ $0 >= 0 && $0.isFinite }), numbers.contains(where: { $0 > 0 }) else {
                    throw b.error("rhythm", "a custom rhythm lists 24 hourly factors ≥ 0 (00:00 to 23:00), not all zero")
                }
                rhythm = numbers
                rhythmName = "custom"
            }
        }
        let out = Scenario.Background(cameras: cameras, ratePerHour: rate, categories: categories, rhythm: rhythm, rhythmName: rhythmName, line: line(root, "background"))
        try b.finish()
        return out
    }

    static func outages(_ root: ConfigMap) throws(HubError) -> [Scenario.Outage] {
        var out: [Scenario.Outage] = []
        for m in try root.mapList("outages") {
            let camera = try m.requiredString("camera")
            guard let at = try durationValue(m, "at") else { throw m.error("at", "is required") }
            let duration = try durationValue(m, "for")
            let status = try m.choice("status", default: CameraStatus.offline)
            if status == .online { throw m.error("status", "an outage needs a status other than online") }
            if !status.isNative { throw m.error("status", "must be a status of the native status topic (\(CameraStatus.nativeCases.map(\.rawValue).joined(separator: ", ")))") }
            let via = try m.choice("via", default: Scenario.Outage.Via.status)
            out.append(Scenario.Outage(camera: camera, at: at, duration: duration, status: status, via: via, line: m.mark?.line ?? 0))
            try m.finish()
        }
        return out
    }

    static func incidents(_ root: ConfigMap, duration: TimeInterval) throws(HubError) -> [Scenario.Incident] {
        var out: [Scenario.Incident] = []
        for (i, m) in try root.mapList("incidents").enumerated() {
            let id = try m.requiredString("id")
            let description = try m.string("description", default: "")
            var steps: [Scenario.Step] = []
            let list = try m.mapList("steps")
            if list.isEmpty { throw m.error("steps", "an incident needs at least one step") }
            for (j, st) in list.enumerated() {
                steps.append(try step(st, incident: id, path: "incidents[\(i)].steps[\(j)]"))
            }
            out.append(Scenario.Incident(id: id, description: description, steps: steps, line: m.mark?.line ?? 0))
            try m.finish()
        }
        return out
    }

    static func step(_ m: ConfigMap, incident: String, path: String) throws(HubError) -> Scenario.Step {
        let id = try m.string("id")
        guard let at = try durationValue(m, "at") else { throw m.error("at", "is required (scenario time, e.g. 12m)") }
        let camera = try m.string("camera")
        let device = try m.string("device")
        let what: Scenario.Step.What
        if let camera {
            if device != nil { throw m.error("device", "a step is either a camera's or a device's, not both") }
            if let type = try m.string("type") {
                guard let c = Category(rawValue: type), c.family == .cameraAnalytics else {
                    throw m.error("type", "not a camera analytics category (\(Category.allCases.filter { $0.family == .cameraAnalytics }.map(\.rawValue).joined(separator: ", ")))")
                }
                let count = m.contains("count") ? try m.int("count", default: 0, range: 0...1_000_000) : nil
                what = .detection(camera: camera, category: c, count: count)
            } else if m.contains("status") {
                let status = try m.choice("status", default: CameraStatus.online)
                if !status.isNative { throw m.error("status", "must be a status of the native status topic (\(CameraStatus.nativeCases.map(\.rawValue).joined(separator: ", ")))") }
                what = .status(camera: camera, status: status)
            } else {
                throw m.error("type", "a camera step needs a type (a detection) or a status")
            }
        } else if let device {
            if let r = try m.string("report") {
                guard let c = Category(rawValue: r), c.family == .patrolReport else {
                    throw m.error("report", "not a patrol report category (\(Category.allCases.filter { $0.family == .patrolReport }.map(\.rawValue).joined(separator: ", ")))")
                }
                let parties = try m.stringList("parties") ?? []
                let amount = m.contains("amount_cny") ? try m.double("amount_cny", default: 0, range: 0...1e12) : nil
                what = .report(device: device, category: c, description: try m.string("description"), parties: parties, amountCNY: amount)
            } else if let kind = try m.string("sos") {
                guard ["sos", "fall", "duress"].contains(kind) else { throw m.error("sos", "must be sos, fall or duress, found '\(kind)'") }
                what = .sos(device: device, kind: kind)
            } else if let checkpoint = try m.string("checkin") {
                what = .checkin(device: device, checkpoint: checkpoint)
            } else {
                throw m.error("report", "a device step needs report: CATEGORY, sos: KIND or checkin: CHECKPOINT")
            }
        } else {
            throw m.error("camera", "a step needs a camera or a device")
        }
        var location: GeoPoint?
        if m.contains("location") {
            let l = try m.map("location")
            let lat = try l.double("lat", default: .nan, range: -90...90)
            let lon = try l.double("lon", default: .nan, range: -180...180)
            if lat.isNaN || lon.isNaN { throw l.error(lat.isNaN ? "lat" : "lon", "is required") }
            let crs = try l.choice("crs", default: CoordinateSystem.wgs84)
            try l.finish()
            location = GeoPoint(lat: lat, lon: lon, crs: crs)
        }
        let repeatCount = try m.int("repeat", default: 1, range: 1...100_000)
        let every = try durationValue(m, "every") ?? 60
        if repeatCount > 1 && every <= 0 { throw m.error("every", "must be more than 0 when a step repeats") }
        let step = Scenario.Step(id: id, incident: incident, at: at, what: what, location: location, repeatCount: repeatCount,
                                 every: every, line: m.mark?.line ?? 0, path: path)
        try m.finish()
        return step
    }

    static func patrol(_ root: ConfigMap) throws(HubError) -> Scenario.PatrolRounds? {
        guard root.contains("patrol") else { return nil }
        let p = try root.map("patrol")
        var routes: [String]?
        if let n = p.node("routes") {
            if case .scalar(let sc) = n {
                guard sc.string == "all" else { throw p.error("routes", "expected 'all' or a list of route ids") }
            } else {
                routes = try p.stringList("routes")
            }
        }
        let r = Scenario.PatrolRounds(
            routes: routes, late: try p.double("late", default: 0, range: 0...1), missed: try p.double("missed", default: 0, range: 0...1),
            outsideRadius: try p.double("outside_radius", default: 0, range: 0...1), line: line(root, "patrol"))
        if r.late + r.missed + r.outsideRadius > 1 { throw p.error("late", "late + missed + outside_radius must not exceed 1") }
        try p.finish()
        return r
    }

    static func faults(_ root: ConfigMap) throws(HubError) -> Scenario.Faults {
        var f = Scenario.Faults()
        guard root.contains("faults") else { return f }
        let m = try root.map("faults")
        f.line = line(root, "faults")
        f.duplicates = try m.double("duplicates", default: 0, range: 0...1)
        f.malformed = try m.int("malformed", default: 0, range: 0...1_000_000)
        f.outOfOrder = try m.double("out_of_order", default: 0, range: 0...1)
        if m.contains("late") {
            let l = try m.map("late")
            f.lateFraction = try l.double("fraction", default: 0.01, range: 0...1)
            f.lateBy = try durationValue(l, "by") ?? f.lateBy
            try l.finish()
        }
        if m.contains("clock_skew") {
            let c = try m.map("clock_skew")
            f.clockSkewCount = try c.int("count", default: 1, range: 0...1_000_000)
            f.clockSkewAhead = try durationValue(c, "ahead") ?? f.clockSkewAhead
            try c.finish()
        }
        for b in try m.mapList("bursts") {
            guard let at = try durationValue(b, "at") else { throw b.error("at", "is required") }
            let camera = try b.requiredString("camera")
            let messages = try b.int("messages", default: 100, range: 1...10_000_000)
            let over = try durationValue(b, "over") ?? 10
            let type = try b.string("type") ?? Category.motion.rawValue
            guard let c = Category(rawValue: type), c.family == .cameraAnalytics else { throw b.error("type", "not a camera analytics category") }
            f.bursts.append(Scenario.Burst(at: at, camera: camera, messages: messages, over: over, category: c, line: b.mark?.line ?? 0))
            try b.finish()
        }
        for d in try m.mapList("disconnects") {
            guard let at = try durationValue(d, "at") else { throw d.error("at", "is required") }
            let duration = try durationValue(d, "for") ?? 10
            f.disconnects.append(Scenario.Disconnect(at: at, duration: duration, line: d.mark?.line ?? 0))
            try d.finish()
        }
        try m.finish()
        return f
    }

    static func silences(_ root: ConfigMap) throws(HubError) -> [Scenario.SilenceSpec] {
        var out: [Scenario.SilenceSpec] = []
        for m in try root.mapList("silences") {
            let zone = try m.string("zone")
            let category = try m.string("category").map { (t: String) throws(HubError) -> Category in
                guard let c = Category(rawValue: t) else { throw m.error("category", "unknown category '\(t)'") }
                return c
            }
            let source = try m.string("source")
            if zone == nil && category == nil && source == nil { throw m.error("zone", "a silence needs at least one of zone, category, source") }
            let from = try durationValue(m, "from") ?? 0
            guard let to = try durationValue(m, "to") else { throw m.error("to", "is required (scenario time the silence ends)") }
            if to <= from { throw m.error("to", "must be after from") }
            let comment = try m.requiredString("comment")
            out.append(Scenario.SilenceSpec(zone: zone, category: category, source: source, from: from, to: to, comment: comment, line: m.mark?.line ?? 0))
            try m.finish()
        }
        return out
    }

    static func expectations(_ root: ConfigMap) throws(HubError) -> [DrillExpectation] {
        var out: [DrillExpectation] = []
        for m in try root.mapList("expect") {
            let kind = try m.choice("kind", default: DrillExpectation.Kind.case)
            if !m.contains("kind") { throw m.error("kind", "is required: \(DrillExpectation.Kind.allCases.map(\.rawValue).joined(separator: ", "))") }
            var e = DrillExpectation(kind: kind, line: m.mark?.line ?? 0)
            e.zone = try m.string("zone")
            if let t = try m.string("category") {
                guard let c = Category(rawValue: t) else { throw m.error("category", "unknown category '\(t)'") }
                e.category = c
            }
            if m.contains("severity") { e.severity = Severity(rawValue: try m.int("severity", default: 4, range: 1...4)) }
            if m.contains("count") { e.count = try m.int("count", default: 1, range: 0...1_000_000) }
            e.after = try m.string("after")
            e.within = try durationValue(m, "within")
            if e.within != nil && e.after == nil { throw m.error("within", "needs after: the step it is measured from") }
            if e.within == 0 { throw m.error("within", "must be more than 0") }
            if m.contains("during") {
                let parts = try m.stringList("during") ?? []
                guard parts.count == 2, let a = SimDuration.parse(parts[0]), let b = SimDuration.parse(parts[1]), b >= a else {
                    throw m.error("during", "expected [from, to] in scenario time, e.g. [0, 30m]")
                }
                e.during = a...b
                if e.after != nil { throw m.error("during", "give either after (a trigger) or during (a window), not both") }
            }
            if kind == .riskItem {
                e.source = try m.string("source")
                if m.contains("suppressed") { e.suppressed = try m.bool("suppressed", default: false) }
            }
            e.note = try m.string("note")
            try m.finish()
            out.append(e)
        }
        return out
    }

    /// Checks that need the whole file: unique step ids, triggers that exist, times inside the scenario.
    static func crossCheck(_ s: Scenario, _ root: ConfigMap) throws(HubError) {
        var ids: [String: Int] = [:]
        var labels = Set<String>()
        for o in s.outages { labels.insert("outage:\(o.camera)") }
        for step in s.steps {
            if step.at > s.duration {
                throw HubError.config(file: s.file, line: step.line, key: "\(step.path).at", message: "\(SimDuration.format(step.at)) is after the scenario's end (duration \(SimDuration.format(s.duration)))")
            }
            guard let id = step.id else { continue }
            if let first = ids[id] {
                throw HubError.config(file: s.file, line: step.line, key: "\(step.path).id", message: "duplicate step id '\(id)' (first on line \(first))")
            }
            ids[id] = step.line
            labels.insert(id)
            for k in 1...step.repeatCount { labels.insert("\(id)#\(k)") }
        }
        for (i, e) in s.expectations.enumerated() {
            if let after = e.after, !labels.contains(after) {
                throw HubError.config(file: s.file, line: e.line, key: "expect[\(i)].after", message: "no step or outage is called '\(after)' (name a step id, ID#N for its N-th repetition, or outage:CAMERA; steps: \(ids.keys.sorted().joined(separator: ", ")))")
            }
        }
    }

    // MARK: - Values

    static func line(_ m: ConfigMap, _ key: String) -> Int {
        guard let mapping = m.mapping else { return m.mark?.line ?? 0 }
        for (k, _) in mapping where k.string == key { return k.mark?.line ?? 0 }
        return m.mark?.line ?? 0
    }

    static func durationValue(_ m: ConfigMap, _ key: String) throws(HubError) -> TimeInterval? {
        guard let text = try m.string(key) else { return nil }
        guard let v = SimDuration.parse(text) else {
            throw m.error(key, "expected a duration such as 90s, 12m, 2h or 1h30m, found '\(text)'")
        }
        return v
    }

    /// `4/h`, `0.5/min`, `30/d`, `1/s` or a number (per hour) → per hour.
    public static func ratePerHour(_ text: String) -> Double? {
        let t = text.replacingOccurrences(of: " ", with: "")
        if let v = Double(t), v >= 0, v.isFinite { return v }
        let parts = t.split(separator: "/")
        guard parts.count == 2, let v = Double(parts[0]), v >= 0, v.isFinite else { return nil }
        switch parts[1] {
        case "s": return v * 3600
        case "min", "m": return v * 60
        case "h": return v
        case "d": return v / 24
        default: return nil
        }
    }

    /// `07:30` or `07:30:15` → seconds after midnight.
    public static func timeOfDay(_ text: String) -> TimeInterval? {
        let parts = text.split(separator: ":").map { Int($0) }
        guard (2...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else { return nil }
        let h = parts[0]!, m = parts[1]!, s = parts.count == 3 ? parts[2]! : 0
        guard (0..<24).contains(h), (0..<60).contains(m), (0..<60).contains(s) else { return nil }
        return TimeInterval(h * 3600 + m * 60 + s)
    }
}
