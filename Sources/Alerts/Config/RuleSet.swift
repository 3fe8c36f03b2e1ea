import Foundation

/// The numbers behind every outcome (SPEC.md "Outcomes"); all configurable in
/// `config/rules.yaml`, with the SPEC's defaults here.
public struct RuleSet: Sendable, Equatable {
    /// Detections of one category from one source closer than this fold into one risk item.
    public var dedupWindow: TimeInterval = 120
    /// Warning slips: items with severity ≤ this raise a slip at once (0: never).
    public var immediateMaxSeverity: Int = 2
    /// Warning slips: otherwise this many occurrences in one zone and category…
    public var slipThreshold: Int = 3
    /// …within this window.
    public var groupWindow: TimeInterval = 600
    /// A firing slip is issued again after this long.
    public var repeatInterval: TimeInterval = 3600
    /// Per-category overrides of the default severity.
    public var severities: [Category: Severity] = [:]
    /// Per-category overrides of the slip threshold.
    public var thresholds: [Category: Int] = [:]
    /// Event time: an event older than the newest event time seen minus this
    /// is late. It is kept as a risk item but opens no new slip or case
    /// (it does not reopen windows that have closed).
    public var lateness: TimeInterval = 600
    /// A camera event whose reported location is farther than this (metres) from the
    /// camera's registered location is placed in the camera's zone and flagged
    /// `location_mismatch` (0: no check). `placement.max_camera_distance_m`.
    public var maxCameraDistance: Double = Placer.defaultMaxCameraDistance
    /// When the engine opens cases (severity, patrol report, correlation) and their deadlines.
    public var cases = CaseRules()
    /// How foreign formats map onto cameras and categories.
    public var adapters = AdapterRules()
    /// How a vendor's alarm priority combines with the category's severity: `vendor_priority:`.
    public var vendorPriority = VendorPriorityRules()
    /// Case routing (一网分流, 一案一专班): `routing:`.
    public var routing = RoutingRules()
    /// Deadline supervision (函单令): `supervision:`.
    public var supervision = SupervisionRules()

    /// The built-in defaults, as an empty `rules.yaml` gives.
    public init() {}

    /// The configured severity of `category`, else its default.
    public func severity(of category: Category) -> Severity { severities[category] ?? category.defaultSeverity }
    /// Occurrences in the group window that issue a warning slip for `category`: its own threshold, else `slipThreshold`.
    public func threshold(of category: Category) -> Int { thresholds[category] ?? slipThreshold }

    /// Loads and validates `rules.yaml`.
    public static func load(file: String) throws(HubError) -> RuleSet {
        try parse(ConfigMap.load(file: file))
    }

    /// The rules of an already loaded rules.yaml mapping.
    public static func parse(_ root: ConfigMap) throws(HubError) -> RuleSet {
        var r = RuleSet()
        let d = try root.map("dedup")
        r.dedupWindow = TimeInterval(try d.int("window_seconds", default: Int(r.dedupWindow), range: 1...86_400))
        try d.finish()
        let w = try root.map("warning_slips")
        r.immediateMaxSeverity = try w.int("immediate_max_severity", default: r.immediateMaxSeverity, range: 0...4)
        r.slipThreshold = try w.int("threshold", default: r.slipThreshold, range: 1...100_000)
        r.groupWindow = TimeInterval(try w.int("group_window_seconds", default: Int(r.groupWindow), range: 1...604_800))
        r.repeatInterval = TimeInterval(try w.int("repeat_interval_seconds", default: Int(r.repeatInterval), range: 60...604_800))
        try w.finish()
        let e = try root.map("event_time")
        r.lateness = TimeInterval(try e.int("lateness_seconds", default: Int(r.lateness), range: 0...604_800))
        try e.finish()
        let pl = try root.map("placement")
        r.maxCameraDistance = Double(try pl.int("max_camera_distance_m", default: Int(r.maxCameraDistance), range: 0...100_000))
        try pl.finish()
        r.cases = try CaseRules.parse(cases: try root.map("cases"), correlation: try root.map("correlation"))
        r.adapters = try AdapterRules.parse(try root.map("adapters"))
        r.vendorPriority = try VendorPriorityRules.parse(try root.map("vendor_priority"))
        let cats = try root.map("categories")
        for key in cats.keys {
            guard let category = Category(rawValue: key) else {
                throw cats.error(key, "unknown category (one of: \(Category.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let c = try cats.map(key)
            if c.contains("severity") {
                r.severities[category] = Severity(rawValue: try c.int("severity", default: 4, range: 1...4))
            }
            if c.contains("threshold") {
                r.thresholds[category] = try c.int("threshold", default: 3, range: 1...100_000)
            }
            try c.finish()
        }
        try cats.finish()
        r.routing = try RoutingRules.parse(root.map("routing"))
        r.supervision = try SupervisionRules.parse(root.map("supervision"))
        try root.finish()
        return r
    }
}
