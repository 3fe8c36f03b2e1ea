import Alerts
import Foundation
import GRDB

extension DisputeStore {
    /// When the oldest message the pipeline has not processed yet was
    /// received (nil when the inbox is drained): `/metrics` reports the lag
    /// as the age of that message.
    public func oldestPendingReceivedAt() throws -> Date? {
        try receivedAt(after: try cursor())
    }
}

extension DisputeStore {
    /// The inbox's last sequence number ever given (0 when none): how many messages it has received,
    /// also once pruning emptied it.
    public func inboxReceivedSeq() throws -> Int64 {
        try inboxWriter.read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'inbox'") ?? 0 }
    }

    /// When the first inbox message after `seq` was received (nil when there is none).
    public func receivedAt(after seq: Int64) throws -> Date? {
        try inboxWriter.read { db in
            try Double.fetchOne(db, sql: "SELECT received_at FROM inbox WHERE seq > ? ORDER BY seq LIMIT 1", arguments: [seq])
                .map(Date.init(timeIntervalSince1970:))
        }
    }
}
