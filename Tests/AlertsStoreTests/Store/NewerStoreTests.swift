@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// A store that a newer PatrolHub migrated (a binary rolled back over it) is
/// refused at open, naming the migrations this version does not know, and is
/// left as it was: this version's statements were not written for its schema.
@Suite("A store migrated by a newer version")
struct NewerStoreTests {
    /// Makes a store in a new folder, then records in `file`'s migration table
    /// one migration no version of this code registers.
    private func storeWithFutureMigration(in file: (String) -> String) throws -> (folder: URL, path: String, target: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("newer-store-\(UUID().uuidString)")
        let path = folder.appendingPathComponent("store.sqlite").path
        _ = try DisputeStore(path: path)
        let target = file(path)
        let queue = try DatabaseQueue(path: target)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('v999-from-the-future')") }
        try queue.close()
        return (folder, path, target)
    }

    @Test(arguments: ["store", "inbox"])
    func isRefusedNamingTheUnknownMigration(_ which: String) throws {
        let made = try storeWithFutureMigration(in: { which == "store" ? $0 : DisputeStore.inboxPath(for: $0) })
        defer { try? FileManager.default.removeItem(at: made.folder) }
        let error = try #require(throws: HubError.self) { _ = try DisputeStore(path: made.path) }
        #expect(error.code == .storeTooNew)
        #expect(error.message.contains("v999-from-the-future"), "\(error)")
        #expect(error.message.contains(made.target), "\(error)")
        // Still the newer version's file: nothing was applied or removed.
        let applied = try DatabaseQueue(path: made.target).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied.contains("v999-from-the-future"))
    }
}
