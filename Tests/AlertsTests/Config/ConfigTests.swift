import Foundation
import Testing
@testable import Alerts
import TestSupport

@Suite("Config")
struct ConfigTests {
    static func parse(_ yaml: String) throws(HubError) -> HubConfig {
        try EngineFixtures.config(yaml)
    }

    @Test func defaultsAndRelativePaths() throws {
        let c = try Self.parse("registry:\n  cameras: cams.csv\n")
        #expect(c.broker.mode == .embedded)
        #expect(c.broker.port == 0)
        #expect(c.camerasFile == "/etc/patrolhub/cams.csv")
        #expect(c.store.path == "/etc/patrolhub/data/patrolhub.sqlite")
        #expect(c.topicPrefix == "patrolhub/v1")
        #expect(c.timezone.identifier == "Asia/Shanghai")
        #expect(c.frigateTopic == "frigate/events")
    }

    @Test func frigateTopicIsConfigurable() throws {
        #expect(try Self.parse("frigate_topic: nvr2/frigate/events\n").frigateTopic == "nvr2/frigate/events")
        #expect(throws: HubError.self) { try Self.parse("frigate_topic: frigate/#\n") }
        #expect(throws: HubError.self) { try Self.parse("frigate_topic: patrolhub/v1/frigate\n") }
    }

    /// `broker.shared_group`: absent, the filters are subscribed as they are; set, each becomes
    /// `$share/NAME/filter`; a name MQTT or the broker's files cannot carry is refused with file, line and key.
    @Test func sharedGroup() throws {
        let plain = try Self.parse("broker:\n  mode: external\n")
        #expect(plain.broker.sharedGroup == nil)
        #expect(plain.broker.subscriptionFilters(["a/+/event", "frigate/events"]) == ["a/+/event", "frigate/events"])

        let grouped = try Self.parse("broker:\n  mode: external\n  shared_group: patrolhub-lhasa\n")
        #expect(grouped.broker.sharedGroup == "patrolhub-lhasa")
        #expect(grouped.broker.subscriptionFilters(["a/+/event", "onvif/#"]) == ["$share/patrolhub-lhasa/a/+/event", "$share/patrolhub-lhasa/onvif/#"])
        #expect(try Self.parse("broker:\n  mode: external\n  shared_group: 拉萨-hubs\n").broker.sharedGroup == "拉萨-hubs")
        let longest = String(repeating: "g", count: HubConfig.Broker.maxSharedGroupBytes)
        #expect(try Self.parse("broker:\n  mode: external\n  shared_group: \(longest)\n").broker.sharedGroup == longest)

        let characters = "must not contain '/', '+', '#', whitespace or control characters (it becomes $share/NAME/… in each subscription)"
        let refused: [(String, String)] = [
            ("''", "must be 1 to 64 bytes"),
            (longest + "g", "must be 1 to 64 bytes"),
            ("a/b", characters), ("a+", characters), ("'#'", characters), ("'two words'", characters),
            ("\"tab\\there\"", characters), ("\"bell\\a\"", characters), ("\"zero\\u200Bwidth\"", characters),
            ("\"nbsp\\u00A0\"", characters),
        ]
        for (value, message) in refused {
            let yaml = "broker:\n  mode: external\n  shared_group: \(value)\n"
            #expect(throws: HubError.self) { try Self.parse(yaml) }
            do { _ = try Self.parse(yaml) } catch {
                #expect(error.description == "/etc/patrolhub/hub.yaml:3: key 'broker.shared_group': \(message)", "\(value)")
            }
        }
        // A group spreads messages over the hubs of one broker: an embedded broker is one hub's own.
        do { _ = try Self.parse("broker:\n  shared_group: g\n"); Issue.record("embedded broker with a group accepted") } catch {
            #expect(error.description == "/etc/patrolhub/hub.yaml:2: key 'broker.shared_group': is for an external broker: the hubs of a group share one broker, and an embedded broker is one hub's own")
        }
    }

    @Test(arguments: [
        ("store:\n  path: x\n  synchronus: full\n", "/etc/patrolhub/hub.yaml:3: key 'store.synchronus': unknown key (check its spelling and place)"),
        ("broker:\n  port: 99999\n", "/etc/patrolhub/hub.yaml:2: key 'broker.port': must be between 0 and 65535, found 99999"),
        ("broker:\n  keepalive: 1\n", "/etc/patrolhub/hub.yaml:2: key 'broker.keepalive': must be between 5 and 3600, found 1"),
        ("timezone: Mars/Olympus\n", "/etc/patrolhub/hub.yaml:1: key 'timezone': unknown timezone 'Mars/Olympus' (use an IANA name such as Asia/Shanghai)"),
        ("timezone: CST\n", "/etc/patrolhub/hub.yaml:1: key 'timezone': unknown timezone 'CST' (use an IANA name such as Asia/Shanghai)"),
        ("timezone: GMT+8\n", "/etc/patrolhub/hub.yaml:1: key 'timezone': unknown timezone 'GMT+8' (use an IANA name such as Asia/Shanghai)"),
        ("topic_prefix: \"patrolhub/v1\\nuser cam-001\\ntopic readwrite patrolhub/v1/out\"\n",
         "/etc/patrolhub/hub.yaml:1: key 'topic_prefix': must not contain spaces, line breaks or other control characters"),
        ("topic_prefix: |\n  patrolhub/v1\n", "/etc/patrolhub/hub.yaml:1: key 'topic_prefix': must not contain spaces, line breaks or other control characters"),
        ("topic_prefix: $SYS/patrolhub\n",
         "/etc/patrolhub/hub.yaml:1: key 'topic_prefix': must not start with '$' (the broker's own topics: nothing published there reaches the hub)"),
        ("frigate_topic: frigate/events/\n", "/etc/patrolhub/hub.yaml:1: key 'frigate_topic': must not end with '/'"),
        ("timezone: \"null\"\n", "/etc/patrolhub/hub.yaml:1: key 'timezone': unknown timezone 'null' (use an IANA name such as Asia/Shanghai)"),
        ("a0: &a0 [x, x]\na1: &a1 [*a0, *a0]\n? *a1\n: 1\n", "/etc/patrolhub/hub.yaml:3: not valid here: a key is an alias (*name); keys are plain names"),
        ("? [a, b]\n: 1\n", "/etc/patrolhub/hub.yaml:1: not valid here: a key is a list; keys are plain names"),
        ("broker:\n  {port: 1}: 2\n", "/etc/patrolhub/hub.yaml:2: not valid here: a key is a mapping; keys are plain names"),
        ("limits: 5\n", "/etc/patrolhub/hub.yaml:1: key 'limits': expected a mapping of keys"),
        ("- a\n- b\n", "/etc/patrolhub/hub.yaml:1: the top level must be a mapping of keys"),
    ])
    func errorsNameFileLineAndKey(yaml: String, message: String) {
        #expect(throws: HubError.self) { try Self.parse(yaml) }
        do { _ = try Self.parse(yaml) } catch { #expect(error.description == message) }
    }

    /// An alias of nested aliases as a key: Yams hashes a key whole to find duplicates,
    /// so nine levels of ten (521 bytes) cost 10⁹ elements. It is refused before that.
    @Test(.timeLimit(.minutes(1)))
    func anAliasKeyExpandingToBillionsIsRefusedAtOnce() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 { yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "? *a8\n: 1\n"
        do {
            _ = try Self.parse(yaml)
            Issue.record("accepted")
        } catch {
            #expect(error.description == "/etc/patrolhub/hub.yaml:10: not valid here: a key is an alias (*name); keys are plain names")
        }
        // Aliases as values stay as they were: read where they are used.
        #expect(throws: Never.self) { try Self.parse("limits: &l {max_payload_bytes: 5000}\n") }
    }

    /// A repeated key is refused with its name and line, and the error does not
    /// quote the file: Yams's own message for it holds the whole text, the
    /// broker's password included, which would then reach the log of a failed start.
    @Test(arguments: [
        ("broker:\n  mode: external\n  password: \"S3cret-broker-pw\"\nlimits: {max_payload_bytes: 5000}\nlimits: {max_payload_bytes: 6000}\n",
         "/etc/patrolhub/hub.yaml:4: key 'limits': not valid YAML: the key appears more than once in the same mapping (keep one)"),
        ("broker:\n  password: \"S3cret-broker-pw\"\n  port: 1\n  port: 2\n  mode: a\n  mode: b\n",
         "/etc/patrolhub/hub.yaml:5: not valid YAML: the keys 'mode', 'port' appear more than once in the same mapping (keep one of each)"),
    ])
    func repeatedKeysAreNamedWithoutQuotingTheFile(yaml: String, message: String) {
        do {
            _ = try Self.parse(yaml)
            Issue.record("a repeated key was accepted")
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("S3cret-broker-pw"))
        }
    }

    @Test func rulesFile() throws {
        let r = try RuleSet.parse(ConfigMap.parse(yaml: "dedup:\n  window_seconds: 60\ncategories:\n  motion:\n    threshold: 20\n    severity: 4\n", file: "rules.yaml"))
        #expect(r.dedupWindow == 60)
        #expect(r.threshold(of: .motion) == 20)
        #expect(r.threshold(of: .intrusion) == 3)
        #expect(throws: HubError.self) { try RuleSet.parse(ConfigMap.parse(yaml: "categories:\n  ufo:\n    threshold: 1\n", file: "rules.yaml")) }
    }

    @Test func theShippedConfigFilesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let c = try HubConfig.load(file: root.appendingPathComponent("config/patrolhub.yaml").path)
        _ = try RuleSet.load(file: try #require(c.rulesFile))
        let zones = try ZoneFile.load(contentsOf: URL(fileURLWithPath: try #require(c.zonesFile)))
        let registry = try Registry.load(camerasFile: c.camerasFile, devicesFile: c.devicesFile, zones: zones)
        #expect(registry.cameras.count >= 5)
    }

    @Test("registry files: with a zone file, a zone column must name one of its zones")
    func registryRefusesUnknownZones() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let zones = try ZoneFile.load(contentsOf: root.appendingPathComponent("config/zones.geojson"))
        let known = try #require(zones.zones.first { $0.level == .grid }?.code)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-registry-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cameras = dir + "/cameras.csv", devices = dir + "/devices.csv"
        try "id,name,lat,lon,crs,zone\ncam-001,Gate,,,,\(known)\ncam-002,Lane,,,,540102999\n".write(toFile: cameras, atomically: true, encoding: .utf8)
        let camera = try #require(throws: HubError.self) { try Registry.load(camerasFile: cameras, devicesFile: nil, zones: zones) }
        #expect(camera.description == "\(cameras):3: key 'zone': unknown zone '540102999': the zone file (registry.zones) has no such code (leave it empty to place by location)")
        _ = try Registry.load(camerasFile: cameras, devicesFile: nil) // without a zone file the code is taken as written

        try "id,name,lat,lon,crs,zone\ncam-001,Gate,,,,\(known)\n".write(toFile: cameras, atomically: true, encoding: .utf8)
        try "id,worker,unit,zone\ndev-001,gw-1,unit,\(known)\ndev-002,gw-2,unit,nowhere\n".write(toFile: devices, atomically: true, encoding: .utf8)
        let device = try #require(throws: HubError.self) { try Registry.load(camerasFile: cameras, devicesFile: devices, zones: zones) }
        #expect(device.description.hasPrefix("\(devices):3: key 'zone': unknown zone 'nowhere'"))
    }

    @Test("registry files: a device may not take a camera's id; coordinates are decimal numbers")
    func registryRefusesSharedIdsAndHexCoordinates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-registry-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cameras = dir + "/cameras.csv", devices = dir + "/devices.csv"
        try "id,name,lat,lon\ncam-001,Gate,29.65,91.13\n".write(toFile: cameras, atomically: true, encoding: .utf8)
        try "id,worker,unit\ndev-001,gw-1,unit\ncam-001,gw-2,unit\n".write(toFile: devices, atomically: true, encoding: .utf8)
        let error = try #require(throws: HubError.self) { try Registry.load(camerasFile: cameras, devicesFile: devices) }
        #expect(error.description == "\(devices):3: key 'id': device id 'cam-001' is also a camera's id (registry.cameras): each id is its own broker account")
        try "id,name,lat,lon\ncam-001,Gate,0x1Dp0,91.13\n".write(toFile: cameras, atomically: true, encoding: .utf8)
        let hex = try #require(throws: HubError.self) { try Registry.load(camerasFile: cameras, devicesFile: nil) }
        #expect(hex.description == "\(cameras):2: key 'lat': expected a latitude in -90…90, found '0x1Dp0'")
    }
}
