import Foundation

/// When the risk engine opens a case (SPEC.md "Outcomes" → Case), and how
/// long a case has: the `cases:` and `correlation:` sections of `rules.yaml`.
public struct CaseRules: Sendable, Equatable {
    /// Days from opening to `due_at` (SPEC.md: 30).
    public var dueDays: Double = 30
    /// Days for a severity-1 case (SPEC.md: 1).
    public var severity1DueDays: Double = 1
    /// An unmuted risk item with severity ≤ this opens a case by itself (0: never),
    /// whatever its category, unless the category is in `neverOpenBySeverity`.
    public var openAtSeverity: Int = 1
    /// Categories whose severity alone never opens a case: signals that are not
    /// a situation for a unit to handle (plain motion, a camera's own health).
    /// They still open or join cases by the other rules if configured there
    /// (a correlation group, `dispute_categories`).
    public var neverOpenBySeverity: Set<Category> = CaseRules.defaultNeverOpenBySeverity { didSet { index = Index(self) } }
    /// A grid worker's report of one of these opens a case by itself.
    public var disputeCategories: Set<Category> = CaseRules.defaultDisputeCategories { didSet { index = Index(self) } }
    /// Correlation: distinct sources reporting related categories in one grid…
    public var minSources: Int = 2
    /// …within this window (event time).
    public var window: TimeInterval = 900
    /// Named groups of related categories. Two categories are related when a
    /// group holds both; a category is related to itself.
    public var groups: [String: Set<Category>] = CaseRules.defaultGroups { didSet { index = Index(self) } }
    /// The sets above as bit masks, kept in step with them: the case stage asks them for
    /// every event, and a bit test costs less than hashing a category into each set.
    private var index = Index(CaseRules.defaultNeverOpenBySeverity, CaseRules.defaultDisputeCategories, CaseRules.defaultGroups)

    /// Category sets as bit masks (bit `Category.ordinal`).
    private struct Index: Sendable, Equatable {
        /// `neverOpenBySeverity`.
        var never: UInt64
        /// The categories `involves` is true of.
        var involved: UInt64
        /// Per category (by ordinal): the categories related to it, itself included.
        var related: [UInt64]

        init(_ never: Set<Category>, _ dispute: Set<Category>, _ groups: [String: Set<Category>]) {
            func mask(_ set: Set<Category>) -> UInt64 { set.reduce(0) { $0 | $1.bit } }
            self.never = mask(never)
            involved = groups.values.reduce(mask(dispute) | Category.sos.bit) { $0 | mask($1) }
            related = Category.allCases.map { c in groups.values.reduce(c.bit) { $1.contains(c) ? $0 | mask($1) : $0 } }
        }

        init(_ rules: CaseRules) { self.init(rules.neverOpenBySeverity, rules.disputeCategories, rules.groups) }
    }

    /// A grid worker's report of one of these opens a case by itself (the default of `disputeCategories`).
    public static let defaultDisputeCategories: Set<Category> = [.dispute, .wageArrears, .neighbourConflict, .familyConflict]

    /// Two groups: public order (crowds, fights, disputes, SOS …) and fire safety.
    public static let defaultGroups: [String: Set<Category>] = [
        "public_order": [.crowdGathering, .fight, .banner, .dispute, .wageArrears, .neighbourConflict, .familyConflict, .publicOrder, .personFall, .sos],
        "fire_safety": [.fireSmoke, .safetyHazard, .personFall],
    ]

    /// Motion and camera health never open a case by severity alone.
    public static let defaultNeverOpenBySeverity: Set<Category> = [.motion, .cameraOffline, .cameraTampered, .cameraDegraded]

    /// The defaults above.
    public init() {}

    /// Whether an item of this category and severity opens a case by itself (rule `severity`).
    public func opensBySeverity(_ category: Category, _ severity: Severity) -> Bool {
        severity.rawValue <= openAtSeverity && index.never & category.bit == 0
    }

    /// The due date of a case of `severity` opened at `opened`.
    public func due(opened: Date, severity: Severity) -> Date {
        opened.addingTimeInterval((severity == .critical ? severity1DueDays : dueDays) * 86_400)
    }

    /// The names of the groups a category belongs to, sorted.
    public func groups(of category: Category) -> [String] {
        groups.filter { $0.value.contains(category) }.map(\.key).sorted()
    }

    /// Whether two categories are related (the same, or in one group).
    public func related(_ a: Category, _ b: Category) -> Bool {
        index.related[a.ordinal] & b.bit != 0
    }

    /// Whether a category takes part in correlation and the patrol-report rule; the
    /// others enter the case stage only to open a case by severity or to join one of their own category.
    public func involves(_ category: Category) -> Bool {
        index.involved & category.bit != 0
    }

    static func parse(cases c: ConfigMap, correlation k: ConfigMap) throws(HubError) -> CaseRules {
        var r = CaseRules()
        r.dueDays = try c.double("due_days", default: r.dueDays, range: 0.01...3650)
        r.severity1DueDays = try c.double("severity1_due_days", default: r.severity1DueDays, range: 0.01...3650)
        r.openAtSeverity = try c.int("open_at_severity", default: r.openAtSeverity, range: 0...4)
        if let list = try c.stringList("dispute_categories") {
            r.disputeCategories = Set(try list.map { name throws(HubError) in try Self.category(name, c, "dispute_categories") })
        }
        if let list = try c.stringList("never_open_by_severity") {
            r.neverOpenBySeverity = Set(try list.map { name throws(HubError) in try Self.category(name, c, "never_open_by_severity") })
            if r.neverOpenBySeverity.contains(.sos) {
                throw c.error("never_open_by_severity", "sos opens a case by its own rule; it cannot be listed here")
            }
        }
        try c.finish()
        r.minSources = try k.int("min_sources", default: r.minSources, range: 2...100)
        r.window = TimeInterval(try k.int("window_seconds", default: Int(r.window), range: 1...86_400))
        if k.contains("groups") {
            let g = try k.map("groups")
            var groups: [String: Set<Category>] = [:]
            for name in g.keys {
                guard let list = try g.stringList(name) else { continue }
                groups[name] = Set(try list.map { n throws(HubError) in try Self.category(n, g, name) })
                if groups[name]!.count < 2 { throw g.error(name, "a group of related categories needs at least two") }
            }
            try g.finish()
            r.groups = groups
        }
        try k.finish()
        return r
    }

    static func category(_ name: String, _ map: ConfigMap, _ key: String) throws(HubError) -> Category {
        guard let c = Category(rawValue: name) else {
            throw map.error(key, "unknown category '\(name)' (one of: \(Category.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return c
    }
}
