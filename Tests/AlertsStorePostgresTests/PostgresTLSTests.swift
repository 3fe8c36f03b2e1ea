import Alerts
import AlertsStorePostgres
import Foundation
import Logging
import PostgresNIO
import PostgresTestSupport
import Testing

/// TLS to PostgreSQL as the store URL's `sslmode` and `sslrootcert` ask,
/// against a real server that takes TCP clients over TLS only
/// (`TLSTestPostgres`: certificates made by openssl at test time): the right
/// CA connects, a wrong CA or a certificate for another name is refused where
/// the mode checks them, `require` connects without a CA, the server refuses
/// a client without TLS; and the URL's parameters are refused one by one,
/// naming the parameter.
@Suite("PostgreSQL over TLS", .serialized)
struct PostgresTLSTests {
    static let logger = Logger(label: "test.postgres.tls")

    /// Whether the server sees the connection `url` makes (through the store's shared configuration) as encrypted.
    static func encrypted(_ url: String, password: String? = nil) async throws -> Bool {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresStoreURL(parsing: url).connectionConfiguration(password: password), id: 5, logger: logger)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: logger)
        for try await ssl in rows.decode(Bool.self) { return ssl }
        Issue.record("no pg_stat_ssl row for the connection")
        return false
    }

    /// The error `PostgresStore(url:)` throws for `url`, nil when it connects (and migrates).
    static func storeRefusal(_ url: String) async throws -> HubError? {
        try await onDedicatedThread { () throws -> HubError? in
            do {
                let store = try PostgresStore(url: url, password: "pw-never-shown")
                store.close()
                return nil
            } catch let error as HubError {
                #expect(error.code == .postgresStore)
                #expect(!error.description.contains("pw-never-shown"))
                #expect(!error.description.contains("\n"), "one line: \(error)")
                return error
            }
        }
    }

    static func server() async throws -> TLSTestPostgres {
        try await onDedicatedThread { try TLSTestPostgres.shared() }
    }

    @Test("verify-full with the server's CA connects over TLS, by address and by name; the store migrates and the lease locks")
    func verifyFullWithTheRightCA() async throws {
        let server = try await Self.server()
        let db = try await onDedicatedThread { try server.freshDatabase("verify_full") }
        let query = "sslmode=verify-full&sslrootcert=\(server.caFile)"
        let url = server.url(database: db, query: query)
        try await onDedicatedThread {
            let store = try PostgresStore(url: url, password: nil)
            defer { store.close() }
            #expect(store.url.sslMode == .verifyFull)
            #expect(try store.appliedMigrations() == ["v1-pipeline", "v2-inbox-keyed", "v3-engine-restore", "v4-shared-inbox", "v5-slip-count-start", "v6-slip-order", "v7-append-only-deletes"])
            #expect(try store.rowCount("events") == 0)
        }
        #expect(try await Self.encrypted(url))
        #expect(try await Self.encrypted(server.url(host: "localhost", database: db, query: query)))
        // sslrootcert alone means verify-full, loopback or not.
        #expect(try await Self.encrypted(server.url(database: db, query: "sslrootcert=\(server.caFile)")))
        let lease = try LeaderLease(url: url, password: nil, key: .random(in: 1...Int64.max))
        #expect(try await lease.tryAcquire())
        await lease.close()
    }

    @Test("a certificate another CA signed is refused by verify-full, verify-ca and require with that CA as sslrootcert")
    func aWrongCAIsRefused() async throws {
        let server = try await Self.server()
        for mode in ["verify-full", "verify-ca", "require"] {
            let url = server.url(database: "postgres", query: "sslmode=\(mode)&sslrootcert=\(server.otherCAFile)")
            let error = try #require(try await Self.storeRefusal(url), "sslmode=\(mode) connected with the wrong CA")
            let expected = "PostgreSQL: cannot connect to \(try PostgresStoreURL(parsing: url)): "
            #expect(error.message.hasPrefix(expected), "\(error)")
            #expect(error.message.hasPrefix(expected + "TLS: the server's certificate does not chain to a trusted CA (sslrootcert, else the system's roots): ")
                    && error.message.contains("CERTIFICATE_VERIFY_FAILED"), "\(error)")
        }
        let lease = try LeaderLease(url: server.url(database: "postgres", query: "sslmode=verify-full&sslrootcert=\(server.otherCAFile)"),
                                    password: nil)
        await #expect(throws: HubError.self) { _ = try await lease.tryAcquire() }
        await lease.close()
    }

    @Test("verify-ca accepts the CA's certificate at an address it does not name; verify-full refuses it")
    func verifyCAChecksTheChainOnly() async throws {
        let server = try await Self.server()
        // The server listens on 127.0.0.2 too; its certificate names localhost and 127.0.0.1 only.
        #expect(try await Self.encrypted(server.url(host: "127.0.0.2", database: "postgres", query: "sslmode=verify-ca&sslrootcert=\(server.caFile)")))
        let url = server.url(host: "127.0.0.2", database: "postgres", query: "sslmode=verify-full&sslrootcert=\(server.caFile)")
        let error = try #require(try await Self.storeRefusal(url), "verify-full accepted a certificate for another address")
        #expect(error.message.hasPrefix("PostgreSQL: cannot connect to \(try PostgresStoreURL(parsing: url)): "
                                        + "TLS: the server's certificate does not name the host (sslmode=verify-full)"), "\(error)")
    }

    @Test("require connects over TLS without a CA, and is refused by a server without TLS; prefer uses TLS exactly when the server offers it")
    func requireAndPrefer() async throws {
        let server = try await Self.server()
        let db = try await onDedicatedThread { try server.freshDatabase("require") }
        #expect(try await Self.encrypted(server.url(database: db, query: "sslmode=require")))
        let lease = try LeaderLease(url: server.url(database: db, query: "sslmode=require"), password: nil, key: .random(in: 1...Int64.max))
        #expect(try await lease.tryAcquire())
        await lease.close()
        #expect(try await Self.encrypted(server.url(database: db, query: "sslmode=prefer")))

        // The ordinary test server: prefer connects whether it offers TLS or not, and uses it exactly when it does.
        let plain = try await onDedicatedThread { try TestPostgres.freshDatabase("prefer") }
        // Without the variable's own query, if any (the TLS parameters under test replace it).
        let plainURL = String(plain.url.prefix { $0 != "?" })
        let preferURL = plainURL + "?sslmode=prefer"
        let connection = try await PostgresConnection.connect(
            configuration: PostgresStoreURL(parsing: preferURL).connectionConfiguration(password: plain.password), id: 6, logger: Self.logger)
        defer { Task { try? await connection.close() } }
        var offers = ""
        for try await on in try await connection.query("SHOW ssl", logger: Self.logger).decode(String.self) { offers = on }
        try await onDedicatedThread {
            let store = try PostgresStore(url: preferURL, password: plain.password)
            store.close()
        }
        #expect(try await Self.encrypted(preferURL, password: plain.password) == (offers == "on"))
        // require against it: encrypted when it offers TLS, else refused in words.
        let requireURL = plainURL + "?sslmode=require"
        if offers == "on" {
            #expect(try await Self.encrypted(requireURL, password: plain.password))
        } else {
            let error = try #require(try await Self.storeRefusal(requireURL), "sslmode=require connected without TLS")
            #expect(error.message == "PostgreSQL: cannot connect to \(try PostgresStoreURL(parsing: requireURL)): "
                    + "the server does not offer TLS, which the URL's sslmode requires", "\(error)")
        }
    }

    @Test("without TLS (sslmode=disable, or no sslmode on a loopback host) the hostssl-only server refuses the login")
    func disableIsRefusedByTheServer() async throws {
        let server = try await Self.server()
        for query in ["sslmode=disable", ""] {
            let url = server.url(database: "postgres", query: query)
            #expect(try PostgresStoreURL(parsing: url).sslMode == .disable)
            let error = try #require(try await Self.storeRefusal(url), "\(url) connected without TLS")
            #expect(error.message.hasPrefix("PostgreSQL: cannot connect to \(try PostgresStoreURL(parsing: url)): "), "\(error)")
            #expect(error.message.contains("no pg_hba.conf entry") && error.message.contains("no encryption")
                    && error.message.contains("SQLSTATE 28000"), "\(error)")
        }
    }

    @Test("the URL's parameters: libpq's spelling, defaults by host, each refusal one line naming the parameter")
    func parameters() throws {
        func refusal(_ url: String) -> String {
            do throws(HubError) {
                let parsed = try PostgresStoreURL(parsing: url)
                try parsed.checkTLS()
                return "accepted: \(parsed)"
            } catch {
                #expect(error.code == .postgresStore)
                return error.message
            }
        }
        #expect(refusal("postgres://hub@db/p?sslmode=verify_full")
                == "store.url: sslmode must be one of disable, prefer, require, verify-ca, verify-full, not 'verify_full'")
        #expect(refusal("postgres://hub@db/p?sslmode=allow")
                == "store.url: sslmode must be one of disable, prefer, require, verify-ca, verify-full, not 'allow'")
        #expect(refusal("postgres://hub@db/p?sslmode=") == "store.url: parameter 'sslmode' has no value")
        #expect(refusal("postgres://hub@db/p?sslmode=require&sslmode=disable") == "store.url: parameter 'sslmode' is given twice")
        #expect(refusal("postgres://hub@db/p?sslcert=/c.pem") == "store.url: unsupported parameter 'sslcert' (supported: sslmode, sslrootcert)")
        #expect(refusal("postgres://hub@db/p?password=hunter2")
                == "store.url: parameter 'password' is refused; give it in PATROLHUB_STORE_PASSWORD or a password file instead")
        #expect(refusal("postgres://hub@db/p?sslmode=disable&sslrootcert=/ca.pem")
                == "store.url: sslrootcert needs sslmode=require, verify-ca or verify-full, not sslmode=disable (which checks no certificate)")
        #expect(refusal("postgres://hub@db/p?sslmode=prefer&sslrootcert=/ca.pem")
                == "store.url: sslrootcert needs sslmode=require, verify-ca or verify-full, not sslmode=prefer (which checks no certificate)")
        #expect(refusal("postgres://hub@db:99999/p") == "store.url: port 99999 is outside 1…65535")
        #expect(refusal("postgres://hub@db/p#frag") == "store.url must be postgres://user@host:port/database: a '#' fragment is not supported")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(refusal("postgres://hub@db/p?sslrootcert=\(dir)/none.pem") == "store.url: sslrootcert \(dir)/none.pem cannot be read")
        try "not a certificate\n".write(toFile: "\(dir)/bad.pem", atomically: true, encoding: .utf8)
        #expect(refusal("postgres://hub@db/p?sslmode=verify-ca&sslrootcert=\(dir)/bad.pem").hasPrefix("store.url: sslrootcert \(dir)/bad.pem is not a PEM certificate file"))
        // A CA file is read when the configuration is made, not when the URL is parsed.
        #expect(try PostgresStoreURL(parsing: "postgres://hub@db/p?sslrootcert=\(dir)/none.pem").sslRootCert == "\(dir)/none.pem")

        // Defaults: no TLS on loopback, verify-full elsewhere or with a CA file.
        #expect(try PostgresStoreURL(parsing: "postgres://hub@127.0.0.1/p").sslMode == .disable)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@localhost/p").sslMode == .disable)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@[::1]/p").sslMode == .disable)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@db.example/p").sslMode == .verifyFull)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@10.0.0.5/p").sslMode == .verifyFull)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@127.0.0.1/p?sslrootcert=/ca.pem").sslMode == .verifyFull)
        #expect(try PostgresStoreURL(parsing: "postgres://hub@db.example/p?sslmode=disable").sslMode == .disable)
        #expect([("127.8.9.10", true), ("128.0.0.1", false), ("::1", true), ("::2", false), ("LocalHost", true), ("localhost.example", false)]
            .allSatisfy { PostgresStoreURL.isLoopback($0.0) == $0.1 })

        // The description: the mode in force and the CA file, never a password.
        #expect(try PostgresStoreURL(parsing: "postgresql://hub@db.example/p?sslrootcert=/etc/ssl/pg%20ca.pem&sslmode=verify-ca").description
                == "postgres://hub@db.example:5432/p?sslmode=verify-ca&sslrootcert=/etc/ssl/pg%20ca.pem")
    }
}
