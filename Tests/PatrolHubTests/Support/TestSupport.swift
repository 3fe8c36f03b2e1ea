import Alerts
@testable import AlertsStore
import Foundation
import Logging
@testable import PatrolHubMQTT
import ServiceLifecycle
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A temporary folder, removed by `cleanup()`.
struct TempDir {
    let path: String

    init(_ name: String = "patrolhub-test") {
        path = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ text: String) -> String {
        let p = file(name)
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// A real `mosquitto` on a free loopback port, with its own persistence folder.
final class TestBroker: @unchecked Sendable {
    let dir: TempDir
    let broker: EmbeddedBroker
    var port: Int { broker.port }

    init(port: Int = 0) throws {
        dir = TempDir("patrolhub-broker")
        var logger = Logger(label: "test-broker")
        logger.logLevel = .error
        ChildProcesses.killLeftoversAtExit()
        broker = EmbeddedBroker(options: .init(port: port, dataDir: dir.path), logger: logger)
        try broker.start()
    }

    /// Restarts on the same port with the same persistence (SIGTERM saves it).
    func restart() throws {
        broker.stop()
        try broker.start()
    }

    func stop() {
        broker.stop()
        dir.cleanup()
    }
}

/// Hub logs in tests: errors only, unless PATROLHUB_TEST_LOG names a level.
let testLogger: Logger = {
    var l = Logger(label: "test")
    l.logLevel = ProcessInfo.processInfo.environment["PATROLHUB_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return l
}()

/// A publisher over the same wrapper the hub uses.
final class TestPublisher: @unchecked Sendable {
    let client: MQTTClient

    init(port: Int, id: String = "test-pub-\(UUID().uuidString.prefix(6))") throws {
        var o = MQTTClient.Options()
        o.port = port
        o.clientID = id
        o.cleanSession = true
        o.reconnectDelayMin = 0.05
        o.reconnectDelayMax = 0.5
        client = MQTTClient(options: o, logger: testLogger)
        try client.start()
    }

    func waitConnected() async throws {
        try await waitUntil("publisher connected") { self.client.isConnected }
    }

    /// Publishes all messages at QoS 1 and waits for the broker's PUBACKs.
    func publishAll(_ messages: [(String, [UInt8])]) async throws {
        try await waitConnected()
        var mids: [Int32] = []
        for (topic, payload) in messages { mids.append(try client.enqueue(topic: topic, payload: payload)) }
        let acked = await client.waitForAcks(mids, timeout: .seconds(30))
        guard acked.count == mids.count else { throw TestFailure("broker acknowledged \(acked.count) of \(mids.count)") }
    }

    func stop() { client.stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until it holds or `timeout` passes (then throws, naming it).
func waitUntil(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("timed out after \(timeout) s waiting for: \(what)")
}

/// The registry the integration tests use.
let testCamerasCSV = """
    # test cameras
    id,name,lat,lon,crs,zone
    cam-001,North gate,29.6531,91.1342,wgs84,Z-A
    cam-002,Market,29.6538,91.1318,wgs84,Z-A
    cam-003,Square,29.6562,91.1335,wgs84,Z-B
    """

/// A hub running in this process against an external (test) broker.
final class TestHub: @unchecked Sendable {
    let hub: Hub
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// - Parameter devicesCSV: `config/devices.csv` content, for tests whose payloads name patrol devices.
    /// - Parameter configure: last changes to the config (zones file, sample registry…).
    /// - Parameter clock: the hub's clock (a simulated one fixes the time of day a test runs at).
    init(brokerPort: Int, dir: TempDir, clientID: String = "hub-under-test", devicesCSV: String? = nil,
         clock: HubClock = .real, configure: (inout HubConfig) -> Void = { _ in }) throws {
        var c = HubConfig()
        c.broker.mode = .external
        c.broker.port = brokerPort
        c.broker.clientID = clientID
        c.dataDir = dir.path
        c.store.path = dir.file("hub.sqlite")
        c.camerasFile = dir.write("cameras.csv", testCamerasCSV)
        c.devicesFile = devicesCSV.map { dir.write("devices.csv", $0) }
        c.http.port = 0 // a free port: tests run in parallel
        configure(&c)
        hub = try Hub(config: c, logger: testLogger, clock: clock)
        let g = try hub.start(signals: false)
        group = g
        task = Task { try await g.run() }
    }

    var store: DisputeStore { hub.store }

    func waitConnected() async throws {
        try await waitUntil("hub connected") { self.hub.ingest.client.isConnected }
    }

    /// Waits until the inbox holds `received` messages, all processed.
    func waitProcessed(received: Int, timeout: Double = 30) async throws {
        try await waitUntil("\(received) messages received and processed", timeout: timeout) {
            let s = try self.store.status()
            return s.inboxReceived >= received && s.inboxPending == 0
        }
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Runs `body` against the running hub, then stops the hub, also when `body` throws
    /// (its error is the one thrown then).
    func stopping(after body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            try? await stop()
            throw error
        }
        try await stop()
    }
}

/// A native camera event payload.
func cameraEvent(_ id: String, type: String, time: Date, extra: String = "") -> [UInt8] {
    Array(#"{"id":"\#(id)","type":"\#(type)","time":"\#(time.rfc3339)"\#(extra)}"#.utf8)
}

func eventTopic(_ camera: String) -> String { "patrolhub/v1/camera/\(camera)/event" }

/// Eight native events over 7 minutes half an hour ago, from the test registry's
/// cameras: 6 risk items and 2 warning slips (IngestIntegrationTests.exactOutcomesAndReplay
/// checks them one by one; DurabilityTests with two hubs on one store).
func exactOutcomesMessages(now: Date = Date()) -> [(String, [UInt8])] {
    let t0 = now.addingTimeInterval(-1800)
    func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }
    return [
        (eventTopic("cam-001"), cameraEvent("i-1", type: "intrusion", time: at(0))),
        (eventTopic("cam-001"), cameraEvent("l-1", type: "loitering", time: at(0))),
        (eventTopic("cam-003"), cameraEvent("f-1", type: "fight", time: at(1))),
        (eventTopic("cam-001"), cameraEvent("l-2", type: "loitering", time: at(1))),
        (eventTopic("cam-003"), cameraEvent("f-2", type: "fight", time: at(1.5))),
        (eventTopic("cam-001"), cameraEvent("i-2", type: "intrusion", time: at(3))),
        (eventTopic("cam-001"), cameraEvent("i-3", type: "intrusion", time: at(6))),
        (eventTopic("cam-002"), cameraEvent("i-4", type: "intrusion", time: at(7))),
    ]
}

/// The `patrolhub` executable built next to this test bundle.
func patrolhubExecutable() throws -> String {
    ChildProcesses.killLeftoversAtExit()
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("patrolhub").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/patrolhub").path
    if FileManager.default.isExecutableFile(atPath: fallback) { return fallback }
    throw TestFailure("the patrolhub executable is not built next to the tests: run `swift build` before `swift test` (the Makefile does)")
}

/// A child process that did not finish within its timeout: it was killed.
struct ProcessTimedOut: Error, CustomStringConvertible {
    var command: String
    var pid: Int32
    var timeout: Double
    /// What it wrote before it was killed.
    var output: String
    var description: String { "\(command) did not finish within \(timeout) s and was killed (pid \(pid)); its output so far:\n\(output)" }
}

/// Runs a command to completion, returning exit status and combined output.
/// A child still running after `timeout` seconds is killed (SIGTERM, then
/// SIGKILL) and `ProcessTimedOut` is thrown, so a hung child fails its test
/// instead of stalling the suite.
func runProcess(_ path: String, _ args: [String], timeout: Double = 60) throws -> (status: Int32, output: String) {
    final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var data = Data()
        let eof = DispatchSemaphore(value: 0)
        func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    let collected = Collected()
    // A thread of its own reads the pipe to its end (it holds `pipe`, so the descriptor stays open while it reads).
    let reader = Thread {
        let fd = pipe.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                collected.append(Data(buffer[0..<n]))
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        collected.eof.signal()
    }
    let exited = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in exited.signal() }
    try p.run()
    reader.start()
    let deadline = DispatchTime.now() + timeout
    if exited.wait(timeout: deadline) == .timedOut {
        kill(p.processIdentifier, SIGTERM)
        if exited.wait(timeout: .now() + 2) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            exited.wait()
        }
        p.waitUntilExit()
        // Whatever it wrote until now (a grandchild may hold the pipe open: no long wait for its end).
        _ = collected.eof.wait(timeout: .now() + 0.5)
        throw ProcessTimedOut(command: ([path] + args).joined(separator: " "), pid: p.processIdentifier, timeout: timeout, output: collected.text)
    }
    p.waitUntilExit()
    // The child has exited: its output ends when the pipe closes (by the deadline at the latest).
    _ = collected.eof.wait(timeout: max(deadline, .now() + 1))
    return (p.terminationStatus, collected.text)
}

/// The repository's root (for the sample config).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `body` against a real broker, a hub connected to it and a
/// publisher, and stops all three afterwards — also when `body` throws, so a
/// failing test does not leave its hub running in the test process.
func withLiveHub(devicesCSV: String? = nil, clock: HubClock = .real, configure: (inout HubConfig) -> Void = { _ in },
                 _ body: (TestBroker, TestHub, TestPublisher) async throws -> Void) async throws {
    let broker = try TestBroker()
    defer { broker.stop() }
    let dir = TempDir()
    defer { dir.cleanup() }
    let hub = try TestHub(brokerPort: broker.port, dir: dir, devicesCSV: devicesCSV, clock: clock, configure: configure)
    let pub: TestPublisher
    do {
        try await hub.waitConnected()
        pub = try TestPublisher(port: broker.port)
    } catch {
        try? await hub.stop()
        throw error
    }
    defer { pub.stop() }
    do {
        try await body(broker, hub, pub)
    } catch {
        try? await hub.stop()
        throw error
    }
    try await hub.stop()
}
