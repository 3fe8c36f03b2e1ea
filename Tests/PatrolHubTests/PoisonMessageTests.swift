import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

#if canImport(Glibc)
import Glibc
#endif

/// Messages that would stop the district: one that crashes the hub, one
/// nested deeply enough to overflow a recursive parser, and payloads large
/// enough to fill the disk. Each is contained and the hub goes on.
@Suite("Poison messages", .serialized)
struct PoisonMessageTests {
    static let devicesCSV = """
        id,worker,unit,zone
        dev-1,W-1,unit-A,Z-A
        """

    /// The `patrolhub` executable (debug build) with a decoder that traps on a
    /// marker; restarted after each crash, as systemd's `Restart=always` would.
    @Test("A message that crashes the hub becomes a `crashed` dead letter; the rest is processed exactly once")
    func crashingMessageIsQuarantined() async throws {
        let exe = try patrolhubExecutable()
        let broker = try TestBroker()
        defer { broker.stop() }
        let dir = TempDir()
        defer { dir.cleanup() }
        _ = dir.write("cameras.csv", testCamerasCSV)
        _ = dir.write("devices.csv", Self.devicesCSV)
        let config = dir.write("patrolhub.yaml", """
            data_dir: data
            broker:
              mode: external
              host: 127.0.0.1
              port: \(broker.port)
              client_id: poison-hub
            store:
              path: data/hub.sqlite
            registry:
              cameras: cameras.csv
              devices: devices.csv
            http:
              listen: 127.0.0.1:0
            """)
        let marker = "TRAP-\(UUID().uuidString.prefix(8))"
        let log = dir.file("hub.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? logHandle.close() }
        // A umask that would leave files world-readable: the store sets its modes itself.
        let oldUmask = umask(0o022)
        defer { umask(oldUmask) }

        func startHub() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["serve", "--config", config, "--log-level", "warning"]
            var env = ProcessInfo.processInfo.environment
            env["PATROLHUB_TEST_TRAP_MARKER"] = marker
            p.environment = env
            p.standardOutput = logHandle
            p.standardError = logHandle
            try p.run()
            return p
        }
        let storePath = dir.file("data/hub.sqlite")
        func status() -> StoreStatus? {
            // The pipeline makes its trap file once the hub has opened (and migrated) the store.
            guard FileManager.default.fileExists(atPath: storePath + "-trap") else { return nil }
            return try? DisputeStore(path: storePath).status()
        }

        // First run: the hub's persistent session exists once a probe arrives; then stop it, so that
        // what follows waits in the broker and reaches the pipeline as one backlog (batches of many).
        var hub = try startHub()
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        try await pub.waitConnected()
        let base = Date().addingTimeInterval(-1800)
        var probes = 0
        func hubLog() -> String { String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self) }
        do {
            try await waitUntil("hub subscribed", timeout: 60) {
                probes += 1
                _ = try pub.client.enqueue(topic: eventTopic("cam-001"), payload: cameraEvent("probe-\(probes)", type: "motion", time: base))
                return (status()?.inboxReceived ?? 0) > 0
            }
        } catch {
            Issue.record("hub running: \(hub.isRunning); its log:\n\(hubLog().suffix(3000))")
            throw error
        }
        try await waitUntil("probes processed", timeout: 30) { status()?.inboxPending == 0 }
        hub.terminate()
        hub.waitUntilExit()
        #expect(hub.terminationStatus == 0)
        let probesStored = status()?.inboxReceived ?? 0

        // 40 valid events with one poison message among them.
        let cameras = ["cam-001", "cam-002", "cam-003"]
        var messages: [(String, [UInt8])] = (0..<40).map { i in
            (eventTopic(cameras[i % 3]), cameraEvent("v-\(i)", type: ["intrusion", "loitering", "fight", "crowd_gathering"][i % 4],
                                                     time: base.addingTimeInterval(Double(i) * 37)))
        }
        let poison = cameraEvent("poison", type: "intrusion", time: base, extra: #","note":"\#(marker)""#)
        messages.insert((eventTopic("cam-002"), poison), at: 23)
        try await pub.publishAll(messages)

        // Run the hub; each time it dies, start it again, until it has processed everything and stays up.
        var crashes = 0
        hub = try startHub()
        defer { if hub.isRunning { hub.terminate(); hub.waitUntilExit() } }
        let expected = probesStored + messages.count
        while true {
            try await waitUntil("the hub processes the backlog or dies", timeout: 120) {
                if !hub.isRunning { return true }
                guard let s = status() else { return false }
                return s.inboxReceived >= expected && s.inboxPending == 0
            }
            guard !hub.isRunning else { break }
            #expect(hub.terminationReason == .uncaughtSignal, "the hub died of the trap, not of an error")
            crashes += 1
            try #require(crashes <= 4, "the hub keeps crashing: \(hubLog().suffix(3000))")
            hub = try startHub()
        }
        let hubLog = hubLog()
        // A trap recorded by the signal handler isolates the batch at once, and the next trap names
        // the message: two crashes (one if the message happened to be processed alone).
        #expect((1...2).contains(crashes), "crashes: \(crashes)")
        #expect(hubLog.contains("pipeline.message_crashed"))
        #expect(hubLog.contains("trap(signal:"), "the trap evidence was recorded")

        let store = try DisputeStore(path: storePath)
        let dead = try store.writer.read { db in try Row.fetchAll(db, sql: "SELECT reason, payload, topic, detail FROM dead_letters") }
        #expect(dead.count == 1)
        #expect(dead.first?["reason"] as String? == "crashed")
        #expect(dead.first.map { [UInt8]($0["payload"] as Data) } == poison, "the dead letter keeps the message's bytes")
        #expect(dead.first?["topic"] as String? == eventTopic("cam-002"))
        let (keys, occurrences) = try await store.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT key FROM events WHERE key LIKE 'camera:%:v-%'"),
             try Int.fetchOne(db, sql: "SELECT SUM(occurrences) FROM risk_items") ?? 0)
        }
        #expect(keys.count == 40, "every valid event processed")
        #expect(Set(keys).count == 40)
        #expect(occurrences == 40 + probesStored, "each valid event in exactly one risk item, once")

        // The hub is still useful: an SOS opens a case.
        try await pub.publishAll([("patrolhub/v1/device/dev-1/sos", Array(#"{"id":"sos-after","time":"\#(Date().addingTimeInterval(-5).rfc3339)","kind":"sos"}"#.utf8))])
        try await waitUntil("the SOS opened a case", timeout: 30) {
            try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cases") ?? 0 } > 0
        }
        #expect(hub.isRunning)
        hub.terminate()
        hub.waitUntilExit()
        #expect(hub.terminationStatus == 0)

        // The data folder and the store files are private although the umask was 022.
        #expect(Self.mode(dir.file("data")) == 0o700)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.file("data")) where name.hasPrefix("hub.") {
            #expect(Self.mode(dir.file("data/" + name)) == 0o600, "\(name)")
        }
        print("poison test: \(messages.count) messages with one that traps; the hub crashed \(crashes) time(s), set it aside as `crashed`, processed the 40 others once")
    }

    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    @Test("6 KB of nested GB/T 28181 XML over MQTT is dead-lettered `malformed`; the hub goes on")
    func nestedXMLIsDeadLettered() async throws {
        try await withLiveHub(devicesCSV: Self.devicesCSV) { _, hub, pub in
            let nested = Array(String(repeating: "<a>", count: 2000).utf8)
            let sos = #"{"id":"sos-1","time":"\#(Date().addingTimeInterval(-5).rfc3339)","kind":"sos"}"#
            try await pub.publishAll([
                ("patrolhub/v1/gb28181/cam-001/alarm", nested),
                ("patrolhub/v1/device/dev-1/sos", Array(sos.utf8)),
            ])
            try await hub.waitProcessed(received: 2)
            let dead = try hub.store.deadLetters()
            #expect(dead.count == 1)
            #expect(dead.first?.reason == "malformed")
            #expect(dead.first?.detail.contains("nested too deeply") == true)
            #expect(dead.first?.size == 6000)
            #expect(try hub.store.riskItems().map(\.category) == [.sos])
            try await waitUntil("the SOS opened a case") {
                try hub.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cases") ?? 0 } > 0
            }
        }
    }

    /// Bytes of the files under `path`.
    static func folderBytes(_ path: String) -> Int {
        let e = FileManager.default.enumerator(atPath: path)
        var total = 0
        while let name = e?.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
            if attributes?[.type] as? FileAttributeType == .typeRegular { total += (attributes?[.size] as? Int) ?? 0 }
        }
        return total
    }

    @Test("5 payloads of 10 MB add less than 1 MB to the data folder: head, size and hash in `oversized` dead letters")
    func oversizedPayloadsAreNotStoredWhole() async throws {
        try await withLiveHub { _, hub, pub in
            try await pub.publishAll([(eventTopic("cam-001"), cameraEvent("before", type: "motion", time: Date().addingTimeInterval(-60)))])
            try await hub.waitProcessed(received: 1)
            let dataDir = hub.hub.config.dataDir
            let before = Self.folderBytes(dataDir)
            let size = 10 << 20
            let payloads: [[UInt8]] = (0..<5).map { i in
                var p = [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: size)
                p[size - 1] = UInt8(i) // differs at the end too: the hash is over the whole payload
                return p
            }
            for p in payloads { try await pub.publishAll([(eventTopic("cam-001"), p)]) }
            // A redelivery of the first: the same key, absorbed.
            try await pub.publishAll([(eventTopic("cam-001"), payloads[0])])
            try await hub.waitProcessed(received: 7, timeout: 120)
            let after = Self.folderBytes(dataDir)
            #expect(after - before < 1 << 20, "grew by \(after - before) bytes")
            let rows = try hub.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT reason, size, payload, payload_sha256 FROM dead_letters ORDER BY id")
            }
            #expect(rows.count == 5)
            for (row, p) in zip(rows, payloads) {
                #expect(row["reason"] as String == "oversized")
                #expect(row["size"] as Int == size)
                #expect([UInt8](row["payload"] as Data) == Array(p.prefix(4096)))
                #expect(row["payload_sha256"] as String? == SHA256.hex(p))
            }
            let inboxBytes = try await hub.store.inboxWriter.read { db in try Int.fetchOne(db, sql: "SELECT MAX(LENGTH(payload)) FROM inbox") ?? 0 }
            #expect(inboxBytes == 4096, "the inbox keeps only the head")
            print("oversized test: 6 payloads of 10 MiB (one redelivered) added \(after - before) bytes to the data folder; 5 dead letters")
        }
    }
}
