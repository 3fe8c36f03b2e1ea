import Alerts
import Foundation
import GRDB

extension DisputeStore {
    /// What `backup(to:inbox:)` wrote.
    public struct BackupReport: Sendable {
        /// The copy of the store, and its size in bytes.
        public var path: String
        /// The store copy's size in bytes.
        public var bytes: Int64
        /// The copy of the inbox and its size, when one was asked for.
        public var inboxPath: String?
        /// The inbox copy's size in bytes.
        public var inboxBytes: Int64?
        /// Rows in the copy, as a check an operator can compare with `patrolhub status`.
        public var cases: Int
        /// Slips in the copy.
        public var slips: Int
        /// Risk items in the copy.
        public var riskItems: Int
    }

    /// Copies the store (and, given `inbox`, the inbox) with SQLite's online backup: each file
    /// is copied in one read transaction, so the copy is a consistent snapshot while the hub
    /// goes on writing (WAL: the writer is never blocked). A copy is one self-contained file
    /// (rollback journal), checked with `PRAGMA integrity_check` before it is reported.
    /// An existing destination is refused rather than overwritten, and a failed copy is removed.
    public func backup(to destination: String, inbox: String? = nil) throws -> BackupReport {
        for path in [destination] + (inbox.map { [$0] } ?? []) {
            if FileManager.default.fileExists(atPath: path) {
                throw HubError(.backupRefused, "\(path) exists: a backup never overwrites a file (choose a new name, or remove it)")
            }
            let folder = (path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !folder.isEmpty, !(FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) && isDir.boolValue) {
                throw HubError(.backupRefused, "no folder \(folder) for \(path)")
            }
        }
        if let inbox, (inbox as NSString).standardizingPath == (destination as NSString).standardizingPath {
            throw HubError(.backupRefused, "the store and the inbox cannot be copied to the same file \(destination)")
        }
        let storeBytes = try Self.copy(writer, to: destination)
        var report = try DatabaseQueue(path: destination).read { db in
            BackupReport(path: destination, bytes: storeBytes,
                         cases: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cases") ?? 0,
                         slips: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slips") ?? 0,
                         riskItems: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items") ?? 0)
        }
        if let inbox {
            report.inboxBytes = try Self.copy(inboxWriter, to: inbox)
            report.inboxPath = inbox
        }
        return report
    }

    /// One file's online backup into a new database at `path`, checked; returns its size.
    private static func copy(_ source: any DatabaseWriter, to path: String) throws -> Int64 {
        do {
            let target = try DatabaseQueue(path: path)
            try source.backup(to: target)
            let check = try target.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            guard check == ["ok"] else {
                throw HubError(.backupRefused, "the copy at \(path) failed its integrity check: \(check.prefix(5).joined(separator: "; "))")
            }
            try target.close()
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? NSNumber)?.int64Value ?? 0
    }
}

extension HubError.Code {
    /// `DisputeStore.backup(to:inbox:)` did not make a backup (an existing file, no folder, a failed check).
    public static let backupRefused = Self("backup_refused")
}
