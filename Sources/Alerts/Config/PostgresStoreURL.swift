import Foundation

extension HubError.Code {
    /// The PostgreSQL store: a bad `store.url` (or its `sslrootcert`), an unreadable password file, a failed connection
    /// (TLS included), query or migration.
    public static let postgresStore = Self("postgres_store")
}

/// Where the PostgreSQL store is and how to reach it:
/// `postgres://user@host:port/database?sslmode=MODE&sslrootcert=PATH`
/// (`postgresql://` too; port 5432 when left out; both parameters optional,
/// spelled as libpq spells them). The URL never holds the password: it comes
/// from `PATROLHUB_STORE_PASSWORD` or a file
/// (`PostgresStore.password(environment:file:)`), so logging the URL is safe.
///
/// The one parser of the store's URL (here in the core, so the config's
/// `store.url` is refused with its file and line), and
/// `connectionConfiguration(password:)` (AlertsStorePostgres) the one place that
/// turns it into postgres-nio's configuration: the store, the leader lease and
/// `patrolhub store migrate` all go through both.
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
        if let port = c.port, !(1...65535).contains(port) {
            throw HubError(.postgresStore, "store.url: port \(port) is outside 1…65535")
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
}
