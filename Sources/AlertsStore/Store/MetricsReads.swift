import Alerts
import Foundation
import GRDB

/// Dead letters and changes recorded since a mark, by label: what the hub's
/// counters add at each scrape (`/metrics`). Read by primary-key range, so a
/// scrape costs what happened since the last one, never a table scan.
public struct StoreTallies: Sendable, Equatable {
    /// The newest dead letter id and change seq read (the next marks).
    public var deadLetterMark: Int64 = 0
    /// The newest change seq read.
    public var changeMark: Int64 = 0
    /// New dead letters by reason.
    public var deadLetters: [String: Int] = [:]
    /// New rows of the change log by subject kind (`risk_item`, `slip`, `case`, `transition`) and op (`new`, `updated`).
    public var changes: [String: [String: Int]] = [:]
    /// Slips issued, by slip kind (`warning`, `reminder`, `supervision`).
    public var slipsIssued: [String: Int] = [:]

    /// Marks at zero: the first read tallies everything.
    public init() {}
}

extension DisputeStore {
    /// What `/metrics` reads from the store at each scrape, only where it is
    /// cheap: the inbox from its sequence and the pipeline's cursor (no row
    /// count), open risk items through their state index, and the small
    /// tables (slips and cases are a few per day; unmapped inputs and the
    /// counters are bounded). Dead letters and closed risk items are not
    /// counted here: the hub counts them as they happen (`metricsTallies`);
    /// dead letters pending and replayed come from the store's counters.
    public func metricsStatus() throws -> StoreStatus {
        let done = try cursor()
        let received = try inboxReceivedSeq()
        return try writer.read { db in
            var s = StoreStatus()
            s.inboxReceived = Int(received)
            s.inboxProcessed = Int(min(done, received))
            s.inboxPending = Int(max(0, received - done))
            s.riskItems["open"] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE state = 'open'") ?? 0
            s.riskItemsSuppressed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE state = 'open' AND suppressed_by IS NOT NULL") ?? 0
            try Self.readSmallFigures(db, into: &s)
            return s
        }
    }

    /// The newest dead letter id and change seq now: counting starts after them.
    public func metricsMarks() throws -> (deadLetter: Int64, change: Int64) {
        try writer.read { db in
            (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM dead_letters") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0)
        }
    }

    /// Dead letters after id `deadLetter` and changes after seq `change`, by
    /// label, with the marks to pass next time.
    public func metricsTallies(afterDeadLetter deadLetter: Int64, afterChange change: Int64) throws -> StoreTallies {
        try writer.read { db in
            var t = StoreTallies()
            t.deadLetterMark = max(deadLetter, try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM dead_letters") ?? 0)
            t.changeMark = max(change, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes") ?? 0)
            if t.deadLetterMark > deadLetter {
                for row in try Row.fetchAll(db, sql: "SELECT reason, COUNT(*) FROM dead_letters WHERE id > ? AND id <= ? GROUP BY reason",
                                            arguments: [deadLetter, t.deadLetterMark]) {
                    t.deadLetters[row[0]] = row[1]
                }
            }
            if t.changeMark > change {
                for row in try Row.fetchAll(db, sql: "SELECT kind, op, COUNT(*) FROM changes WHERE seq > ? AND seq <= ? GROUP BY kind, op",
                                            arguments: [change, t.changeMark]) {
                    t.changes[row[0], default: [:]][row[1]] = row[2]
                }
                for row in try Row.fetchAll(db, sql: """
                    SELECT s.kind, COUNT(*) FROM changes c JOIN slips s ON s.id = c.subject
                    WHERE c.seq > ? AND c.seq <= ? AND c.kind = 'slip' AND c.op = 'new' GROUP BY s.kind
                    """, arguments: [change, t.changeMark]) {
                    t.slipsIssued[row[0]] = row[1]
                }
            }
            return t
        }
    }
}
