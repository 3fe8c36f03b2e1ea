import Foundation

/// The outbox as the hub's publisher sees it: the oldest rows, and deleting
/// those the broker acknowledged. `DisputeStore` (SQLite) and `PostgresStore`
/// implement it; the publisher is generic over it.
public protocol OutboxStore: Sendable {
    /// The oldest `limit` messages not yet published, in the order written.
    func outbox(limit: Int) throws -> [DisputeStore.OutboxMessage]
    /// Removes published messages (after the broker acknowledged them).
    func deleteOutbox(ids: [Int64]) throws
}

extension DisputeStore: OutboxStore {}
