import Foundation

/// Decodes Frigate NVR tracked-object events (`frigate/events`).
///
/// Frigate publishes one `new`, many `update`s and one `end` per tracked object,
/// each with the object's state `before` and `after` the change. Every message
/// whose `after` state satisfies the rule carries the object's one detection
/// key, so an object updated 50 times yields one detection (the pipeline's
/// idempotency keys drop the repeats) and one end — and a hub that missed the
/// `new` (Frigate publishes at QoS 0; the hub may start mid-track) still raises
/// an object already in its zone from the next `update`:
///
/// - The object's label picks a `FrigateMapping.LabelRule`; labels without one
///   yield nothing (before the camera is resolved: an unregistered camera is
///   dead-lettered only when it reports something that matters).
/// - The rule *holds* for a state when the object is not a false positive, is in
///   the required zone (`entered_zones` ∪ `current_zones`; for a rule that requires
///   a stationary object, `current_zones`: where it is parked, not where it drove
///   through), is stationary if required, and scores at least `minScore`.
/// - A detection (key `…:new`) is emitted whenever the rule holds `after`,
///   whatever the message type. So a zone that only appears on a later `update`
///   (or on the `end`) still raises the detection, and an update of an object
///   already in its zone raises it for a hub that saw nothing of it before.
/// - `end` (or any message whose `after` has an `end_time`: the object has ended)
///   emits a `.end` event for objects whose rule's zone was entered, so the risk
///   item closes.
///
/// Keys: `frigate:{camera}:{id}:new` for the detection (whichever message
/// raised it: a re-raise in the same lifecycle is the same key and deduplicates)
/// and `frigate:{camera}:{id}:end`; lifecycle `frigate:{camera}:{id}`.
public struct FrigateAdapter: EventAdapter {
    /// Which labels in which zones become which categories.
    public var mapping: FrigateMapping
    /// Time zone and payload limit.
    public var options: AdapterOptions
    /// Maps a Frigate camera name to a registered camera id.
    public var resolver: SourceResolver

    /// An adapter with the default label rules unless given.
    public init(
        mapping: FrigateMapping = FrigateMapping(), options: AdapterOptions = AdapterOptions(),
        resolver: SourceResolver = .identity
    ) {
        self.mapping = mapping
        self.options = options
        self.resolver = resolver
    }

    /// Decodes one Frigate event message.
    ///
    /// - Throws: `unknown_topic` for another topic than `mapping.topic`; `malformed`,
    ///   `missing_field`, `wrong_type`, `invalid_value` (a `type` other than
    ///   new/update/end), `out_of_range` (a score outside 0…1); `unknown_source`
    ///   for a camera the resolver does not know.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        var unmapped: UnmappedInput?
        return try decode(topic: topic, payload: payload, receivedAt: receivedAt, unmapped: &unmapped)
    }

    /// `decode`, setting `unmapped` when no rule maps the object's label on its camera.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date, unmapped: inout UnmappedInput?) throws(HubError) -> [NormalizedEvent] {
        guard topic == mapping.topic else {
            throw HubError.decode(.unknownTopic, "\(topic) is not the Frigate events topic \(mapping.topic)")
        }
        try checkSize(payload, options)
        let fields = try PayloadFields(bytes: payload, selecting: Self.selection)
        let type = try fields.enumeration("type", MessageType.self)
        guard let type else { throw fields.missing("type") }
        guard let afterFields = try fields.object("after") else { throw fields.missing("after") }
        let after = try TrackedObject(afterFields)
        let before = try fields.object("before").map { (fields) throws(HubError) in try TrackedObject(fields) }
        // Not Frigate's: a simulator marks drill traffic with a top-level `drill` (docs/ADAPTERS.md).
        let drill = try fields.bool("drill") ?? false

        // A label without a rule is not a risk whoever sends it: checked before the
        // source, so an NVR's unregistered indoor cameras do not flood the dead letters.
        guard let rule = mapping.rule(label: after.label, camera: after.camera) else {
            // Counted for registered cameras only: names from anyone else could fill the bounded table for good.
            if resolver(after.camera) != nil { unmapped = UnmappedInput(format: "frigate", name: after.label, device: after.camera) }
            return []
        }
        guard let source = resolver(after.camera) else {
            throw HubError.decode(.unknownSource, "Frigate camera \"\(after.camera)\" is not registered")
        }

        // `before` is read (and must be well-formed) but does not decide: see the type's comment.
        _ = before
        let raised = holds(rule, after)
        var events: [NormalizedEvent] = []
        let base = "frigate:\(after.camera):\(after.id)"
        func event(_ kind: NormalizedEvent.Kind, _ suffix: String, _ time: Double) -> NormalizedEvent {
            NormalizedEvent(
                key: "\(base):\(suffix)", kind: kind, sourceKind: .camera, source: source, category: rule.category,
                severity: rule.severity, time: Date(timeIntervalSince1970: time),
                confidence: after.topScore ?? after.score, drill: drill, lifecycle: base, description: after.summary,
                format: "frigate")
        }
        if raised {
            events.append(event(.detection, "new", after.frameTime ?? after.startTime))
        }
        // An object with an `end_time` has ended whatever the message's type (an `update` Frigate
        // publishes after the `end`, e.g. a sub label set later): its end, so an item raised from it closes.
        if type == .end || after.endTime != nil, !after.falsePositive, inZone(rule, after) {
            events.append(event(.end, "end", after.endTime ?? after.frameTime ?? receivedAt.timeIntervalSince1970))
        }
        return events
    }

    /// Whether the rule fires for this state of the object.
    ///
    /// A rule that requires a stationary object (a parked car) asks where the object
    /// is now (`current_zones`), not where it has been: `entered_zones` keeps every
    /// zone the object ever crossed, so a car that drove through `no_parking` and
    /// parked outside it would otherwise be illegally parked.
    private func holds(_ rule: FrigateMapping.LabelRule, _ object: TrackedObject) -> Bool {
        guard !object.falsePositive else { return false }
        if rule.requiresStationary {
            if object.stationary == false { return false }
            guard inZone(rule, object.currentZones.map(Set.init) ?? object.zones) else { return false }
        } else {
            guard inZone(rule, object) else { return false }
        }
        if let minScore = rule.minScore, (object.topScore ?? object.score ?? 0) < minScore { return false }
        return true
    }

    private func inZone(_ rule: FrigateMapping.LabelRule, _ object: TrackedObject) -> Bool {
        inZone(rule, object.zones)
    }

    private func inZone(_ rule: FrigateMapping.LabelRule, _ zones: Set<String>) -> Bool {
        switch rule.zones {
        case .none: return true
        case .anyZone: return !zones.isEmpty
        case .named(let names): return !zones.isDisjoint(with: names)
        }
    }

    private enum MessageType: String, CaseIterable {
        case new, update, end
    }

    /// What the adapter reads of a message: boxes, regions, snapshots and the
    /// like are checked but not built (they are most of a Frigate payload).
    static let selection = JSONSelection.members([
        .init("type"), .init("drill"), .init("before", TrackedObject.selection), .init("after", TrackedObject.selection),
    ])

    /// The fields of Frigate's `before`/`after` object that matter here.
    private struct TrackedObject {
        static let selection = JSONSelection.fields([
            "id", "camera", "label", "sub_label", "score", "top_score", "false_positive", "start_time", "end_time", "frame_time",
            "entered_zones", "current_zones", "stationary",
        ])

        var id: String
        var camera: String
        var label: String
        var subLabel: String?
        var score: Double?
        var topScore: Double?
        var falsePositive: Bool
        var startTime: Double
        var endTime: Double?
        var frameTime: Double?
        /// `entered_zones` ∪ `current_zones`: every zone the object has been in.
        var zones: Set<String>
        var enteredZones: [String]
        /// `current_zones`, where the object is now; nil when the message has none.
        var currentZones: [String]?
        var stationary: Bool?

        init(_ fields: PayloadFields) throws(HubError) {
            id = try fields.requiredString("id")
            camera = try fields.requiredString("camera")
            label = try fields.requiredString("label")
            subLabel = try Self.subLabel(fields.present("sub_label")).map { (text) throws(HubError) in
                try DecodeText.checked(text, field: fields.name("sub_label"))
            }
            score = try fields.double("score", range: 0...1)
            topScore = try fields.double("top_score", range: 0...1)
            falsePositive = try fields.bool("false_positive") ?? false
            guard let start = try fields.double("start_time") else { throw fields.missing("start_time") }
            startTime = start
            endTime = try fields.double("end_time")
            frameTime = try fields.double("frame_time")
            enteredZones = try fields.stringArray("entered_zones") ?? []
            currentZones = try fields.stringArray("current_zones")
            zones = Set(enteredZones).union(currentZones ?? [])
            stationary = try fields.bool("stationary")
        }

        /// `label (sub label) in zone, zone`.
        var summary: String {
            var text = label
            if let subLabel { text += " (\(subLabel))" }
            if !zones.isEmpty { text += " in " + zones.sorted().joined(separator: ", ") }
            return text
        }

        /// Frigate sends `sub_label` as null, a string, or (0.13+) `[name, score]`.
        private static func subLabel(_ value: JSONValue?) -> String? {
            switch value {
            case .string(let name)?: return name.isEmpty ? nil : name
            case .array(let items)?:
                if case .string(let name)? = items.first, !name.isEmpty { return name }
                return nil
            default: return nil
            }
        }
    }
}
