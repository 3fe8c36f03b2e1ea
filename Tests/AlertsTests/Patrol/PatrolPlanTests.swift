import Foundation
import Testing
@testable import Alerts
import TestSupport

/// `patrol.yaml`: loading, validation errors with file, line and key, and the
/// pure slot arithmetic (schedules, days, windows, matching) in the plan's zone.
@Suite("Patrol plan")
struct PatrolPlanTests {
    static let shanghai = TimeZone(identifier: "Asia/Shanghai")!
    static let registry = Registry(devices: [
        DeviceRecord(id: "dev-1", worker: "gw-1", unit: "冲赛康社区居委会", zone: "Z-1"),
        DeviceRecord(id: "dev-2", worker: "gw-2", unit: "八廓社区居委会", zone: "Z-2"),
    ])

    static func parse(_ yaml: String, zones: ZoneIndex? = nil) throws(HubError) -> PatrolPlan {
        try PatrolPlan.parse(ConfigMap.parse(yaml: yaml, file: "patrol.yaml"), registry: registry, zones: zones, timeZone: shanghai)
    }

    static let base = """
        checkpoints:
          - id: cp-a
            name: North gate
            zone: Z-1
            location: {lat: 29.65, lon: 91.13}
          - id: cp-b
            zone: Z-1
            location: {lat: 29.651, lon: 91.131, crs: gcj02}
            radius_m: 80
        routes:
          - id: rt-1
            device: dev-1
            checkpoints: [cp-a, {id: cp-b, offset_minutes: 20}]
            schedule:
              every_minutes: 120
              from: "08:00"
              to: "12:00"
              days: [mon, tue, wed, thu, fri]
            grace_minutes: 15
        """

    /// 2025-03-03 is a Monday.
    static func local(_ text: String) -> Date { TimeParser(defaultZone: shanghai).parse(text)! }

    @Test func theSamplePlanLoadsAgainstTheSampleRegistryAndGrid() throws {
        let zones = try ZoneFile.load(contentsOf: GridFixtures.sample("zones.geojson"))
        let registry = try Registry.load(camerasFile: GridFixtures.sample("cameras.csv").path, devicesFile: GridFixtures.sample("devices.csv").path)
        let plan = try PatrolPlan.load(file: GridFixtures.sample("patrol.yaml").path, registry: registry, zones: zones, timeZone: Self.shanghai)
        #expect(plan.checkpoints.count == 93)
        #expect(plan.routes.count == 31)
        #expect(Set(plan.routes.map(\.device)) == Set(registry.devices.keys))
        for route in plan.routes {
            #expect(route.worker == registry.devices[route.device]?.worker)
            #expect(route.unit == registry.devices[route.device]?.unit)
            for stop in route.stops { #expect(plan.checkpoints[stop.checkpoint]?.zone == registry.devices[route.device]?.zone) }
        }
        // Monday 2025-03-03: 8 routes × 6 rounds, 8 × 4 (weekdays only), 8 × 4 and 7 × 3 fixed times; three stops each.
        #expect(plan.slots(on: PatrolPlan.LocalDay("2025-03-03")!).count == (8 * 6 + 8 * 4 + 8 * 4 + 7 * 3) * 3)
        #expect(plan.slots(on: PatrolPlan.LocalDay("2025-03-08")!).count == (8 * 6 + 8 * 4 + 7 * 3) * 3)
    }

    @Test func slotsFollowTheScheduleDaysOffsetsAndWindowInTheConfiguredZone() throws {
        let plan = try Self.parse(Self.base)
        let monday = plan.slots(on: PatrolPlan.LocalDay("2025-03-03")!)
        #expect(monday.map(\.id) == [
            "rt-1:cp-a:2025-03-03T08:00+08:00", "rt-1:cp-b:2025-03-03T08:20+08:00",
            "rt-1:cp-a:2025-03-03T10:00+08:00", "rt-1:cp-b:2025-03-03T10:20+08:00",
            "rt-1:cp-a:2025-03-03T12:00+08:00", "rt-1:cp-b:2025-03-03T12:20+08:00",
        ])
        let first = monday[0]
        #expect(first.due == Self.local("2025-03-03T08:00:00"))
        #expect(first.due.rfc3339 == "2025-03-03T00:00:00.000Z")
        #expect(first.opens == Self.local("2025-03-03T07:50:00"))
        #expect(first.graceEnds == Self.local("2025-03-03T08:15:00"))
        #expect(first.closes == Self.local("2025-03-03T09:00:00"))
        #expect(first.worker == "gw-1")
        #expect(first.unit == "冲赛康社区居委会")
        #expect(first.zone == "Z-1")
        #expect(first.day == "2025-03-03")
        #expect(plan.slots(on: PatrolPlan.LocalDay("2025-03-08")!).isEmpty, "Saturday is not a patrol day")
        // The scheduler's view: graces ending in (08:15, 10:35] are 08:35 (cp-b), 10:15 (cp-a), 10:35 (cp-b).
        let due = plan.slots(graceEndingAfter: Self.local("2025-03-03T08:15:00"), through: Self.local("2025-03-03T10:35:00"))
        #expect(due.map(\.id) == ["rt-1:cp-b:2025-03-03T08:20+08:00", "rt-1:cp-a:2025-03-03T10:00+08:00", "rt-1:cp-b:2025-03-03T10:20+08:00"])
    }

    @Test func checkinsMatchTheDueSlotOfTheDevicesRoute() throws {
        let plan = try Self.parse(Self.base)
        func match(_ device: String, _ cp: String, _ t: String) -> String {
            switch plan.match(device: device, checkpoint: cp, at: Self.local(t)) {
            case .slot(let s, let status): return "\(s.id) \(status.rawValue)"
            case .unscheduled(let c, let route): return "unscheduled \(c.id) \(route ?? "-")"
            case .unknownCheckpoint: return "unknown_checkpoint"
            case .noRoute: return "no_route"
            }
        }
        #expect(match("dev-1", "cp-a", "2025-03-03T07:50:00") == "rt-1:cp-a:2025-03-03T08:00+08:00 on_time")
        #expect(match("dev-1", "cp-a", "2025-03-03T08:15:00") == "rt-1:cp-a:2025-03-03T08:00+08:00 on_time")
        #expect(match("dev-1", "cp-a", "2025-03-03T08:15:01") == "rt-1:cp-a:2025-03-03T08:00+08:00 late")
        #expect(match("dev-1", "cp-a", "2025-03-03T08:59:59") == "rt-1:cp-a:2025-03-03T08:00+08:00 late")
        #expect(match("dev-1", "cp-a", "2025-03-03T09:00:00") == "unscheduled cp-a rt-1")
        #expect(match("dev-1", "cp-a", "2025-03-03T07:49:59") == "unscheduled cp-a rt-1")
        #expect(match("dev-1", "cp-b", "2025-03-03T12:30:00") == "rt-1:cp-b:2025-03-03T12:20+08:00 on_time")
        #expect(match("dev-1", "cp-a", "2025-03-08T08:00:00") == "unscheduled cp-a rt-1")
        #expect(match("dev-1", "cp-x", "2025-03-03T08:00:00") == "unknown_checkpoint")
        #expect(match("dev-2", "cp-a", "2025-03-03T08:00:00") == "no_route")
    }

    @Test func fixedTimesAndRoundsPastMidnight() throws {
        let plan = try Self.parse("""
            checkpoints:
              - {id: cp-a, zone: Z-1, location: {lat: 29.65, lon: 91.13}}
            routes:
              - id: night
                device: dev-1
                worker: gw-1
                checkpoints: [{id: cp-a, offset_minutes: 90}]
                schedule: {times: ["23:00", "06:00"], days: [sun]}
                grace_minutes: 5
                early_minutes: 0
                window_minutes: 30
            """)
        // Sunday 2025-03-09: rounds at 06:00 and 23:00; the 23:00 round's stop is due 00:30 on Monday.
        #expect(plan.slots(on: PatrolPlan.LocalDay("2025-03-09")!).map(\.id) == ["night:cp-a:2025-03-09T07:30+08:00", "night:cp-a:2025-03-10T00:30+08:00"])
        #expect(plan.slots(on: PatrolPlan.LocalDay("2025-03-09")!).last?.day == "2025-03-09")
        guard case .slot(let s, .late) = plan.match(device: "dev-1", checkpoint: "cp-a", at: Self.local("2025-03-10T00:40:00")) else {
            Issue.record("expected the Sunday round's slot"); return
        }
        #expect(s.id == "night:cp-a:2025-03-10T00:30+08:00")
        let due = plan.slots(graceEndingAfter: Self.local("2025-03-10T00:00:00"), through: Self.local("2025-03-10T01:00:00"))
        #expect(due.map(\.id) == ["night:cp-a:2025-03-10T00:30+08:00"])
    }

    /// Loading checks a device's slots over eight days for every route: a plan that makes
    /// hundreds of thousands of them took minutes and gigabytes before the hub started.
    @Test func aDevicesSlotsADayAreBounded() throws {
        let checkpoints = (1...8).map { "  - {id: cp-\($0), zone: Z-1, location: {lat: 29.65, lon: 91.13}}" }.joined(separator: "\n")
        let times = (0..<254).map { "\"" + String(format: "%02d:%02d", $0 * 5 / 60, $0 * 5 % 60) + "\"" }.joined(separator: ", ")
        let yaml = """
            checkpoints:
            \(checkpoints)
            routes:
              - id: rt-dense
                device: dev-1
                checkpoints: [\((1...8).map { "cp-\($0)" }.joined(separator: ", "))]
                schedule:
                  times: [\(times)]
                early_minutes: 0
                grace_minutes: 1
                window_minutes: 2
            """
        let error = try #require(throws: HubError.self) { try Self.parse(yaml) }
        #expect(error.description == "patrol.yaml:14: key 'routes[0].schedule': device dev-1's routes make 2032 check-in slots a day; at most 2016 per device "
                + "(a check-in every 5 minutes for 24 hours at 7 checkpoints): fewer rounds or checkpoints")
        // Two rounds fewer make 2016, the bound itself, and load.
        let fewer = yaml.replacingOccurrences(of: ", \"21:00\", \"21:05\"]", with: "]")
        #expect(try Self.parse(fewer).routes.first?.schedule.roundStarts.count == 252)
    }

    @Test func dayBoundariesFollowTheConfiguredZone() throws {
        let plan = try Self.parse(Self.base)
        // 2025-03-02T17:30Z is Monday 01:30 in Shanghai.
        #expect(plan.localDay(of: Date(timeIntervalSince1970: 1_740_936_600)).description == "2025-03-03")
        #expect(plan.start(of: PatrolPlan.LocalDay("2025-03-03")!).rfc3339 == "2025-03-02T16:00:00.000Z")
        #expect(PatrolPlan.LocalDay("2025-03-03")!.weekday == .mon)
        #expect(PatrolPlan.LocalDay("2024-02-29")!.weekday == .thu)
        #expect(PatrolPlan.LocalDay("2025-02-29") == nil)
    }

    @Test(arguments: [
        (Self.base.replacingOccurrences(of: "checkpoints: [cp-a, {id: cp-b", with: "checkpoints: [cp-z, {id: cp-b"),
         "patrol.yaml:13: key 'routes[0].checkpoints[0]': unknown checkpoint 'cp-z' (not under checkpoints:)"),
        (Self.base.replacingOccurrences(of: "offset_minutes: 20}", with: "offset_minutes: 20}, cp-q"),
         "patrol.yaml:13: key 'routes[0].checkpoints[2]': unknown checkpoint 'cp-q' (not under checkpoints:)"),
        (Self.base.replacingOccurrences(of: "device: dev-1", with: "device: dev-9"),
         "patrol.yaml:12: key 'routes[0].device': unknown device 'dev-9' (not in the devices file, registry.devices)"),
        (Self.base.replacingOccurrences(of: "device: dev-1", with: "device: dev-1\n    worker: gw-2"),
         "patrol.yaml:13: key 'routes[0].worker': worker 'gw-2' does not carry device dev-1 (devices file: gw-1)"),
        (Self.base.replacingOccurrences(of: "from: \"08:00\"", with: "from: \"25:00\""),
         "patrol.yaml:16: key 'routes[0].schedule.from': expected a time of day HH:MM (00:00–23:59), found '25:00'"),
        (Self.base.replacingOccurrences(of: "days: [mon, tue", with: "days: [mon, tues"),
         "patrol.yaml:18: key 'routes[0].schedule.days[1]': expected a day (mon, tue, wed, thu, fri, sat, sun), found 'tues'"),
        (Self.base.replacingOccurrences(of: "grace_minutes: 15", with: "grace_minutes: 15\n    window_minutes: 130"),
         "patrol.yaml:20: key 'routes[0].window_minutes': slot windows overlap at checkpoint cp-a: rt-1:cp-a:2024-01-01T08:00+08:00 (until 2024-01-01T02:10:00.000Z) and rt-1:cp-a:2024-01-01T10:00+08:00 (from 2024-01-01T01:50:00.000Z); space the rounds further apart or shorten early_minutes/window_minutes"),
        (Self.base.replacingOccurrences(of: "grace_minutes: 15", with: "grace_minutes: 90"),
         "patrol.yaml:19: key 'routes[0].grace_minutes': window_minutes (60) must be at least grace_minutes (90): a late check-in comes after the grace"),
        (Self.base.replacingOccurrences(of: "      to: \"12:00\"\n", with: ""),
         "patrol.yaml:15: key 'routes[0].schedule.to': is required (a time of day HH:MM)"),
        (Self.base.replacingOccurrences(of: "radius_m: 80", with: "radius: 80"),
         "patrol.yaml:9: key 'checkpoints[1].radius': unknown key (check its spelling and place)"),
        (Self.base.replacingOccurrences(of: "lat: 29.65,", with: "lat: 95,"),
         "patrol.yaml:5: key 'checkpoints[0].location.lat': must be between -90.0 and 90.0, found 95.0"),
        (Self.base.replacingOccurrences(of: "id: cp-b", with: "id: cp-a"),
         "patrol.yaml:6: key 'checkpoints[1].id': duplicate checkpoint id 'cp-a' (first on line 2)"),
        (Self.base.replacingOccurrences(of: "      every_minutes: 120\n", with: "      every_minutes: 120\n      times: [\"09:00\"]\n"),
         "patrol.yaml:14: key 'routes[0].schedule': give either every_minutes (with from and to) or times, not both"),
    ])
    func configErrorsNameFileLineAndKey(yaml: String, message: String) throws {
        let error = try #require(throws: HubError.self) { try Self.parse(yaml) }
        #expect(error.description == message)
    }

    @Test func unknownZonesAndCheckpointsOutsideTheirZoneAreRefused() throws {
        let zones = try ZoneFile.load(contentsOf: GridFixtures.sample("zones.geojson"))
        let yaml = """
            checkpoints:
              - id: cp-a
                zone: 540102-001-001-01
                location: {lat: 29.6462143, lon: 91.1093337}
            """
        _ = try Self.parse(yaml, zones: zones)
        let unknown = try #require(throws: HubError.self) { try Self.parse(yaml.replacingOccurrences(of: "001-001-01", with: "001-001-99"), zones: zones) }
        #expect(unknown.description == "patrol.yaml:3: key 'checkpoints[0].zone': unknown zone '540102-001-001-99' (not in the zone file)")
        let outside = try #require(throws: HubError.self) { try Self.parse(yaml.replacingOccurrences(of: "001-001-01", with: "001-001-02"), zones: zones) }
        #expect(outside.description == "patrol.yaml:4: key 'checkpoints[0].location': the point 29.6462143, 91.1093337 (wgs84) is not in zone 540102-001-001-02 (it falls in 540102-001-001-01)")
    }
}
