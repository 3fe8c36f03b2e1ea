import Alerts
import Foundation
import Hummingbird
#if canImport(Glibc)
import Glibc
#endif

/// What a request must look like before any route sees it, against the
/// attacks a browser can be turned into:
///
/// - **DNS rebinding**: a page on `evil.example` whose name is made to resolve
///   to the hub's address reaches the API as "same origin". The browser
///   still sends `Host: evil.example`, so only names on the allow-list are
///   answered (421 otherwise; 400 without a `Host`).
/// - **Cross-site requests**: a page elsewhere can POST a `text/plain` body
///   without asking. A state-changing request (POST, PUT, PATCH, DELETE)
///   must say `Content-Type: application/json` (415 otherwise; a DELETE
///   without a body needs none), which a browser sends cross-origin only
///   after a CORS preflight the hub never grants; and its `Origin`, when
///   sent, must be the hub's own (403 otherwise).
struct RequestPolicy: Sendable {
    /// A host name and optional port, lowercased; IPv6 in brackets.
    struct HostName: Sendable, Hashable {
        var name: String
        var port: Int?

        /// Parses `NAME`, `NAME:PORT`, `[V6]`, `[V6]:PORT`; nil when malformed.
        init?(_ text: some StringProtocol) {
            var t = text.lowercased()
            guard !t.isEmpty, t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") }) else { return nil }
            var portText: Substring?
            if t.hasPrefix("[") {
                guard let close = t.firstIndex(of: "]") else { return nil }
                let rest = t[t.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":") else { return nil }
                    portText = rest.dropFirst()
                }
                t = String(t[...close])
            } else if let colon = t.firstIndex(of: ":") {
                portText = t[t.index(after: colon)...]
                t = String(t[..<colon])
            }
            if t.hasSuffix(".") { t.removeLast() }
            guard !t.isEmpty, t != "[]" else { return nil }
            if let portText {
                guard let p = Int(portText), (1...65535).contains(p) else { return nil }
                port = p
            }
            name = t
        }

        init(name: String, port: Int?) {
            self.name = name
            self.port = port
        }

        /// Written back as `NAME[:PORT]`.
        var text: String { port.map { "\(name):\($0)" } ?? name }
    }

    /// Names answered on any port, and `NAME:PORT` entries answered on that port only.
    var allowed: Set<HostName>
    /// The server's own scheme (`http` or `https`).
    var scheme: String

    /// Names every hub answers to: the loopback names.
    static let loopbackNames = ["localhost", "127.0.0.1", "[::1]"]

    /// The allow-list for a server listening on `listenHost`: the loopback
    /// names, the listen address (for a wildcard address, this machine's
    /// own addresses and host name) and `extra` (`http.allowed_hosts`).
    static func allowList(listenHost: String, extra: [String], machineNames: () -> [String] = RequestPolicy.machineNames) -> Set<HostName> {
        var names = loopbackNames
        let wildcard = ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", "[::]", ""]
        if wildcard.contains(listenHost.lowercased()) {
            names += machineNames()
        } else {
            names.append(listenHost)
        }
        var set = Set<HostName>()
        for n in names {
            let bracketed = n.contains(":") && !n.hasPrefix("[") ? "[\(n)]" : n
            if let h = HostName(bracketed) { set.insert(HostName(name: h.name, port: nil)) }
        }
        for e in extra { if let h = HostName(e) { set.insert(h) } }
        return set
    }

    /// This machine's interface addresses and host name (for a server listening on every address).
    static func machineNames() -> [String] {
        var out: [String] = []
        var host = [CChar](repeating: 0, count: 256)
        if gethostname(&host, host.count) == 0 {
            let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { out.append(name) }
        }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return out }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let a = p {
            defer { p = a.pointee.ifa_next }
            guard let sa = a.pointee.ifa_addr else { continue }
            let family = Int32(sa.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            guard getnameinfo(sa, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // A link-local address carries its interface (fe80::1%eth0), which a Host header cannot.
            if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
            out.append(text)
        }
        return out
    }

    /// Why the request is refused, or nil when it may go on.
    struct Refusal: Equatable {
        var status: HTTPResponse.Status
        var message: String
    }

    /// Checks one request's head: its method, `Host` (HTTP/1's authority),
    /// `Origin`, `Content-Type` and whether it carries a body.
    func check(method: HTTPRequest.Method, host: String?, origin: String?, contentType: String?, hasBody: Bool) -> Refusal? {
        guard let host, let h = HostName(host) else {
            return Refusal(status: .badRequest, message: "the Host header is missing or malformed")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        guard allowed.contains(HostName(name: h.name, port: nil)) || allowed.contains(HostName(name: h.name, port: h.port ?? defaultPort)) else {
            return Refusal(status: .misdirectedRequest, message: "this hub does not answer for the host '\(h.text)' (add it to http.allowed_hosts if it is the hub's name)")
        }
        let changesState = [.post, .put, .patch, .delete].contains(method)
        guard changesState else { return nil }
        if let origin {
            guard Self.sameOrigin(origin, host: h) else {
                return Refusal(status: .forbidden, message: "cross-origin request refused: Origin '\(origin.prefix(200))' is not this hub")
            }
        }
        if method != .delete || hasBody {
            let mediaType = contentType?.split(separator: ";", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard mediaType == "application/json" else {
                return Refusal(status: .unsupportedMediaType, message: "a request that changes state must send Content-Type: application/json")
            }
        }
        return nil
    }

    /// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
    /// The scheme may differ from the server's own (a TLS proxy in front of a plain hub), the host and port may not.
    static func sameOrigin(_ origin: String, host: HostName) -> Bool {
        let o = origin.lowercased()
        let originScheme: String
        let rest: Substring
        if o.hasPrefix("https://") {
            originScheme = "https"
            rest = o.dropFirst(8)
        } else if o.hasPrefix("http://") {
            originScheme = "http"
            rest = o.dropFirst(7)
        } else {
            return false // `null` (sandboxed frames, file: pages) and anything else
        }
        guard let oh = HostName(rest) else { return false }
        // A Host without a port means the default port of the scheme the browser used: the Origin's.
        let defaultPort = originScheme == "https" ? 443 : 80
        return oh.name == host.name && (oh.port ?? defaultPort) == (host.port ?? defaultPort)
    }
}

/// Applies `RequestPolicy` to every request.
struct RequestPolicyMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let policy: RequestPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let h = request.headers
        let hasBody = (h[.contentLength].flatMap { Int($0) } ?? 0) > 0 || h[.transferEncoding] != nil
        // The first Host is the request's authority; another one stays among the fields. RFC 9112
        // §3.2 asks for a 400: a proxy in front may have checked the other one.
        if h.contains(where: { $0.name.canonicalName == "host" }) {
            throw APIError.badRequest("more than one Host header")
        }
        if let refusal = policy.check(method: request.method, host: request.head.authority, origin: h[.origin],
                                      contentType: h[.contentType], hasBody: hasBody) {
            throw APIError(refusal.status, refusal.message)
        }
        // No name, id or filter holds a NUL character (`%00`): PostgreSQL's text refuses one (a 500
        // there), and SQLite would store what no other tool reads back whole.
        if request.uri.path.removingPercentEncoding?.contains("\0") ?? false
            || request.uri.queryParameters.contains(where: { $0.key.contains("\0") || $0.value.contains("\0") }) {
            throw APIError.badRequest("the request's path or query holds a NUL character (%00)")
        }
        // Every parameter is read once: a repeated one would leave which value counts to the
        // reader (a proxy or a log may have checked the other one), so it is refused.
        var seen = Set<Substring>()
        for (key, _) in request.uri.queryParameters where !seen.insert(key).inserted {
            throw APIError.badRequest("the query parameter '\(key.prefix(40))' is given more than once")
        }
        return try await next(request, context)
    }
}

/// Adds the security headers to every response, errors included: a
/// Content-Security-Policy (the route's own, or `default-src 'none'`) with
/// `frame-ancestors 'none'` so no page can frame the board (clickjacking),
/// `X-Frame-Options: DENY` for browsers that predate it, `nosniff` so
/// nothing served is run as another type, and `no-referrer` so a URL with
/// a token in it never leaves in a Referer header.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    static let defaultPolicy = "default-src 'none'; frame-ancestors 'none'"
    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")!
    static let frameOptions = HTTPFields.Element.Name("X-Frame-Options")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let mapped = APIError(mapping: error) {
                response = try mapped.response(from: request, context: context)
            } else {
                context.logger.error("http.internal_error", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
                response = try APIError(.internalServerError, "internal error (see the hub's log)").response(from: request, context: context)
            }
        }
        Self.secure(&response.headers)
        return response
    }

    static func secure(_ headers: inout HTTPFields) {
        if let csp = headers[.contentSecurityPolicy] {
            if !csp.contains("frame-ancestors") { headers[.contentSecurityPolicy] = csp + "; frame-ancestors 'none'" }
        } else {
            headers[.contentSecurityPolicy] = defaultPolicy
        }
        headers[.xContentTypeOptions] = "nosniff"
        headers[referrerPolicy] = "no-referrer"
        headers[frameOptions] = "DENY"
    }
}
