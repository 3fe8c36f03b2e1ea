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
    /// start (repeating an unsubscribe is harmless); then it is forgotten.
    public static let staleSubscriptionDays: Double = 30

    /// Records `current` as the filters subscribed at `now`, and returns the
    /// filters an earlier run subscribed that `current` lacks (within
    /// `staleSubscriptionDays`), in the order they were stored: the ones to unsubscribe.
    public func rememberSubscriptions(_ current: [String], now: Date = Date()) throws -> [String] {
        try inboxWriter.write { db in
            let horizon = now.timeIntervalSince1970 - Self.staleSubscriptionDays * 86_400
            try db.execute(sql: "DELETE FROM subscriptions WHERE subscribed_at < ?", arguments: [horizon])
            let known = try String.fetchAll(db, sql: "SELECT filter FROM subscriptions ORDER BY filter")
            let wanted = Set(current)
            for filter in wanted {
                try db.execute(sql: "INSERT OR REPLACE INTO subscriptions(filter, subscribed_at) VALUES (?, ?)",
                               arguments: [filter, now.timeIntervalSince1970])
            }
            return known.filter { !wanted.contains($0) }
        }
    }
}
