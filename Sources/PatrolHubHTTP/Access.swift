import Alerts
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// What a bearer token may do. Roles are ordered: each may do what the
/// ones before it may.
public enum Role: String, Sendable, CaseIterable, Comparable {
    /// Reads everything (`GET`).
    case viewer
    /// Also acts on cases and creates or expires silences.
    case `operator`
    /// Also what the supervision loop reserves to supervisors (e.g. deleting a silence outright).
    case supervisor
    /// Everything.
    case admin

    private var rank: Int { Role.allCases.firstIndex(of: self)! }
    /// Whether `a` may do less than `b`.
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
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
/// context plus the caller's identity, set by `AccessMiddleware`, and the
/// peer's address (failed authentications are counted per address).
struct HubRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        remoteAddress = source.channel.remoteAddress
    }

    /// Every JSON body goes through the API's one encoder.
    var responseEncoder: APIResponseEncoder { APIResponseEncoder() }

    /// Refuses the request unless the caller has at least `role`
    /// (401 without a valid token, 403 with a weaker role).
    func require(_ role: Role) throws {
        guard let identity else { throw AccessMiddleware.unauthorized("a bearer token is required") }
        guard identity.role >= role else {
            throw APIError(.forbidden, "this needs the role \(role.rawValue) or above; token '\(identity.name)' has \(identity.role.rawValue)")
        }
    }

    /// The author to record for an action: the token's name when the caller
    /// authenticated (a body cannot claim someone else), otherwise `claimed`
    /// (the body's `by`/`created_by`), which is then required.
    func actor(claimed: String?, field: String) throws -> String {
        if let identity, identity.authenticated { return identity.name }
        guard let c = claimed?.trimmingCharacters(in: .whitespaces), !c.isEmpty else {
            throw APIError.badRequest("\(field) is required: who does this")
        }
        // It goes into the audit log and onto terminals (`patrolhub` lists): a name, not a payload.
        guard c.count <= 200 else { throw APIError.field(field, "at most 200 characters") }
        guard !c.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.field(field, "must not hold control characters")
        }
        return c
    }
}

/// The bearer tokens of `http.tokens_file`, held as SHA-256 digests.
///
/// Format: one token per line, three fields separated by spaces or tabs —
/// `ROLE NAME TOKEN` — where ROLE is viewer, operator, supervisor or admin,
/// NAME identifies the holder in the audit log (letters, digits, `.`, `_`,
/// `-`, `@`; unique) and TOKEN is the token's hash, `sha256:` and 64 hex
/// digits, as `patrolhub tokens add` writes it. A token in plain text (at
/// least 32 printable ASCII characters: 128 bits when random hex) is still
/// accepted and hashed on load, and the start warns that it should be
/// replaced by its hash. Blank lines and lines starting with `#` are ignored.
///
/// ```
/// # role      name        token hash
/// admin       zhang.wei   sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
/// ```
///
/// Nothing here prints a token or a digest: the description shows the count
/// only, since service-lifecycle logs every service's description at start.
public struct AccessTokens: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    struct Entry: Sendable {
        var digest: [UInt8]
        var identity: Identity
    }

    /// A token shorter than this is refused: 32 characters of random hex are 128 bits.
    static let minimumTokenLength = 32
    /// A presented token longer than this is refused before hashing.
    static let maximumTokenLength = 1024

    private var entries: [Entry]
    /// The lines holding a token in plain text, with the holder's name (the start warns about each).
    private(set) var plainLines: [(line: Int, name: String)] = []

    init(entries: [Entry]) {
        self.entries = entries
    }

    /// How many tokens the file holds.
    public var count: Int { entries.count }
    /// The count only: a token file's secrets never reach a log line.
    public var description: String { "AccessTokens(\(entries.count) tokens)" }
    /// The count only, as `description`.
    public var debugDescription: String { description }
    /// A mirror without the entries, so `dump` and the debugger show no token either.
    public var customMirror: Mirror { Mirror(self, children: ["count": entries.count]) }

    /// The line `tokens add` writes for a token.
    public static func line(role: Role, name: String, token: String) -> String {
        "\(role.rawValue) \(name) sha256:\(SHA256.hex(Array(token.utf8)))"
    }

    /// The characters a token holder's name may use (it is written into the token file and the audit log).
    public static let nameCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")

    /// Reads and validates a token file; errors name the file and line.
    public static func load(file: String) throws(HubError) -> AccessTokens {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HubError.config(file: file, line: nil, key: "http.tokens_file", message: "cannot read the token file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HubError.config(file: file, line: nil, key: "http.tokens_file", message: "the token file is not UTF-8 text")
        }
        return try parse(text, file: file)
    }

    /// Parses a token file's text; `allowEmpty` accepts a file without tokens (`tokens add` appends to one).
    public static func parse(_ text: String, file: String, allowEmpty: Bool = false) throws(HubError) -> AccessTokens {
        var entries: [Entry] = []
        var plain: [(line: Int, name: String)] = []
        var names: [String: Int] = [:]
        var digests: [[UInt8]: Int] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            func fail(_ message: String) -> HubError { HubError.config(file: file, line: line, key: "", message: message) }
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
            let digest: [UInt8]
            if token.lowercased().hasPrefix("sha256:") {
                let hex = token.dropFirst("sha256:".count)
                guard hex.utf8.count == 64, let d = SHA256.bytes(hex: hex) else {
                    throw fail("the token hash of '\(name)' must be 'sha256:' and 64 hex digits")
                }
                digest = d
            } else {
                guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw fail("the token of '\(name)' must be printable ASCII") }
                guard token.utf8.count >= minimumTokenLength else {
                    throw fail("the token of '\(name)' is too short: a token needs at least 128 bits (\(minimumTokenLength) hex characters); issue one with `patrolhub tokens add`")
                }
                guard token.utf8.count <= maximumTokenLength else { throw fail("the token of '\(name)' is longer than \(maximumTokenLength) characters") }
                digest = SHA256.digest(Array(token.utf8))
                plain.append((line, name))
            }
            if let first = digests[digest] { throw fail("the token of '\(name)' repeats the token on line \(first)") }
            names[name] = line
            digests[digest] = line
            entries.append(Entry(digest: digest, identity: Identity(name: name, role: role, authenticated: true)))
        }
        if entries.isEmpty && !allowEmpty {
            throw HubError.config(file: file, line: nil, key: "http.tokens_file", message: "the token file holds no token (lines 'ROLE NAME sha256:HASH'; add one with `patrolhub tokens add`)")
        }
        var tokens = AccessTokens(entries: entries)
        tokens.plainLines = plain
        return tokens
    }

    /// Whether a holder of this name is already in the file.
    public func contains(name: String) -> Bool { entries.contains { $0.identity.name == name } }

    /// The identity holding `token`: its SHA-256 compared with every stored
    /// digest in full (constant time per digest), so timing tells nothing
    /// about how close a guess was. Tokens of the wrong length never match.
    func identity(for token: Substring) -> Identity? {
        let n = token.utf8.count
        guard n >= Self.minimumTokenLength, n <= Self.maximumTokenLength else { return nil }
        let given = SHA256.digest(Array(token.utf8))
        var found: Identity?
        for e in entries {
            var diff: UInt8 = 0
            for j in 0..<32 { diff |= e.digest[j] ^ given[j] }
            if diff == 0 { found = e.identity }
        }
        return found
    }
}

/// Failed authentications per client address, in a table of bounded size:
/// after `maxFailures` wrong tokens within `window` seconds an address is
/// refused (429) for `block` seconds, whatever token it presents.
struct AuthFailureTable: Sendable {
    struct Entry: Sendable {
        var windowStart: Date
        var failures: Int
        var blockedUntil: Date?
    }

    var maxFailures = 10
    var window: TimeInterval = 60
    var block: TimeInterval = 60
    /// Addresses tracked at most; when full, expired entries go first, then the oldest.
    var capacity = 10_000
    private(set) var entries: [String: Entry] = [:]

    /// Seconds (rounded up) until `address` may try again; nil when it may now.
    mutating func retryAfter(_ address: String, now: Date) -> Int? {
        guard let e = entries[address], let until = e.blockedUntil else { return nil }
        if until <= now {
            entries[address] = nil
            return nil
        }
        return max(1, Int(until.timeIntervalSince(now).rounded(.up)))
    }

    /// Records a failure; true when it starts a block.
    mutating func recordFailure(_ address: String, now: Date) -> Bool {
        var e = entries[address] ?? Entry(windowStart: now, failures: 0)
        if now.timeIntervalSince(e.windowStart) > window { e = Entry(windowStart: now, failures: 0) }
        e.failures += 1
        var blocked = false
        if e.failures >= maxFailures, e.blockedUntil == nil {
            e.blockedUntil = now.addingTimeInterval(block)
            blocked = true
        }
        if entries[address] == nil && entries.count >= capacity { evict(now: now) }
        entries[address] = e
        return blocked
    }

    private mutating func evict(now: Date) {
        entries = entries.filter { _, e in
            if let until = e.blockedUntil { return until > now }
            return now.timeIntervalSince(e.windowStart) <= window
        }
        // Full: the addresses only counting go first, the oldest first, so that failures from many
        // other addresses cannot push a blocked one out of the table (unblocking it). With every
        // entry blocked, the one whose block ends first goes.
        while entries.count >= capacity {
            let victim = entries.filter { $0.value.blockedUntil == nil }.min { $0.value.windowStart < $1.value.windowStart }?.key
                ?? entries.min { ($0.value.blockedUntil ?? now) < ($1.value.blockedUntil ?? now) }?.key
            guard let victim else { break }
            entries[victim] = nil
        }
    }

    /// The key an address is counted under: an IPv4 address, or an IPv6
    /// address's /64 (one host usually holds a whole /64).
    static func key(for address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        switch address {
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address itself.
            if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                return bytes.suffix(4).map(String.init).joined(separator: ".")
            }
            return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
        default:
            return address.ipAddress ?? "unknown"
        }
    }
}

/// `AuthFailureTable` shared by the server's connections.
final class AuthFailureLimiter: Sendable {
    private let table: Mutex<AuthFailureTable>

    init(_ table: AuthFailureTable = AuthFailureTable()) {
        self.table = Mutex(table)
    }

    func retryAfter(_ address: String, now: Date = Date()) -> Int? {
        table.withLock { $0.retryAfter(address, now: now) }
    }

    func recordFailure(_ address: String, now: Date = Date()) -> Bool {
        table.withLock { $0.recordFailure(address, now: now) }
    }

    var trackedAddresses: Int { table.withLock { $0.entries.count } }
}

/// Sets the caller's identity on every request. With a token file, a
/// request to anything but the open paths (`/`, `/healthz`) needs a valid
/// `Authorization: Bearer TOKEN` (the stream also takes `?access_token=`,
/// since a browser's EventSource cannot send headers); without one, every
/// caller is the local user with every right (the server then listens on
/// loopback only, see `HubConfig.HTTP`). A wrong token counts against the
/// caller's address (`AuthFailureLimiter`); a blocked address gets 429.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let tokens: AccessTokens?
    var limiter = AuthFailureLimiter()

    /// Paths served to anyone: the board page holds no data (it asks for a token), and health checks.
    static let openPaths: Set<String> = ["/", "/healthz"]
    /// Paths that also accept `?access_token=`.
    static let queryTokenPaths: Set<String> = ["/api/v1/stream"]

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, message, headers: [.wwwAuthenticate: #"Bearer realm="patrolhub""#])
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard let tokens else {
            context.identity = Identity(name: "local", role: .admin, authenticated: false)
            return try await next(request, context)
        }
        let path = request.uri.path
        var given: Substring?
        var malformed = false
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                given = parts[1].drop(while: { $0 == " " })
            } else {
                malformed = true
            }
        } else if Self.queryTokenPaths.contains(path), let q = request.uri.queryParameters["access_token"] {
            given = q
        }
        if given != nil || malformed {
            let address = AuthFailureTable.key(for: context.remoteAddress)
            if let wait = limiter.retryAfter(address) {
                throw APIError(.tooManyRequests, "too many failed authentications from this address: try again in \(wait) s",
                               headers: [.retryAfter: "\(wait)"])
            }
            guard !malformed, let given, let id = tokens.identity(for: given) else {
                if limiter.recordFailure(address) {
                    context.logger.warning("http.auth_blocked", metadata: ["http.client": "\(address)"])
                }
                throw Self.unauthorized(malformed ? "the Authorization header must be 'Bearer TOKEN'" : "unknown token")
            }
            context.identity = id
        } else if !Self.openPaths.contains(path) {
            throw Self.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        }
        return try await next(request, context)
    }
}
