import Foundation

// What bounds the engine's memory (docs/MEMORY.md "Memory").
//
// The engine holds open state only: every structure is bounded by the
// configuration (zones × categories, cameras, a window's length times the
// event rate) or by a cap from the config, never by the number of events
// processed. A sweep at every `sweepInterval` of event time drops what has
// left its window, so a long run keeps what a restart would restore
// (`PipelineProcessor.reload`): open items seen within `itemHorizon` (or held
// by a live lifecycle, or camera health), occurrences and evidence within
// their windows plus the lateness bound, cases whose window can still take
// evidence.

extension RiskEngine {
    /// The default of `limits.max_open_items`.
    public static let defaultMaxOpenItems = 200_000
    /// The default of `limits.max_window_occurrences`.
    public static let defaultMaxWindowOccurrences = 10_000
    /// Events between two checks of the windows against `maxWindowOccurrences`.
    static let trimEvery = 1024

    /// Keeps each group window's newest `maxWindowOccurrences` occurrences (at least
    /// twice the largest slip threshold, so a window still reaches every threshold).
    /// A window holds its group window plus the lateness bound of events: at 4 000
    /// events/s into a few windows that is millions of entries (24 bytes each), so a
    /// flood is capped: a new slip's "N 次" then counts at most the cap.
    mutating func trimWindows() {
        eventsSinceTrim = 0
        let cap = max(maxWindowOccurrences, 2 * (rules.thresholds.values.max() ?? 0), 2 * rules.slipThreshold)
        for w in windows.indices where windows[w].occurrences.count > cap {
            windows[w].occurrences.removeFirst(windows[w].occurrences.count - cap)
        }
    }

    /// The sizes of the engine's maps and lists: what its memory grows with.
    /// A steady mix whose open state is bounded keeps every count bounded,
    /// however many events go through (`EngineMemoryTests`).
    public struct StateCounts: Sendable, Equatable, CustomStringConvertible {
        /// Open risk items (source × category × drill), and the maps kept per item.
        public var openItems = 0
        /// Of those, the per-item lifecycle sets.
        public var itemLifecycleSets = 0
        /// Live lifecycles (with their nesting and registration maps).
        public var lifecycles = 0
        /// Of those, the nested ones (ONVIF `L|…` lifecycles).
        public var nestedLifecycles = 0
        /// Group windows (zone × category × drill) and the occurrences they hold.
        public var windows = 0
        /// Occurrences held over all windows.
        public var occurrences = 0
        /// Open warning slips, and the item ids they hold (linked ids and unclosed members).
        public var activeSlips = 0
        /// Item ids held over all open slips.
        public var slipMembers = 0
        /// Cameras not `online` (live and drill).
        public var cameraStatus = 0
        /// Items closed within the group window (a new slip does not count them open).
        public var recentlyClosed = 0
        /// Correlation: recent evidence and cases whose window is open, over every zone.
        public var caseEvidence = 0
        /// Cases whose correlation window is open.
        public var activeCases = 0
        /// Earlier episodes remembered beside an open item (events that arrived after newer ones).
        public var earlierEpisodes = 0
        /// Cameras whose last status time orders their statuses.
        public var statusTimes = 0

        /// Every counted entry.
        public var total: Int {
            openItems + itemLifecycleSets + lifecycles + nestedLifecycles + windows + occurrences + activeSlips + slipMembers
                + cameraStatus + recentlyClosed + caseEvidence + activeCases + earlierEpisodes + statusTimes
        }

        /// Every count, named, in one line for the log.
        public var description: String {
            "open items \(openItems) (lifecycle sets \(itemLifecycleSets)), lifecycles \(lifecycles) (nested \(nestedLifecycles)), "
                + "windows \(windows) (occurrences \(occurrences)), active slips \(activeSlips) (members \(slipMembers)), "
                + "cameras not online \(cameraStatus), recently closed \(recentlyClosed), case evidence \(caseEvidence), active cases \(activeCases), "
                + "earlier episodes \(earlierEpisodes), status times \(statusTimes)"
        }
    }

    /// What the engine holds now, counted (bounded by `limits`; docs/MEMORY.md).
    public var stateCounts: StateCounts {
        var c = StateCounts()
        c.openItems = openItems.count
        c.itemLifecycleSets = itemLifecycles.count
        c.lifecycles = lifecycles.count
        c.nestedLifecycles = nestedLifecycles.values.reduce(0) { $0 + $1.count }
        c.windows = windows.count
        for w in windows {
            c.occurrences += w.occurrences.count
            if let a = w.active {
                c.activeSlips += 1
                c.slipMembers += a.ids.count + a.unclosed.count
            }
        }
        c.cameraStatus = cameraStatus.count + drillCameraStatus.count
        c.recentlyClosed = recentlyClosed.count
        c.earlierEpisodes = earlierEpisodes.count
        c.statusTimes = statusTimes.count
        c.caseEvidence = cases.recent.values.reduce(0) { $0 + $1.count }
        c.activeCases = cases.active.values.reduce(0) { $0 + $1.count }
        return c
    }

    /// How far back an open item is kept without an event: the horizon a
    /// restart restores open items from (`PipelineProcessor.reload`), so a
    /// long run and a restarted one hold the same items. Items held by a live
    /// lifecycle stay until `heldItemHorizon`, camera health and SOS whatever their age.
    public var itemHorizon: TimeInterval { max(rules.dedupWindow, rules.groupWindow, 86_400) }
    /// How long a live lifecycle holds its item open without an event (at least the item
    /// horizon): an end that never arrives (Frigate restarted, a GB/T 28181 leave or an
    /// ONVIF false was lost) holds an item a week at most, not for ever.
    public var heldItemHorizon: TimeInterval { max(itemHorizon, 7 * 86_400) }

    /// Event time between sweeps: a sixteenth of the item horizon (at least a
    /// minute), so what is swept is at most 1/16 older than its horizon.
    var sweepInterval: TimeInterval { max(60, itemHorizon / 16) }

    /// The warning slips and cases the engine still holds open (for the
    /// processor's record of what it published: `PipelineProcessor.published`).
    public var heldIDs: Set<String> {
        var ids = Set<String>()
        for w in windows { if let a = w.active { ids.insert(a.slip.id) } }
        for list in cases.active.values { for a in list { ids.insert(a.value.id) } }
        return ids
    }

    /// Drops what has left its window by `watermark` (event time); beyond
    /// `maxOpenItems`, the open items seen least recently go too. The items it
    /// drops close (an effect each), so the store holds no open item the engine
    /// no longer knows: their source's next event opens a new item, as it would
    /// after the dedup window.
    mutating func sweep(watermark wm: Date, into effects: inout [EngineEffect]) {
        nextSweep = wm.addingTimeInterval(sweepInterval)
        // Open items quiet for longer than the horizon that no end holds open, and those an
        // end holds open quiet for longer than the held horizon.
        let itemCutoff = wm.addingTimeInterval(-itemHorizon)
        let heldCutoff = wm.addingTimeInterval(-heldItemHorizon)
        var gone: [SourceCategory] = []
        // An SOS stays open until the device's next SOS: "open SOS" is what nobody has answered yet
        // (the daily report's 未处置), and there is one per device at most.
        for (key, item) in openItems where item.lastSeen < itemCutoff && item.category.family != .cameraHealth
            && item.category != .sos && (item.lastSeen < heldCutoff || (itemLifecycles[key]?.isEmpty ?? true)) {
            gone.append(key)
        }
        if openItems.count - gone.count > maxOpenItems {
            // A flood of distinct sources: keep the three quarters of the cap seen last
            // (an evicted item's next event opens a new item, as after a restart).
            let leaving = Set(gone)
            let rest = openItems.filter { !leaving.contains($0.key) }.sorted { ($0.value.lastSeen, $0.value.id) < ($1.value.lastSeen, $1.value.id) }
            gone += rest.prefix(rest.count - maxOpenItems * 3 / 4).map { $0.key }
        }
        for key in gone {
            guard var item = forgetItem(key) else { continue }
            item.state = .closed
            effects.append(.item(item))
        }
        // An earlier episode is remembered only while the later one is open.
        if !earlierEpisodes.isEmpty { earlierEpisodes = earlierEpisodes.filter { openItems[$0.key] != nil } }
        // A camera's last status time guards the order of its statuses for a day (the item horizon).
        if !statusTimes.isEmpty { statusTimes = statusTimes.filter { $0.value >= itemCutoff } }
        // Item keys whose item has gone (closed by an end or a status) keep no lifecycle set.
        if itemLifecycles.count > openItems.count {
            itemLifecycles = itemLifecycles.filter { openItems[$0.key] != nil || !$0.value.isEmpty }
        }
        // Occurrences and closed items before the horizon a window that is not late can see.
        let occurrenceCutoff = wm.addingTimeInterval(-rules.groupWindow - rules.lateness)
        for w in windows.indices where windows[w].occurrences.first.map({ $0.time < occurrenceCutoff }) ?? false {
            windows[w].occurrences.removeFirst(Self.firstIndex(in: windows[w].occurrences) { $0 >= occurrenceCutoff })
        }
        trimWindows()
        if !recentlyClosed.isEmpty { recentlyClosed = recentlyClosed.filter { $0.value >= occurrenceCutoff } }
        cases.forget(before: wm)
    }

    /// Forgets one open item and its lifecycles (returns it); a slip that still
    /// counted it open takes it as closed (at its last event).
    @discardableResult
    mutating func forgetItem(_ key: SourceCategory) -> RiskItem? {
        guard let item = openItems.removeValue(forKey: key) else { return nil }
        for l in itemLifecycles[key] ?? [] { _ = unregister(l) }
        itemLifecycles[key] = nil
        guard let w = windowSlots[ZoneCategory(zone: item.zone, category: item.category, drill: item.drill)],
              var active = windows[w].active, active.unclosed[item.id] != nil else { return item }
        windows[w].active = nil
        active.unclosed[item.id] = nil
        active.closed(lastSeen: item.lastSeen)
        windows[w].active = active
        nextQuietCheck = .distantPast // the slip may be quiet now: the next event's check looks
        return item
    }
}

extension CaseStage {
    /// Drops, by `watermark` (event time), evidence no event that is not late
    /// can correlate with, and cases whose window no event can reach any more:
    /// the horizons a restart restores (`PipelineProcessor.reload`).
    mutating func forget(before watermark: Date) {
        let evidenceCutoff = watermark.addingTimeInterval(-rules.window - lateness)
        for (zone, list) in recent where list.contains(where: { $0.time < evidenceCutoff }) {
            let kept = list.filter { $0.time >= evidenceCutoff }
            recent[zone] = kept.isEmpty ? nil : kept
        }
        let caseCutoff = watermark.addingTimeInterval(-3 * rules.window - lateness)
        for (zone, list) in active where list.contains(where: { $0.last < caseCutoff }) {
            let kept = list.filter { $0.last >= caseCutoff }
            active[zone] = kept.isEmpty ? nil : kept
        }
    }
}
