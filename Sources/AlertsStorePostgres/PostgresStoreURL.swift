import Alerts
import Foundation
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL store is and how to reach it:
/// `postgres://user@host:port/database?sslmode=MODE&sslrootcert=PATH`
/// (`postgresql://` too; port 5432 when left out; both parameters optional,
/// spelled as libpq spells them). The URL never holds the password: it comes
/// from `PATROLHUB_STORE_PASSWORD` or a file
/// (`PostgresStore.password(environment:file:)`), so logging the URL is safe.
///
/// The one parser of the store's URL, and `connectionConfiguration(password:)`
/// the one place that turns it into postgres-nio's configuration: the store,
/// the leader lease and `patrolhub store migrate` all go through both.
///
/// Without `sslmode`, a loopback host (`localhost`, `127.0.0.0/8`, `::1`)
/// connects without TLS (`disable`) and any other host, or a URL with
/// `sslrootcert`, with `verify-full`: traffic that leaves the machine is
/// encrypted and the server proven, never silently downgraded as libpq's
/// default `prefer` allows (docs/POSTGRES.md, "TLS").
public struct PostgresStoreURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS: libpq's `sslmode` values that postgres-nio can honour.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        /// No TLS: everything, the password exchange included, in the clear.
        case disable
        /// TLS when the server offers it, else in the clear; the certificate is not checked.
        case prefer
        /// TLS or no connection; the certificate is not checked (checked against
        /// `sslrootcert` as `verifyCA` when one is given, as libpq does).
        case require
        /// TLS, with a certificate chaining to `sslrootcert` (or the system's roots); any host name.
        case verifyCA = "verify-ca"
        /// TLS, with a certificate chaining to `sslrootcert` (or the system's roots) and naming the host.
        case verifyFull = "verify-full"
    }

    /// The query parameters the URL may hold.
    public static let parameters = ["sslmode", "sslrootcert"]

    /// The server's host name or address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The role the hub logs in as.
    public var user: String
    /// The database holding the store.
    public var database: String
    /// How the connection uses TLS (`sslmode`, or the default for the host: see the type's note).
    public var sslMode: SSLMode
    /// A PEM file of the certificate authorities the server's certificate must chain to
    /// (`sslrootcert`); nil for the system's trusted roots.
    public var sslRootCert: String?

    /// Parses `url`; refuses one with a password, no user, host or database, a fragment,
    /// or a query parameter that is unsupported, repeated, or has a bad value. Reads no file.
    ///
    /// - Throws: `HubError` `.postgresStore`, one line naming the part or parameter at fault
    ///   (never echoing a password).
    public init(parsing url: String) throws(HubError) {
        func refuse(_ why: String) -> HubError {
            HubError(.postgresStore, "store.url must be postgres://user@host:port/database: \(why)")
        }
        guard let c = URLComponents(string: url), let scheme = c.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw refuse("not a postgres:// URL")
        }
        guard c.password == nil else {
            throw refuse("it holds a password; give it in PATROLHUB_STORE_PASSWORD or a password file instead")
        }
        guard let user = c.user, !user.isEmpty else { throw refuse("no user") }
        guard let host = c.host, !host.isEmpty else { throw refuse("no host") }
        let database = String(c.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw refuse("no database name") }
        guard c.fragment == nil else { throw refuse("a '#' fragment is not supported") }

        var given: [String: String] = [:]
        for item in c.queryItems ?? [] {
            func refuseParameter(_ why: String) -> HubError { HubError(.postgresStore, "store.url: \(why)") }
            guard Self.parameters.contains(item.name) else {
                if item.name == "password" {
                    throw refuseParameter("parameter 'password' is refused; give it in PATROLHUB_STORE_PASSWORD or a password file instead")
                }
                throw refuseParameter("unsupported parameter '\(item.name)' (supported: \(Self.parameters.joined(separator: ", ")))")
            }
            guard given[item.name] == nil else { throw refuseParameter("parameter '\(item.name)' is given twice") }
            guard let value = item.value, !value.isEmpty else { throw refuseParameter("parameter '\(item.name)' has no value") }
            given[item.name] = value
        }
        let modes = SSLMode.allCases.map(\.rawValue)
        var sslMode: SSLMode?
        if let value = given["sslmode"] {
            guard let mode = SSLMode(rawValue: value) else {
                throw HubError(.postgresStore, "store.url: sslmode must be one of \(modes.joined(separator: ", ")), not '\(value)'")
            }
            sslMode = mode
        }
        let rootCert = given["sslrootcert"]
        if rootCert != nil, let mode = sslMode, mode == .disable || mode == .prefer {
            // libpq would ignore the file here; refusing it keeps a URL from looking verified when it is not.
            throw HubError(.postgresStore, "store.url: sslrootcert needs sslmode=require, verify-ca or verify-full, not sslmode=\(mode.rawValue) (which checks no certificate)")
        }
        self.host = host
        self.port = c.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.database = database.removingPercentEncoding ?? database
        self.sslMode = sslMode ?? (rootCert == nil && Self.isLoopback(host) ? .disable : .verifyFull)
        self.sslRootCert = rootCert
    }

    /// Whether `host` names this machine: `localhost`, an IPv4 address in `127.0.0.0/8`, or `::1`.
    /// Traffic to it does not leave the machine, so it needs no TLS by default.
    public static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) } == Array(repeating: 0, count: 15) + [1]
        }
        return false
    }

    /// The URL with its effective TLS mode (it never holds a password): what the store logs and names in errors.
    public var description: String {
        var text = "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
        if let sslRootCert {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+#")
            text += "&sslrootcert=" + (sslRootCert.addingPercentEncoding(withAllowedCharacters: allowed) ?? sslRootCert)
        }
        return text
    }

    /// postgres-nio's configuration for this URL: the address, role, database and TLS
    /// (`tlsConfiguration()`). Used by every connection the store target makes.
    ///
    /// - Throws: `HubError` `.postgresStore` when `sslrootcert` cannot be read or holds no
    ///   PEM certificate, or the TLS context cannot be made.
    package func connectionConfiguration(password: String?) throws(HubError) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database,
                                         tls: try tlsConfiguration())
    }

    /// Reads `sslrootcert` and makes the TLS context, as connecting would, without connecting:
    /// for a command to refuse a bad URL before it starts work.
    ///
    /// - Throws: `HubError` `.postgresStore`, as `connectionConfiguration(password:)`.
    public func checkTLS() throws(HubError) {
        _ = try tlsConfiguration()
    }

    /// The TLS half of `connectionConfiguration(password:)`: TLS 1.2 or newer, the
    /// certificate checked as `sslMode` says, trusted roots from `sslRootCert` (read now)
    /// or else the system's. A host given as an IP address is matched against the
    /// certificate's IP addresses (postgres-nio sends no server name for it).
    package func tlsConfiguration() throws(HubError) -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch sslMode {
        case .disable:
            return .disable
        case .prefer:
            tls.certificateVerification = .none
            return .prefer(try Self.context(tls))
        case .require where sslRootCert == nil:
            tls.certificateVerification = .none
        case .require, .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = try trustRoots()
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            tls.trustRoots = try trustRoots()
        }
        return .require(try Self.context(tls))
    }

    /// The certificates of `sslRootCert`, or the system's roots without it.
    private func trustRoots() throws(HubError) -> NIOSSLTrustRoots {
        guard let path = sslRootCert else { return .default }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw HubError(.postgresStore, "store.url: sslrootcert \(path) cannot be read")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw HubError(.postgresStore, "store.url: sslrootcert \(path) is not a PEM certificate file: \(error)")
        }
        guard !certificates.isEmpty else { throw HubError(.postgresStore, "store.url: sslrootcert \(path) holds no PEM certificate") }
        return .certificates(certificates)
    }

    /// What a failed TLS setup means, in words, for a connection error: the server
    /// offers no TLS, its certificate does not chain to the trusted roots, or does
    /// not name the host. Nil for any other error.
    static func tlsFailure(_ error: PSQLError) -> String? {
        if error.code == .sslUnsupported {
            return "the server does not offer TLS, which the URL's sslmode requires"
        }
        if let e = error.underlying as? NIOSSLExtraError, e == .failedToValidateHostname {
            return "TLS: the server's certificate does not name the host (sslmode=verify-full): \(e)"
        }
        if case .handshakeFailed(let reason) = error.underlying as? NIOSSLError {
            let text = "\(reason)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS: the server's certificate does not chain to a trusted CA (sslrootcert, else the system's roots): \(text)"
            }
            return "TLS handshake failed: \(text)"
        }
        return nil
    }

    private static func context(_ tls: TLSConfiguration) throws(HubError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw HubError(.postgresStore, "store.url: cannot set up TLS: \(error)")
        }
    }
}
