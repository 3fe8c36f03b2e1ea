import Foundation

/// Who a new case is addressed to (一网分流): the responsible unit, and for a
/// category with a standing joint team (一案一专班) its lead unit and co-units.
public struct CaseRouting: Sendable, Hashable {
    /// The unit that handles the case; nil when the zone names none.
    public var unit: String?
    /// The lead unit of the category's joint team, when it has one.
    public var leadUnit: String?
    /// The joint team's other units.
    public var coUnits: [String]
    /// Whether `unit` is the district's because the matter is a district one
    /// (severity ≤ `routing.district_max_severity` or a district category):
    /// a case that new evidence makes one is re-routed there.
    public var district: Bool
    /// Why, in one line (`CaseRouter.Decision.reason`).
    public var reason: String

    /// A routing decision; `CaseRouter` makes them from the rules.
    public init(unit: String?, leadUnit: String? = nil, coUnits: [String] = [], district: Bool = false, reason: String = "") {
        self.unit = unit
        self.leadUnit = leadUnit
        self.coUnits = coUnits
        self.district = district
        self.reason = reason
    }
}

/// A case moved to the district's unit because new evidence made it a
/// district matter (`CaseStage.join`); the store records it as a `reroute`
/// transition unless the case is no longer open.
public struct CaseReroute: Sendable, Hashable {
    /// The case moved.
    public var caseID: String
    /// The unit it was addressed to.
    public var fromUnit: String?
    /// The district's unit it moves to.
    public var toUnit: String
    /// The risk item whose evidence escalated the case.
    public var evidence: String
    /// Why, in one line (the transition's note).
    public var note: String

    /// A move of `caseID` to `toUnit` because of the item `evidence`.
    public init(caseID: String, fromUnit: String?, toUnit: String, evidence: String, note: String) {
        self.caseID = caseID
        self.fromUnit = fromUnit
        self.toUnit = toUnit
        self.evidence = evidence
        self.note = note
    }
}

/// The correlation stage (SPEC.md "Outcomes" → Case): unmuted risk items in,
/// cases out. A case opens on
/// - an SOS (`sos`),
/// - two or more distinct sources reporting related categories in one grid
///   within the window (`correlation`),
/// - one item of severity ≤ `open_at_severity` (`severity`), whatever its
///   category unless listed in `never_open_by_severity`,
/// - a grid worker's report of a dispute category (`patrol_report`),
/// checked in that order. One situation is one case: while a case's window is
/// open (its evidence ± the window, event time), a related item in its zone
/// joins it instead of opening another. Late events (see `RuleSet.lateness`)
/// may join an open case but never open one.
///
/// Drill and live never mix: a drill item only correlates with and joins
/// drill cases, a live item only live ones.
///
/// Evidence that makes a case a district matter (severity ≤
/// `routing.district_max_severity`, or a district category) re-routes it to
/// the district's unit (`rerouted`), and a severity-1 deadline counts from then.
///
/// The explanation is written when the case opens and grows by one line per
/// later piece of evidence, so it reads the same after a restart.
public struct CaseStage: Sendable {
    /// One risk item as evidence, at its newest event time.
    public struct Evidence: Sendable, Hashable {
        /// The risk item.
        public var itemID: String
        /// The camera or device it came from (correlation counts distinct sources).
        public var source: String
        /// Whether the source is a camera or a patrol device.
        public var sourceKind: SourceKind
        /// The item's category.
        public var category: Category
        /// The item's severity.
        public var severity: Severity
        /// The item's newest event time.
        public var time: Date
        /// Whether the item is a drill's: drill and live evidence never make one case.
        public var drill: Bool

        /// Evidence with every field given.
        public init(itemID: String, source: String, sourceKind: SourceKind, category: Category, severity: Severity, time: Date, drill: Bool) {
            self.itemID = itemID
            self.source = source
            self.sourceKind = sourceKind
            self.category = category
            self.severity = severity
            self.time = time
            self.drill = drill
        }
    }

    /// A case whose window is open.
    struct Active: Sendable, Hashable {
        var value: Case
        var first: Date
        var last: Date
        /// How many later-evidence lines the explanation lists (counted once, not per event).
        var laterLines: Int

        init(value: Case, first: Date, last: Date) {
            self.value = value
            self.first = first
            self.last = last
            laterLines = value.explanation.components(separatedBy: CaseStage.laterEvidence).count - 1
        }
    }

    /// When evidence opens a case, and the case's window (`cases` in `rules.yaml`).
    public var rules: CaseRules
    /// `RuleSet.lateness`: evidence is kept while an event that is not late could still see it.
    public var lateness: TimeInterval = 600
    /// The zone case deadlines and explanations are written in.
    public var timeZone: TimeZone
    /// Routing of new cases; the default addresses the zone's own unit.
    public var route: @Sendable (_ placement: Placement, _ category: Category, _ severity: Severity) -> CaseRouting

    /// Zone → recent evidence (one entry per item), within the window of the newest.
    var recent: [String: [Evidence]] = [:]
    /// Zone → cases still taking evidence.
    var active: [String: [Active]] = [:]
    var nextSeq = 1

    /// A stage with no evidence yet; `route` defaults to the zone's own unit.
    public init(rules: CaseRules, timeZone: TimeZone = AdapterOptions.defaultTimeZone,
                route: @escaping @Sendable (Placement, Category, Severity) -> CaseRouting = { p, _, _ in CaseRouting(unit: p.unit) }) {
        self.rules = rules
        self.timeZone = timeZone
        self.route = route
    }

    /// State restored after a restart: cases whose window may still be open
    /// (with their newest evidence time) and the recent evidence per zone.
    public mutating func restore(cases: [(value: Case, evidenceFrom: Date, evidenceAt: Date)], evidence: [(zone: String, evidence: Evidence)],
                                 watermark: Date?, lastSeq: Int) {
        active = [:]
        // In the order they opened, as the running stage holds them (a join takes the newest that fits).
        for (c, from, at) in cases.sorted(by: { ($0.value.id.count, $0.value.id) < ($1.value.id.count, $1.value.id) }) {
            active[c.zone, default: []].append(Active(value: c, first: min(from, at), last: at))
        }
        recent = [:]
        // Only what the running stage remembers: evidence of items that can open a case.
        for (zone, e) in evidence.sorted(by: { $0.evidence.time < $1.evidence.time })
            where rules.involves(e.category) || rules.opensBySeverity(e.category, e.severity) {
            remember(e, zone: zone, watermark: watermark ?? e.time)
        }
        nextSeq = lastSeq + 1
    }

    /// What `consider` changed: the case, whether it is new, the span of its evidence
    /// (event time), and the re-routing this evidence caused, if any.
    public typealias Change = (value: Case, isNew: Bool, from: Date, through: Date, rerouted: CaseReroute?)

    /// Considers one unmuted risk item seen at `time`; returns the case it
    /// opened or changed, if any. A late event may join an open case but is
    /// not remembered as evidence for new ones.
    ///
    /// A category outside every correlation group and the dispute categories
    /// opens a case only by severity, and otherwise only joins a case of its
    /// own category in the zone (more detections of the same situation).
    public mutating func consider(_ item: RiskItem, at time: Date, late: Bool, watermark: Date, placement: Placement, now: Date) -> Change? {
        let zone = item.zone
        let opens = rules.involves(item.category) || rules.opensBySeverity(item.category, item.severity)
        // The zone's active cases are found once: every step below changes them in place through
        // this position (`remember` changes `recent`, not `active`, so it stays valid).
        let slot = active.index(forKey: zone)
        guard opens || slot != nil else { return nil }
        let e = Evidence(itemID: item.id, source: item.source, sourceKind: item.sourceKind, category: item.category,
                         severity: item.severity, time: time, drill: item.drill)
        if !late, opens { remember(e, zone: zone, watermark: watermark) }
        let w = rules.window
        if let slot {
            // Changed in place: a copy of the list would copy every active case (its items, its explanation).
            if !late { active.values[slot].removeAll { time > $0.last.addingTimeInterval(3 * w) } } // long past: stop tracking
            if active.values[slot].isEmpty {
                active.remove(at: slot)
            } else if let i = active.values[slot].lastIndex(where: { a in
                a.value.drill == item.drill
                    && time >= a.first.addingTimeInterval(-w) && time <= a.last.addingTimeInterval(w)
                    && a.value.categories.contains { rules.related($0, item.category) }
            }) {
                return join(e, into: i, of: slot, placement: placement, now: now)
            }
        }
        guard !late, opens else { return nil }

        let related = (recent[zone] ?? []).filter {
            $0.drill == item.drill && abs($0.time.timeIntervalSince(time)) <= w && rules.related($0.category, item.category)
        }
        let sources = Set(related.map(\.source))
        let rule: Case.Rule
        if item.category == .sos {
            rule = .sos
        } else if sources.count >= rules.minSources {
            rule = .correlation
        } else if rules.opensBySeverity(item.category, item.severity) {
            rule = .severity
        } else if item.sourceKind == .device, rules.disputeCategories.contains(item.category) {
            rule = .patrolReport
        } else {
            return nil
        }
        // The case links the related evidence in the window (always including this item).
        var evidence = related.sorted { ($0.time, $0.itemID) < ($1.time, $1.itemID) }
        if !evidence.contains(where: { $0.itemID == e.itemID }) { evidence.append(e) }
        let main = evidence.min { ($0.severity, $0.time) < ($1.severity, $1.time) } ?? e
        let severity = main.severity
        let routing = route(placement, main.category, severity)
        let c = Case(
            id: Case.id(nextSeq), rule: rule, zone: zone, category: main.category, severity: severity,
            unit: routing.unit, worker: placement.worker, leadUnit: routing.leadUnit, coUnits: routing.coUnits,
            openedAt: now, dueAt: rules.due(opened: now, severity: severity),
            explanation: explain(rule, zone: zone, trigger: e, evidence: evidence),
            riskItemIDs: evidence.map(\.itemID), sources: unique(evidence.map(\.source)), categories: unique(evidence.map(\.category)),
            drill: item.drill)
        nextSeq += 1
        let times = evidence.map(\.time)
        let a = Active(value: c, first: times.min() ?? time, last: times.max() ?? time)
        active[zone, default: []].append(a)
        return (c, true, a.first, a.last, nil)
    }

    /// The most items a case links, and the most later-evidence lines its explanation
    /// lists: every change of a case republishes it whole, and a source that flaps
    /// (enter/leave, true/false) makes a new item each time. Beyond them later evidence
    /// still moves the case's window and severity; the explanation says it stopped listing.
    static let maxLinkedItems = 500
    static let maxLaterEvidenceLines = 50
    static let laterEvidence = "\n后续证据 / later evidence: "
    static let moreEvidence = "\n……更多后续证据未逐条列出，见关联的风险隐患 / further evidence is not listed: see the linked risk items"

    /// Joins `e` to the `i`-th active case of the zone at `slot` in `active`.
    mutating func join(_ e: Evidence, into i: Int, of slot: Dictionary<String, [Active]>.Index, placement: Placement, now: Date) -> Change? {
        // Moved out of the list while it changes (a copy would copy its item list and explanation), then put back.
        var a = active.values[slot].remove(at: i)
        defer { active.values[slot].insert(a, at: i) }
        // Most evidence comes from the item linked last: no scan of the list then.
        let isNewItem = a.value.riskItemIDs.last != e.itemID && a.value.riskItemIDs.count < Self.maxLinkedItems
            && !a.value.riskItemIDs.contains(e.itemID)
        let extends = e.time > a.last || e.time < a.first
        guard isNewItem || extends || e.severity < a.value.severity else { return nil }
        a.first = min(a.first, e.time)
        a.last = max(a.last, e.time)
        if isNewItem {
            a.value.riskItemIDs.append(e.itemID)
            if !a.value.sources.contains(e.source) { a.value.sources.append(e.source) }
            if !a.value.categories.contains(e.category) { a.value.categories.append(e.category) }
            if a.laterLines < Self.maxLaterEvidenceLines {
                a.value.explanation += Self.laterEvidence + line(e)
                a.laterLines += 1
            } else if !a.value.explanation.hasSuffix(Self.moreEvidence) {
                a.value.explanation += Self.moreEvidence
            }
        }
        let raised = e.severity < a.value.severity
        if raised {
            a.value.severity = e.severity
            a.value.category = e.category
            // A deadline counts from when the case became this severe, if that is sooner.
            a.value.dueAt = min(a.value.dueAt, rules.due(opened: now, severity: e.severity))
        }
        let rerouted = (isNewItem || raised) ? reroute(&a.value, by: e, placement: placement) : nil
        a.value.updatedAt = now
        return (a.value, false, a.first, a.last, rerouted)
    }

    /// Moves the case to the district's unit when this evidence makes it a
    /// district matter: the case is now severe enough, or the evidence is of a
    /// district category. A case already with that unit stays.
    mutating func reroute(_ c: inout Case, by e: Evidence, placement: Placement) -> CaseReroute? {
        var p = placement
        p.zone = c.zone
        var r = route(p, c.category, c.severity)
        if !r.district { r = route(p, e.category, e.severity) }
        guard r.district, let unit = r.unit, unit != c.unit else { return nil }
        let reroute = CaseReroute(caseID: c.id, fromUnit: c.unit, toUnit: unit, evidence: e.itemID,
                                  note: "escalated by evidence \(e.itemID) (\(e.category.rawValue), severity \(e.severity.rawValue))"
                                      + (r.reason.isEmpty ? "" : ": \(r.reason)") + " → \(unit)" + (c.unit.map { " (was \($0))" } ?? ""))
        c.unit = unit
        return reroute
    }

    mutating func remember(_ e: Evidence, zone: String, watermark: Date) {
        // Keep what an event that is not late could still correlate with (the horizon a restart restores).
        let horizon = max(watermark, e.time).addingTimeInterval(-rules.window - lateness)
        guard let slot = recent.index(forKey: zone) else {
            recent[zone] = e.time < horizon ? [] : [e]
            return
        }
        // Changed in place, through the one lookup.
        if let i = recent.values[slot].firstIndex(where: { $0.itemID == e.itemID }) {
            recent.values[slot][i].time = max(recent.values[slot][i].time, e.time)
            recent.values[slot][i].severity = min(recent.values[slot][i].severity, e.severity)
        } else {
            recent.values[slot].append(e)
        }
        recent.values[slot].removeAll { $0.time < horizon }
    }

    // MARK: - Explanations

    func explain(_ rule: Case.Rule, zone: String, trigger: Evidence, evidence: [Evidence]) -> String {
        let minutes = Int(rules.window / 60)
        var text: String
        switch rule {
        case .sos:
            text = "规则 sos（紧急求助）：设备 \(trigger.source) 在网格 \(zone) 发出求助，立即立案（严重程度 \(trigger.severity.rawValue) 级）。"
        case .correlation:
            let groups = rules.groups.filter { g in evidence.allSatisfy { g.value.contains($0.category) || $0.category == trigger.category } }.map(\.key).sorted()
            text = "规则 correlation（多源关联）：网格 \(zone) 在 \(minutes) 分钟内有 \(Set(evidence.map(\.source)).count) 个不同来源报告相关类别"
                + (groups.isEmpty ? "" : "（关联组 \(groups.joined(separator: ", "))）")
                + "；阈值：至少 \(rules.minSources) 个来源，窗口 \(Int(rules.window)) 秒（correlation.min_sources, correlation.window_seconds）。"
        case .severity:
            text = "规则 severity（严重程度）：风险隐患 \(trigger.itemID)（\(trigger.category.chineseName) \(trigger.category.rawValue)）严重程度 \(trigger.severity.rawValue) 级，"
                + "达到立案阈值 ≤ \(rules.openAtSeverity) 级（cases.open_at_severity），立即立案。"
        case .patrolReport:
            text = "规则 patrol_report（网格员上报纠纷）：设备 \(trigger.source) 上报\(trigger.category.chineseName)（\(trigger.category.rawValue)），"
                + "属纠纷类别（cases.dispute_categories），立即立案。"
        }
        text += "\n证据 / evidence:"
        for e in evidence { text += "\n- " + line(e) }
        return text
    }

    func line(_ e: Evidence) -> String {
        let who = e.sourceKind == .camera ? "摄像头 camera" : "网格员设备 device"
        return "\(Self.local(e.time, timeZone)) \(who) \(e.source)：\(e.category.chineseName)（\(e.category.rawValue)），"
            + "严重程度 \(e.severity.rawValue)，风险隐患 \(e.itemID)" + (e.drill ? "（演练 drill）" : "")
    }

    /// `yyyy-MM-dd HH:mm:ss` in `zone` (no formatter: cases are written on the hot path's thread).
    static func local(_ date: Date, _ zone: TimeZone) -> String { HubFormat.dateTime(date, in: zone) }
}

func unique<T: Hashable>(_ values: [T]) -> [T] {
    var seen = Set<T>()
    return values.filter { seen.insert($0).inserted }
}
