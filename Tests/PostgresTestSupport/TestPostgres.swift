import Alerts
import AlertsStorePostgres
import Foundation
import Logging
import PostgresNIO

/// A real PostgreSQL 15 for tests, and a fresh database for each test.
///
/// When `PATROLHUB_TEST_POSTGRES_URL` is set (`postgres://user@host:port/db`,
/// the password, if any, in `PATROLHUB_STORE_PASSWORD`; `sslmode` and
/// `sslrootcert` as in the store's URL, kept on every test database's URL), its
/// server is used: the role must be allowed to create databases. Otherwise the first test that
/// asks starts a throwaway server for the whole test process: `initdb` into a
/// temporary folder, `pg_ctl start` on a free loopback port (fsync off), as the
/// `postgres` user when the tests run as root (initdb refuses root); it is
/// stopped, and its folder removed, when the process exits.
///
/// Without PostgreSQL 15 (`/usr/lib/postgresql/15/bin`) and without the
/// variable, `freshDatabase` throws: the tests fail, never skip.
///
/// Everything here blocks: call it from a dedicated thread (`onDedicatedThread`).
package enum TestPostgres {
    /// The variable naming an existing server to test against.
    package static let urlVariable = "PATROLHUB_TEST_POSTGRES_URL"
    /// Where Debian's PostgreSQL 15 binaries are.
    package static let binaries = "/usr/lib/postgresql/15/bin"

    /// A server the tests can create databases on.
    struct Server: Sendable {
        /// Its maintenance database, parsed by the store's own parser (TLS as its `sslmode` says).
        var url: PostgresStoreURL
        /// The variable's query (`sslmode=…&sslrootcert=…`, empty for none), kept on the tests' URLs.
        var query: String
        var password: String?
    }

    static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<Server, HubError>?
    /// The throwaway servers' folders (this one's, the TLS one's), for the stop at exit.
    nonisolated(unsafe) private static var ownFolders: [String] = []
    nonisolated(unsafe) private static var databases = 0

    /// Creates an empty database with a unique name and returns its URL (without a password:
    /// `password` is the one to connect with).
    package static func freshDatabase(_ label: String = "test") throws -> (url: String, password: String?) {
        let (server, name) = try lock.withLock { () throws -> (Server, String) in
            if started == nil { started = Result<Server, HubError>(catching: { () throws(HubError) -> Server in try startServer() }) }
            databases += 1
            let safe = label.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            return (try started!.get(), "patrolhub_\(ProcessInfo.processInfo.processIdentifier)_\(databases)_\(String(safe.prefix(30)))")
        }
        try withConnection(server) { connection in
            _ = try connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger).wait()
        }
        let u = server.url
        return ("postgres://\(u.user)@\(u.host):\(u.port)/\(name)" + (server.query.isEmpty ? "" : "?" + server.query), server.password)
    }

    static let logger = Logger(label: "patrolhub.test.postgres")

    private static func withConnection(_ server: Server, _ body: (PostgresConnection) throws -> Void) throws {
        let connection: PostgresConnection
        do {
            let configuration = try server.url.connectionConfiguration(password: server.password)
            connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                        id: 0, logger: logger).wait()
        } catch {
            throw HubError(.testPostgres, "cannot connect to the test PostgreSQL at \(server.url): \(String(reflecting: error))")
        }
        defer { try? connection.close().wait() }
        do {
            try body(connection)
        } catch {
            throw HubError(.testPostgres, "test PostgreSQL: \(String(reflecting: error))")
        }
    }

    // MARK: - The server

    private static func startServer() throws(HubError) -> Server {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment[urlVariable], !url.isEmpty {
            // The maintenance database defaults to postgres; the rest is the store's URL, parsed by its parser.
            var c = URLComponents(string: url)
            if let path = c?.path, path.isEmpty || path == "/" { c?.path = "/postgres" }
            let parsed: PostgresStoreURL
            do throws(HubError) {
                parsed = try PostgresStoreURL(parsing: c?.string ?? url)
            } catch {
                throw HubError(.testPostgres, "\(urlVariable): \(error.message)")
            }
            return Server(url: parsed, query: c?.percentEncodedQuery ?? "", password: environment["PATROLHUB_STORE_PASSWORD"])
        }
        let (_, port) = try startOwnServer("pg") { _, _ in }
        do throws(HubError) {
            return Server(url: try PostgresStoreURL(parsing: "postgres://patrolhub@127.0.0.1:\(port)/postgres"), query: "", password: nil)
        } catch {
            throw HubError(.testPostgres, "the test PostgreSQL's URL: \(error.message)")
        }
    }

    /// Starts a throwaway server (trust authentication, fsync off, loopback only, its Unix socket
    /// in its folder) and registers its stop at exit; `configure` may change the cluster (its
    /// folder and data folder are given) between initdb and the start; `options` are more
    /// server settings (`-c name=value …`). Returns the folder and port. Call it under `lock`.
    static func startOwnServer(_ label: String, options: String = "-c listen_addresses=127.0.0.1", configure: (_ folder: String, _ data: String) throws(HubError) -> Void) throws(HubError) -> (folder: String, port: Int) {
        let initdb = "\(binaries)/initdb", pgCtl = "\(binaries)/pg_ctl"
        guard FileManager.default.isExecutableFile(atPath: initdb), FileManager.default.isExecutableFile(atPath: pgCtl) else {
            throw HubError(.testPostgres, """
                PostgreSQL 15 is not installed (no \(initdb)): the PostgreSQL store's tests need a real server. \
                Install Debian's postgresql package (apt-get install postgresql), or set \(urlVariable) to a server's URL.
                """)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("patrolhub-\(label)-\(UUID().uuidString.prefix(8))").path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw HubError(.testPostgres, "cannot create \(folder): \(error)")
        }
        let asRoot = getuid() == 0
        if asRoot {
            // initdb refuses to run as root: the server runs as the postgres user, in a folder it owns.
            do {
                try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder)
            } catch {
                throw HubError(.testPostgres, "running as root, the test PostgreSQL needs the postgres user to own \(folder): \(error)")
            }
        }
        let data = folder + "/data"
        let port = try freePort()
        try run(asRoot, initdb, ["-D", data, "-U", "patrolhub", "--auth=trust", "--encoding=UTF8", "--no-sync"], what: "initdb", log: folder + "/tools.log")
        try configure(folder, data)
        if ownFolders.isEmpty { atexit { TestPostgres.stopOwnServers() } }
        ownFolders.append(folder)
        try run(asRoot, pgCtl, ["-D", data, "-l", folder + "/server.log",
                                "-o", "-p \(port) -k \(folder) -c fsync=off \(options)", "-w", "start"], what: "pg_ctl start", log: folder + "/tools.log")
        return (folder, port)
    }

    /// Stops the throwaway servers and removes their folders (at process exit).
    private static func stopOwnServers() {
        let folders = ownFolders
        ownFolders = []
        for folder in folders {
            _ = try? run(getuid() == 0, "\(binaries)/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "-w", "stop"], what: "pg_ctl stop", log: folder + "/tools.log")
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// Runs a PostgreSQL binary (as the postgres user when `asPostgres`) and waits for it, its
    /// output appended to `log`. Spawned and reaped here (posix_spawn, waitpid) rather than
    /// through Foundation's `Process`, whose `waitUntilExit` was seen never to return for
    /// `runuser … pg_ctl start`, the child already a zombie.
    static func run(_ asPostgres: Bool, _ tool: String, _ arguments: [String], what: String, log: String) throws(HubError) {
        let executable = asPostgres ? "/usr/sbin/runuser" : tool
        let argv = [executable] + (asPostgres ? ["-u", "postgres", "--", tool] : []) + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw HubError(.testPostgres, "\(what): cannot start \(executable): error \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw HubError(.testPostgres, "\(what): waitpid failed: errno \(errno)") }
        }
        // Exited normally (low 7 bits 0) with code 0.
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw HubError(.testPostgres, "\(what) failed (wait status \(status)); \(log):\n\(output.suffix(2000))")
        }
    }

    /// A loopback TCP port nothing listens on now (bound, read, released).
    static func freePort() throws(HubError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HubError(.testPostgres, "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HubError(.testPostgres, "bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HubError(.testPostgres, "getsockname() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension HubError.Code {
    /// The tests' PostgreSQL server could not be had (not installed, failed to start, unreachable).
    package static let testPostgres = Self("test_postgres")
}

/// Runs `body` on a thread of its own, in the calling task: the stores'
/// synchronous calls block their thread, which must be neither an event
/// loop's nor one of Swift concurrency's cooperative pool. The task stays the
/// same (a task executor preference), so its task-locals, such as the current
/// test that `#expect` records issues against, stay too.
package func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let executor = ThreadExecutor()
    defer { executor.stop() }
    return try await withTaskExecutorPreference(executor) { try body() }
}

/// A task executor running its jobs one by one on one thread of its own.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        let thread = Thread { [self] in loop() }
        thread.stackSize = 8 << 20
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs queued so far have run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty, !stopped { condition.wait() }
            if jobs.isEmpty { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

extension TestPostgres {
    /// Ends every other session on the database of `url`, as a server restart or an
    /// administrator's `pg_terminate_backend` would; returns how many it ended. Blocks.
    package static func terminateOtherSessions(url: String, password: String?) throws -> Int {
        let parsed = try PostgresStoreURL(parsing: url)
        let connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(),
                                                        configuration: parsed.connectionConfiguration(password: password),
                                                        id: 99, logger: Logger(label: "patrolhub.test.terminate")).wait()
        defer { try? (connection.close() as EventLoopFuture<Void>).wait() }
        let result = try connection.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
            """, logger: Logger(label: "patrolhub.test.terminate")).wait()
        return result.rows.count
    }
}
