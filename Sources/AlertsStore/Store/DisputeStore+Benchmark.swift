import Foundation
import GRDB

extension DisputeStore {
    /// Deletes every inbox row and every outbox row: what the hub's pruning and the
    /// outbox's publisher take away over time, at once (the memory benchmark's
    /// steady state, so that only the windows and caches it measures grow).
    package func discardInboxAndOutbox() throws {
        try inboxWriter.write { db in try db.execute(sql: "DELETE FROM inbox WHERE seq <= (SELECT MAX(seq) FROM inbox)") }
        try writer.write { db in try db.execute(sql: "DELETE FROM outbox") }
    }
}
