import Foundation
import Testing
@testable import Alerts

/// The `broker` keys of the embedded broker's lock and the `silences` rules.
@Suite("Config: broker security and silences")
struct SecurityConfigTests {
    static func parse(_ yaml: String) throws(HubError) -> HubConfig { try ConfigTests.parse(yaml) }

    static func message(_ yaml: String) -> String? {
        do { _ = try parse(yaml); return nil } catch { return error.description }
    }

    @Test func secureByDefault() throws {
        let c = try Self.parse("data_dir: /var/lib/patrolhub\n")
        #expect(c.broker.allowAnonymous == false)
        #expect(c.brokerCredentialsFile == "/var/lib/patrolhub/broker/credentials")
        #expect(c.broker.tlsListenHost == nil)
        #expect(c.silences == SilencePolicy())
        #expect(c.silences.neverSilence == [.sos])
        #expect(c.silences.maxDuration == 7 * 86_400)
    }

    @Test("paths checked at start keep their line; a relative sslrootcert is beside the config file; the embedded broker's host is an IPv4 address")
    func startPathsAndHosts() throws {
        let c = try Self.parse("store:\n  kind: postgres\n  url: postgres://hub@db.example:5432/patrolhub?sslrootcert=certs/ca.pem\nbroker:\n  tls:\n    cert_file: b.crt\n    key_file: b.key\nhttp:\n  enabled: false\n")
        #expect(c.store.url?.sslRootCert == "/etc/patrolhub/certs/ca.pem")
        let home = ("~" as NSString).expandingTildeInPath
        #expect(home.hasPrefix("/") && home != "~")
        #expect(try Self.parse("data_dir: ~/patrolhub\n").dataDir == home + "/patrolhub", "a shell's ~, not a folder named ~ beside the config")
        #expect(try Self.parse("data_dir: ./~x\n").dataDir == "/etc/patrolhub/~x")
        #expect(c.keyLines["broker.tls.cert_file"] == 6)
        #expect(c.error("broker.tls.key_file", "x").description == "/etc/patrolhub/hub.yaml:7: key 'broker.tls.key_file': x")
        #expect(c.error("data_dir", "x").description == "/etc/patrolhub/hub.yaml: key 'data_dir': x", "not written: no line")
        for host in ["127.0.0.1", "0.0.0.0", "10.1.2.3", "localhost"] { #expect(HubConfig.Broker.isIPv4Listen(host), "\(host)") }
        for host in ["300.1.1.1", "1.2.3", "01.2.3.4", "::1", "hub.example", "1.2.3.4 ", ""] { #expect(!HubConfig.Broker.isIPv4Listen(host), "\(host)") }
    }

    @Test func anonymousOnlyOnLoopback() throws {
        #expect(try Self.parse("broker:\n  allow_anonymous: true\n").broker.allowAnonymous)
        #expect(Self.message("broker:\n  host: 0.0.0.0\n  port: 1883\n  allow_anonymous: true\n")
                == "/etc/patrolhub/hub.yaml:4: key 'broker.allow_anonymous': anonymous clients are allowed on loopback only, and broker.host 0.0.0.0 is not loopback: remove allow_anonymous (devices then log in with their broker.credentials)")
        let tls = "broker:\n  allow_anonymous: true\n  tls:\n    listen: 0.0.0.0:8883\n    cert_file: b.crt\n    key_file: b.key\n"
        #expect(Self.message(tls)?.hasPrefix("/etc/patrolhub/hub.yaml:2: key 'broker.allow_anonymous': anonymous clients are allowed on loopback only, and the TLS listener 0.0.0.0") == true)
        #expect(Self.message("broker:\n  mode: external\n  allow_anonymous: true\n")?.contains("is for the embedded broker") == true)
    }

    @Test func embeddedTLSListenerAndCredentials() throws {
        let c = try Self.parse("broker:\n  host: 0.0.0.0\n  port: 1883\n  credentials: secret/creds\n  tls:\n    cert_file: b.crt\n    key_file: b.key\n")
        #expect(c.broker.tlsListenHost == "0.0.0.0")
        #expect(c.broker.tlsListenPort == 8883)
        #expect(c.broker.certFile == "/etc/patrolhub/b.crt")
        #expect(c.brokerCredentialsFile == "/etc/patrolhub/secret/creds")
        #expect(try Self.parse("broker:\n  tls:\n    listen: 10.0.0.5:9883\n    cert_file: b.crt\n    key_file: b.key\n").broker.tlsListenPort == 9883)
        #expect(Self.message("broker:\n  tls:\n    listen: 0.0.0.0:8883\n")?.contains("a TLS listener needs cert_file and key_file") == true)
        #expect(Self.message("broker:\n  username: hub\n")?.contains("key 'broker.username': is for an external broker") == true)
        #expect(Self.message("broker:\n  mode: external\n  tls:\n    listen: 0.0.0.0:8883\n")?.contains("key 'broker.tls.listen'") == true)
        #expect(Self.message("broker:\n  client_id: 'hub:1'\n")?.contains("key 'broker.client_id'") == true)
    }

    @Test func silenceRules() throws {
        let c = try Self.parse("silences:\n  never_silence: [fire_smoke]\n  max_duration: 12h\n  max_comment_length: 200\n")
        #expect(c.silences.neverSilence == [.sos, .fireSmoke], "sos stays")
        #expect(c.silences.maxDuration == 12 * 3600)
        #expect(c.silences.maxCommentLength == 200)
        #expect(Self.message("silences:\n  never_silence: [sos, volcano]\n")?.hasPrefix("/etc/patrolhub/hub.yaml:2: key 'silences.never_silence': unknown category 'volcano'") == true)
        #expect(Self.message("silences:\n  max_duration: forever\n")?.contains("key 'silences.max_duration'") == true)
        #expect(Self.message("silences:\n  max_duration: 400d\n") != nil)
    }
}
