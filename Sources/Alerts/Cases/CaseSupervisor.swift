import Foundation

/// Deadline supervision numbers (`supervision:` in `config/rules.yaml`).
public struct SupervisionRules: Sendable, Equatable {
    /// A reminder letter this many days before `due_at`…
    public var reminderDaysBefore: Int = 7
    /// …or, for a deadline of `reminderDaysBefore` days or less, at this fraction of it.
    public var reminderFraction: Double = 0.8
    /// A supervision order after this many days without an action (and again
    /// after as many days more, counted from the previous order).
    public var idleDays: Int = 7
    /// How often the hub looks (seconds).
    public var tickSeconds: Int = 60

    /// The defaults: 7 days' reminder, 0.8 of short deadlines, 7 idle days, a look every minute.
    public init() {}

    /// `reminderDaysBefore` in seconds.
    public var reminderLead: TimeInterval { TimeInterval(reminderDaysBefore) * 86_400 }
    /// `idleDays` in seconds.
    public var idleInterval: TimeInterval { TimeInterval(idleDays) * 86_400 }

    /// Parses the `supervision:` mapping (absent: the defaults above).
    public static func parse(_ m: ConfigMap) throws(HubError) -> SupervisionRules {
        var r = SupervisionRules()
        r.reminderDaysBefore = try m.int("reminder_days_before", default: r.reminderDaysBefore, range: 1...365)
        r.reminderFraction = try m.double("reminder_fraction", default: r.reminderFraction, range: 0.05...0.99)
        r.idleDays = try m.int("idle_days", default: r.idleDays, range: 1...365)
        r.tickSeconds = try m.int("tick_seconds", default: r.tickSeconds, range: 1...86_400)
        try m.finish()
        return r
    }
}

/// The deadline-supervision rules (函单令) as a pure function of a case, the
/// documents already issued for it, and the time: which reminder letter
/// (提醒函) or supervision order (督办令) is due now. Each document has a
/// trigger key, unique in the store, so it is issued once:
///
/// - `case:{id}:due-reminder` — open, `now ≥ reminderTime`, not yet due;
/// - `case:{id}:overdue` — open and past `due_at`;
/// - `case:{id}:idle:{n}` — open and no action for `idle_days`, counted from
///   the last action or the previous idle order, whichever is later.
public struct CaseSupervisor: Sendable {
    /// Which document is due, each issued once per case (per idle stretch for idle orders).
    public enum Trigger: Sendable, Hashable {
        case dueReminder
        case overdue
        /// The n-th idle order of the case; `since` is when the idle stretch began.
        case idle(n: Int, since: Date)

        /// A reminder letter for the due reminder, a supervision order for the others.
        public var kind: Slip.Kind { self == .dueReminder ? .reminder : .supervision }

        /// The document's trigger key (listed above), unique in the store so it is issued once.
        public func key(caseID: String) -> String {
            switch self {
            case .dueReminder: return "case:\(caseID):due-reminder"
            case .overdue: return "case:\(caseID):overdue"
            case .idle(let n, _): return "case:\(caseID):idle:\(n)"
            }
        }
    }

    /// The numbers it applies.
    public var rules: SupervisionRules

    /// A supervisor applying `rules`.
    public init(_ rules: SupervisionRules = SupervisionRules()) { self.rules = rules }

    /// When the case's reminder letter falls due: `reminderDaysBefore` days
    /// before `due_at`, or at `reminderFraction` of a deadline that short or shorter.
    public func reminderTime(for c: Case) -> Date {
        let deadline = c.dueAt.timeIntervalSince(c.openedAt)
        return deadline > rules.reminderLead ? c.dueAt.addingTimeInterval(-rules.reminderLead)
                                             : c.openedAt.addingTimeInterval(deadline * rules.reminderFraction)
    }

    /// The documents due for `c` at `now`, given the triggers already issued
    /// for it (key → issue time). Empty for a case that is not open.
    public func due(for c: Case, issued: [String: Date], now: Date) -> [Trigger] {
        guard c.state.isOpen else { return [] }
        var out: [Trigger] = []
        if now >= reminderTime(for: c), now < c.dueAt, issued[Trigger.dueReminder.key(caseID: c.id)] == nil {
            out.append(.dueReminder)
        }
        if now >= c.dueAt, issued[Trigger.overdue.key(caseID: c.id)] == nil {
            out.append(.overdue)
        }
        let prefix = "case:\(c.id):idle:"
        var last = 0
        var lastAt: Date?
        for (key, at) in issued where key.hasPrefix(prefix) {
            if let n = Int(key.dropFirst(prefix.count)), n > last { last = n; lastAt = at }
        }
        let since = max(c.lastActionAt, lastAt ?? .distantPast)
        if now.timeIntervalSince(since) >= rules.idleInterval {
            out.append(.idle(n: last + 1, since: since))
        }
        return out
    }
}

/// The facts a document states, gathered by the scheduler.
public struct SupervisionFacts: Sendable {
    /// The case zone's name, for the document's text.
    public var zoneName: String?
    /// Where an order escalates (the parent zone's unit).
    public var escalation: ZoneUnit?
    /// The case's last transition, nil when nobody has acted yet.
    public var lastTransition: CaseTransition?
    /// The zone the document's dates are written in.
    public var timeZone: TimeZone

    /// The facts as the scheduler read them.
    public init(zoneName: String?, escalation: ZoneUnit?, lastTransition: CaseTransition?, timeZone: TimeZone) {
        self.zoneName = zoneName
        self.escalation = escalation
        self.lastTransition = lastTransition
        self.timeZone = timeZone
    }
}

extension CaseSupervisor {
    /// The document's text (Chinese, plain language): who it is for, which
    /// case, what is due or overdue, the joint team, and the facts behind it.
    public func text(for trigger: Trigger, slipID: String, case c: Case, facts: SupervisionFacts, now: Date) -> String {
        let fmt = DocumentFormat(timeZone: facts.timeZone)
        let unit = c.unit ?? "属地责任单位"
        let place = facts.zoneName.map { "\($0) \(c.zone)" } ?? c.zone
        var s = c.drill ? "【演练】" : ""
        let title = trigger.kind == .reminder ? "提醒函" : "督办令"
        s += "\(title) \(slipID)。\(unit)："
        s += "案件 \(c.id)（\(place)，\(c.category.chineseName)，\(c.severity.rawValue) 级）"
        switch trigger {
        case .dueReminder:
            s += "将于 \(fmt.time(c.dueAt)) 到期，剩余 \(fmt.duration(c.dueAt.timeIntervalSince(now)))，尚未办结。"
        case .overdue:
            s += "办理期限已于 \(fmt.time(c.dueAt)) 届满，至今未办结，已超期 \(fmt.duration(now.timeIntervalSince(c.dueAt)))。"
        case .idle(let n, let since):
            s += "自 \(fmt.time(since)) 起已连续 \(fmt.duration(now.timeIntervalSince(since))) 无任何处置（第 \(n) 次督办）。"
        }
        s += "当前状态：\(c.state.chineseName)"
        if let a = c.assignee { s += "，承办人 \(a)" }
        s += "。"
        if let lead = c.leadUnit {
            s += "专班牵头单位：\(lead)"
            if !c.coUnits.isEmpty { s += "，协办单位：\(c.coUnits.joined(separator: "、"))" }
            s += "。"
        }
        switch trigger {
        case .dueReminder:
            s += "请抓紧办理，按期办结。"
        case .overdue, .idle:
            s += "责令立即办理，并于 24 小时内报告进展。"
            if let e = facts.escalation, let u = e.unit { s += "抄报上级单位：\(u)（\(e.name)）。" }
        }
        let days = c.dueAt.timeIntervalSince(c.openedAt) / 86_400
        s += "依据：\(fmt.time(c.openedAt)) 立案，办理期限 \(fmt.number(days)) 天，截止 \(fmt.time(c.dueAt))；"
        if let t = facts.lastTransition {
            s += "最后一次处置为 \(fmt.time(t.at)) \(t.actor)“\(t.action.chineseName)”"
            s += t.note.isEmpty ? "。" : "（\(t.note)）。"
        } else {
            s += "立案以来尚无处置。"
        }
        s += "案情：\(c.explanation)"
        return s
    }
}

/// Times and durations as a Chinese document writes them, in the hub's timezone.
struct DocumentFormat {
    let timeZone: TimeZone

    /// `2025-05-31 18:00`.
    func time(_ d: Date) -> String { HubFormat.minute(d, in: timeZone) }

    /// `6 天 23 小时`, `4 小时 48 分钟`, `12 分钟`, `不足 1 分钟` (rounded down to the minute).
    func duration(_ seconds: TimeInterval) -> String {
        let minutes = max(0, Int(seconds / 60))
        let d = minutes / 1440, h = minutes % 1440 / 60, m = minutes % 60
        if d > 0 { return h > 0 ? "\(d) 天 \(h) 小时" : "\(d) 天" }
        if h > 0 { return m > 0 ? "\(h) 小时 \(m) 分钟" : "\(h) 小时" }
        return m > 0 ? "\(m) 分钟" : "不足 1 分钟"
    }

    /// `30`, `1`, `0.5`.
    func number(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
