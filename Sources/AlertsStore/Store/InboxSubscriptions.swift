import Foundation
import GRDB

/// The MQTT filters the hub's ingest session subscribed, kept in the inbox file
/// (table `subscriptions`). The broker's persistent session keeps a subscription
/// until it is unsubscribed: a hub that leaves a shared-subscription group
/// (`broker.shared_group` removed or renamed) would stay a member of the old one
/// (`$share/OLD/…`) and take its turns for ever. What was subscribed is
/// remembered, so a filter the configuration no longer names is unsubscribed
/// on connect.
extension DisputeStore {
    /// How long a filter no longer configured is still unsubscribed at every
    /// start after the configuration dropped it (repeating an unsubscribe is
    /// harmless); then it is forgotten.
    public static let staleSubscriptionDays: Double = 30

    /// Records `current` as the filters subscribed at `now`, and returns the
    /// filters an earlier run subscribed that `current` lacks, in filter order:
    /// the ones to unsubscribe. A dropped filter is returned at every start
    /// until `staleSubscriptionDays` after the first start without it, however
    /// long it had been subscribed before; configured again, it is no longer dropped.
    public func rememberSubscriptions(_ current: [String], now: Date = Date()) throws -> [String] {
        try inboxWriter.write { db in
            let t = now.timeIntervalSince1970
            let horizon = t - Self.staleSubscriptionDays * 86_400
            let wanted = Set(current)
            var stale: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT filter, dropped_at FROM subscriptions ORDER BY filter") {
                let filter: String = row[0]
                guard !wanted.contains(filter) else { continue }
                if let dropped: Double = row[1] {
                    if dropped < horizon {
                        try db.execute(sql: "DELETE FROM subscriptions WHERE filter = ?", arguments: [filter])
                        continue
                    }
                } else {
                    try db.execute(sql: "UPDATE subscriptions SET dropped_at = ? WHERE filter = ?", arguments: [t, filter])
                }
                stale.append(filter)
            }
            for filter in wanted {
                try db.execute(sql: "INSERT OR REPLACE INTO subscriptions(filter, subscribed_at, dropped_at) VALUES (?, ?, NULL)",
                               arguments: [filter, t])
            }
            return stale
        }
    }
}
