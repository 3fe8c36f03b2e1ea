import Alerts
import AlertsStore
import AlertsStorePostgres
import ArgumentParser
import Foundation
import Logging

/// Options every command that reads the hub's config shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The hub's config file.")
    var config: String = "config/patrolhub.yaml"

    /// Loads and validates the config, or exits non-zero naming the file, line and key.
    func load() throws -> HubConfig {
        do {
            return try HubConfig.load(file: config)
        } catch {
            throw HubError.cli("invalid config: \(error)")
        }
    }
}

/// `--http HOST:PORT`, shared by `serve` and `demo`: where the live board and the
/// HTTP API listen, instead of the config's `http.listen`.
struct HTTPListenOptions: ParsableArguments {
    @Option(help: "HOST:PORT of the live board and the HTTP API, e.g. 127.0.0.1:8081; port 0 picks a free one (default: the config's http.listen).")
    var http: String?

    /// Applies `--http` to `cfg` (turning HTTP on); a failure to listen then names `--http`, not the config key.
    func apply(to cfg: inout HubConfig) throws {
        guard let http else { return }
        guard let (host, port) = HubConfig.HTTP.parseListen(http) else {
            throw ValidationError("--http: expected HOST:PORT (e.g. 127.0.0.1:8081, or port 0 for a free one), found '\(http)'")
        }
        (cfg.http.enabled, cfg.http.host, cfg.http.port, cfg.http.listenSetBy) = (true, host, port, "--http")
    }
}

/// The log options every long-running command shares.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// Logs to standard error, each line stamped in `timeZone` (the config's
    /// `timezone`) with its offset, e.g. `2026-12-02T18:30:00+0800`: the same
    /// clock as the CLI, the board and the reports. swift-log's stream handler
    /// stamps lines in the process's local zone, so that zone is set to
    /// `timeZone` (`TZ`) before the first line; nothing else in the hub reads
    /// the process's zone.
    func bootstrap(timeZone: TimeZone) {
        setenv("TZ", timeZone.identifier, 1)
        tzset()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}

/// Refuses a store or inbox file that exists, is not empty and is not an SQLite
/// database (a wrong `store.path`), before anything is created beside it.
func refuseForeignStoreFiles(_ path: String) throws {
    for file in [path, DisputeStore.inboxPath(for: path)] {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), isFolder.boolValue {
            throw HubError.cli("\(file) is a folder, not a store file: check store.path")
        }
        guard let handle = FileHandle(forReadingAtPath: file) else { continue } // absent (created at the first start) or unreadable (SQLite says so)
        let head = (try? handle.read(upToCount: 16)) ?? Data()
        try? handle.close()
        if !head.isEmpty, head != Data("SQLite format 3\0".utf8) {
            throw HubError.cli("\(file) is not a PatrolHub store (not an SQLite database): check store.path")
        }
    }
}

/// The store file a command that reads or changes the store (`status`, `cases`, `items`,
/// `dead-letters`, `adapters unmapped`, `silences`, `report`, `store backup`/`vacuum`) uses without `--store`: the
/// config's `store.path`. Refused with `store.kind: postgres`: the hub's store is then PostgreSQL,
/// which these commands do not read yet, and a file at `store.path` is at most the SQLite store
/// the hub ran on before its switch: read in its place it would show stale figures, and a case
/// action or a silence written there would never reach the hub.
func configuredSQLiteStore(_ cfg: HubConfig) throws -> String {
    guard cfg.store.kind == .postgres else { return cfg.store.path }
    throw HubError.cli("""
        \(cfg.file): store.kind is postgres: this command reads and writes SQLite stores only, and the file at \
        store.path (\(cfg.store.path)) is not the store this hub writes (\(cfg.store.url.map { "\($0)" } ?? "PostgreSQL")). \
        Use the hub's HTTP API, which reads and writes PostgreSQL (as `silences`, `cases act` and `report` do; docs/POSTGRES.md), or pass --store PATH to use a SQLite file on purpose
        """)
}

/// Runs `body` on the dispute store of `cfg` for the commands that act on it as an operator
/// does (`silences`, `cases act`, `report`): the SQLite file `override` (`--store`) or `store.path`, or
/// with `store.kind: postgres` the PostgreSQL store itself (a connection of the command's own,
/// closed after `body`), as the hub's HTTP API does.
func withDispatchStore<T>(_ cfg: HubConfig?, override: String?, whereFrom: String, _ body: (any DispatchStore) throws -> T) throws -> T {
    if override == nil, let cfg, cfg.store.kind == .postgres, let url = cfg.store.url {
        let passwordFile = cfg.store.passwordFile
        let store = try PostgresDispatchStore(connect: {
            try PostgresStore(url: url, passwordFile: passwordFile, logger: Logger(label: "patrolhub.store.postgres", factory: { _ in SwiftLogNoOpLogHandler() }))
        }, inbox: nil)
        defer { store.close() }
        return try body(store)
    }
    let path = try override ?? cfg.map(configuredSQLiteStore) ?? ""
    return try body(openExistingStore(path, whereFrom: override == nil ? whereFrom : ""))
}

/// Opens a store a hub has written, for the commands that read or act on one
/// (`status`, `cases`, `silences`, `report`): a missing file is not created (a
/// mistyped `--store` must not leave an empty store behind and succeed), and a
/// file that is not an SQLite database (a zone file given by mistake) is named
/// as such instead of "SQLite error 26". `whereFrom` says where the path came
/// from, for the message.
func openExistingStore(_ path: String, whereFrom: String = "") throws -> DisputeStore {
    let suffix = whereFrom.isEmpty ? "" : " (\(whereFrom))"
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw HubError.cli("\(path)\(suffix) is a folder, not a store file")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw HubError.cli(FileManager.default.fileExists(atPath: path)
            ? "cannot read the store \(path)\(suffix): permission denied"
            : "no store at \(path)\(suffix): has the hub run yet? (a hub creates its store at its first start)")
    }
    let head = (try? handle.read(upToCount: 16)) ?? Data()
    try? handle.close()
    guard head == Data("SQLite format 3\0".utf8) else {
        throw HubError.cli(head.isEmpty ? "\(path)\(suffix) is empty: not a store a hub has written"
                                    : "\(path)\(suffix) is not a PatrolHub store (not an SQLite database)")
    }
    do {
        return try DisputeStore(path: path)
    } catch let error as HubError where error.code == .storeTooNew {
        throw error // its own code: a script can tell a rolled-back binary from a damaged file
    } catch {
        throw HubError.cli("cannot open the store \(path)\(suffix): \(error)")
    }
}

/// Fails with one line when `path` (a `what` named by `flag`, e.g. "zone file",
/// "--zones") is missing, a folder or unreadable, before a reader reports it in
/// Foundation's words.
func requireReadableFile(_ path: String, what: String, flag: String) throws {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw HubError.cli("\(flag): no \(what) at \(path)") }
    if isFolder.boolValue { throw HubError.cli("\(flag): \(path) is a folder, not a \(what)") }
    guard FileManager.default.isReadableFile(atPath: path) else { throw HubError.cli("\(flag): cannot read the \(what) \(path): permission denied") }
}

/// Writes `text` to the file `path` (`-o`, `--output`, `--dump`), or fails with one
/// line saying why in an operator's words — the folder missing, not a folder, not
/// writable — instead of Foundation's error dump.
func writeTextFile(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        let folder = (path as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        var isDir: ObjCBool = false
        let why: String
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            why = "the folder \(dir) does not exist"
        } else if !isDir.boolValue {
            why = "\(dir) is not a folder"
        } else if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            why = "it is a folder"
        } else if !FileManager.default.isWritableFile(atPath: dir) {
            why = "permission denied (the folder \(dir) is not writable)"
        } else {
            why = "the disk is full or the file is not writable"
        }
        throw HubError.cli("cannot write \(path): \(why)")
    }
}

/// Prints to standard error (messages for the operator, not for pipes).
func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

extension HubError.Code {
    /// A command failed for a reason it states itself (a file it cannot write, a flag out of range).
    static let cli = Self("cli")
}

extension HubError {
    /// A failure the command reports as one line (no usage text) and exit status 1.
    static func cli(_ line: String, fileID: StaticString = #fileID, sourceLine: UInt = #line) -> HubError {
        HubError(.cli, line, fileID: fileID, line: sourceLine)
    }
}

/// `HubError.cli(_:)`, under the name `Bench/` still uses.
// Allowance: `Sources/PatrolHub/Bench` is being rewritten in another lane; it moves to `HubError.cli` at the merge and this goes.
func CLIError(_ line: String, fileID: StaticString = #fileID, sourceLine: UInt = #line) -> HubError {
    .cli(line, fileID: fileID, sourceLine: sourceLine)
}

extension String {
    /// The text with control characters (C0, DEL, C1: ESC sequences, carriage returns,
    /// newlines) shown as `\u{…}`, for printing text that came from the network (a
    /// Frigate label, an ONVIF topic) on a terminal: it cannot move the cursor, recolour
    /// the screen or forge a line of the listing.
    var terminalSafe: String {
        guard unicodeScalars.contains(where: Self.isControl) else { return self }
        var out = ""
        for u in unicodeScalars {
            if Self.isControl(u) { out += "\\u{" + String(u.value, radix: 16) + "}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    private static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }
}

/// A time as a person reads it: in the configured `timezone` with its offset,
/// `2026-12-02 18:30:05 +08:00` (the board and the reports show the same form).
struct LocalTime {
    let zone: TimeZone
    init(_ zone: TimeZone) { self.zone = zone }

    func callAsFunction(_ d: Date) -> String { HubFormat.dateTimeWithOffset(d, in: zone) }
}
