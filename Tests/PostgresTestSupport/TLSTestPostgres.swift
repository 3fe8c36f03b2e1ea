import Alerts
import Foundation
import Logging
import PostgresNIO

/// A throwaway PostgreSQL 15 that accepts TCP clients over TLS only, for the
/// tests of `sslmode` and `sslrootcert`, with certificates made at test time
/// by `/usr/bin/openssl`: a CA, a server certificate it signs for `localhost`
/// and `127.0.0.1` (listening on `127.0.0.2` too, an address the certificate
/// does not name), and a second CA that signed nothing.
///
/// `pg_hba.conf` holds `hostssl` lines only (and `local` for the tests'
/// administration over its Unix socket), so the server itself refuses a client
/// without TLS. Always started by the tests, one per test process, stopped at
/// exit, even when `PATROLHUB_TEST_POSTGRES_URL` names a server (that server's
/// TLS setup is not the tests' to choose). Without PostgreSQL 15 or openssl the
/// tests fail, never skip. Everything here blocks: call it from a dedicated
/// thread (`onDedicatedThread`).
package struct TLSTestPostgres: Sendable {
    /// The role the tests log in as (trusted: no password).
    package let user = "patrolhub"
    /// The TCP port, on `127.0.0.1` and `127.0.0.2`.
    package let port: Int
    /// The CA that signed the server's certificate (PEM).
    package let caFile: String
    /// A CA that did not sign it (PEM).
    package let otherCAFile: String
    /// The server's folder, holding its Unix socket.
    let folder: String

    nonisolated(unsafe) private static var started: Result<TLSTestPostgres, HubError>?

    /// The process's TLS server, started at the first call.
    package static func shared() throws -> TLSTestPostgres {
        try TestPostgres.lock.withLock {
            if started == nil { started = Result<TLSTestPostgres, HubError>(catching: { () throws(HubError) -> TLSTestPostgres in try start() }) }
            return try started!.get()
        }
    }

    /// `postgres://patrolhub@HOST:PORT/DATABASE?QUERY`, without `?` for an empty query.
    package func url(host: String = "127.0.0.1", database: String, query: String) -> String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (query.isEmpty ? "" : "?" + query)
    }

    /// Creates an empty database with a unique name (over the Unix socket, which needs no TLS) and returns the name.
    package func freshDatabase(_ label: String) throws -> String {
        let safe = label.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let name = "patrolhub_tls_\(String(safe.prefix(30)))_\(UUID().uuidString.prefix(8).lowercased())"
        let configuration = PostgresConnection.Configuration(unixSocketPath: "\(folder)/.s.PGSQL.\(port)", username: user, password: nil,
                                                             database: "postgres")
        do {
            let connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                            id: 0, logger: TestPostgres.logger).wait()
            defer { try? connection.close().wait() }
            _ = try connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: TestPostgres.logger).wait()
        } catch {
            throw HubError(.testPostgres, "the TLS test PostgreSQL in \(folder): \(String(reflecting: error))")
        }
        return name
    }

    private static func start() throws(HubError) -> TLSTestPostgres {
        var files: (ca: String, otherCA: String)?
        let (folder, port) = try TestPostgres.startOwnServer(
            "pg-tls", options: "-c listen_addresses=127.0.0.1,127.0.0.2"
        ) { (folder: String, data: String) throws(HubError) in
            files = try makeCertificates(in: folder)
            let conf = """

                ssl = on
                ssl_cert_file = '\(folder)/server.crt'
                ssl_key_file = '\(folder)/server.key'
                ssl_min_protocol_version = 'TLSv1.2'

                """
            let hba = """
                local all all trust
                hostssl all all 127.0.0.0/8 trust

                """
            do {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(conf.utf8))
                try handle.close()
                try hba.write(toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)
            } catch {
                throw HubError(.testPostgres, "cannot configure TLS in \(data): \(error)")
            }
        }
        guard let files else { throw HubError(.testPostgres, "no certificates were made in \(folder)") }
        return TLSTestPostgres(port: port, caFile: files.ca, otherCAFile: files.otherCA, folder: folder)
    }

    /// Makes `ca.crt`, `server.crt` + `server.key` (signed by it) and `other-ca.crt` in `folder`
    /// with openssl (P-256 keys: quick to make), the key readable by the server's user only.
    private static func makeCertificates(in folder: String) throws(HubError) -> (ca: String, otherCA: String) {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw HubError(.testPostgres, "the TLS tests make their certificates with \(openssl), which is not installed (apt-get install openssl)")
        }
        let config = """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = unused
            [ca]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash
            [server]
            basicConstraints = CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost, IP:127.0.0.1
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid

            """
        let f = { (name: String) in "\(folder)/\(name)" }
        do {
            try config.write(toFile: f("openssl.cnf"), atomically: false, encoding: .utf8)
        } catch {
            throw HubError(.testPostgres, "cannot write \(f("openssl.cnf")): \(error)")
        }
        let log = f("tools.log")
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "PatrolHub test CA"), ("other-ca", "PatrolHub other test CA")] {
            try TestPostgres.run(false, openssl, ["req", "-x509", "-config", f("openssl.cnf"), "-extensions", "ca"] + key
                                 + ["-keyout", f("\(name).key"), "-out", f("\(name).crt"), "-days", "2", "-subj", "/CN=\(subject)"],
                                 what: "openssl req (\(name))", log: log)
        }
        try TestPostgres.run(false, openssl, ["req", "-new", "-config", f("openssl.cnf")] + key
                             + ["-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=localhost"],
                             what: "openssl req (server)", log: log)
        try TestPostgres.run(false, openssl, ["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"),
                                              "-set_serial", "2", "-days", "2", "-extfile", f("openssl.cnf"), "-extensions", "server",
                                              "-out", f("server.crt")],
                             what: "openssl x509 (server)", log: log)
        do {
            // The server refuses a key others can read; as root it runs as postgres, who must own it.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: f("server.key"))
            if getuid() == 0 {
                for file in ["server.key", "server.crt"] {
                    try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: f(file))
                }
            }
        } catch {
            throw HubError(.testPostgres, "cannot hand \(f("server.key")) to the server: \(error)")
        }
        return (f("ca.crt"), f("other-ca.crt"))
    }
}
