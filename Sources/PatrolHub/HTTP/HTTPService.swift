import Alerts
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Why the HTTP server cannot start, naming the config key.
struct HTTPStartError: Error, CustomStringConvertible {
    var description: String
}

/// The dispatch-room HTTP interface as a service: the API, the event stream
/// and the live board (Hummingbird), plus the change feed that wakes the
/// stream's clients. Stopped first on shutdown (it is the last service of
/// the hub), so no request sees a half-stopped pipeline; open streams end
/// at once on graceful shutdown.
struct HTTPService: Service {
    let options: HubConfig.HTTP
    let api: DispatchAPI
    let feed: ChangeFeed
    let tokens: AccessTokens?
    let logger: Logger
    /// The port actually bound (useful with port 0), once listening.
    let bound = BoundPort()

    /// Checks the access rules (a token file, or a loopback address) and
    /// loads the token file; errors name the key, the file and the line.
    init(config: HubConfig, store: DisputeStore, logger: Logger) throws {
        options = config.http
        if let file = config.http.tokensFile {
            tokens = try AccessTokens.load(file: file)
            if let attrs = try? FileManager.default.attributesOfItem(atPath: file), let mode = attrs[.posixPermissions] as? Int, mode & 0o077 != 0 {
                logger.warning("http.tokens_file_readable_by_others", metadata: ["file": "\(file)", "mode": "\(String(mode, radix: 8))"])
            }
        } else {
            guard config.http.isLoopback else {
                throw ConfigError(file: config.file, line: nil, key: "http.listen",
                                  message: "\(config.http.listen) is not a loopback address: without http.tokens_file the HTTP API serves loopback only")
            }
            tokens = nil
        }
        api = DispatchAPI(store: store, timeParser: TimeParser(defaultZone: config.timezone), outputPrefix: config.topicPrefix, silencePolicy: config.silences)
        feed = ChangeFeed(store: store)
        self.logger = logger
    }

    /// The router with every route (tests may serve it themselves).
    func router() -> Router<HubRequestContext> {
        DispatchRoutes.build(api: api, feed: feed, tokens: tokens)
    }

    /// Waits until the server listens and returns its port (throws after `timeout` seconds).
    func waitForPort(timeout: Double = 30) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let p = bound.port { return p }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HTTPStartError(description: "the HTTP server did not start listening on \(options.listen) within \(timeout) s")
    }

    func run() async throws {
        let bound = self.bound
        let logger = self.logger
        let options = self.options
        let authMode = tokens == nil ? "none (loopback only)" : "bearer tokens"
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "PatrolHub"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                bound.port = port
                logger.info("http.started", metadata: ["http.address": "\(options.host):\(port)", "http.auth": "\(authMode)"])
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
            if bound.port == nil {
                throw HTTPStartError(description: "http.listen \(options.listen): cannot listen: \(error)")
            }
            throw error
        }
    }
}

/// The port a server bound, set once it listens.
final class BoundPort: Sendable {
    private let value = Mutex<Int?>(nil)
    var port: Int? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
