import Alerts
import AlertsStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import Logging
import ServiceLifecycle
import Synchronization

extension HubError.Code {
    /// The HTTP server cannot start (`http.listen` taken, unusable, or not listening in time).
    public static let httpStart = Self("http_start")
    /// An event stream was cut: its client stopped reading, or the hub is stopping.
    public static let streamCut = Self("http_stream_cut")
}

/// The dispatch-room HTTP interface as a service: the API, the event stream
/// and the live board (Hummingbird), plus the change feed that wakes the
/// stream's clients. Stopped first on shutdown (it is the last service of
/// the hub), so no request sees a half-stopped pipeline; open streams end
/// at once on graceful shutdown.
///
/// Its description names the listen address only: service-lifecycle logs
/// every service's description at start (`--log-level debug`), and this one
/// holds the access tokens.
public struct HTTPService: Service, CustomStringConvertible {
    let options: HubConfig.HTTP
    let api: DispatchAPI
    let feed: ChangeFeed
    let tokens: AccessTokens?
    let health: HubHealth
    let policy: RequestPolicy
    let limiter = AuthFailureLimiter()
    let tls: TLSConfiguration?
    let logger: Logger
    /// The port actually bound (useful with port 0), once listening.
    let bound = BoundPort()
    /// HTTP connections open now (`/metrics`: `patrolhub_http_connections`).
    let connections = ConnectionGauge()
    /// The hub's metrics, exposed at `/metrics` (requests are counted in them).
    let metrics: HubMetrics
    /// The board's time zone and sample banner.
    let board: BoardPage.Settings

    /// HTTP connections open now; at `http.max_connections` the server stops accepting.
    public var openConnections: Int { connections.count }

    /// The listen address and the access mode (never the tokens).
    public var description: String {
        "HTTPService(listen: \(options.scheme)://\(options.listen), auth: \(tokens.map { "\($0.count) bearer token(s)" } ?? "none (loopback only)"))"
    }

    /// Checks the access rules (a token file, or a loopback address), loads
    /// the token file and the TLS certificate; errors name the key, the file and the line.
    /// `commits` (rung after each pipeline commit) wakes the event stream's feed.
    /// `inbox` (the pipeline waits on it) is rung after a dead-letter replay queued messages.
    /// `store` is the dispute store the API reads and writes: the hub's `DisputeStore` on SQLite,
    /// a `PostgresDispatchStore` with `store.kind: postgres`.
    public init(config: HubConfig, store: any DispatchStore, health: HubHealth, clock: HubClock = .real, commits: Doorbell? = nil,
                inbox: Doorbell? = nil, metrics: HubMetrics = HubMetrics(), logger: Logger) throws {
        options = config.http
        self.metrics = metrics
        board = BoardPage.Settings(timeZone: config.timezone, sample: config.sample)
        if let file = config.http.tokensFile {
            let loaded = try AccessTokens.load(file: file)
            tokens = loaded
            if let attrs = try? FileManager.default.attributesOfItem(atPath: file), let mode = attrs[.posixPermissions] as? Int, mode & 0o077 != 0 {
                logger.warning("http.tokens_file_readable_by_others", metadata: ["file": "\(file)", "mode": "\(String(mode, radix: 8))"])
            }
            for (line, name) in loaded.plainLines {
                logger.warning("http.token_in_plain_text", metadata: [
                    "file": "\(file)", "line": "\(line)", "token.name": "\(name)",
                    "hint": "store its hash instead: issue a new one with `patrolhub tokens add`, or replace the token by sha256:HEX of it",
                ])
            }
        } else {
            guard config.http.isLoopback else {
                throw HubError.config(file: config.file, line: nil, key: config.http.listenSetBy,
                                  message: "\(config.http.listen) is not a loopback address: without http.tokens_file the HTTP API serves loopback only")
            }
            tokens = nil
        }
        if let cert = config.http.tlsCertFile, let key = config.http.tlsKeyFile {
            tls = try Self.loadTLS(cert: cert, key: key, config: config)
        } else {
            tls = nil
        }
        policy = RequestPolicy(allowed: RequestPolicy.allowList(listenHost: config.http.host, extra: config.http.allowedHosts),
                               scheme: config.http.scheme)
        var api = DispatchAPI(store: store, timeParser: TimeParser(defaultZone: config.timezone), outputPrefix: config.topicPrefix, silencePolicy: config.silences)
        api.clock = clock.function
        if let inbox { api.inboxQueued = { inbox.ring() } }
        self.api = api
        feed = ChangeFeed(store: store, threads: StoreThreads(), maxClients: config.http.maxStreamClients, commits: commits)
        self.health = health
        self.logger = logger
    }

    /// The server side of TLS from PEM files; errors name `http.tls.cert_file` or `key_file`.
    static func loadTLS(cert: String, key: String, config: HubConfig) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(cert)
        } catch {
            throw config.error("http.tls.cert_file", "cannot read a PEM certificate from \(cert): \(error)")
        }
        guard !chain.isEmpty else {
            throw config.error("http.tls.cert_file", "\(cert) holds no PEM certificate")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw config.error("http.tls.key_file", "cannot read a PEM private key from \(key): \(error)")
        }
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        c.minimumTLSVersion = .tlsv12
        return c
    }

    /// The router with every route (tests may serve it themselves).
    func router() -> Router<HubRequestContext> {
        DispatchRoutes.build(RouteContext(api: api, feed: feed, tokens: tokens, policy: policy, health: health,
                                          stallAfter: TimeInterval(options.stallSeconds), limiter: limiter, connections: connections,
                                          metrics: metrics, board: board))
    }

    /// Waits until the server listens and returns its port (throws after `timeout` seconds):
    /// resumed by the server's `onServerRunning`, or by its failure to listen.
    public func waitForPort(timeout: Double = 30) async throws -> Int {
        if let p = try await bound.wait(timeout: .seconds(timeout)) { return p }
        throw HubError(.httpStart, "\(options.listenSetBy) \(options.listen): the HTTP server did not start listening within \(Int(timeout)) s")
    }

    /// Serves until graceful shutdown; throws when it cannot listen.
    public func run() async throws {
        let bound = self.bound
        let logger = self.logger
        let options = self.options
        let authMode = tokens == nil ? "none (loopback only)" : "bearer tokens"
        let connectionLimit = Self.connectionLimit(configured: options.maxConnections, logger: logger)
        // A connection with no request in progress is closed after the idle timeout; an open stream is a request in progress.
        // A request's body must arrive within the same time after its head (`RequestBodyGuard`).
        let idle = TimeAmount.seconds(Int64(options.idleTimeoutSeconds))
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [RequestBodyGuard(bodyDeadline: idle)], idleTimeout: idle))
        let server: HTTPServerBuilder
        do {
            server = try tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1
        } catch {
            throw await stopped(by: error)
        }
        let app = Application(
            responder: RingAfterWrites(inner: HeadAsGet(inner: router().buildResponder()), bell: feed.commits),
            server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "PatrolHub",
                                 availableConnectionsDelegate: CountedConnections(limit: connectionLimit, gauge: connections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                bound.port = port
                logger.info("http.started", metadata: ["http.address": "\(options.host):\(port)", "http.scheme": "\(options.scheme)", "http.auth": "\(authMode)"])
            },
            logger: logger)
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.feed.run(logger: logger) }
                try await app.run()
                // The server has stopped (graceful shutdown): so does the feed.
                group.cancelAll()
            }
        } catch {
            throw await stopped(by: error)
        }
        await feed.threads.shutdown()
    }

    /// The server stopped on `error`: the feed's threads end, and before it listened the
    /// failure names the address and why (reported to `waitForPort` at once, not after its timeout).
    private func stopped(by error: any Error) async -> any Error {
        await feed.threads.shutdown()
        guard bound.port == nil else { return error }
        let failure = HubError(.httpStart, "\(options.listenSetBy) \(options.listen): " + Self.listenFailure(error))
        bound.startFailure = failure
        return failure
    }
}

extension HTTPService {
    /// Why the server could not listen, in an operator's words (NIO's own text names a
    /// system call: "bind(descriptor:ptr:bytes:): Address already in use (errno: 98)").
    static func listenFailure(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return "the port is in use by another program (stop it, or choose another port)"
            case EADDRNOTAVAIL: return "this machine has no such address"
            case EACCES: return "permission denied (ports below 1024 need privileges)"
            default: break
            }
        }
        return "cannot listen: \(error)"
    }

    /// Descriptors kept for everything but HTTP connections: the store's and
    /// inbox's SQLite files, the MQTT sockets, the broker's pipes, threads' and
    /// libraries' own.
    static let reservedDescriptors = 256

    /// How many HTTP connections may be open: `configured`, lowered when the
    /// process's descriptor limit (raised first to its hard limit, as servers
    /// do) would not leave `reservedDescriptors` for the rest of the hub. A
    /// process out of descriptors dies (libdispatch traps), so connections
    /// beyond this wait in the kernel's accept queue instead.
    static func connectionLimit(configured: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return configured }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let room = Int(clamping: limit.rlim_cur) - reservedDescriptors
        guard room < configured else { return configured }
        let lowered = max(16, room)
        logger.warning("http.max_connections_lowered", metadata: [
            "http.max_connections": "\(configured)", "http.connections_allowed": "\(lowered)", "process.nofile": "\(limit.rlim_cur)",
            "http.action": "raise the file-descriptor limit (systemd LimitNOFILE) for more",
        ])
        return lowered
    }
}

/// Rings `bell` after each request that wrote to the store (a method other
/// than GET and HEAD, answered 2xx): the event stream shows a dispatcher's
/// action, and the publisher sends its outcomes, without waiting for a poll.
struct RingAfterWrites<Inner: HTTPResponder>: HTTPResponder {
    typealias Context = Inner.Context
    let inner: Inner
    let bell: Doorbell?

    func respond(to request: Request, context: Context) async throws -> Response {
        let response = try await inner.respond(to: request, context: context)
        // Only a write that succeeded changed anything: refused requests (a stranger's 401s, a
        // flood of bad bodies) wake nobody.
        if let bell, request.method != .get, request.method != .head, (200..<300).contains(response.status.code) { bell.ring() }
        return response
    }
}

/// Answers `HEAD` for every `GET` route (RFC 9110 §9.3.2; monitoring probes and link checkers
/// send it): the route runs as a `GET`, through the same access checks, and its status and
/// headers are sent without the body. A stream asked with `HEAD` is never started.
struct HeadAsGet<Inner: HTTPResponder>: HTTPResponder {
    typealias Context = Inner.Context
    let inner: Inner

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head else { return try await inner.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await inner.respond(to: Request(head: head, body: request.body), context: context)
        let length = response.headers[.contentLength]
        response.body = ResponseBody()
        response.headers[.contentLength] = length
        return response
    }
}

/// The port a server bound, set once it listens, or why it could not listen;
/// `wait` suspends until one of them is set.
final class BoundPort: Sendable {
    private struct State {
        var port: Int?
        var failure: HubError?
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters timed out or cancelled before they were registered.
        var released: Set<Int> = []
        var nextID = 0
        var settled: Bool { port != nil || failure != nil }
    }
    private let state = Mutex(State())

    /// The port, once the server listens (setting it resumes the waiters).
    var port: Int? {
        get { state.withLock { $0.port } }
        set { settle { $0.port = newValue } }
    }
    /// Set when the server failed before listening: `waitForPort` reports it at once.
    var startFailure: HubError? {
        get { state.withLock { $0.failure } }
        set { settle { $0.failure = newValue } }
    }

    /// The port once the server listens, nil after `timeout`; throws the failure to listen.
    func wait(timeout: Duration) async throws -> Int? {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            release(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.settled || s.released.remove(id) != nil { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            release(id)
        }
        timer.cancel()
        await timer.value
        let (port, failure) = state.withLock { s in
            s.released.remove(id)
            return (s.port, s.failure)
        }
        if let port { return port }
        if let failure { throw failure }
        return nil
    }

    private func settle(_ change: (inout State) -> Void) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            change(&s)
            guard s.settled else { return [] }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    private func release(_ id: Int) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            let c = s.waiters.removeValue(forKey: id)
            if c == nil { s.released.insert(id) }
            return c
        }
        c?.resume()
    }
}

/// The number of open HTTP connections, shared by the server's connection
/// delegate (which changes it on the event loops) and its readers.
final class ConnectionGauge: Sendable {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .relaxed) }
    func opened() { value.add(1, ordering: .relaxed) }
    func closed() { value.subtract(1, ordering: .relaxed) }
}

/// Hummingbird's connection limit, counted where `/metrics` and tests can read it:
/// at `limit` open connections the server stops accepting (new ones wait in the
/// kernel's accept queue) until one closes.
struct CountedConnections: AvailableConnectionsDelegate {
    let limit: Int
    let gauge: ConnectionGauge
    mutating func connectionOpened() { gauge.opened() }
    mutating func connectionClosed() { gauge.closed() }
    func isAcceptingNewConnections() -> Bool { gauge.count < limit }
}
