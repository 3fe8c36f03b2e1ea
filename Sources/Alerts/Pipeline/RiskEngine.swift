import Foundation

/// Where an event is placed: its zone and who answers for it.
public struct Placement: Sendable, Hashable {
    /// The grid zone code (`unzoned` when no zone contains the event).
    public var zone: String
    /// The unit responsible for the zone or device: slips are addressed to it.
    public var unit: String?
    /// The grid worker of the zone or device, when known.
    public var worker: String?
    /// The zone codes above `zone`, from the district down (for silences on a parent zone).
    public var parents: [String]
    /// Why the event's own location was not used (far from its camera, outside every zone: `Placer`); nil when it was, or it had none.
    public var locationMismatch: String?
    /// Metres between the event's location and its camera's registered location, when that distance was the reason.
    public var locationDistance: Double?

    /// A placement in `zone`, with the zones above it in `parents`.
    public init(zone: String, unit: String? = nil, worker: String? = nil, parents: [String] = []) {
        self.zone = zone
        self.unit = unit
        self.worker = worker
        self.parents = parents
    }

    /// Where an event no zone contains goes: items are kept, slips go to no unit.
    public static let unzoned = Placement(zone: "unzoned")
}

/// What the engine decided; the store applies these in the same transaction
/// that marks the input processed, so state and effects never diverge.
public enum EngineEffect: Sendable, Hashable {
    case item(RiskItem)
    /// A warning slip issued (`isNew`) or joined; `anchor` is the event time that opened its window.
    case slip(Slip, anchor: Date, isNew: Bool)
    case cameraStatus(camera: String, status: CameraStatus, at: Date, drill: Bool)
    /// An accepted event, linked to the item it folded into.
    case accepted(key: String, itemID: String, zone: String, category: Category, time: Date, counted: Bool)
    /// A case opened (`isNew`) or joined by new evidence; its evidence spans
    /// `evidenceFrom`…`evidenceAt` (event time), which bounds its window.
    case caseChanged(Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool)
    /// New evidence made a case a district matter: it moves to the district's
    /// unit (follows the case's `caseChanged`; the store records it unless the case has ended).
    case caseRerouted(CaseReroute)
}

/// The rules of SPEC.md "Outcomes" as a value-type state machine: events in,
/// effects out, no I/O and no clock of its own (event time drives windows;
/// `now` is passed in for the times documents are issued).
///
/// Stages, in order: place → dedup/lifecycle → mute (inhibition, silences)
/// → group into warning slips → correlate into cases (`CaseStage`).
///
/// Event time drives every window. The watermark is the newest event time
/// seen; an event older than the watermark minus `rules.lateness` is late:
/// it still becomes (or folds into) a risk item and may join a slip or case
/// whose window is open, but it opens no new slip or case.
///
/// Lifecycles (a Frigate tracked object, an ONVIF property) hold their risk
/// item open regardless of the dedup window until their `.end`: every
/// detection of the same source and category folds into it meanwhile, and the
/// item closes when the last lifecycle folded into it ends. An end for
/// lifecycle `L` also ends every lifecycle `L|…` (an ONVIF zero-byte delete
/// names the camera and topic only). Check-ins are recorded, never risks.
///
/// Drill and live never mix: the drill flag is part of every identity and
/// window — an item (source × category × drill), its lifecycles, a slip's
/// window (zone × category × drill), a camera's status for inhibition, and
/// correlation into cases (`CaseStage`).
///
/// Late, misplaced and receive-timed events are marked on their item: `late`
/// (with `lateReason`) while every event of it was late, `locationMismatch`
/// when the placement set an event's reported location aside (`Placer`), and
/// `timeSource = .received` when any event was timed by the hub's receive time.
///
/// Slips end. A warning slip closes (state `closed`, `closedAt`, `closeReason`)
/// when every item linked to it is over: closed (lifecycle end, camera back
/// `online`, replaced by a later item of the same source and category) for a
/// dedup window with no item joining it meanwhile (so a source that flaps keeps
/// one slip), or —
/// for items no end closes (one-shot detections, no live lifecycle, not camera
/// health) — quiet: the slip takes no more items (`repeatInterval` after its
/// anchor) and no event of them within the dedup window before the watermark.
/// A slip still firing after `repeatInterval` is closed as `repeated` by the new slip; one whose case is
/// closed is closed by the case action (`DisputeStore.act`) and dropped here
/// (`forgetClosedSlips`). A closed slip takes no more items, and the occurrences
/// it covered count no more: only later ones count towards a new slip.
public struct RiskEngine: Sendable {
    struct SourceCategory: Hashable { var source: String; var category: Category; var drill: Bool }
    struct ZoneCategory: Hashable { var zone: String; var category: Category; var drill: Bool }
    /// A lifecycle as its source names it, in the drill or the live world. The source is
    /// part of it: another source that sends the same name (a forged GB/T 28181 DeviceID,
    /// an ONVIF source value copied from another camera's) neither ends nor takes it over.
    struct Lifecycle: Hashable {
        var name: String
        var drill: Bool
        var source: String
        /// `L` for `L|…` (an ONVIF topic-level lifecycle over its per-source ones).
        var parent: Lifecycle? {
            name.firstIndex(of: "|").map { Lifecycle(name: String(name[..<$0]), drill: drill, source: source) }
        }
    }
    struct Occurrence: Hashable { var time: Date; var itemID: String }
    /// The rules' intervals that end a warning slip: the dedup window (how long after its
    /// last event an item, or an empty slip, goes quiet) and the repeat interval (how long a
    /// slip takes new items).
    struct SlipTiming {
        var dedupWindow: TimeInterval
        var repeatInterval: TimeInterval
    }

    struct ActiveSlip: Hashable {
        var slip: Slip
        var anchor: Date
        /// `slip.riskItemIDs` as a set: an hour-long slip links many items, and every event asks.
        var ids: Set<String>
        /// The linked items not closed yet (see "Slips end" on `RiskEngine`).
        var unclosed: [String: Member]
        /// The newest last event time of a linked item that has closed (nil: none has).
        /// A function of the stored items alone, so a restart restores it exactly.
        var closedLastSeen: Date?
        /// While no linked item is open: the newest time one of them closed (the anchor
        /// when none has). The slip closes (`items_closed`) once the dedup window has passed
        /// since, unless an item joins it meanwhile, so a source that flaps (enter/leave,
        /// true/false) keeps one slip.
        var emptySince: Date? { unclosed.isEmpty ? (closedLastSeen ?? anchor) : nil }
        init(slip: Slip, anchor: Date, unclosed: [String: Member] = [:], closedLastSeen: Date? = nil) {
            self.slip = slip
            self.anchor = anchor
            self.ids = Set(slip.riskItemIDs)
            self.unclosed = unclosed
            self.closedLastSeen = closedLastSeen
        }
        /// Takes a linked item's close: `lastSeen` is its last event time.
        mutating func closed(lastSeen: Date) {
            closedLastSeen = max(closedLastSeen ?? lastSeen, lastSeen)
        }

        // These read the slip where it is stored (`windows[w].active?.closeDue(...)`): a method
        // of the engine would take the whole engine and the slip as copies, for every event.

        /// The event time after which the slip is quiet, if no item joins it meanwhile; nil while an end holds one of its items.
        func quietAt(_ t: SlipTiming) -> Date? {
            if unclosed.isEmpty { return (emptySince ?? anchor).addingTimeInterval(t.dedupWindow) }
            var at = anchor.addingTimeInterval(t.repeatInterval)
            for m in unclosed.values {
                if m.held { return nil }
                at = max(at, m.lastSeen.addingTimeInterval(t.dedupWindow))
            }
            return at
        }

        /// Whether the slip takes no more items at `time` and every item still linked to it
        /// is one no end closes, with no event within the dedup window before `time`.
        func isQuiet(at time: Date, _ t: SlipTiming) -> Bool {
            quietAt(t).map { $0 < time } ?? false
        }

        /// Why the slip ends by `time`, if it does: its items closed a dedup window ago, or it went quiet.
        func closeDue(at time: Date, _ t: SlipTiming) -> Slip.CloseReason? {
            // With an item still linked, a slip is never quiet within its repeat interval
            // (`quietAt` is at least its end): no walk over its items for each event then.
            if !unclosed.isEmpty, time <= anchor.addingTimeInterval(t.repeatInterval) { return nil }
            guard isQuiet(at: time, t) else { return nil }
            return unclosed.isEmpty ? .itemsClosed : .itemsQuiet
        }
    }
    /// A linked item still open: its newest event time, and whether only an end
    /// closes it (a live lifecycle, a camera-health item) rather than quiet time.
    struct Member: Hashable {
        var lastSeen: Date
        var held: Bool
    }

    /// Thresholds, windows, inhibitions and case rules (`rules.yaml`).
    public var rules: RuleSet
    /// Places each event (registry, zones, reported location); injected so tests place by hand.
    public var place: @Sendable (NormalizedEvent) -> Placement

    var openItems: [SourceCategory: RiskItem] = [:]
    /// The last earlier episode seen after a later one of the same source and category had
    /// opened (its item is closed; see `handleDetection`), so its other buffered events fold into it.
    var earlierEpisodes: [SourceCategory: RiskItem] = [:]
    /// At most this many `earlierEpisodes` are remembered.
    static let maxEarlierEpisodes = 4096
    /// A camera's status stream (a drill's statuses are a stream of their own).
    struct StatusSource: Hashable, Sendable {
        var camera: String
        var drill: Bool
    }
    /// The event time of each camera's last applied status: an older one is not applied.
    var statusTimes: [StatusSource: Date] = [:]
    /// At most this many cameras' status times are kept (far more than a district's cameras).
    static let maxStatusTimes = 100_000
    /// Live lifecycle → the item it folded into.
    var lifecycles: [Lifecycle: SourceCategory] = [:]
    /// Item → its live lifecycles; while non-empty the item ignores the dedup window.
    var itemLifecycles: [SourceCategory: Set<Lifecycle>] = [:]
    /// `L` → the live lifecycles `L|…`, so a topic-level end finds them without a scan.
    var nestedLifecycles: [Lifecycle: Set<Lifecycle>] = [:]
    /// When each live lifecycle was registered (a counter): the cap forgets the oldest.
    var lifecycleSeq: [Lifecycle: Int] = [:]
    var nextLifecycleSeq = 0
    /// Per (zone, category): its recent occurrences and its active warning slip.
    struct GroupWindow {
        var occurrences: [Occurrence] = []
        var active: ActiveSlip?
        /// The newest occurrence a closed slip of this window covered: a new slip counts
        /// and links only later ones (the closed slip already answered for those).
        var countAfter: Date?
    }
    /// The windows sit in an array, found through `windowSlots` with one hash of the
    /// (zone, category) pair per event, and change in place (no copy, no rehash).
    var windowSlots: [ZoneCategory: Int] = [:]
    var windows: [GroupWindow] = []
    var cameraStatus: [String: CameraStatus] = [:]
    /// Camera status as drill events report it: it inhibits only drill analytics
    /// (it is not the camera's real status: the store keeps it apart, `cameras.drill_status`).
    var drillCameraStatus: [String: CameraStatus] = [:]
    /// The newest event time seen (detections and reports that are not late); the store keeps
    /// it with each batch's cursor, so a restart continues from it rather than from the newest
    /// logged event (statuses, ends and check-ins do not move it).
    public internal(set) var watermark: Date?
    /// The correlation stage.
    public var cases: CaseStage
    /// Silences in force or scheduled; the processor refreshes them every batch.
    public var silences: [Silence] = []
    /// Categories no silence mutes, whatever it matches (config `silences.never_silence`).
    public var neverSilence: Set<Category> = SilencePolicy().neverSilence
    /// The risk item ids' counter; stages that raise items outside the engine (patrol
    /// supervision's missed checkpoints) take theirs from it too, so ids never collide.
    public var itemIDs = ItemIDAllocator()
    var nextSlipSeq = 1
    /// The window slots whose active slip is open (the quiet check looks at these only).
    var openSlipSlots: Set<Int> = []
    /// The watermark at which the next open slip may have gone quiet (no scan before).
    var nextQuietCheck = Date.distantPast
    /// Items closed recently (event time of the close): a slip issued now does not count them as still open.
    var recentlyClosed: [String: Date] = [:]
    var recentlyClosedLimit = 4096
    static let maxRecentlyClosed = 65_536
    /// Late events handled so far by this engine (the processor adds the difference to the store's counter).
    public private(set) var lateEvents = 0
    /// The most open items the engine holds (`limits.max_open_items`); see `EngineMemory.swift`.
    public var maxOpenItems = RiskEngine.defaultMaxOpenItems
    /// The watermark at which the next sweep of state past its horizon runs (`sweep`); the store
    /// keeps it with each batch's cursor, so a restart sweeps when the running engine would have.
    public internal(set) var nextSweep = Date.distantPast
    /// Occurrences one group window keeps at most (`limits.max_window_occurrences`); see `trimWindows`.
    public var maxWindowOccurrences = RiskEngine.defaultMaxWindowOccurrences
    /// Events since the windows were last checked against `maxWindowOccurrences`.
    var eventsSinceTrim = 0

    /// An engine with empty memory; `restore(_:)` continues from what a store holds.
    public init(rules: RuleSet, timeZone: TimeZone = AdapterOptions.defaultTimeZone,
                place: @escaping @Sendable (NormalizedEvent) -> Placement) {
        self.rules = rules
        self.place = place
        self.cases = CaseStage(rules: rules.cases, timeZone: timeZone)
        self.cases.lateness = rules.lateness
    }

    // MARK: - Restoring state after a restart

    /// State the store hands back at start so windows continue across restarts.
    public struct Snapshot: Sendable {
        /// Items still open, which new events may join.
        public var openItems: [RiskItem] = []
        /// Counted events within the group window, to rebuild the windows.
        public var recentOccurrences: [(time: Date, itemID: String, zone: String, category: Category)] = []
        /// Slips that new occurrences may still join, each with the event time that opened its window.
        public var recentSlips: [(slip: Slip, anchor: Date)] = []
        /// Each camera's last reported status (analytics of an unhealthy camera are muted).
        public var cameraStatus: [String: CameraStatus] = [:]
        /// The event time of each camera's last applied status: an older one arriving after
        /// the restart is not applied (as before it).
        public var cameraStatusTimes: [String: Date] = [:]
        /// The drill's statuses of cameras (a drill's `offline` mutes only drill analytics), and their times.
        public var drillCameraStatus: [String: CameraStatus] = [:]
        /// The event time of each camera's last drill status.
        public var drillCameraStatusTimes: [String: Date] = [:]
        /// The highest item number issued, so ids continue.
        public var lastItemSeq = 0
        /// The highest slip number issued, so ids continue.
        public var lastSlipSeq = 0
        /// The engine's watermark as the last batch left it (`RiskEngine.watermark`): lateness is measured from it.
        public var watermark: Date?
        /// The engine's `nextSweep` as the last batch left it (nil: unknown, sweep at the next event).
        public var nextSweep: Date?
        /// Cases whose correlation window may still be open, with the span of their evidence.
        public var recentCases: [(value: Case, evidenceFrom: Date, evidenceAt: Date)] = []
        /// Recent unmuted evidence per zone, for correlation.
        public var recentEvidence: [(zone: String, evidence: CaseStage.Evidence)] = []
        /// The highest case number issued, so ids continue.
        public var lastCaseSeq = 0
        /// The drill items among those `recentOccurrences` and `recentSlips` name:
        /// their windows are the drill's.
        public var drillItemIDs: Set<String> = []
        /// The closed items among those `recentOccurrences` and `recentSlips` name, with
        /// their last event time (an end's time for an item an end closed): when a slip's
        /// items closed, as the running engine saw it.
        public var closedItemLastSeen: [String: Date] = [:]
        /// For open items, the newest item of the same source, category and world made after
        /// it: an earlier episode (made closed) that later buffered events of it fold into.
        public var earlierEpisodes: [RiskItem] = []
        /// An empty snapshot (a new store).
        public init() {}
    }

    /// Replaces the engine's memory with a snapshot, so windows, ids and the watermark continue across a restart.
    public mutating func restore(_ s: Snapshot) {
        openItems = [:]
        earlierEpisodes = [:]
        statusTimes = [:]
        lifecycles = [:]
        itemLifecycles = [:]
        nestedLifecycles = [:]
        lifecycleSeq = [:]
        for item in s.openItems.sorted(by: { $0.lastSeen < $1.lastSeen }) {
            let key = SourceCategory(source: item.source, category: item.category, drill: item.drill)
            // The stored lifecycle names the first one and, when they differ, the live ones (`storedForm`).
            var item = item
            var live: [Substring] = []
            if let stored = item.lifecycle {
                let parts = stored.split(separator: Self.liveLifecycleSeparator, omittingEmptySubsequences: false)
                item.lifecycle = String(parts[0])
                live = parts.count == 1 ? [parts[0]] : parts.dropFirst().filter { !$0.isEmpty }
            }
            openItems[key] = item
            itemLifecycles[key] = []
            for l in live { register(Lifecycle(name: String(l), drill: item.drill, source: item.source), key) }
        }
        for item in s.earlierEpisodes.prefix(Self.maxEarlierEpisodes - 1) {
            let key = SourceCategory(source: item.source, category: item.category, drill: item.drill)
            if openItems[key] != nil, item.state == .closed { earlierEpisodes[key] = item }
        }
        windowSlots = [:]
        windows = []
        for o in s.recentOccurrences.sorted(by: { $0.time < $1.time }) {
            let zc = ZoneCategory(zone: o.zone, category: o.category, drill: s.drillItemIDs.contains(o.itemID))
            windows[slot(zc)].occurrences.append(Occurrence(time: o.time, itemID: o.itemID))
        }
        openSlipSlots = []
        nextQuietCheck = .distantPast
        let open = Dictionary(s.openItems.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // A recent occurrence's item that is not open has closed.
        recentlyClosed = [:]
        for o in s.recentOccurrences where open[o.itemID] == nil {
            recentlyClosed[o.itemID] = s.closedItemLastSeen[o.itemID] ?? max(recentlyClosed[o.itemID] ?? o.time, o.time)
        }
        for (slip, anchor) in s.recentSlips.sorted(by: { $0.anchor < $1.anchor }) where slip.kind == .warning {
            // A slip links the items of one world only: the drill's when they are drills.
            let drill = !slip.riskItemIDs.isEmpty && slip.riskItemIDs.allSatisfy(s.drillItemIDs.contains)
            let w = slot(ZoneCategory(zone: slip.zone, category: slip.category, drill: drill))
            // A closed slip takes no more items: the newest slip of the window decides.
            guard slip.state == .open else {
                windows[w].active = nil
                openSlipSlots.remove(w)
                // Where the running engine started counting again; a slip stored before its count
                // start was kept falls back to the newest occurrence of its items (the same unless
                // one of them recurred after it closed).
                let linked = Set(slip.riskItemIDs)
                if let start = slip.countAfter ?? windows[w].occurrences.last(where: { linked.contains($0.itemID) })?.time {
                    windows[w].countAfter = max(windows[w].countAfter ?? start, start)
                }
                continue
            }
            var unclosed: [String: Member] = [:]
            for id in slip.riskItemIDs { if let item = open[id] { unclosed[id] = member(item) } }
            let closedLastSeen = slip.riskItemIDs.compactMap { s.closedItemLastSeen[$0] ?? recentlyClosed[$0] }.max()
            windows[w].active = ActiveSlip(slip: slip, anchor: anchor, unclosed: unclosed, closedLastSeen: closedLastSeen)
            openSlipSlots.insert(w)
        }
        cameraStatus = s.cameraStatus.filter { $0.value != .online }
        drillCameraStatus = s.drillCameraStatus.filter { $0.value != .online }
        // The status times the running engine's last sweep kept (a day before its watermark); all
        // of them when that sweep is unknown (the first sweep then drops the old ones).
        let statusCutoff = s.nextSweep.map { $0.addingTimeInterval(-sweepInterval - itemHorizon) } ?? .distantPast
        for (times, drill) in [(s.cameraStatusTimes, false), (s.drillCameraStatusTimes, true)] {
            for (camera, time) in times where time >= statusCutoff && statusTimes.count < Self.maxStatusTimes {
                statusTimes[StatusSource(camera: camera, drill: drill)] = time
            }
        }
        // A store written before the schedule was kept: sweep at the next event.
        nextSweep = s.nextSweep ?? .distantPast
        itemIDs = ItemIDAllocator(next: s.lastItemSeq + 1)
        nextSlipSeq = s.lastSlipSeq + 1
        watermark = s.watermark
        cases.restore(cases: s.recentCases, evidence: s.recentEvidence, watermark: s.watermark, lastSeq: s.lastCaseSeq)
    }

    // MARK: - Handling one event

    /// Runs one event through every stage and returns what it changed; `now` (processing time) stamps issued documents.
    public mutating func handle(_ event: NormalizedEvent, now: Date) -> [EngineEffect] {
        var effects: [EngineEffect] = []
        handle(event, now: now, into: &effects)
        return effects
    }

    /// `handle`, appending the effects to `effects` (the pipeline reuses one buffer for every event).
    public mutating func handle(_ event: NormalizedEvent, now: Date, into effects: inout [EngineEffect]) {
        // The stored form of an item's live lifecycles separates them with U+001E: a name that
        // carried one would read back as other lifecycles after a restart.
        if let l = event.lifecycle, l.utf8.contains(0x1E) {
            var event = event
            event.lifecycle = l.replacingOccurrences(of: String(Self.liveLifecycleSeparator), with: "\u{FFFD}")
            handle(event, now: now, into: &effects)
            return
        }
        let first = effects.count
        defer { endSlips(effectsFrom: first, now: now, into: &effects) }
        if let wm = watermark, wm >= nextSweep || openItems.count > maxOpenItems { sweep(watermark: wm, into: &effects) }
        eventsSinceTrim += 1
        if eventsSinceTrim >= Self.trimEvery { trimWindows() }
        switch event.kind {
        case .cameraStatus(let status):
            handleStatus(event, status: status, now: now, into: &effects)
        case .end:
            handleEnd(event, into: &effects)
        case .checkin:
            // Patrol supervision (slots, late and missed check-ins) acts on these later;
            // a check-in is never a risk item.
            effects.append(.accepted(key: event.key, itemID: "", zone: place(event).zone, category: event.category, time: event.time, counted: false))
        case .detection:
            handleDetection(event, now: now, into: &effects)
        }
    }

    mutating func handleDetection(_ event: NormalizedEvent, now: Date, into effects: inout [EngineEffect]) {
        let placement = place(event)
        let key = SourceCategory(source: event.source, category: event.category, drill: event.drill)
        // The configured severity (an adapter rule's own `severity` stands instead), combined with any vendor priority.
        let configured = event.severity == event.category.defaultSeverity ? rules.severity(of: event.category) : event.severity
        let severity = rules.vendorPriority.severity(configured: configured, priority: event.vendorPriority, category: event.category)
        let late = watermark.map { event.time < $0.addingTimeInterval(-rules.lateness) } ?? false
        if !late { watermark = max(watermark ?? event.time, event.time) }
        var item: RiskItem
        if late { lateEvents += 1 }
        func newItem() -> RiskItem {
            RiskItem(
                id: itemIDs.allocate(), source: event.source, sourceKind: event.sourceKind, category: event.category,
                severity: severity, zone: placement.zone, unit: placement.unit, worker: placement.worker,
                firstSeen: event.time, lastSeen: event.time, lifecycle: event.lifecycle, location: event.location, drill: event.drill,
                late: late, lateReason: late ? lateReason(event.time) : nil, locationMismatch: placement.locationMismatch,
                locationDistance: placement.locationDistance, timeSource: event.timeSource)
        }
        var earlierEpisode = false
        if var open = openItems[key], folds(event, into: open, key: key) {
            open.occurrences += 1
            open.lastSeen = max(open.lastSeen, event.time)
            open.firstSeen = min(open.firstSeen, event.time)
            open.severity = min(open.severity, severity)
            if !late, open.late {
                open.late = false
                open.lateReason = nil
            }
            if event.timeSource == .received { open.timeSource = .received }
            if open.locationMismatch == nil, let why = placement.locationMismatch {
                open.locationMismatch = why
                open.locationDistance = placement.locationDistance
            }
            if let l = event.lifecycle {
                if open.lifecycle == nil { open.lifecycle = l }
                register(Lifecycle(name: l, drill: event.drill, source: event.source), key)
            }
            item = open
        } else if let open = openItems[key], open.state == .open, event.time < open.firstSeen.addingTimeInterval(-rules.dedupWindow) {
            // An earlier episode reported after a later one opened (a camera or an NVR uploading
            // what it buffered while it was offline): it does not close the open item, which stays
            // the current one, but gets an item of its own, closed at once. The episode's other
            // buffered events fold into that item.
            earlierEpisode = true
            let w = rules.dedupWindow
            if var earlier = earlierEpisodes[key],
               event.time >= earlier.firstSeen.addingTimeInterval(-w), event.time <= earlier.lastSeen.addingTimeInterval(w) {
                earlier.occurrences += 1
                earlier.lastSeen = max(earlier.lastSeen, event.time)
                earlier.firstSeen = min(earlier.firstSeen, event.time)
                earlier.severity = min(earlier.severity, severity)
                item = earlier
            } else {
                item = newItem()
                item.lifecycle = nil // closed: no lifecycle holds it open
                item.state = .closed
            }
        } else {
            if var previous = openItems[key], previous.state == .open {
                previous.state = .closed
                effects.append(.item(previous))
            }
            earlierEpisodes[key] = nil
            item = newItem()
            itemLifecycles[key] = []
            if let l = event.lifecycle { register(Lifecycle(name: l, drill: event.drill, source: event.source), key) }
        }
        item.suppressedBy = muteReason(for: event, placement: placement)
        if earlierEpisode {
            // Bounded: forgetting one only makes the next buffered event of that episode an item of its own.
            if earlierEpisodes.count >= Self.maxEarlierEpisodes { earlierEpisodes.removeAll(keepingCapacity: true) }
            earlierEpisodes[key] = item
            effects.append(.item(item))
        } else {
            openItems[key] = item
            effects.append(.item(storedForm(item, key)))
        }
        let unmuted = item.suppressedBy == nil
        // `counted`: counts towards new windows after a restart (late and muted events do not).
        effects.append(.accepted(key: event.key, itemID: item.id, zone: item.zone, category: item.category, time: event.time, counted: unmuted && !late))
        if !unmuted || late, let w = windowSlots[ZoneCategory(zone: item.zone, category: item.category, drill: item.drill)],
           windows[w].active?.unclosed[item.id] != nil {
            // An event no slip counts (muted, or late and outside the slip) still moves its item's last
            // event: the slip's quiet time follows the item, as after a restart (which reads the item).
            windows[w].active!.unclosed[item.id] = member(item)
        }
        if unmuted {
            group(item: item, at: event.time, late: late, now: now, into: &effects)
            if let change = cases.consider(item, at: event.time, late: late, watermark: watermark ?? event.time, placement: placement, now: now) {
                effects.append(.caseChanged(change.value, evidenceFrom: change.from, evidenceAt: change.through, isNew: change.isNew))
                if let r = change.rerouted { effects.append(.caseRerouted(r)) }
                linkSlips(to: change.value, now: now, into: &effects)
            }
        }
    }

    /// Why a late event opened nothing.
    func lateReason(_ time: Date) -> String {
        let newest = watermark ?? time
        return "late: event time \(time.rfc3339) is \(Int(newest.timeIntervalSince(time).rounded())) s behind the newest event time seen "
            + "(\(newest.rfc3339)), more than event_time.lateness_seconds (\(Int(rules.lateness))): it opens no warning slip or case"
    }

    func folds(_ event: NormalizedEvent, into item: RiskItem, key: SourceCategory) -> Bool {
        guard item.state == .open else { return false }
        if let l = event.lifecycle, l == item.lifecycle { return true }
        // A live lifecycle (the object is still there) holds the item open whatever the window.
        if let live = itemLifecycles[key], !live.isEmpty { return true }
        let w = rules.dedupWindow
        return event.time >= item.firstSeen.addingTimeInterval(-w) && event.time <= item.lastSeen.addingTimeInterval(w)
    }

    /// Inhibition: a camera that is not `online` mutes its analytics items.
    /// The mute stage: inhibition first (a camera that is not `online` mutes
    /// its analytics items), then silences (by event time).
    func muteReason(for event: NormalizedEvent, placement: Placement) -> String? {
        if event.sourceKind == .camera, event.category.family == .cameraAnalytics,
           let status = event.drill ? drillCameraStatus[event.source] : cameraStatus[event.source], status != .online {
            return "inhibited: camera \(event.source) is \(status.rawValue)"
        }
        if !neverSilence.contains(event.category),
           let silence = silences.first(where: { $0.matches(event, chain: placement.parents, zone: placement.zone) }) {
            return "silenced: \(silence.id) by \(silence.createdBy): \(silence.comment)"
        }
        return nil
    }

    mutating func handleStatus(_ event: NormalizedEvent, status: CameraStatus, now: Date, into effects: inout [EngineEffect]) {
        // Statuses are applied in event-time order: one older than the camera's last status (a
        // buffered upload, a redelivery out of order) changes nothing, neither the mute nor the health items.
        let statusKey = StatusSource(camera: event.source, drill: event.drill)
        if let last = statusTimes[statusKey], event.time < last {
            effects.append(.accepted(key: event.key, itemID: "", zone: place(event).zone, category: event.category, time: event.time, counted: false))
            return
        }
        if statusTimes.count >= Self.maxStatusTimes, statusTimes[statusKey] == nil { statusTimes.removeAll(keepingCapacity: true) }
        statusTimes[statusKey] = event.time
        // A drill's status is stored apart from the camera's real one (a restart restores both).
        effects.append(.cameraStatus(camera: event.source, status: status, at: event.time, drill: event.drill))
        // Only what mutes is kept: a camera `online` is one without an entry (bounded by cameras not online).
        if event.drill {
            drillCameraStatus[event.source] = status == .online ? nil : status
        } else {
            cameraStatus[event.source] = status == .online ? nil : status
        }
        if let category = status.healthCategory {
            var health = event
            health.category = category
            health.severity = rules.severity(of: category)
            health.kind = .detection
            handleDetection(health, now: now, into: &effects)
        } else {
            for category in [Category.cameraOffline, .cameraTampered, .cameraDegraded] {
                let key = SourceCategory(source: event.source, category: category, drill: event.drill)
                if var item = openItems[key], item.state == .open {
                    item.state = .closed
                    item.lastSeen = max(item.lastSeen, event.time)
                    openItems[key] = nil
                    effects.append(.item(item))
                }
            }
            effects.append(.accepted(key: event.key, itemID: "", zone: place(event).zone, category: event.category, time: event.time, counted: false))
        }
    }

    mutating func handleEnd(_ event: NormalizedEvent, into effects: inout [EngineEffect]) {
        var linked: (id: String, zone: String)?
        if let l = event.lifecycle {
            // The lifecycle itself and every lifecycle nested under it: an ONVIF zero-byte
            // delete ends `onvif:{camera}:{topic}`, which covers `onvif:{camera}:{topic}|{source}`.
            let l = Lifecycle(name: l, drill: event.drill, source: event.source)
            var ended = (nestedLifecycles[l] ?? []).sorted { $0.name < $1.name }
            if lifecycles[l] != nil { ended.insert(l, at: 0) }
            for lifecycle in ended {
                guard let key = unregister(lifecycle) else { continue }
                guard var item = openItems[key], item.state == .open else { continue }
                linked = linked ?? (item.id, item.zone)
                guard itemLifecycles[key]?.isEmpty ?? true else {
                    // Still held open by another lifecycle: the store learns which ones are left.
                    effects.append(.item(storedForm(item, key)))
                    continue
                }
                item.state = .closed
                item.lastSeen = max(item.lastSeen, event.time)
                openItems[key] = nil
                itemLifecycles[key] = nil
                effects.append(.item(item))
            }
        }
        effects.append(.accepted(key: event.key, itemID: linked?.id ?? "", zone: linked?.zone ?? place(event).zone, category: event.category, time: event.time, counted: false))
    }

    /// Separates the lifecycles in the stored form of an open item's `lifecycle`.
    static let liveLifecycleSeparator: Character = "\u{1E}"

    /// The item as the store keeps it: `lifecycle` is its first lifecycle, as
    /// in memory, while that is the only live one (or the item is closed);
    /// otherwise the first, then the live ones, each after U+001E (none: the
    /// first alone, followed by U+001E). A restart restores exactly the live
    /// lifecycles from it, so an item that several tracked objects hold open
    /// closes when the last of them ends, as it would have without the restart.
    func storedForm(_ item: RiskItem, _ key: SourceCategory) -> RiskItem {
        guard item.state == .open, let first = item.lifecycle else { return item }
        let live = itemLifecycles[key] ?? []
        if live.count == 1, live.first?.name == first { return item }
        var stored = item
        stored.lifecycle = first + String(Self.liveLifecycleSeparator) + live.map(\.name).sorted().joined(separator: String(Self.liveLifecycleSeparator))
        return stored
    }

    /// The most live lifecycles one item holds. A source that opens lifecycles and never
    /// ends them (lost Frigate `end`s, GB enters without a leave, ONVIF source items an
    /// attacker varies) would otherwise grow the engine's maps, and the item's stored
    /// form, with every message. Beyond it the lifecycle with the smallest id is
    /// forgotten: its end then changes nothing, and the item closes when the ones it
    /// keeps have ended.
    static let maxLiveLifecyclesPerItem = 128

    /// Records a live lifecycle of the item at `key`. At the cap, the item's oldest
    /// live lifecycle other than its first is forgotten (an attacker choosing ids cannot
    /// pick which genuine one goes).
    mutating func register(_ lifecycle: Lifecycle, _ key: SourceCategory) {
        if let old = lifecycles[lifecycle], old != key { itemLifecycles[old]?.remove(lifecycle) }
        if lifecycles[lifecycle] != key, let live = itemLifecycles[key], live.count >= Self.maxLiveLifecyclesPerItem {
            let first = openItems[key]?.lifecycle
            let evicted = live.filter { $0.name != first }.min { (lifecycleSeq[$0] ?? 0, $0.name) < (lifecycleSeq[$1] ?? 0, $1.name) }
            if let evicted { _ = unregister(evicted) }
        }
        if lifecycles[lifecycle] != key {
            lifecycleSeq[lifecycle] = nextLifecycleSeq
            nextLifecycleSeq += 1
        }
        lifecycles[lifecycle] = key
        itemLifecycles[key, default: []].insert(lifecycle)
        if let parent = lifecycle.parent { nestedLifecycles[parent, default: []].insert(lifecycle) }
    }

    /// Forgets an ended lifecycle; returns the item it belonged to.
    mutating func unregister(_ lifecycle: Lifecycle) -> SourceCategory? {
        guard let key = lifecycles.removeValue(forKey: lifecycle) else { return nil }
        lifecycleSeq[lifecycle] = nil
        itemLifecycles[key]?.remove(lifecycle)
        if let parent = lifecycle.parent {
            nestedLifecycles[parent]?.remove(lifecycle)
            if nestedLifecycles[parent]?.isEmpty == true { nestedLifecycles[parent] = nil }
        }
        return key
    }

    // MARK: - Grouping into warning slips

    /// The slot of a (zone, category) pair's window, made on first use (zones × categories: bounded by the config).
    mutating func slot(_ zc: ZoneCategory) -> Int {
        if let slot = windowSlots[zc] { return slot }
        windowSlots[zc] = windows.count
        windows.append(GroupWindow())
        return windows.count - 1
    }

    mutating func group(item: RiskItem, at time: Date, late: Bool = false, now: Date, into effects: inout [EngineEffect]) {
        let w = slot(ZoneCategory(zone: item.zone, category: item.category, drill: item.drill))
        // A slip that ended before this event (quiet, or its items closed a dedup window ago)
        // closes first: the event does not revive it.
        if !late, let reason = windows[w].active?.closeDue(at: time, slipTiming) {
            closeSlip(at: w, reason, now: now, into: &effects)
        }
        // A late event is not counted towards new windows (it joins an open slip below, or nothing).
        if !late {
            // Keep what a window ending at any event that is not late can still see
            // (the same horizon the store restores after a restart).
            let horizon = (watermark ?? time).addingTimeInterval(-rules.groupWindow - rules.lateness)
            Self.record(Occurrence(time: time, itemID: item.id), in: &windows[w].occurrences, horizon: horizon)
        }

        if let anchor = windows[w].active?.anchor, time >= anchor.addingTimeInterval(-rules.groupWindow),
           time < anchor.addingTimeInterval(rules.repeatInterval) {
            var active = windows[w].active!
            windows[w].active = nil // unshared while it changes: a copy left behind would copy its lists
            // Most events fold into the item linked last: no need to hash its id then.
            if active.slip.riskItemIDs.last != item.id, active.slip.riskItemIDs.count < Self.maxLinkedItems,
               active.ids.insert(item.id).inserted {
                active.slip.riskItemIDs.append(item.id)
            }
            active.slip.occurrences += 1
            active.slip.severity = min(active.slip.severity, item.severity)
            active.slip.updatedAt = now
            active.unclosed[item.id] = member(item)
            windows[w].active = active
            effects.append(.slip(active.slip, anchor: active.anchor, isNew: false))
            return
        }
        guard !late else { return }
        // What a closed slip of this window covered counts no more.
        let windowStart = max(time.addingTimeInterval(-rules.groupWindow), windows[w].countAfter ?? .distantPast)
        let threshold = rules.threshold(of: item.category)
        let list = windows[w].occurrences
        // Count before collecting: most events stay under the threshold.
        // The list is sorted by time: the window is a range found by binary search.
        let window = Self.range(of: list, after: windowStart, through: time)
        if !immediateSeverity(item), window.count < threshold { return }
        let inWindow = list[window]
        let immediate = immediateSeverity(item)
        var ids: [String] = []
        var linked: Set<String> = []
        for o in inWindow where ids.count < Self.maxLinkedItems - 1 && linked.insert(o.itemID).inserted { ids.append(o.itemID) }
        if linked.insert(item.id).inserted { ids.append(item.id) }
        let count = max(inWindow.count, 1)
        let reason = immediate
            ? "严重程度 \(item.severity.rawValue) 级，立即预警"
            : "\(Int(rules.groupWindow / 60)) 分钟内 \(count) 次（阈值 \(threshold)）"
        let slip = Slip(
            id: Self.slipID(.warning, nextSlipSeq), kind: .warning, zone: item.zone, category: item.category,
            severity: item.severity, unit: item.unit, worker: item.worker, issuedAt: now,
            text: (item.drill ? "【演练】" : "") + "预警单：网格 \(item.zone) 出现\(item.category.chineseName)（\(item.category.rawValue)），\(reason)。请 \(item.unit ?? "属地单位") 核查处置。",
            riskItemIDs: ids, occurrences: count)
        nextSlipSeq += 1
        // Still firing after the repeat interval: the new slip takes over from the old one.
        if windows[w].active != nil { closeSlip(at: w, .repeated, now: now, into: &effects) }
        // The items the slip links: held open by an end when a live lifecycle holds them (or they are camera health).
        let health = item.category.family == .cameraHealth
        var held: Set<String> = []
        if !health {
            for key in lifecycles.values where key.category == item.category { if let id = openItems[key]?.id { held.insert(id) } }
        }
        var unclosed: [String: Member] = [:]
        for o in inWindow where recentlyClosed[o.itemID] == nil {
            unclosed[o.itemID] = Member(lastSeen: max(unclosed[o.itemID]?.lastSeen ?? o.time, o.time), held: health || held.contains(o.itemID))
        }
        unclosed[item.id] = member(item)
        let closedLastSeen = ids.compactMap { recentlyClosed[$0] }.max()
        windows[w].active = ActiveSlip(slip: slip, anchor: time, unclosed: unclosed, closedLastSeen: closedLastSeen)
        openSlipSlots.insert(w)
        if let at = windows[w].active?.quietAt(slipTiming) { nextQuietCheck = min(nextQuietCheck, at) }
        effects.append(.slip(slip, anchor: time, isNew: true))
    }

    // MARK: - Ending warning slips

    func member(_ item: RiskItem) -> Member {
        Member(lastSeen: item.lastSeen, held: item.lifecycle != nil || item.category.family == .cameraHealth)
    }

    /// The two intervals that end a slip (see `ActiveSlip.quietAt(_:)`).
    var slipTiming: SlipTiming { SlipTiming(dedupWindow: rules.dedupWindow, repeatInterval: rules.repeatInterval) }

    /// The most items one warning slip links (`occurrences` keeps counting beyond):
    /// every change of a slip republishes it whole, and a source that flaps makes a
    /// new item each time.
    static let maxLinkedItems = 500

    /// Closes the active slip of window `w` and lets the window go (later occurrences count towards a new slip).
    mutating func closeSlip(at w: Int, _ reason: Slip.CloseReason, now: Date, into effects: inout [EngineEffect]) {
        guard var active = windows[w].active else { return }
        windows[w].active = nil
        openSlipSlots.remove(w)
        if let newest = windows[w].occurrences.last?.time { windows[w].countAfter = max(windows[w].countAfter ?? newest, newest) }
        guard active.slip.state == .open else { return }
        active.slip.close(reason, at: now)
        active.slip.countAfter = windows[w].countAfter
        effects.append(.slip(active.slip, anchor: active.anchor, isNew: false))
    }

    /// After an event: items it closed leave their slips (a slip with none left
    /// closes), and slips gone quiet by the watermark close.
    mutating func endSlips(effectsFrom first: Int, now: Date, into effects: inout [EngineEffect]) {
        var closed: [RiskItem] = []
        for k in first..<effects.count { if case .item(let item) = effects[k], item.state == .closed { closed.append(item) } }
        if !closed.isEmpty, let wm = watermark {
            for item in closed { recentlyClosed[item.id] = item.lastSeen }
            // Only occurrences inside a group window that is not late can name them.
            if recentlyClosed.count > recentlyClosedLimit {
                let horizon = wm.addingTimeInterval(-rules.groupWindow - rules.lateness)
                recentlyClosed = recentlyClosed.filter { $0.value >= horizon }
                // Items closing faster than the horizon moves (events at one time, a source that
                // flaps): keep the newest. Forgetting one only lets a new slip count it as open.
                if recentlyClosed.count > Self.maxRecentlyClosed {
                    let newest = recentlyClosed.sorted { ($0.value, $0.key) > ($1.value, $1.key) }.prefix(Self.maxRecentlyClosed / 2)
                    recentlyClosed = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
                }
                recentlyClosedLimit = max(4096, recentlyClosed.count * 2)
            }
        }
        for item in closed {
            // Changed in place: a copy of the slip would copy its item maps.
            guard let w = windowSlots[ZoneCategory(zone: item.zone, category: item.category, drill: item.drill)], windows[w].active != nil else { continue }
            let left = windows[w].active!.unclosed.removeValue(forKey: item.id) != nil
            guard left || windows[w].active!.ids.contains(item.id) else { continue }
            windows[w].active!.closed(lastSeen: item.lastSeen)
            guard left else { continue }
            if let wm = watermark, let reason = windows[w].active?.closeDue(at: wm, slipTiming) {
                closeSlip(at: w, reason, now: now, into: &effects)
            } else if let at = windows[w].active?.quietAt(slipTiming) {
                nextQuietCheck = min(nextQuietCheck, at) // without a held item left, it may go quiet sooner than the scan expects
            }
        }
        guard let wm = watermark, wm > nextQuietCheck, !openSlipSlots.isEmpty else { return }
        var next = Date.distantFuture
        let timing = slipTiming
        for w in openSlipSlots.sorted() {
            guard windows[w].active != nil else { continue }
            if let reason = windows[w].active?.closeDue(at: wm, timing) {
                closeSlip(at: w, reason, now: now, into: &effects)
            } else if let at = windows[w].active?.quietAt(timing) {
                next = min(next, at)
            }
        }
        nextQuietCheck = next
    }

    /// Forgets the active warning slips that were closed outside the engine
    /// (by the case action that closed their case), so no item joins them again.
    /// Returns the count start (`Slip.countAfter`) of each forgotten slip whose window had one.
    @discardableResult
    public mutating func forgetClosedSlips(_ ids: Set<String>) -> [String: Date] {
        guard !ids.isEmpty else { return [:] }
        var countStarts: [String: Date] = [:]
        for w in openSlipSlots.sorted() {
            guard let id = windows[w].active?.slip.id, ids.contains(id) else { continue }
            windows[w].active = nil
            openSlipSlots.remove(w)
            if let newest = windows[w].occurrences.last?.time { windows[w].countAfter = max(windows[w].countAfter ?? newest, newest) }
            countStarts[id] = windows[w].countAfter
        }
        return countStarts
    }

    /// Adds an occurrence to a window's time-sorted list (changed in place: a copy
    /// would copy the whole list). What lies before `horizon` is trimmed in steps,
    /// since each trim moves the rest of the list; it is never inside a window,
    /// which `range` finds by binary search.
    ///
    /// An occurrence older than the list's newest (events of one zone from several cameras
    /// interleave) goes after every occurrence at or before its time, found by binary search:
    /// where a stable sort of the list with it appended would put it, without the sort's
    /// pass over the whole list for every such event.
    static func record(_ o: Occurrence, in list: inout [Occurrence], horizon: Date) {
        if let newest = list.last, newest.time > o.time {
            list.insert(o, at: firstIndex(in: list) { $0 > o.time })
        } else {
            list.append(o)
        }
        guard list.count >= 64, list[31].time < horizon else { return }
        list.removeFirst(firstIndex(in: list) { $0 >= horizon })
    }

    /// Warning slips open in the case's zone for one of its categories name the case
    /// (`case_id`), so a dispatcher reading a slip finds the case it became.
    mutating func linkSlips(to c: Case, now: Date, into effects: inout [EngineEffect]) {
        for category in c.categories {
            guard let w = windowSlots[ZoneCategory(zone: c.zone, category: category, drill: c.drill)],
                  var active = windows[w].active, active.slip.caseID == nil else { continue }
            active.slip.caseID = c.id
            active.slip.updatedAt = now
            windows[w].active = active
            effects.append(.slip(active.slip, anchor: active.anchor, isNew: false))
        }
    }

    /// Indices of the occurrences with `after < time <= through` in a time-sorted list.
    static func range(of list: [Occurrence], after: Date, through: Date) -> Range<Int> {
        let start = firstIndex(in: list) { $0 > after }
        let end = firstIndex(in: list) { $0 > through }
        return start..<max(start, end)
    }

    /// The first index of a time-sorted list whose time is `above` (binary search; `above` is monotonic).
    static func firstIndex(in list: [Occurrence], where above: (Date) -> Bool) -> Int {
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if above(list[mid].time) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    func immediateSeverity(_ item: RiskItem) -> Bool { item.severity.rawValue <= rules.immediateMaxSeverity }

    /// The id of the risk item with sequence number `seq` (`RI-` and eight digits).
    public static func itemID(_ seq: Int) -> String { "RI-" + HubFormat.zeroPadded(seq, width: 8) }
    /// The id of the slip of `kind` with sequence number `seq` (its prefix and eight digits).
    public static func slipID(_ kind: Slip.Kind, _ seq: Int) -> String { kind.idPrefix + "-" + HubFormat.zeroPadded(seq, width: 8) }
}
