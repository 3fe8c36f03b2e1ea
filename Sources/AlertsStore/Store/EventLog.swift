import Alerts
import Foundation
import GRDB

/// What each accepted event did — its event time, the risk item it folded
/// into, its zone and category, and whether it counts towards new windows —
/// kept only so that a restarted pipeline rebuilds the engine's windows as
/// the running engine had them (`PipelineProcessor.reload`).
///
/// Stored as one row per pipeline batch in `event_batches`, the batch's
/// entries packed in a blob: a row per event (with its time index) cost more
/// than a tenth of the pipeline's time, for data read back only at start.
/// `last_time` is the newest event time in the batch, so a restart reads
/// only the batches that can hold events inside its horizon.
///
/// The blob (`events`): a format byte (1), then per entry the event time as
/// the little-endian bit pattern of a Float64 (8 bytes), a flags byte
/// (1 = counted), and the risk item id, zone and category, each a
/// little-endian UInt16 byte length and UTF-8 bytes.
public struct EventLogEntry: Sendable, Equatable {
    /// Event time, unix seconds.
    public var time: Double
    /// The risk item the event joined or opened.
    public var itemID: String
    /// The zone the event was placed in.
    public var zone: String
    /// The event's category (raw value).
    public var category: String
    /// Whether it counts towards new windows after a restart (late and muted events do not).
    public var counted: Bool

    /// An entry with every field given.
    public init(time: Double, itemID: String, zone: String, category: String, counted: Bool) {
        self.time = time
        self.itemID = itemID
        self.zone = zone
        self.category = category
        self.counted = counted
    }
}

/// Packs a batch's entries (see `EventLogEntry`). Package-wide so the PostgreSQL
/// store (AlertsStorePostgres) writes the same blob as the SQLite one.
package struct EventLogEncoder {
    static let format: UInt8 = 1
    /// The packed blob so far (the format byte, then the entries).
    package private(set) var bytes: [UInt8] = [EventLogEncoder.format]
    /// Entries appended.
    package private(set) var count = 0
    /// The newest event time appended (-infinity when none).
    package private(set) var lastTime = -Double.infinity

    /// An empty batch, with room for about `capacity` entries.
    package init(capacity: Int = 0) { bytes.reserveCapacity(1 + capacity * 48) }

    /// Whether no entry was appended.
    package var isEmpty: Bool { count == 0 }

    /// Appends one accepted event.
    package mutating func append(time: Double, itemID: String, zone: String, category: String, counted: Bool) {
        var bits = time.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
        bytes.append(counted ? 1 : 0)
        append(itemID)
        append(zone)
        append(category)
        count += 1
        lastTime = max(lastTime, time)
    }

    private mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { u in
            let n = min(u.count, Int(UInt16.max)) // ids, zone codes and categories are short
            bytes.append(UInt8(n & 0xFF))
            bytes.append(UInt8(n >> 8))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[..<n]))
        }
    }

    /// Writes the batch as one row (nothing when it is empty).
    func write(db: Database) throws {
        guard !isEmpty else { return }
        try db.cachedStatement(sql: "INSERT INTO event_batches(last_time, count, events) VALUES (?, ?, ?)")
            .execute(arguments: [lastTime, count, Data(bytes)])
    }
}

extension HubError.Code {
    /// An `event_batches` blob the event log cannot unpack.
    public static let eventLogFormat = Self("event_log_format")
}

/// Reading the packed per-batch event log (`event_batches`).
public enum EventLog {
    /// Unpacks one batch's blob.
    public static func decode(_ bytes: [UInt8]) throws -> [EventLogEntry] {
        guard bytes.first == EventLogEncoder.format else {
            throw HubError(.eventLogFormat, "event_batches: unknown format \(bytes.first.map(String.init) ?? "(empty)")")
        }
        var out: [EventLogEntry] = []
        var i = 1
        func need(_ n: Int) throws {
            guard i + n <= bytes.count else { throw HubError(.eventLogFormat, "event_batches: truncated entry at byte \(i)") }
        }
        func string() throws -> String {
            try need(2)
            let n = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            i += 2
            try need(n)
            defer { i += n }
            return String(decoding: bytes[i..<(i + n)], as: UTF8.self)
        }
        while i < bytes.count {
            try need(9)
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            let counted = bytes[i + 8] & 1 == 1
            i += 9
            out.append(EventLogEntry(time: Double(bitPattern: bits), itemID: try string(), zone: try string(), category: try string(), counted: counted))
        }
        return out
    }

    /// The newest event time logged (0 when none).
    static func maxTime(db: Database) throws -> Double {
        try Double.fetchOne(db.cachedStatement(sql: "SELECT MAX(last_time) FROM event_batches")) ?? 0
    }

    /// The counted entries with `time >= since`, in log order.
    static func counted(since: Double, db: Database) throws -> [EventLogEntry] {
        var out: [EventLogEntry] = []
        for blob in try Data.fetchAll(db, sql: "SELECT events FROM event_batches WHERE last_time >= ? ORDER BY id", arguments: [since]) {
            out += try decode([UInt8](blob)).filter { $0.counted && $0.time >= since }
        }
        return out
    }

    /// Migration: packs the rows of the former per-event `event_log` table into batches.
    static func migrateRows(db: Database, batchSize: Int = 5000) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT time, risk_item_id, zone, category, counted FROM event_log ORDER BY id")
        var batch = EventLogEncoder(capacity: batchSize)
        while let row = try rows.next() {
            batch.append(time: row[0], itemID: row[1], zone: row[2], category: row[3], counted: row[4])
            if batch.count == batchSize {
                try batch.write(db: db)
                batch = EventLogEncoder(capacity: batchSize)
            }
        }
        try batch.write(db: db)
    }
}
