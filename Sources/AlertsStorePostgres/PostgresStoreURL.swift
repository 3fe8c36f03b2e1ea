import Alerts
import Foundation
import NIOSSL
import PostgresNIO

/// Connecting to a `PostgresStoreURL` (parsed in the core): postgres-nio's configuration and TLS.
extension PostgresStoreURL {
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
