import Alerts
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct Zones: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a grid zone file; find the zone chain of a point.",
            subcommands: [Check.self, Locate.self])

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Validate a zone file (GeoJSON) and summarise it; exits non-zero on any problem.")

            @Argument(help: "The zone file, e.g. config/zones.geojson.") var file: String
            @Option(help: "Also check a cameras file: duplicate ids, cameras outside every zone.") var cameras: String?

            func run() throws {
                try requireReadableFile(file, what: "zone file", flag: "FILE")
                if let cameras { try requireReadableFile(cameras, what: "cameras file", flag: "--cameras") }
                let url = URL(fileURLWithPath: file)
                let report = ZoneCheckReport(contentsOf: url)
                print(report.render())
                var ok = report.isValid
                if let cameras, report.isValid {
                    let index = try ZoneFile.load(contentsOf: url)
                    let records: [CameraRecord]
                    do { records = try Registry.loadCameras(file: cameras) } catch { throw HubError.cli("\(error)") }
                    let placer = Placer(registry: Registry(cameras: records), zones: index)
                    let outside = records.filter { placer.cameraPlacement($0.id)?.zone == ZoneLocation.unzonedCode }
                    let wrong = records.filter { r in r.zone != nil && index.zone(code: r.zone!) == nil }
                    print("\ncameras: \(records.count) in \(cameras)")
                    for c in outside { print("  camera \(c.id) (\(c.name)) is outside every zone") }
                    for c in wrong { print("  camera \(c.id) names zone \(c.zone!), which the zone file does not have") }
                    if outside.isEmpty && wrong.isEmpty { print("  every camera is in a zone") }
                    ok = ok && outside.isEmpty && wrong.isEmpty
                }
                if !ok { throw ExitCode.failure }
            }
        }

        struct Locate: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Which zone chain contains a point (converted to WGS-84 first).")

            @Option(parsing: .unconditional, help: "Latitude in degrees (negative south).") var lat: Double
            @Option(parsing: .unconditional, help: "Longitude in degrees (negative west).") var lon: Double
            @Option(help: "wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu).") var crs: String = "wgs84"
            @Option(help: "The zone file.") var zones: String = "config/zones.geojson"
            @Flag(help: #"Print {"zone": CODE, "chain": [codes from the district down]}."#) var json = false

            func run() throws {
                guard let system = CoordinateSystem(rawValue: crs.lowercased()) else { throw HubError.cli("--crs must be wgs84, gcj02 or bd09, not '\(crs)'") }
                let point = GeoPoint(lat: lat, lon: lon, crs: system)
                guard point.isValid else { throw HubError.cli("--lat must be within -90…90 and --lon within -180…180") }
                try requireReadableFile(zones, what: "zone file", flag: "--zones")
                let index: ZoneIndex
                do { index = try ZoneFile.load(contentsOf: URL(fileURLWithPath: zones)) } catch { throw HubError.cli("\(error)") }
                let loc = index.locate(point)
                if json {
                    print(JSONValue.object(["zone": .string(loc.zone), "chain": .array(loc.chain.map(JSONValue.string))]).serialized)
                } else if loc.isZoned {
                    let w = point.wgs84
                    print("point \(lat), \(lon) (\(system.rawValue)) = \(HubFormat.fixed(w.lat, digits: 7)), \(HubFormat.fixed(w.lon, digits: 7)) (wgs84)")
                    for z in loc.zones { print("  \(z.level.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(z.code)  \(z.name)\(z.unit.map { "  unit: \($0)" } ?? "")\(z.worker.map { "  worker: \($0)" } ?? "")") }
                } else {
                    print("unzoned: the point is in no zone of \(zones)")
                }
            }
        }
    }

    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate rules files.", subcommands: [Check.self])

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Validate a rules file; errors name the key and line.")
            @Argument(help: "The rules file, e.g. config/rules.yaml.") var file: String

            func run() throws {
                let rules: RuleSet
                do { rules = try RuleSet.load(file: file) } catch { throw HubError.cli("\(error)") }
                print("\(file): valid")
                print("  dedup window \(Int(rules.dedupWindow)) s; warning slip at severity ≤ \(rules.immediateMaxSeverity) or \(rules.slipThreshold) occurrences in \(Int(rules.groupWindow)) s; repeat after \(Int(rules.repeatInterval)) s")
                for c in Category.allCases where rules.severities[c] != nil || rules.thresholds[c] != nil {
                    print("  \(c.rawValue): severity \(rules.severity(of: c).rawValue), threshold \(rules.threshold(of: c))")
                }
                let lowRisk = rules.vendorPriority.lowRiskCategories.map(\.rawValue).sorted().joined(separator: ", ")
                print("  vendor priority (GB/T 28181: \(rules.adapters.gb28181.priority.rawValue)): may raise a severity, never lowers one; low-risk (a ceiling): \(lowRisk.isEmpty ? "none" : lowRisk)")
            }
        }
    }
}
