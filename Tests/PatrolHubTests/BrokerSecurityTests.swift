import Alerts
@testable import AlertsStore
import Foundation
import GRDB
@testable import PatrolHubMQTT
import ServiceLifecycle
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The embedded broker as a door with a lock, attacked through a real hub
/// (its own mosquitto with the generated password file and ACL): each attack
/// is refused, and a valid SOS from a properly authenticated device still
/// becomes a case afterwards.
@Suite("Embedded broker: authentication and ACL", .serialized)
struct BrokerSecurityTests {
    static let devicesCSV = """
        id,worker,unit,zone
        dev-A,Wang,unit-A,Z-A
        dev-B,Li,unit-A,Z-A
        dev-C,Zhao,unit-A,Z-B
        """

    /// A hub with its embedded broker (accounts on, anonymous off), in this process.
    final class SecureHub: @unchecked Sendable {
        let dir = TempDir("patrolhub-secure")
        let hub: Hub
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// - Parameter accounts: lines of the credentials file written before the hub starts (the admin's accounts).
        init(accounts: String? = nil, configure: (inout HubConfig) -> Void = { _ in }) throws {
            var c = HubConfig()
            c.broker.mode = .embedded
            c.broker.port = 0
            c.dataDir = dir.path
            c.store.path = dir.file("hub.sqlite")
            c.camerasFile = dir.write("cameras.csv", testCamerasCSV)
            c.devicesFile = dir.write("devices.csv", BrokerSecurityTests.devicesCSV)
            c.http.enabled = false
            c.limits.maxPayloadBytes = 4096
            configure(&c)
            if let accounts { try BrokerCredentials.writePrivate(accounts, to: c.brokerCredentialsFile) }
            hub = try Hub(config: c, logger: testLogger)
            let g = try hub.start(signals: false)
            group = g
            task = Task { try await g.run() }
        }

        var port: Int { hub.brokerPort }
        var store: DisputeStore { hub.store }
        func password(_ user: String) throws -> String { try #require(hub.brokerCredentials?.account(user)?.password) }

        /// A raw connection logged in as `user` (with its own password), client id `clientID` (default: the username).
        func login(_ user: String, clientID: String? = nil) throws -> RawMQTT {
            let c = try RawMQTT(port: port)
            let rc = try c.connect(clientID: clientID ?? user, username: user, password: password(user))
            guard rc == 0 else { throw TestFailure("\(user) refused: CONNACK \(rc)") }
            return c
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
            dir.cleanup()
        }
    }

    static func withSecureHub(accounts: String? = nil, configure: (inout HubConfig) -> Void = { _ in },
                              _ body: (SecureHub) async throws -> Void) async throws {
        let h = try SecureHub(accounts: accounts, configure: configure)
        do {
            try await waitUntil("hub connected") { h.hub.ingest.client.isConnected }
            try await body(h)
        } catch {
            try? await h.stop()
            throw error
        }
        try await h.stop()
    }

    static func sos(_ id: String, at time: Date = Date(), extra: String = "") -> [UInt8] {
        Array(#"{"id":"\#(id)","time":"\#(time.rfc3339)","kind":"sos"\#(extra)}"#.utf8)
    }

    static func cases(_ store: DisputeStore) throws -> [Case] {
        try store.writer.read { try DisputeStore.fetchCases(db: $0) }
    }

    /// dev-A, logged in properly, sends an SOS: it must be processed into an SOS risk item and case.
    static func validSOSStillBecomesACase(_ h: SecureHub, id: String = "sos-ok") async throws {
        let before = try h.store.status().inboxReceived
        let a = try h.login("dev-A")
        #expect(try a.publish("patrolhub/v1/device/dev-A/sos", sos(id)))
        try await waitUntil("the valid SOS is processed") {
            let s = try h.store.status()
            return s.inboxReceived > before && s.inboxPending == 0
        }
        let item = try #require(try h.store.riskItems().first { $0.source == "dev-A" && $0.category == .sos })
        #expect(try cases(h.store).contains { $0.rule == .sos && $0.riskItemIDs.contains(item.id) })
        #expect(!(try h.store.deadLetters().contains { $0.detail.contains(id) }))
        a.disconnect()
    }

    @Test func anonymousAndWrongPasswordsAreRefused() async throws {
        try await Self.withSecureHub { h in
            #expect(try RawMQTT(port: h.port).connect(clientID: "intruder") == 5, "no username: not authorised")
            #expect(try RawMQTT(port: h.port).connect(clientID: "x", username: "dev-A", password: "guess-guess-guess") != 0)
            #expect(try RawMQTT(port: h.port).connect(clientID: "x", username: "nobody", password: "guess-guess-guess") != 0)
            #expect(try RawMQTT(port: h.port).connect(clientID: "x", username: "dev-A") != 0, "a username without its password")
            try await Self.validSOSStillBecomesACase(h)
            #expect(try h.store.status().inboxReceived == 1)
        }
    }

    @Test func aDeviceCannotPublishUnderAnotherDevicesId() async throws {
        try await Self.withSecureHub { h in
            let a = try h.login("dev-A")
            // Forged under dev-B's and a camera's id: the broker completes the QoS 1 flow and drops them.
            #expect(try a.publish("patrolhub/v1/device/dev-B/sos", Self.sos("forged-1")))
            #expect(try a.publish("patrolhub/v1/camera/cam-001/event", cameraEvent("forged-2", type: "fight", time: Date())))
            #expect(try a.publish("frigate/events", Array(#"{"type":"new"}"#.utf8)))
            // A GB/T 28181 alarm under its own id naming a camera: a patrol device writes no camera topics.
            let forgedAlarm = "<Notify><CmdType>Alarm</CmdType><SN>2</SN><DeviceID>cam-001</DeviceID><AlarmPriority>1</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>\(Date().rfc3339)</AlarmTime><Info><AlarmType>6</AlarmType></Info></Notify>"
            #expect(try a.publish("patrolhub/v1/gb28181/dev-A/alarm", Array(forgedAlarm.utf8)))
            #expect(try a.publish("patrolhub/v1/onvif/dev-A/tns1:RuleEngine/CellMotionDetector/Motion", Array(#"{"Message":{}}"#.utf8)))
            // On its own topic but naming dev-B in the payload: the hub dead-letters it.
            #expect(try a.publish("patrolhub/v1/device/dev-A/sos", Self.sos("forged-3", extra: #","device_id":"dev-B""#)))
            // The same connection then sends a valid SOS: once it is a case, everything before it has been handled.
            #expect(try a.publish("patrolhub/v1/device/dev-A/sos", Self.sos("sos-ok")))
            try await waitUntil("the valid SOS becomes a case") { try Self.cases(h.store).contains { $0.rule == .sos } }
            try await waitUntil("inbox drained") { try h.store.status().inboxPending == 0 }
            #expect(try h.store.status().inboxReceived == 2, "only dev-A's own two messages reached the hub")
            #expect(try h.store.riskItems().map(\.source) == ["dev-A"])
            let dead = try h.store.deadLetters()
            #expect(dead.map(\.reason) == ["id_mismatch"])
            #expect(dead.first?.detail.contains("names device \"dev-B\"") == true)
        }
    }

    @Test func nobodyButTheHubWritesOutcomes() async throws {
        try await Self.withSecureHub(accounts: "reader dispatch-bridge -\n") { h in
            // A device and even the simulator account try a retained forged outcome.
            for user in ["dev-A", "patrolhub-sim"] {
                let c = try h.login(user)
                #expect(try c.publish("patrolhub/v1/out/cases", Array(#"{"id":"AJ-FORGED","by":"\#(user)"}"#.utf8), retain: true))
                c.disconnect()
            }
            try await Self.validSOSStillBecomesACase(h)
            // A reader subscribing to out/# gets every retained outcome right after its SUBACK,
            // before any outcome published later: by the first live one, a forgery would have arrived.
            let reader = try h.login("dispatch-bridge")
            #expect(try reader.subscribe(["patrolhub/v1/out/#"]) == [1])
            let b = try h.login("dev-B")
            #expect(try b.publish("patrolhub/v1/device/dev-B/sos", Self.sos("sos-b")))
            #expect(try reader.awaitPublish { String(decoding: $0.payload, as: UTF8.self).contains("dev-B") })
            #expect(reader.received.allSatisfy { $0.topic.hasPrefix("patrolhub/v1/out/") })
            #expect(!reader.received.contains { String(decoding: $0.payload, as: UTF8.self).contains("FORGED") })
            // A reader may not write outcomes either: the hub's next outcome comes, the forgery never.
            #expect(try reader.publish("patrolhub/v1/out/slips", Array(#"{"id":"YJ-FORGED"}"#.utf8)))
            let c = try h.login("dev-C")
            #expect(try c.publish("patrolhub/v1/device/dev-C/sos", Self.sos("sos-c")))
            #expect(try reader.awaitPublish { String(decoding: $0.payload, as: UTF8.self).contains("dev-C") })
            #expect(!reader.received.contains { String(decoding: $0.payload, as: UTF8.self).contains("FORGED") })
            b.disconnect()
            c.disconnect()
        }
    }

    @Test func nobodyCanUseTheHubsClientID() async throws {
        try await Self.withSecureHub { h in
            #expect(h.hub.ingest.client.connectCount == 1)
            // Without the hub's password the hub's username is refused …
            #expect(try RawMQTT(port: h.port).connect(clientID: "patrolhub", username: "patrolhub", password: "not-the-password-1") != 0)
            #expect(try RawMQTT(port: h.port).connect(clientID: "patrolhub") != 0)
            // … and a device asking for the hub's client id gets its own (its username): the hub's session stays.
            let thief = try h.login("dev-A", clientID: "patrolhub")
            let thief2 = try h.login("dev-B", clientID: "patrolhub-out")
            try await Self.validSOSStillBecomesACase(h)
            #expect(h.hub.ingest.client.connectCount == 1, "the hub was never disconnected")
            try await waitUntil("the hub's publisher delivered the case") { try h.store.outbox(limit: 10).isEmpty }
            thief.disconnect()
            thief2.disconnect()
        }
    }

    @Test func anOversizedMessageIsRefusedByTheBroker() async throws {
        try await Self.withSecureHub { h in
            let a = try h.login("dev-A")
            let padding = String(repeating: "x", count: 4096)
            // Over limits.max_payload_bytes (4096): dropped by the broker, the QoS 1 flow completed.
            #expect(try a.publish("patrolhub/v1/device/dev-A/sos", Self.sos("big", extra: #","pad":"\#(padding)""#)))
            #expect(try a.publish("patrolhub/v1/device/dev-A/sos", Self.sos("sos-ok")))
            try await waitUntil("the valid SOS becomes a case") { try Self.cases(h.store).contains { $0.rule == .sos } }
            try await waitUntil("inbox drained") { try h.store.status().inboxPending == 0 }
            #expect(try h.store.status().inboxReceived == 1, "the oversized message never reached the hub")
            #expect(try h.store.deadLetters().isEmpty)
            // Far over it (2 MiB, beyond max_packet_size): the broker disconnects the client before buffering it.
            #expect(try a.publish("patrolhub/v1/device/dev-A/sos", [UInt8](repeating: 0x20, count: 2 << 20)) == false)
            try await Self.validSOSStillBecomesACase(h, id: "sos-after")
        }
    }

    @Test func credentialsAndPasswordFileAreGeneratedPrivateAndHashed() async throws {
        try await Self.withSecureHub { h in
            let file = h.hub.config.brokerCredentialsFile
            var st = stat()
            #expect(stat(file, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600)
            let creds = try BrokerCredentials.load(file: file)
            #expect(creds.accounts.map(\.username).sorted() == ["cam-001", "cam-002", "cam-003", "dev-A", "dev-B", "dev-C", "patrolhub", "patrolhub-out", "patrolhub-sim"])
            #expect(creds.accounts.allSatisfy { $0.password.count == 40 }, "160 random bits, hex")
            #expect(Set(creds.accounts.map(\.password)).count == creds.accounts.count)
            let broker = try #require(h.hub.broker)
            let passwd = try String(contentsOfFile: broker.passwordPath, encoding: .utf8)
            #expect(stat(broker.passwordPath, &st) == 0 && st.st_mode & 0o777 == 0o600)
            #expect(passwd.split(separator: "\n").allSatisfy { $0.split(separator: ":", maxSplits: 1).last?.hasPrefix("$7$") == true })
            #expect(!creds.accounts.contains { passwd.contains($0.password) }, "no plain password in the broker's file")
            #expect(stat(broker.folder, &st) == 0 && st.st_mode & 0o777 == 0o700)
            try await Self.validSOSStillBecomesACase(h)
        }
    }

    @Test func devicesConnectThroughTheTLSListener() async throws {
        let certs = TempDir("patrolhub-tls")
        defer { certs.cleanup() }
        let (cert, key) = (certs.file("broker.crt"), certs.file("broker.key"))
        let made = try runProcess("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                                                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(made.status == 0, "\(made.output)")
        let tlsPort = try EmbeddedBroker.freePort()
        try await Self.withSecureHub(configure: { c in
            c.broker.certFile = cert
            c.broker.keyFile = key
            c.broker.tlsListenHost = "127.0.0.1"
            c.broker.tlsListenPort = tlsPort
        }) { h in
            // Plain MQTT on the TLS port gets no CONNACK.
            let plain = try RawMQTT(port: tlsPort, timeout: 5)
            #expect(throws: (any Error).self) { _ = try plain.connect(clientID: "dev-A", username: "dev-A", password: try h.password("dev-A")) }
            // A device with the broker's certificate and its own account publishes an SOS over TLS.
            var o = MQTTClient.Options()
            o.port = tlsPort
            o.clientID = "dev-A"
            o.cleanSession = true
            o.username = "dev-A"
            o.password = try h.password("dev-A")
            o.caFile = cert
            let device = MQTTClient(options: o, logger: testLogger)
            try device.start()
            defer { device.stop() }
            try await waitUntil("the device connected over TLS") { device.isConnected }
            let mid = try device.enqueue(topic: "patrolhub/v1/device/dev-A/sos", payload: Self.sos("sos-tls"))
            #expect(await device.waitForAcks([mid], timeout: .seconds(20)) == [mid])
            try await waitUntil("the TLS SOS becomes a case") { try Self.cases(h.store).contains { $0.rule == .sos } }
        }
    }

    @Test func anonymousOnLoopbackMayPublishInputsButNeverOutcomes() async throws {
        try await Self.withSecureHub(accounts: "reader dispatch-bridge -\n", configure: { $0.broker.allowAnonymous = true }) { h in
            let anonymous = try RawMQTT(port: h.port)
            #expect(try anonymous.connect(clientID: "demo-pub") == 0)
            #expect(try anonymous.publish("patrolhub/v1/out/cases", Array(#"{"id":"AJ-FORGED"}"#.utf8), retain: true))
            #expect(try anonymous.publish("patrolhub/v1/device/dev-B/sos", Self.sos("anon-sos")))
            try await waitUntil("the anonymous SOS is processed") { try h.store.status().inboxReceived == 1 && h.store.status().inboxPending == 0 }
            #expect(try h.store.riskItems().map(\.source) == ["dev-B"])
            let reader = try h.login("dispatch-bridge")
            #expect(try reader.subscribe(["patrolhub/v1/out/#"]) == [1])
            try await Self.validSOSStillBecomesACase(h)
            #expect(try reader.awaitPublish { String(decoding: $0.payload, as: UTF8.self).contains("dev-A") })
            #expect(!reader.received.contains { String(decoding: $0.payload, as: UTF8.self).contains("FORGED") })
        }
    }
}
