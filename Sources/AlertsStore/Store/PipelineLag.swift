import Alerts
import Foundation
import GRDB

extension DisputeStore {
    /// When the oldest message the pipeline has not processed yet was
    /// received (nil when the inbox is drained): `/metrics` reports the lag
    /// as the age of that message.
    public func oldestPendingReceivedAt() throws -> Date? {
        let done = try cursor()
        return try inboxWriter.read { db in
            try Double.fetchOne(db, sql: "SELECT received_at FROM inbox WHERE seq > ? ORDER BY seq LIMIT 1", arguments: [done])
                .map(Date.init(timeIntervalSince1970:))
        }
    }
}
