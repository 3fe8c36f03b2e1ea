import Alerts
import Foundation
import GRDB

extension DisputeStore {
    /// Why `vacuum(path:)` did not run.
    public struct VacuumRefused: Error, CustomStringConvertible {
        /// What stopped it and what to do, in one line.
        public var description: String
    }

    /// Rewrites a stopped hub's store and inbox files without their free pages
    /// (SQLite `VACUUM`), switching them to `auto_vacuum = INCREMENTAL` so that
    /// the housekeeper gives freed pages back from then on. Refused while any
    /// other connection has a file open (a running hub, a `status`): the files
    /// are locked exclusively first, without waiting. Needs free disk space
    /// about the size of the larger file. Returns the bytes before and after
    /// (both files, WAL included).
    public static func vacuum(path: String) throws -> (before: Int, after: Int) {
        let files = [path, inboxPath(for: path)].filter { FileManager.default.fileExists(atPath: $0) }
        guard files.first == path else { throw VacuumRefused(description: "no store at \(path)") }
        func bytes() -> Int {
            files.flatMap { [$0, $0 + "-wal"] }.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        }
        let before = bytes()
        for file in files {
            var config = Configuration()
            config.busyMode = .immediateError
            let queue = try DatabaseQueue(path: file, configuration: config)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
                do {
                    try db.execute(sql: "BEGIN EXCLUSIVE; COMMIT")
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                    throw VacuumRefused(description: "\(file) is open in another process (a running hub?): stop the hub first")
                }
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "VACUUM")
                _ = try db.checkpoint(.truncate)
            }
            try queue.close()
        }
        FilePermissions.makePrivate(files.flatMap { FilePermissions.sqliteFiles($0) })
        return (before, bytes())
    }
}
