import Alerts
import Foundation

/// Turns a scenario into the exact messages a run publishes (`SimulationPlan`).
///
/// Pure: no clock of its own, no I/O. The same scenario, world, seed and clock
/// give the same plan byte for byte; every random draw comes from a named
/// `SeededRandom` stream (one per camera, per incident, per fault), so
/// changing one part of a scenario does not reshuffle the others.
///
/// Steps, in order: check the scenario against the hub's registry → draft the
/// events (fleet status, background, incidents, outages, patrol rounds,
/// bursts, injected faults) → sort by send time → give each message its id and
/// bytes in the camera's format → reorder and duplicate (faults).
public struct SimulationPlanner: Sendable {
    /// The scenario to plan.
    public var scenario: Scenario
    /// The hub's cameras, devices and zones as the simulator sees them.
    public var world: SimulationWorld
    /// Where patrol rounds come from; nil: a scenario's `patrol` is an error.
    public var patrolPlan: (any PatrolRoundSource)?

    /// A planner of `scenario` in `world`.
    public init(scenario: Scenario, world: SimulationWorld, patrolPlan: (any PatrolRoundSource)? = nil) {
        self.scenario = scenario
        self.world = world
        self.patrolPlan = patrolPlan
    }

    /// Plans a run.
    /// - Parameters:
    ///   - seed: overrides the scenario's seed (`--seed`).
    ///   - clock: where the run lies in time; its `duration` may be shorter than the scenario's (`--duration`).
    public func plan(seed: UInt64? = nil, clock: SimulationClock) throws(HubError) -> SimulationPlan {
        try validate()
        let seed = seed ?? scenario.seed
        var b = Builder(scenario: scenario, world: world, seed: seed, clock: clock)
        b.fleet()
        b.background()
        b.incidents()
        b.outages()
        if let rounds = scenario.patrol {
            guard let patrolPlan else {
                throw HubError.config(file: scenario.file, line: rounds.line, key: "patrol", message: "the hub's config has no patrol plan (registry.patrol, or patrol.yaml beside it), so there are no rounds to walk")
            }
            try b.patrol(rounds, plan: patrolPlan)
        }
        b.bursts()
        b.clockSkew()
        b.malformed()
        return b.finish()
    }

    // MARK: - Checks against the registry

    func validate() throws(HubError) {
        let s = scenario
        func err(_ line: Int, _ key: String, _ message: String) -> HubError {
            HubError.config(file: s.file, line: line, key: key, message: message)
        }
        let cameraIDs = Set(world.cameras.map(\.id))
        let deviceIDs = Set(world.devices.map(\.id))
        func requireCamera(_ id: String, _ line: Int, _ key: String) throws(HubError) {
            guard cameraIDs.contains(id) else { throw err(line, key, "camera '\(id)' is not in the hub's registry (registry.cameras)") }
        }
        func requireDevice(_ id: String, _ line: Int, _ key: String) throws(HubError) {
            guard deviceIDs.contains(id) else { throw err(line, key, "device '\(id)' is not in the hub's registry (registry.devices)") }
        }
        for (camera, _) in s.formats.cameras.sorted(by: { $0.key < $1.key }) {
            try requireCamera(camera, s.formats.lines[camera] ?? 0, "formats.\(camera)")
        }
        if let bg = s.background {
            for c in bg.cameras ?? [] { try requireCamera(c, bg.line, "background.cameras") }
            for c in bg.cameras ?? world.cameras.map(\.id) {
                let format = s.formats.format(of: c)
                if !bg.categories.contains(where: { $0.weight > 0 && format.canExpress($0.category) }) {
                    throw err(bg.line, "background.categories", "camera \(c) publishes \(format.rawValue), which can carry none of \(bg.categories.map(\.category.rawValue).joined(separator: ", ")) (it can: \(format.categories.map(\.rawValue).joined(separator: ", "))); add one, or list background.cameras without it")
                }
            }
        }
        for (i, o) in s.outages.enumerated() { try requireCamera(o.camera, o.line, "outages[\(i)].camera") }
        for step in s.steps {
            switch step.what {
            case .detection(let camera, let category, _):
                try requireCamera(camera, step.line, "\(step.path).camera")
                let format = s.formats.format(of: camera)
                if !format.canExpress(category) {
                    throw err(step.line, "\(step.path).type", "camera \(camera) publishes \(format.rawValue), which cannot carry \(category.rawValue) (it can: \(format.categories.map(\.rawValue).joined(separator: ", ")))")
                }
            case .status(let camera, _):
                try requireCamera(camera, step.line, "\(step.path).camera")
            case .report(let device, _, _, _, _), .sos(let device, _), .checkin(let device, _):
                try requireDevice(device, step.line, "\(step.path).device")
            }
        }
        for (i, burst) in s.faults.bursts.enumerated() {
            try requireCamera(burst.camera, burst.line, "faults.bursts[\(i)].camera")
            let format = s.formats.format(of: burst.camera)
            if !format.canExpress(burst.category) {
                throw err(burst.line, "faults.bursts[\(i)].type", "camera \(burst.camera) publishes \(format.rawValue), which cannot carry \(burst.category.rawValue)")
            }
        }
        for (i, e) in s.expectations.enumerated() {
            if let zone = e.zone, !world.zoneCodes.contains(zone) {
                throw err(e.line, "expect[\(i)].zone", "zone '\(zone)' is not a zone the hub knows (registry.zones)")
            }
            if let source = e.source, !cameraIDs.contains(source), !deviceIDs.contains(source) {
                throw err(e.line, "expect[\(i)].source", "'\(source)' is neither a registered camera nor a device")
            }
        }
        for (i, si) in s.silences.enumerated() {
            if let zone = si.zone, !world.zoneCodes.contains(zone) {
                throw err(si.line, "silences[\(i)].zone", "zone '\(zone)' is not a zone the hub knows (registry.zones)")
            }
        }
    }

    // MARK: - Drafting

    /// An event before it has bytes: sorted first, then encoded with its id.
    struct Draft {
        enum Phase { case single, start, end }
        enum Body {
            case detection(camera: String, category: Category, format: InputFormat, count: Int?, confidence: Double,
                           location: GeoPoint?, phase: Phase, objectID: String, start: TimeInterval, end: TimeInterval)
            case status(camera: String, status: CameraStatus)
            case report(device: String, category: Category, description: String?, parties: [String], amountCNY: Double?, location: GeoPoint?)
            case sos(device: String, kind: String, location: GeoPoint?)
            case checkin(device: String, checkpoint: String, method: String, location: GeoPoint?)
            case raw(topic: String, payload: [UInt8])
        }
        var offset: TimeInterval
        var eventOffset: TimeInterval
        /// An absolute event time instead of `eventOffset` (clock-skew faults).
        var absoluteTime: Date?
        var seq: Int
        var origin: PlannedMessage.Origin
        var body: Body
        var retain = false
        var labels: [String] = []
        var expectedDeadLetter: String?

        /// Messages of one Frigate/ONVIF object share it (never swapped with each other).
        var objectKey: String? {
            if case .detection(let camera, _, let format, _, _, _, let phase, let objectID, _, _) = body, phase != .single {
                return "\(format.rawValue):\(camera):\(objectID)"
            }
            return nil
        }
    }

    struct Builder {
        let scenario: Scenario
        let world: SimulationWorld
        let seed: UInt64
        let clock: SimulationClock
        let encoder: PayloadEncoder
        var drafts: [Draft] = []
        var controls: [(PlannedControl, Int)] = []
        var controlTriggers: [String: TimeInterval] = [:]
        var skipped: [String] = []
        var warnings: [String] = []
        var seq = 0
        /// Local time of day (seconds) at scenario second 0, for the rhythm.
        let dayStart: TimeInterval
        let duration: TimeInterval

        init(scenario: Scenario, world: SimulationWorld, seed: UInt64, clock: SimulationClock) {
            self.scenario = scenario
            self.world = world
            self.seed = seed
            self.clock = clock
            self.duration = min(clock.duration, scenario.duration)
            encoder = PayloadEncoder(topicPrefix: world.topicPrefix, frigateTopic: world.frigateTopic, timeZone: world.timeZone, drill: scenario.drill)
            if let d = scenario.dayStartsAt {
                dayStart = d
            } else {
                let s = clock.scenarioStart
                let local = s.timeIntervalSince1970 + Double(world.timeZone.secondsFromGMT(for: s))
                dayStart = local.truncatingRemainder(dividingBy: 86_400) + (local < 0 ? 86_400 : 0)
            }
        }

        func rng(_ stream: String) -> SeededRandom { SeededRandom(seed: seed, stream: stream) }

        mutating func add(_ offset: TimeInterval, eventOffset: TimeInterval? = nil, origin: PlannedMessage.Origin, _ body: Draft.Body,
                          retain: Bool = false, labels: [String] = [], deadLetter: String? = nil, absoluteTime: Date? = nil) {
            guard offset <= duration else { return }
            drafts.append(Draft(offset: offset, eventOffset: eventOffset ?? offset, absoluteTime: absoluteTime, seq: seq, origin: origin,
                                body: body, retain: retain, labels: labels, expectedDeadLetter: deadLetter))
            seq += 1
        }

        /// A detection in the camera's format: one message, or a start and an end for lifecycle formats.
        mutating func detection(at t: TimeInterval, camera: String, category: Category, count: Int?, confidence: Double,
                                location: GeoPoint?, dwell: TimeInterval, objectID: String, origin: PlannedMessage.Origin, labels: [String] = []) {
            let format = scenario.formats.format(of: camera)
            let lifecycle: Bool
            switch format {
            case .native, .gb28181: lifecycle = false
            case .frigate: lifecycle = true
            case .onvif: lifecycle = ONVIFTopics.topic(for: category)?.stateItem != nil
            }
            let end = t + dwell
            add(t, origin: origin, .detection(camera: camera, category: category, format: format, count: count, confidence: confidence,
                                              location: location, phase: lifecycle ? .start : .single, objectID: objectID, start: t, end: end),
                labels: labels)
            if lifecycle {
                add(end, origin: origin, .detection(camera: camera, category: category, format: format, count: count, confidence: confidence,
                                                    location: location, phase: .end, objectID: objectID, start: t, end: end))
            }
        }

        /// Cameras the scenario involves.
        var involvedCameras: [String] {
            var set = Set<String>()
            if let bg = scenario.background { set.formUnion(bg.cameras ?? world.cameras.map(\.id)) }
            for step in scenario.steps {
                if case .detection(let c, _, _) = step.what { set.insert(c) }
                if case .status(let c, _) = step.what { set.insert(c) }
            }
            for o in scenario.outages { set.insert(o.camera) }
            for b in scenario.faults.bursts { set.insert(b.camera) }
            return set.sorted()
        }

        /// Every involved camera comes online at the start (retained), so a
        /// status left behind by an earlier run does not mute this one.
        mutating func fleet() {
            for camera in involvedCameras {
                add(0, origin: .fleet, .status(camera: camera, status: .online), retain: true)
            }
        }

        mutating func background() {
            guard let bg = scenario.background, bg.ratePerHour > 0 else { return }
            let peak = bg.rhythm.max() ?? 1
            guard peak > 0 else { return }
            let meanGap = 3600 / (bg.ratePerHour * peak)
            for camera in (bg.cameras ?? world.cameras.map(\.id)).sorted() {
                let format = scenario.formats.format(of: camera)
                let allowed = bg.categories.filter { format.canExpress($0.category) }
                var r = rng("background/\(camera)")
                var t = 0.0
                while true {
                    t += r.exponential(mean: meanGap)
                    if t >= duration { break }
                    let hour = Int(((dayStart + t).truncatingRemainder(dividingBy: 86_400)) / 3600) % 24
                    let accept = r.unit() < bg.rhythm[hour] / peak
                    let category = allowed[r.weightedIndex(allowed.map(\.weight))].category
                    let confidence = r.double(in: 0.55...0.98)
                    let count = category == .crowdGathering ? r.int(in: 8...40) : nil
                    let dwell = r.double(in: 20...150)
                    let objectID = r.hex(6)
                    let when = (t * 1000).rounded(.down) / 1000
                    if accept {
                        detection(at: when, camera: camera, category: category, count: count, confidence: confidence, location: nil,
                                  dwell: dwell, objectID: objectID, origin: .background)
                    }
                }
            }
        }

        mutating func incidents() {
            for incident in scenario.incidents {
                var r = rng("incident/\(incident.id)")
                for step in incident.steps {
                    for k in 0..<step.repeatCount {
                        let t = step.at + Double(k) * step.every
                        var labels: [String] = []
                        if let id = step.id {
                            labels.append("\(id)#\(k + 1)")
                            if k == 0 { labels.append(id) }
                        }
                        if t > duration {
                            skipped.append(labels.first { !$0.contains("#") } ?? "\(step.label)#\(k + 1)")
                            continue
                        }
                        switch step.what {
                        case .detection(let camera, let category, let count):
                            detection(at: t, camera: camera, category: category, count: count, confidence: 0.93, location: step.location,
                                      dwell: r.double(in: 60...240), objectID: r.hex(6), origin: .incident, labels: labels)
                        case .status(let camera, let status):
                            add(t, origin: .incident, .status(camera: camera, status: status), retain: true, labels: labels)
                        case .report(let device, let category, let description, let parties, let amount):
                            add(t, origin: .incident, .report(device: device, category: category, description: description, parties: parties,
                                                              amountCNY: amount, location: step.location), labels: labels)
                        case .sos(let device, let kind):
                            add(t, origin: .incident, .sos(device: device, kind: kind, location: step.location), labels: labels)
                        case .checkin(let device, let checkpoint):
                            add(t, origin: .incident, .checkin(device: device, checkpoint: checkpoint, method: "nfc", location: step.location), labels: labels)
                        }
                    }
                }
            }
        }

        mutating func outages() {
            for o in scenario.outages {
                guard o.at <= duration else { continue }
                switch o.via {
                case .status:
                    add(o.at, origin: .outage, .status(camera: o.camera, status: o.status), retain: true, labels: ["outage:\(o.camera)"])
                case .will:
                    let status = encoder.cameraStatus(camera: o.camera, status: o.status, time: clock.eventTime(o.at))
                    controls.append((.lastWill(offset: o.at, camera: o.camera, topic: status.topic, payload: status.payload, label: "outage:\(o.camera)"), controls.count))
                    controlTriggers["outage:\(o.camera)"] = o.at
                }
                if let d = o.duration {
                    add(o.at + d, origin: .outage, .status(camera: o.camera, status: .online), retain: true)
                }
            }
            for d in scenario.faults.disconnects where d.at <= duration {
                controls.append((.disconnect(offset: d.at, duration: d.duration), controls.count))
            }
        }

        mutating func patrol(_ rounds: Scenario.PatrolRounds, plan: any PatrolRoundSource) throws(HubError) {
            var r = rng("patrol")
            let visits = try plan.visits(routes: rounds.routes, from: clock.scenarioStart, duration: duration, file: scenario.file, line: rounds.line)
            for v in visits {
                let roll = r.unit()
                let lateBy = r.double(in: 0.3...0.9)
                let early = r.double(in: 0...0.5)
                let jitter = r.double(in: 0...1)
                let outcome: String
                if roll < rounds.missed {
                    outcome = "missed"
                } else if roll < rounds.missed + rounds.late {
                    outcome = "late"
                } else if roll < rounds.missed + rounds.late + rounds.outsideRadius {
                    outcome = "outside"
                } else {
                    outcome = "on_time"
                }
                if outcome == "missed" { continue }
                // On time: within the grace after the slot; late: after the grace, inside the slot window.
                let t: TimeInterval
                if outcome == "late" {
                    t = v.slot + v.grace + max(1, (v.window - v.grace) * lateBy)
                } else {
                    t = v.slot + v.grace * early
                }
                var location = v.location
                if outcome == "outside", let p = location {
                    // ~3 × the radius away, due north.
                    let meters = max(v.radius, 10) * 3 + 20 * jitter
                    location = GeoPoint(lat: p.lat + meters / 111_320, lon: p.lon, crs: p.crs)
                }
                add(t, origin: .patrol, .checkin(device: v.device, checkpoint: v.checkpoint, method: location == nil ? "nfc" : "gps", location: location),
                    labels: ["patrol:\(v.route):\(v.checkpoint)@\(Int(v.slot))"])
            }
        }

        mutating func bursts() {
            for (i, burst) in scenario.faults.bursts.enumerated() {
                var r = rng("burst/\(i)")
                let n = burst.messages
                for k in 0..<n {
                    let t = burst.at + burst.over * Double(k) / Double(max(n, 1))
                    detection(at: (t * 1000).rounded(.down) / 1000, camera: burst.camera, category: burst.category, count: nil,
                              confidence: r.double(in: 0.6...0.95), location: nil, dwell: r.double(in: 5...30), objectID: r.hex(6), origin: .burst)
                }
                if scenario.formats.format(of: burst.camera) == .gb28181 && burst.over < Double(n) {
                    warnings.append("faults.bursts[\(i)]: GB/T 28181 alarms of one type within one second share their key (AlarmTime has whole seconds), so the hub keeps one per second")
                }
            }
        }

        /// A camera whose clock runs `clockSkewAhead` fast. Beyond the hub's bound
        /// the stamp is taken from the wall clock at sending (refused as `clock_skew`,
        /// as it would be live); within it, from the event's scenario time (accepted,
        /// as it would be live, without pulling the hub's event-time watermark ahead
        /// of the scenario, which would make every later event late).
        mutating func clockSkew() {
            let f = scenario.faults
            guard f.clockSkewCount > 0 else { return }
            let cams = involvedCameras.isEmpty ? world.cameras.map(\.id) : involvedCameras
            guard !cams.isEmpty else { return }
            var r = rng("faults/clock_skew")
            let beyond = f.clockSkewAhead > world.maxClockSkew
            for k in 0..<f.clockSkewCount {
                let t = (duration * (Double(k) + r.unit()) / Double(f.clockSkewCount) * 1000).rounded(.down) / 1000
                let camera = cams[r.int(below: cams.count)]
                let stamp = (beyond ? clock.wallTime(t) : clock.eventTime(t)).addingTimeInterval(f.clockSkewAhead)
                add(t, origin: .clockSkew, .detection(camera: camera, category: .motion, format: .native, count: nil, confidence: 0.8,
                                                     location: nil, phase: .single, objectID: "", start: t, end: t),
                    deadLetter: beyond ? "clock_skew" : nil, absoluteTime: stamp)
            }
        }

        mutating func malformed() {
            let n = scenario.faults.malformed
            guard n > 0 else { return }
            let cams = world.cameras.map(\.id)
            guard !cams.isEmpty else { return }
            var r = rng("faults/malformed")
            for k in 0..<n {
                let t = (duration * (Double(k) + r.unit()) / Double(n) * 1000).rounded(.down) / 1000
                let camera = cams[r.int(below: cams.count)]
                let kind = MalformedKind.allCases[k % MalformedKind.allCases.count]
                let (topic, payload) = kind.message(encoder: encoder, camera: camera, time: clock.eventTime(t), n: k)
                add(t, origin: .malformed, .raw(topic: topic, payload: payload), deadLetter: kind.reason)
            }
        }

        mutating func finish() -> SimulationPlan {
            // Late events: sent `lateBy` after their event time (one-message events only,
            // so a lifecycle's end never overtakes its start).
            let f = scenario.faults
            if f.lateFraction > 0 {
                var r = rng("faults/late")
                for i in drafts.indices where drafts[i].origin == .background {
                    let pick = r.unit() < f.lateFraction
                    if pick, drafts[i].objectKey == nil, drafts[i].offset + f.lateBy <= duration {
                        drafts[i].offset += f.lateBy
                        drafts[i].origin = .late
                    }
                }
            }
            drafts.sort { ($0.offset, $0.seq) < ($1.offset, $1.seq) }

            // Out of order: a background message is held back until just after the next
            // one (never sent earlier than planned, so no event time runs ahead of the clock).
            if f.outOfOrder > 0 {
                var r = rng("faults/out_of_order")
                var i = 0
                while i + 1 < drafts.count {
                    let pick = r.unit() < f.outOfOrder
                    let a = drafts[i], b = drafts[i + 1]
                    if pick, a.origin == .background, b.origin == .background, a.objectKey == nil || a.objectKey != b.objectKey {
                        var held = a
                        held.offset = b.offset
                        drafts[i] = b
                        drafts[i + 1] = held
                        i += 2
                    } else {
                        i += 1
                    }
                }
            }

            let runTag = "s" + String(Int64(clock.scenarioStart.timeIntervalSince1970), radix: 36)
            var messages: [PlannedMessage] = []
            messages.reserveCapacity(drafts.count + Int(Double(drafts.count) * f.duplicates) + 8)
            var triggers: [String: Int] = [:]
            var dup = rng("faults/duplicates")
            for (n, d) in drafts.enumerated() {
                let (topic, payload) = encode(d, id: "\(runTag)-\(n + 1)", n: n + 1)
                for label in d.labels where triggers[label] == nil { triggers[label] = messages.count }
                messages.append(PlannedMessage(offset: d.offset, topic: topic, payload: payload, retain: d.retain, origin: d.origin,
                                               expectedDeadLetter: d.expectedDeadLetter))
                if f.duplicates > 0, !d.retain, dup.unit() < f.duplicates {
                    // The same bytes again: a device retrying, a QoS 1 redelivery. A duplicate of a
                    // dead letter is absorbed by the dead-letter key, so it expects none of its own.
                    messages.append(PlannedMessage(offset: d.offset, topic: topic, payload: payload, origin: .duplicate))
                }
            }
            let sortedControls = controls.sorted { ($0.0.offset, $0.1) < ($1.0.offset, $1.1) }.map(\.0)
            return SimulationPlan(scenario: scenario.name, seed: seed, clock: clock, messages: messages, controls: sortedControls,
                                  triggers: triggers, controlTriggers: controlTriggers, skippedSteps: skipped, warnings: warnings)
        }

        func encode(_ d: Draft, id: String, n: Int) -> (String, [UInt8]) {
            let time = d.absoluteTime ?? clock.eventTime(d.eventOffset)
            switch d.body {
            case .detection(let camera, let category, let format, let count, let confidence, let location, let phase, let objectID, let start, let end):
                switch format {
                case .native:
                    return encoder.cameraEvent(camera: camera, id: id, category: category, time: time, confidence: confidence, count: count, location: location)
                case .gb28181:
                    return encoder.gb28181(gateway: "sim-gw", camera: camera, sn: n, category: category, severity: category.defaultSeverity,
                                           time: time, description: category.chineseName)!
                case .frigate:
                    let startTime = clock.eventTime(start)
                    let frigateID = encoder.fixed(startTime.timeIntervalSince1970, 6) + "-" + objectID
                    if phase == .end {
                        let endTime = clock.eventTime(end)
                        return encoder.frigate(camera: camera, objectID: frigateID, category: category, type: "end", start: startTime,
                                               frame: endTime, end: endTime, score: confidence)!
                    }
                    return encoder.frigate(camera: camera, objectID: frigateID, category: category, type: "new", start: startTime,
                                           frame: startTime, end: nil, score: confidence)!
                case .onvif:
                    let rule = "sim-\(objectID)"
                    switch phase {
                    case .single: return encoder.onvif(camera: camera, category: category, rule: rule, time: time, state: nil)!
                    case .start: return encoder.onvif(camera: camera, category: category, rule: rule, time: time, state: true)!
                    case .end: return encoder.onvif(camera: camera, category: category, rule: rule, time: time, state: false)!
                    }
                }
            case .status(let camera, let status):
                return encoder.cameraStatus(camera: camera, status: status, time: time)
            case .report(let device, let category, let description, let parties, let amount, let location):
                return encoder.report(device: device, id: id, category: category, time: time, description: description, parties: parties,
                                      amountCNY: amount, location: location)
            case .sos(let device, let kind, let location):
                return encoder.sos(device: device, id: id, kind: kind, time: time, location: location)
            case .checkin(let device, let checkpoint, let method, let location):
                return encoder.checkin(device: device, id: id, checkpoint: checkpoint, time: time, method: method, location: location)
            case .raw(let topic, let payload):
                return (topic, payload)
            }
        }
    }
}

/// The broken payloads a fault storm sends, in turn, each with the dead-letter
/// reason the hub gives it (SPEC.md: bad input never stops ingestion).
public enum MalformedKind: String, Sendable, CaseIterable {
    case truncatedJSON = "truncated_json"
    case missingType = "missing_type"
    case wrongType = "wrong_type"
    case outOfRange = "out_of_range"
    case unknownCategory = "unknown_category"
    case unknownCamera = "unknown_camera"
    case brokenXML = "broken_xml"
    case frigateWithoutAfter = "frigate_without_after"
    case badStatus = "bad_status"
    case notJSON = "not_json"

    /// The dead-letter reason the hub records.
    public var reason: String {
        switch self {
        case .truncatedJSON, .brokenXML, .notJSON: return "malformed"
        case .missingType, .frigateWithoutAfter: return "missing_field"
        case .wrongType: return "wrong_type"
        case .outOfRange: return "out_of_range"
        case .unknownCategory, .badStatus: return "invalid_value"
        case .unknownCamera: return "unknown_source"
        }
    }

    func message(encoder e: PayloadEncoder, camera: String, time: Date, n: Int) -> (String, [UInt8]) {
        let p = e.topicPrefix
        let ts = time.rfc3339
        let id = "bad-\(Int64(time.timeIntervalSince1970))-\(n)"
        let text: (String, String)
        switch self {
        case .truncatedJSON: text = ("\(p)/camera/\(camera)/event", #"{"id":"\#(id)","type":"fight","time":"\#(ts)","conf"#)
        case .missingType: text = ("\(p)/camera/\(camera)/event", #"{"id":"\#(id)","time":"\#(ts)","confidence":0.9}"#)
        case .wrongType: text = ("\(p)/camera/\(camera)/event", #"{"id":"\#(id)","type":"loitering","time":"\#(ts)","confidence":"high"}"#)
        case .outOfRange: text = ("\(p)/camera/\(camera)/event", #"{"id":"\#(id)","type":"loitering","time":"\#(ts)","confidence":1.7}"#)
        case .unknownCategory: text = ("\(p)/camera/\(camera)/event", #"{"id":"\#(id)","type":"alien_landing","time":"\#(ts)"}"#)
        case .unknownCamera: text = ("\(p)/camera/cam-unregistered-\(n)/event", #"{"id":"\#(id)","type":"fight","time":"\#(ts)"}"#)
        case .brokenXML: text = ("\(p)/gb28181/sim-gw/alarm", "<?xml version=\"1.0\"?><Notify><CmdType>Alarm</CmdType><SN>\(n)</SN><DeviceID>\(camera)</DeviceID>")
        case .frigateWithoutAfter: text = (e.frigateTopic, #"{"type":"new","before":{"id":"\#(id)","camera":"\#(camera)","label":"person","start_time":1}}"#)
        case .badStatus: text = ("\(p)/camera/\(camera)/status", #"{"status":"on_fire","time":"\#(ts)"}"#)
        case .notJSON: text = ("\(p)/camera/\(camera)/event", "PING \(id)")
        }
        return (text.0, Array(text.1.utf8))
    }
}

/// One scheduled visit of a patrol route to a checkpoint, which the
/// simulator walks (on time, late, missed or outside the radius).
public struct PatrolVisit: Sendable, Hashable {
    /// The route's id.
    public var route: String
    /// The device that checks in.
    public var device: String
    /// The checkpoint's id.
    public var checkpoint: String
    /// Scenario seconds of the slot.
    public var slot: TimeInterval
    /// Seconds after the slot that still count as on time.
    public var grace: TimeInterval
    /// Seconds after the slot that a late check-in still counts for the slot.
    public var window: TimeInterval
    /// The checkpoint's location; nil: check-ins carry none.
    public var location: GeoPoint?
    /// The checkpoint's radius in metres: a visit outside it is placed beyond.
    public var radius: Double

    /// A visit with every field given.
    public init(route: String, device: String, checkpoint: String, slot: TimeInterval, grace: TimeInterval, window: TimeInterval,
                location: GeoPoint?, radius: Double) {
        self.route = route
        self.device = device
        self.checkpoint = checkpoint
        self.slot = slot
        self.grace = grace
        self.window = window
        self.location = location
        self.radius = radius
    }
}

/// Where patrol rounds come from: the hub's patrol plan (`config/patrol.yaml`).
public protocol PatrolRoundSource: Sendable {
    /// The visits due in `[from, from + duration)`, in scenario seconds from `from`.
    func visits(routes: [String]?, from: Date, duration: TimeInterval, file: String, line: Int) throws(HubError) -> [PatrolVisit]
}
