import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Logging
import Synchronization
@testable import PatrolHub

#if canImport(Glibc)
import Glibc
#endif

// Fault injection for the durability tests: a failing inbox commit, a broker
// that stops answering, a hub process that can be frozen or killed, and two
// hub processes on one store.

/// Makes every commit to a store's inbox fail until `heal()`: a trigger on the
/// inbox table aborts each insert, so the hub's group commit rolls back as it
/// would on a full disk or an I/O error.
struct InboxCommitFault {
    /// The inbox file of the store at `storePath` (`DisputeStore.inboxPath`).
    let inboxPath: String
    static let message = "injected inbox fault"

    init(storePath: String) {
        inboxPath = DisputeStore.inboxPath(for: storePath)
    }

    private func execute(_ sql: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        let db = try DatabaseQueue(path: inboxPath, configuration: config)
        try db.write { try $0.execute(sql: sql) }
        try db.close()
    }

    /// From now on every insert into the inbox fails (the file must exist: the store was opened once).
    func inject() throws {
        try execute("CREATE TRIGGER IF NOT EXISTS injected_inbox_fault BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, '\(Self.message)'); END")
    }

    /// Inserts succeed again.
    func heal() throws {
        try execute("DROP TRIGGER IF EXISTS injected_inbox_fault")
    }

    /// Rows in the inbox now (read on a connection of its own).
    func rows() throws -> Int {
        let db = try DatabaseQueue(path: inboxPath)
        defer { try? db.close() }
        return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM inbox") ?? 0 }
    }
}

/// The pid of the running process whose command line contains `text` (from /proc).
func pidOfProcess(commandLineContaining text: String) -> pid_t? {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
    for entry in entries {
        guard let pid = pid_t(entry), pid != getpid() else { continue }
        guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let cmdline = String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        if cmdline.contains(text) { return pid }
    }
    return nil
}

/// Whether `pid` is stopped by a signal (state `T` in /proc/PID/stat).
func processIsStopped(_ pid: pid_t) -> Bool {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
    let text = String(decoding: data, as: UTF8.self)
    // "pid (comm) S ...": the state follows the last ')'.
    guard let close = text.lastIndex(of: ")") else { return false }
    return text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "T"
}

extension TestBroker {
    /// The mosquitto process (found by its config file's path).
    func processID() throws -> pid_t {
        guard let pid = pidOfProcess(commandLineContaining: broker.configPath) else {
            throw TestFailure("no mosquitto process runs with \(broker.configPath)")
        }
        return pid
    }

    /// Stops the broker with SIGSTOP: its connections stay open, the kernel
    /// still takes what clients send, but nothing is read or answered (no
    /// PUBACK) until `resume()`. Returns once the process is stopped.
    func suspend() throws {
        let pid = try processID()
        kill(pid, SIGSTOP)
        try waitUntilSync("mosquitto \(pid) stopped") { processIsStopped(pid) }
    }

    /// Continues a suspended broker (SIGCONT).
    func resume() throws {
        kill(try processID(), SIGCONT)
    }
}

/// Polls a condition from synchronous code, like `waitUntil`.
func waitUntilSync(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    throw TestFailure("timed out after \(timeout) s waiting for: \(what)")
}

/// A `patrolhub serve` child process: the built executable on a config file,
/// its log in a file beside the config. It can be frozen (SIGSTOP), killed
/// (SIGKILL) or stopped gracefully (SIGTERM).
final class HubProcess: @unchecked Sendable {
    let process: Process
    let logPath: String

    /// Starts the hub; `arguments` are added after `serve --config FILE`.
    init(config: String, logLevel: String = "error", arguments: [String] = []) throws {
        let exe = try patrolhubExecutable()
        logPath = config + ".\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["serve", "--config", config, "--log-level", logLevel] + arguments
        p.standardOutput = log
        p.standardError = log
        try p.run()
        try? log.close()
        process = p
    }

    /// A hub left running by a test that failed before stopping it is killed here.
    deinit {
        if process.isRunning { kill(pid, SIGCONT); kill(pid, SIGKILL); process.waitUntilExit() }
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Freezes the process (SIGSTOP): it neither reads nor writes nor reconnects until `resume()`.
    func freeze() throws {
        kill(pid, SIGSTOP)
        try waitUntilSync("hub \(pid) stopped") { processIsStopped(pid) }
    }

    func resume() { kill(pid, SIGCONT) }

    /// `kill -9`: no shutdown, no last commit, no DISCONNECT.
    func kill9() {
        kill(pid, SIGCONT)
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM (graceful shutdown), then waits; SIGKILL after `timeout`. Returns the exit status.
    @discardableResult
    func stop(timeout: Double = 60) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGCONT)
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// A config for `patrolhub serve` against an external broker, written into
/// `dir` (with the test cameras). Two hubs share a store when they get the
/// same `store` path and different client ids.
func writeHubConfig(_ dir: TempDir, name: String = "patrolhub.yaml", brokerPort: Int, clientID: String,
                    store: String = "hub.sqlite", extra: String = "") -> String {
    _ = dir.write("cameras.csv", testCamerasCSV)
    return dir.write(name, """
        data_dir: .
        broker:
          mode: external
          host: 127.0.0.1
          port: \(brokerPort)
          client_id: \(clientID)
        store:
          path: \(store)
        registry:
          cameras: cameras.csv
        http:
          listen: 127.0.0.1:0
        \(extra)
        """)
}

/// The status of the store at `path`, read by this process as `patrolhub status` would (nil before the hub made it).
func storeStatus(_ path: String) -> StoreStatus? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    return try? DisputeStore(path: path).status()
}

/// Log records captured from a `Logger` (message and metadata), for tests
/// that check what a component decided (a retry delay, an error) rather than
/// when it did it.
final class CapturedLog: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var at: Date
    }

    private let records = Mutex<[Record]>([])

    func logger(label: String = "captured", level: Logger.Level = .trace) -> Logger {
        var l = Logger(label: label) { _ in Handler(sink: self) }
        l.logLevel = level
        return l
    }

    var all: [Record] { records.withLock { $0 } }
    func messages(_ message: String) -> [Record] { all.filter { $0.message == message } }

    fileprivate func append(_ r: Record) { records.withLock { $0.append(r) } }

    struct Handler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all: [String: String] = [:]
            for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { all[k] = "\(v)" }
            sink.append(Record(level: event.level, message: "\(event.message)", metadata: all, at: Date()))
        }
    }
}
