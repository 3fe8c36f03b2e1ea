import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

@Suite("Broker credentials and ACL")
struct BrokerCredentialsTests {
    static let registry = Registry(
        cameras: [CameraRecord(id: "cam-001", name: "a", location: nil, zone: "Z-A")],
        devices: [DeviceRecord(id: "dev-007", worker: "w", unit: "u", zone: "Z-A")])

    static func error(_ text: String) -> String? {
        do { _ = try BrokerCredentials.parse(text, file: "/etc/patrolhub/credentials"); return nil } catch { return "\(error)" }
    }

    @Test func parsingRefusesWhatTheBrokerCouldNotUse() {
        #expect(Self.error("camera cam-001 short\n") == "/etc/patrolhub/credentials:1: key 'broker.credentials': the password of 'cam-001' is too short: use at least 16 characters, or '-' to have one generated")
        #expect(Self.error("# c\nadmin root 0123456789abcdef0\n")?.contains(":2: key 'broker.credentials': unknown role 'admin'") == true)
        #expect(Self.error("camera cam:1 -\n")?.contains("must not hold spaces, control characters, ':', '/', '+' or '#'") == true)
        #expect(Self.error("camera cam-1 -\ndevice cam-1 -\n")?.contains(":2: key 'broker.credentials': duplicate username 'cam-1' (first on line 1)") == true)
        #expect(Self.error("camera\n")?.contains("expected 'ROLE USERNAME PASSWORD'") == true)
    }

    @Test func prepareAddsTheRegistryKeepsTheAdminsLinesAndIsStable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let file = dir.file("broker/credentials")
        try BrokerCredentials.writePrivate("# our NVR\nnvr frigate-1 -\nreader bridge 0123456789abcdef-given\n", to: file)
        let first = try BrokerCredentials.prepare(file: file, registry: Self.registry, clientID: "patrolhub", camerasFile: "c.csv", devicesFile: "d.csv")
        #expect(first.accounts.map(\.username) == ["frigate-1", "bridge", "patrolhub", "patrolhub-out", "patrolhub-sim", "cam-001", "dev-007"])
        #expect(first.accounts.map(\.role) == [.nvr, .reader, .hub, .hub, .simulator, .camera, .device])
        #expect(first.account("bridge")?.password == "0123456789abcdef-given")
        #expect(first.account("frigate-1")?.password.count == 40, "'-' was filled in")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.hasPrefix("# our NVR\n"))
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let second = try BrokerCredentials.prepare(file: file, registry: Self.registry, clientID: "patrolhub", camerasFile: "c.csv", devicesFile: "d.csv")
        #expect(second.accounts == first.accounts, "passwords stay across restarts")
    }

    @Test func registryIDsThatCannotBeUsernamesAreConfigErrors() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let bad = Registry(cameras: [CameraRecord(id: "cam 1", name: "a", location: nil, zone: "Z")])
        #expect(throws: HubError.self) { try BrokerCredentials.prepare(file: dir.file("c"), registry: bad, clientID: "patrolhub", camerasFile: "cams.csv", devicesFile: nil) }
        let clash = Registry(devices: [DeviceRecord(id: "patrolhub-out", worker: "w", unit: "u", zone: nil)])
        do {
            _ = try BrokerCredentials.prepare(file: dir.file("c"), registry: clash, clientID: "patrolhub", camerasFile: "cams.csv", devicesFile: "devs.csv")
            Issue.record("a device named like the hub was accepted")
        } catch {
            #expect("\(error)".contains("devs.csv: key 'id': device id 'patrolhub-out' is a username of the hub itself"))
        }
    }

    @Test func theACLGivesEachRoleItsTopics() {
        let accounts: [BrokerCredentials.Account] = [
            .init(role: .hub, username: "patrolhub", password: "p"), .init(role: .camera, username: "cam-001", password: "p"),
            .init(role: .device, username: "dev-7", password: "p"),
            .init(role: .nvr, username: "nvr-1", password: "p"), .init(role: .reader, username: "bridge", password: "p"),
            .init(role: .simulator, username: "sim", password: "p"),
        ]
        let secure = BrokerAccess(accounts: accounts, topicPrefix: "p/v1", frigateTopic: "frigate/events", allowAnonymous: false).aclText
        #expect(!secure.contains("pattern"), "no pattern lets one role write another role's input kinds")
        #expect(secure.contains("user cam-001\ntopic write p/v1/camera/cam-001/#\ntopic write p/v1/gb28181/cam-001/#\ntopic write p/v1/onvif/cam-001/#\n"))
        #expect(secure.contains("user dev-7\ntopic write p/v1/device/dev-7/#\n"), "a patrol device writes its own device topics only")
        #expect(secure.contains("user patrolhub\ntopic read p/v1/#\ntopic read frigate/events\ntopic readwrite p/v1/out/#"))
        #expect(secure.contains("user nvr-1\ntopic readwrite frigate/#\ntopic write onvif2mqtt/#\ntopic write p/v1/gb28181/nvr-1/#\ntopic write p/v1/onvif/nvr-1/#"))
        #expect(secure.contains("user bridge\ntopic read p/v1/out/#"))
        #expect(secure.components(separatedBy: "out/#").count - 1 == 3, "out/# is written by the hub only (and read by reader and simulator)")
        #expect(!secure.contains("\ntopic write p/v1/out"))
        // Anonymous (loopback demos): the first block, before any user line, never writes out/#.
        let open = BrokerAccess(accounts: accounts, topicPrefix: "p/v1", frigateTopic: "frigate/events", allowAnonymous: true).aclText
        let anonymous = open.components(separatedBy: "# Every account")[0]
        #expect(anonymous.contains("topic write p/v1/device/#") && anonymous.contains("topic read p/v1/out/#"))
        #expect(!anonymous.contains("write p/v1/out"))
    }
}

@Suite("silences add on the command line")
struct SilencesCLITests {
    @Test func theCommandLineKeepsTheSafetyRules() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = dir.write("hub.yaml", "store:\n  path: s.sqlite\nsilences:\n  max_duration: 2h\n")
        _ = try DisputeStore(path: dir.file("s.sqlite"))
        let exe = try patrolhubExecutable()
        func add(_ args: [String]) throws -> (Int32, String) {
            try runProcess(exe, ["silences", "add", "--config", config, "--by", "admin", "--comment", "maintenance"] + args)
        }
        var (status, output) = try add(["--category", "sos", "--duration", "1h"])
        #expect(status != 0 && output.contains("invalid silence: category: sos can never be silenced"), "\(output)")
        (status, output) = try add(["--category", "motion", "--duration", "3h"])
        #expect(status != 0 && output.contains("a silence lasts at most 2h (silences.max_duration)"), "\(output)")
        // On the hub's machine the command line has the supervisor's say: every category, within the rules.
        (status, output) = try add(["--drill", "false", "--duration", "2h"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("JM-000001 created"))
    }
}
