import Foundation
import Testing
@testable import Alerts
import TestSupport

/// 一网分流, 一案一专班 over the sample district (config/zones.geojson).
@Suite("Case routing")
struct CaseRouterTests {
    static let zones = ZoneDirectory(CaseFixtures.sampleZones)
    static let grid = "540102-002-001-01" // a grid of 吉日街道

    struct Row: Sendable, CustomStringConvertible {
        var zone: String
        var category: Alerts.Category
        var severity: Severity
        var unit: String?
        var unitZone: String?
        var lead: String?
        var co: [String]
        var description: String { "\(category.rawValue) sev \(severity.rawValue) in \(zone)" }
    }

    static let table: [Row] = [
        // Small matters stay in the street…
        Row(zone: grid, category: .dispute, severity: .major, unit: "吉日街道综治中心", unitZone: "540102-002", lead: nil, co: []),
        Row(zone: grid, category: .neighbourConflict, severity: .minor, unit: "吉日街道综治中心", unitZone: "540102-002", lead: nil, co: []),
        Row(zone: "540102-001-002-02", category: .intrusion, severity: .minor, unit: "八廓街道综治中心", unitZone: "540102-001", lead: nil, co: []),
        // …big ones go to the district: severity 1, district categories.
        Row(zone: grid, category: .fight, severity: .critical, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        Row(zone: grid, category: .sos, severity: .critical, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        Row(zone: grid, category: .dispute, severity: .critical, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        Row(zone: grid, category: .banner, severity: .major, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        Row(zone: grid, category: .crowdGathering, severity: .minor, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        // Joint teams: the street (or district) unit plus the team.
        Row(zone: grid, category: .wageArrears, severity: .major, unit: "吉日街道综治中心", unitZone: "540102-002",
            lead: "区人社局", co: ["区总工会", "区住建局", "区司法局"]),
        Row(zone: grid, category: .wageArrears, severity: .critical, unit: "城关区综治中心", unitZone: "540102",
            lead: "区人社局", co: ["区总工会", "区住建局", "区司法局"]),
        Row(zone: grid, category: .familyConflict, severity: .major, unit: "吉日街道综治中心", unitZone: "540102-002", lead: "区妇联", co: ["区民政局", "区司法局"]),
        // Placed above grid level: a street's own zone, the district's.
        Row(zone: "540102-003", category: .dispute, severity: .major, unit: "吉崩岗街道综治中心", unitZone: "540102-003", lead: nil, co: []),
        Row(zone: "540102", category: .dispute, severity: .major, unit: "城关区综治中心", unitZone: "540102", lead: nil, co: []),
        // Outside every zone: no unit (see the default_unit test).
        Row(zone: "unzoned", category: .dispute, severity: .major, unit: nil, unitZone: nil, lead: nil, co: []),
    ]

    @Test(arguments: table)
    func routes(row: Row) {
        let r = CaseRouter().decide(zone: row.zone, category: row.category, severity: row.severity, zones: Self.zones)
        #expect(r.unit == row.unit)
        #expect(r.unitZone == row.unitZone)
        #expect(r.leadUnit == row.lead)
        #expect(r.coUnits == row.co)
    }

    @Test func reasonsSayWhy() {
        let router = CaseRouter()
        #expect(router.decide(zone: Self.grid, category: .dispute, severity: .major, zones: Self.zones).reason == "an ordinary matter stays in the street")
        #expect(router.decide(zone: Self.grid, category: .fight, severity: .critical, zones: Self.zones).reason == "severity 1 goes to the district")
        #expect(router.decide(zone: Self.grid, category: .banner, severity: .major, zones: Self.zones).reason == "banner is a district matter")
        #expect(router.decide(zone: Self.grid, category: .wageArrears, severity: .major, zones: Self.zones).reason
                == "an ordinary matter stays in the street; joint team led by 区人社局")
    }

    @Test func aStreetWithoutAUnitFallsToTheDistrictAndUnzonedToTheDefault() {
        let dir = ZoneDirectory([
            ZoneUnit(code: "D", name: "区", level: .district, unit: "区中心"),
            ZoneUnit(code: "D-1", name: "街道", level: .street, parent: "D"),
            ZoneUnit(code: "D-1-1", name: "社区", level: .community, parent: "D-1", unit: "居委会"),
            ZoneUnit(code: "D-1-1-1", name: "网格", level: .grid, parent: "D-1-1", unit: "居委会"),
        ])
        var rules = RoutingRules()
        rules.defaultUnit = "综治中心值班室"
        let router = CaseRouter(rules)
        #expect(router.route(zone: "D-1-1-1", category: .dispute, severity: .major, zones: dir).unit == "区中心")
        #expect(router.route(zone: "unzoned", category: .dispute, severity: .major, zones: dir).unit == "综治中心值班室")
        // The community's unit is below the street: a street case never goes to it.
        #expect(router.decide(zone: "D-1-1-1", category: .dispute, severity: .major, zones: dir).unitZone == "D")
    }

    @Test func theEnginesRoutingFunction() {
        let route = CaseRouter().function(zones: Self.zones)
        #expect(route(Placement(zone: Self.grid, unit: "吉日社区居委会"), .wageArrears, .major)
                == CaseRouting(unit: "吉日街道综治中心", leadUnit: "区人社局", coUnits: ["区总工会", "区住建局", "区司法局"],
                               reason: "an ordinary matter stays in the street; joint team led by 区人社局"))
        #expect(route(Placement(zone: Self.grid), .fight, .critical) == CaseRouting(unit: "城关区综治中心", district: true, reason: "severity 1 goes to the district"))
        #expect(route(Placement(zone: Self.grid), .banner, .major).district, "a district category is the district's matter")
        // Outside every zone: the placement's own unit (a device's) is kept, and is no district to escalate to.
        #expect(route(Placement(zone: "unzoned", unit: "巡逻一队"), .dispute, .major) == CaseRouting(unit: "巡逻一队", reason: "no zone unit on the chain: unrouted"))
        #expect(!route(Placement(zone: "unzoned", unit: "巡逻一队"), .fight, .critical).district)
    }

    @Test func configuredSeverityAndCategories() {
        var rules = RoutingRules()
        rules.districtMaxSeverity = 2
        rules.districtCategories = [.garbage]
        rules.jointTeams = [:]
        let router = CaseRouter(rules)
        #expect(router.route(zone: Self.grid, category: .dispute, severity: .major, zones: Self.zones).unit == "城关区综治中心")
        #expect(router.route(zone: Self.grid, category: .garbage, severity: .info, zones: Self.zones).unit == "城关区综治中心")
        #expect(router.route(zone: Self.grid, category: .banner, severity: .minor, zones: Self.zones).unit == "吉日街道综治中心")
        #expect(router.route(zone: Self.grid, category: .wageArrears, severity: .minor, zones: Self.zones).leadUnit == nil)
    }

    @Test func escalationGoesToTheParentOfTheResponsibleZone() {
        #expect(CaseRouter.escalation(unit: "吉日街道综治中心", zone: Self.grid, zones: Self.zones)?.unit == "城关区综治中心")
        #expect(CaseRouter.escalation(unit: "城关区综治中心", zone: Self.grid, zones: Self.zones) == nil)
        // A unit that is not on the chain (a default unit): the district.
        #expect(CaseRouter.escalation(unit: "值班室", zone: Self.grid, zones: Self.zones)?.code == "540102")
        #expect(CaseRouter.escalation(unit: "x", zone: "unzoned", zones: Self.zones) == nil)
    }

    @Test func theShippedRulesFileConfiguresTheDefaults() throws {
        let r = try RuleSet.load(file: GridFixtures.sample("rules.yaml").path)
        #expect(r.routing == RoutingRules())
        #expect(r.supervision == SupervisionRules())
    }

    @Test func routingFromYAML() throws {
        let yaml = """
            routing:
              district_max_severity: 2
              district_categories: [fire_smoke, garbage]
              default_unit: 值班室
              joint_teams:
                dispute:
                  lead: 区司法局
                  co_units: [区信访局]
            """
        let r = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml")).routing
        #expect(r.districtMaxSeverity == 2)
        #expect(r.districtCategories == [.fireSmoke, .garbage])
        #expect(r.defaultUnit == "值班室")
        #expect(r.jointTeams == [.dispute: RoutingRules.JointTeam(lead: "区司法局", coUnits: ["区信访局"])])
    }

    @Test(arguments: [
        ("routing:\n  district_categories: [fight, ufo]\n",
         "rules.yaml:2: key 'routing.district_categories': unknown category 'ufo' (one of: \(Alerts.Category.allCases.map(\.rawValue).joined(separator: ", ")))"),
        ("routing:\n  joint_teams:\n    wage_arrears:\n      co_units: [a]\n", "rules.yaml:3: key 'routing.joint_teams.wage_arrears': a joint team needs 'lead' (the lead unit)"),
        ("routing:\n  joint_teams:\n    wage_arrears:\n      lead: a\n      members: [b]\n",
         "rules.yaml:5: key 'routing.joint_teams.wage_arrears.members': unknown key (check its spelling and place)"),
        ("routing:\n  joint_teams:\n    wages:\n      lead: a\n",
         "rules.yaml:3: key 'routing.joint_teams.wages': unknown category (one of: \(Alerts.Category.allCases.map(\.rawValue).joined(separator: ", ")))"),
        ("routing:\n  district_max_severity: 5\n", "rules.yaml:2: key 'routing.district_max_severity': must be between 0 and 4, found 5"),
        ("routing:\n  street_unit: x\n", "rules.yaml:2: key 'routing.street_unit': unknown key (check its spelling and place)"),
    ])
    func routingErrorsNameLineAndKey(yaml: String, message: String) {
        do {
            _ = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml"))
            Issue.record("accepted")
        } catch {
            #expect(error.description == message)
        }
    }
}
