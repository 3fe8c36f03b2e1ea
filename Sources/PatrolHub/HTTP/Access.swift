import Alerts
import Foundation
import Hummingbird

/// What a bearer token may do. Roles are ordered: each may do what the
/// ones before it may.
enum Role: String, Sendable, CaseIterable, Comparable {
    /// Reads everything (`GET`).
    case viewer
    /// Also acts on cases and creates or expires silences.
    case `operator`
    /// Also what the supervision loop reserves to supervisors (e.g. deleting a silence outright).
    case supervisor
    /// Everything.
    case admin

    private var rank: Int { Role.allCases.firstIndex(of: self)! }
    static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}

/// Who is calling: the token's name and role, or the local user when the
/// server runs without a token file (loopback only).
struct Identity: Sendable, Hashable {
    var name: String
    var role: Role
    /// False when no token file is configured: the name says nothing, so
    /// actions must name their author themselves.
    var authenticated: Bool
}

/// The request context of the dispatch-room server: Hummingbird's core
/// context plus the caller's identity, set by `AccessMiddleware`.
struct HubRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// Refuses the request unless the caller has at least `role`
    /// (401 without a valid token, 403 with a weaker role).
    func require(_ role: Role) throws {
        guard let identity else { throw AccessMiddleware.unauthorized("a bearer token is required") }
        guard identity.role >= role else {
            throw HTTPError(.forbidden, message: "this needs the role \(role.rawValue) or above; token '\(identity.name)' has \(identity.role.rawValue)")
        }
    }

    /// The author to record for an action: the token's name when the caller
    /// authenticated (a body cannot claim someone else), otherwise `claimed`
    /// (the body's `by`/`created_by`), which is then required.
    func actor(claimed: String?, field: String) throws -> String {
        if let identity, identity.authenticated { return identity.name }
        guard let c = claimed?.trimmingCharacters(in: .whitespaces), !c.isEmpty else {
            throw HTTPError(.badRequest, message: "\(field) is required: who does this")
        }
        return c
    }
}

/// The bearer tokens of `http.tokens_file`.
///
/// Format: one token per line, three fields separated by spaces or tabs —
/// `ROLE NAME TOKEN` — where ROLE is viewer, operator, supervisor or admin,
/// NAME identifies the holder in the audit log (letters, digits, `.`, `_`,
/// `-`, `@`; unique) and TOKEN is at least 16 printable ASCII characters
/// (unique). Blank lines and lines starting with `#` are ignored.
///
/// ```
/// # role      name        token
/// admin       zhang.wei   3b1f0c9e2d7a48f5b6c1e0d9a8f7b6c5
/// operator    desk-1      9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b
/// viewer      wall        0a1b2c3d4e5f60718293a4b5c6d7e8f9
/// ```
struct AccessTokens: Sendable {
    private(set) var byToken: [String: Identity] = [:]

    init(entries: [(role: Role, name: String, token: String)]) {
        for e in entries { byToken[e.token] = Identity(name: e.name, role: e.role, authenticated: true) }
    }

    /// Reads and validates a token file; errors name the file and line.
    static func load(file: String) throws(ConfigError) -> AccessTokens {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, line: nil, key: "http.tokens_file", message: "cannot read the token file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: nil, key: "http.tokens_file", message: "the token file is not UTF-8 text")
        }
        return try parse(text, file: file)
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> AccessTokens {
        var entries: [(role: Role, name: String, token: String)] = []
        var names: [String: Int] = [:]
        var tokens: [String: Int] = [:]
        let nameCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            func fail(_ message: String) -> ConfigError { ConfigError(file: file, line: line, key: "", message: message) }
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 3 else {
                throw fail("expected three fields 'ROLE NAME TOKEN', found \(fields.count)")
            }
            guard let role = Role(rawValue: fields[0]) else {
                throw fail("unknown role '\(fields[0])' (use one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let name = fields[1]
            guard name.unicodeScalars.allSatisfy(nameCharacters.contains) else {
                throw fail("name '\(name)' may only hold letters, digits, '.', '_', '-' and '@'")
            }
            if let first = names[name] { throw fail("duplicate name '\(name)' (first on line \(first))") }
            let token = fields[2]
            guard token.utf8.count >= 16 else { throw fail("the token of '\(name)' is too short: use at least 16 characters (e.g. `openssl rand -hex 16`)") }
            guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw fail("the token of '\(name)' must be printable ASCII") }
            if let first = tokens[token] { throw fail("the token of '\(name)' repeats the token on line \(first)") }
            names[name] = line
            tokens[token] = line
            entries.append((role, name, token))
        }
        if entries.isEmpty {
            throw ConfigError(file: file, line: nil, key: "http.tokens_file", message: "the token file holds no token (lines 'ROLE NAME TOKEN')")
        }
        return AccessTokens(entries: entries)
    }

    /// The identity holding `token`. Compares every stored token in full
    /// (constant time per token), so the timing does not tell how much of a guess was right.
    func identity(for token: Substring) -> Identity? {
        var found: Identity?
        let given = Array(token.utf8)
        for (stored, id) in byToken {
            let s = Array(stored.utf8)
            var diff = UInt8(s.count == given.count ? 0 : 1)
            for j in 0..<s.count { diff |= s[j] ^ (j < given.count ? given[j] : 0) }
            if diff == 0 { found = id }
        }
        return found
    }
}

/// Sets the caller's identity on every request. With a token file, a
/// request to anything but the open paths (`/`, `/healthz`) needs a valid
/// `Authorization: Bearer TOKEN` (the stream also takes `?access_token=`,
/// since a browser's EventSource cannot send headers); without one, every
/// caller is the local user with every right (the server then listens on
/// loopback only, see `HubConfig.HTTP`).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let tokens: AccessTokens?

    /// Paths served to anyone: the board page holds no data (it asks for a token), and health checks.
    static let openPaths: Set<String> = ["/", "/healthz"]
    /// Paths that also accept `?access_token=`.
    static let queryTokenPaths: Set<String> = ["/api/v1/stream"]

    static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(.unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="patrolhub""#], message: message)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard let tokens else {
            context.identity = Identity(name: "local", role: .admin, authenticated: false)
            return try await next(request, context)
        }
        let path = request.uri.path
        var given: Substring?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw Self.unauthorized("the Authorization header must be 'Bearer TOKEN'")
            }
            given = parts[1].drop(while: { $0 == " " })
        } else if Self.queryTokenPaths.contains(path), let q = request.uri.queryParameters["access_token"] {
            given = q
        }
        if let given {
            guard let id = tokens.identity(for: given) else { throw Self.unauthorized("unknown token") }
            context.identity = id
        } else if !Self.openPaths.contains(path) {
            throw Self.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        }
        return try await next(request, context)
    }
}
