import Alerts
import Foundation

/// Where a pipeline reads its messages: rows numbered by a `seq` that only
/// grows, read in that order after the cursor the store keeps.
///
/// The hub's own inbox file (`DisputeStore`) is one; PostgreSQL's shared
/// inbox, into which every hub of a group forwards its inbox
/// (`PostgresSharedInbox`), is the other. A row numbered later must never
/// become visible after one numbered higher: the cursor would pass it.
public protocol PipelineInbox {
    /// The rows after the seq `after`, oldest first: at most `limit`, and no more once
    /// their payloads reach `maxBytes`.
    func pending(after: Int64, limit: Int, maxBytes: Int) throws -> [InboxRecord]
    /// The seqs of the rows after `after` through `through`, oldest first, at most `limit`.
    func inboxSeqs(after: Int64, through: Int64, limit: Int) throws -> [Int64]
    /// One row by its seq (nil when it is not there).
    func inboxRecord(seq: Int64) throws -> InboxRecord?
}

extension PipelineInbox {
    /// The rows after `after`, at most `limit` and 64 MiB of payloads.
    public func pending(after: Int64, limit: Int) throws -> [InboxRecord] {
        try pending(after: after, limit: limit, maxBytes: 64 << 20)
    }
}

extension DisputeStore: PipelineInbox {}
