import Foundation

/// One zone as routing and supervision need it: where it sits and who answers for it.
public struct ZoneUnit: Sendable, Hashable {
    /// The zone's code (`540102-001-002-02`).
    public var code: String
    /// The zone's name, used in documents.
    public var name: String
    /// District, street, community or grid.
    public var level: ZoneLevel
    /// The code of the zone above; nil at the top.
    public var parent: String?
    /// The unit that answers for the zone; nil: its parent's answers.
    public var unit: String?

    /// A zone from its fields (tests, and zones not in a GeoJSON file).
    public init(code: String, name: String, level: ZoneLevel, parent: String? = nil, unit: String? = nil) {
        self.code = code
        self.name = name
        self.level = level
        self.parent = parent
        self.unit = unit
    }

    /// The routing view of a loaded grid zone.
    public init(_ zone: Zone) {
        self.init(code: zone.code, name: zone.name, level: zone.level, parent: zone.parent, unit: zone.unit)
    }
}

/// Zones by code with their ancestors: built from the loaded grid
/// (`ZoneIndex`) or from the store's `zones` table (which the hub fills at
/// start), so routing and supervision work the same in the hub and the CLI.
public struct ZoneDirectory: Sendable {
    private var byCode: [String: ZoneUnit]

    /// A directory of `zones` by code.
    public init(_ zones: [ZoneUnit]) {
        byCode = Dictionary(zones.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The directory of a loaded grid.
    public init(_ index: ZoneIndex) { self.init(index.zones.map(ZoneUnit.init)) }

    /// The zone with this code, nil when unknown.
    public func zone(_ code: String) -> ZoneUnit? { byCode[code] }

    /// The zone and its ancestors, district first; empty for an unknown code
    /// (`unzoned`). A cycle in bad data stops the walk.
    public func chain(of code: String) -> [ZoneUnit] {
        var out: [ZoneUnit] = []
        var seen: Set<String> = []
        var next: String? = code
        while let c = next, let z = byCode[c], seen.insert(c).inserted {
            out.append(z)
            next = z.parent
        }
        return out.reversed()
    }
}

/// Routing configuration (`routing:` in `config/rules.yaml`): which matters
/// go to the district and which categories have a standing joint team.
public struct RoutingRules: Sendable, Equatable {
    /// A standing joint team (一案一专班) for a category.
    public struct JointTeam: Sendable, Equatable {
        /// The unit that leads the team.
        public var lead: String
        /// The units that join it.
        public var coUnits: [String]
        /// A team led by `lead` with `coUnits`.
        public init(lead: String, coUnits: [String]) {
            self.lead = lead
            self.coUnits = coUnits
        }
    }

    /// Cases with severity ≤ this go to the district's unit (1: severity-1 only; 0: none by severity).
    public var districtMaxSeverity: Int = 1
    /// Categories handled by the district whatever their severity ("big matters").
    public var districtCategories: Set<Category> = [.banner, .crowdGathering]
    /// Categories with a standing joint team.
    public var jointTeams: [Category: JointTeam] = [
        .wageArrears: JointTeam(lead: "区人社局", coUnits: ["区总工会", "区住建局", "区司法局"]),
        .familyConflict: JointTeam(lead: "区妇联", coUnits: ["区民政局", "区司法局"]),
    ]
    /// The unit for a case whose zone has no unit on its chain (e.g. `unzoned`); nil leaves it unrouted.
    public var defaultUnit: String?

    /// The defaults above: severity 1, banners and crowds to the district; joint teams for wage arrears and family conflicts.
    public init() {}

    /// Parses the `routing:` mapping (absent: the defaults above).
    public static func parse(_ m: ConfigMap) throws(HubError) -> RoutingRules {
        var r = RoutingRules()
        r.districtMaxSeverity = try m.int("district_max_severity", default: r.districtMaxSeverity, range: 0...4)
        if let list = try m.stringList("district_categories") {
            var set: Set<Category> = []
            for name in list {
                guard let c = Category(rawValue: name) else {
                    throw m.error("district_categories", "unknown category '\(name)' (one of: \(Category.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                set.insert(c)
            }
            r.districtCategories = set
        }
        if m.contains("joint_teams") {
            let teams = try m.map("joint_teams")
            r.jointTeams = [:]
            for key in teams.keys {
                guard let c = Category(rawValue: key) else {
                    throw teams.error(key, "unknown category (one of: \(Category.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                let t = try teams.map(key)
                guard let lead = try t.string("lead"), !lead.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw teams.error(key, "a joint team needs 'lead' (the lead unit)")
                }
                let co = try t.stringList("co_units") ?? []
                if co.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                    throw t.error("co_units", "a co-unit name is empty")
                }
                try t.finish()
                r.jointTeams[c] = JointTeam(lead: lead, coUnits: co)
            }
            try teams.finish()
        }
        r.defaultUnit = try m.string("default_unit")
        try m.finish()
        return r
    }
}

/// 一网分流, 一案一专班 (SPEC.md "Case lifecycle", routing): ordinary cases
/// go to the unit of their grid's street; severity-1 cases and district
/// categories to the district's unit; a category with a standing joint team
/// also names the team's lead unit and co-units. Pure: the caller passes the
/// zone's chain.
///
/// The engine wires it into its case stage (`CaseStage.route`):
/// ```swift
/// engine.cases.route = CaseRouter(rules.routing).function(zones: ZoneDirectory(index))
/// ```
public struct CaseRouter: Sendable {
    /// A routing decision with the reasons behind it.
    public struct Decision: Sendable, Equatable {
        /// The responsible unit (street's or district's); nil when none is known.
        public var unit: String?
        /// The zone whose unit that is (its parent's unit is where supervision orders escalate).
        public var unitZone: String?
        /// The lead unit of the category's joint team, when it has one.
        public var leadUnit: String?
        /// The joint team's other units.
        public var coUnits: [String]
        /// Why, in one line.
        public var reason: String

        /// Whether the matter is the district's (severity or category), whatever unit that found.
        public var toDistrict = false

        /// What the case records (the engine's `CaseRouting`).
        public var routing: CaseRouting { CaseRouting(unit: unit, leadUnit: leadUnit, coUnits: coUnits, district: toDistrict, reason: reason) }
    }

    /// The `routing:` rules it applies.
    public var rules: RoutingRules

    /// A router applying `rules`.
    public init(_ rules: RoutingRules = RoutingRules()) { self.rules = rules }

    /// Routes a case in `zone` (unit, lead unit, co-units).
    public func route(zone: String, category: Category, severity: Severity, zones: ZoneDirectory) -> CaseRouting {
        decide(zone: zone, category: category, severity: severity, zones: zones).routing
    }

    /// The routing function of `CaseStage`: a placement's own unit is kept
    /// only when the zones name none on the chain (and no default unit is set).
    public func function(zones: ZoneDirectory) -> @Sendable (Placement, Category, Severity) -> CaseRouting {
        let router = self
        return { placement, category, severity in
            var r = router.route(zone: placement.zone, category: category, severity: severity, zones: zones)
            // Without a unit on the chain the placement's own is kept; that is no district to escalate to.
            if r.unit == nil { r.unit = placement.unit; r.district = false }
            return r
        }
    }

    /// The decision for a case in `zone`, with the zone whose unit it is and why.
    public func decide(zone: String, category: Category, severity: Severity, zones: ZoneDirectory) -> Decision {
        decide(category: category, severity: severity, chain: zones.chain(of: zone))
    }

    /// The decision for a case in the zone whose chain (district first, the case's zone last) is given.
    public func decide(category: Category, severity: Severity, chain: [ZoneUnit]) -> Decision {
        let toDistrict = severity.rawValue <= rules.districtMaxSeverity || rules.districtCategories.contains(category)
        let why = severity.rawValue <= rules.districtMaxSeverity
            ? "severity \(severity.rawValue) goes to the district"
            : (toDistrict ? "\(category.rawValue) is a district matter" : "an ordinary matter stays in the street")
        // The chosen level's unit; when that zone has none, the nearest unit above it.
        let target: ZoneLevel = toDistrict ? .district : .street
        let upToTarget = chain.filter { $0.level <= target }
        var picked = upToTarget.last(where: { $0.unit?.isEmpty == false })
        if picked == nil, !toDistrict {
            // No street on the chain (a case placed at district level): the district's unit.
            picked = chain.first(where: { $0.unit?.isEmpty == false })
        }
        var d = Decision(unit: picked?.unit ?? rules.defaultUnit, unitZone: picked?.code, leadUnit: nil, coUnits: [],
                         reason: picked == nil ? "no zone unit on the chain: \(rules.defaultUnit == nil ? "unrouted" : "default unit")" : why,
                         toDistrict: toDistrict)
        if let team = rules.jointTeams[category] {
            d.leadUnit = team.lead
            d.coUnits = team.coUnits
            d.reason += "; joint team led by \(team.lead)"
        }
        return d
    }

    /// Where a supervision order about a case of `unit` in `zone` escalates:
    /// the unit of the parent of the zone whose unit is responsible (a
    /// street's case goes up to the district). Nil at the top.
    public static func escalation(unit: String?, zone: String, zones: ZoneDirectory) -> ZoneUnit? {
        let chain = zones.chain(of: zone)
        guard let unit, let i = chain.lastIndex(where: { $0.unit == unit }) else {
            // The unit is not on the chain (a default unit, a joint team's): the district above everything.
            return chain.first(where: { $0.unit != nil && $0.unit != unit })
        }
        return chain[..<i].last(where: { $0.unit?.isEmpty == false && $0.unit != unit })
    }
}
