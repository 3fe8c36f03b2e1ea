import Alerts
import Foundation
import GRDB

/// One row of `unmapped_inputs`: how often a foreign input no rule maps was seen.
public struct UnmappedInputCount: Sendable, Hashable {
    /// The input format (`onvif`, `frigate`, `onvif2mqtt`).
    public var format: String
    /// The ONVIF topic, Frigate label or onvif2mqtt event; `""` is the overflow row
    /// (every name seen after the format's cap was reached).
    public var name: String
    /// Messages seen with this name.
    public var count: Int
    /// When the first was received.
    public var firstSeen: Date
    /// When the last was received.
    public var lastSeen: Date
    /// The device or camera name that sent it last.
    public var device: String

    /// A row with every field given.
    public init(format: String, name: String, count: Int, firstSeen: Date, lastSeen: Date, device: String) {
        self.format = format
        self.name = name
        self.count = count
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.device = device
    }

    /// Whether this is the overflow row.
    public var isOverflow: Bool { name.isEmpty }
    /// The name as shown: the overflow row is `(other)`.
    public var displayName: String { isOverflow ? UnmappedInputs.overflowLabel : name }

    /// The config line that maps it (`adapters.onvif.topics` …), nil for the overflow row.
    public var configHint: String? {
        guard !isOverflow else { return nil }
        let quoted = "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        switch format {
        case "onvif": return "adapters: {onvif: {topics: {\(quoted): CATEGORY}}}"
        case "frigate": return "adapters: {frigate: {labels: [{labels: [\(quoted)], category: CATEGORY}, …]}} (the list replaces the default label rules: keep them in it)"
        default: return nil // onvif2mqtt: only `motion` is read
        }
    }

    /// The JSON object of `adapters unmapped --json` and the API, with the mapping that would cover it.
    public var json: JSONValue {
        var o: JSONObject = [
            "format": .string(format), "name": .string(displayName), "count": .number(Double(count)),
            "first_seen": .string(firstSeen.rfc3339), "last_seen": .string(lastSeen.rfc3339),
            "example_device": .string(device), "overflow": .bool(isOverflow),
        ]
        o["config"] = configHint.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// Counting unmapped foreign inputs in the store, bounded: an attacker who
/// publishes a new topic per message cannot grow the table (or the metric
/// series read from it) without limit.
public enum UnmappedInputs {
    /// Distinct names kept per format; later names are counted in the overflow row.
    public static let maxNames = 1000
    /// How the overflow row is shown (`displayName`, the metrics' `name` label).
    public static let overflowLabel = "(other)"

    /// What one batch saw of one (format, name).
    struct Seen {
        var count = 0
        var first = Double.infinity
        var last = -Double.infinity
        var device = ""
    }

    /// Adds a batch's sightings, inside the pipeline's transaction.
    static func record(_ seen: [UnmappedInput: (count: Int, first: Double, last: Double)], db: Database) throws {
        guard !seen.isEmpty else { return }
        // One row per (format, name): the device of the newest sighting is the example.
        var byName: [String: [String: Seen]] = [:]
        for (input, s) in seen {
            var row = byName[input.format, default: [:]][input.name] ?? Seen()
            row.count += s.count
            row.first = min(row.first, s.first)
            if s.last >= row.last { row.last = s.last; row.device = input.device }
            byName[input.format, default: [:]][input.name] = row
        }
        let update = try db.cachedStatement(sql: """
            UPDATE unmapped_inputs SET count = count + ?, first_seen = MIN(first_seen, ?), last_seen = MAX(last_seen, ?),
                device = CASE WHEN ? >= last_seen THEN ? ELSE device END
            WHERE format = ? AND name = ?
            """)
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO unmapped_inputs(format, name, count, first_seen, last_seen, device) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(format, name) DO UPDATE SET count = count + excluded.count,
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
                device = CASE WHEN excluded.last_seen >= last_seen THEN excluded.device ELSE device END
            """)
        for (format, names) in byName.sorted(by: { $0.key < $1.key }) {
            var distinct: Int?
            for (name, s) in names.sorted(by: { $0.key < $1.key }) {
                try update.execute(arguments: [s.count, s.first, s.last, s.last, s.device, format, name])
                if db.changesCount > 0 { continue }
                if distinct == nil {
                    distinct = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM unmapped_inputs WHERE format = ? AND name != ''", arguments: [format]) ?? 0
                }
                let kept = distinct! < maxNames && !name.isEmpty
                if kept { distinct! += 1 }
                try upsert.execute(arguments: [format, kept ? name : "", s.count, s.first, s.last, s.device])
            }
        }
    }

    static func fetch(db: Database) throws -> [UnmappedInputCount] {
        try Row.fetchAll(db, sql: "SELECT format, name, count, first_seen, last_seen, device FROM unmapped_inputs ORDER BY count DESC, format, name")
            .map { row in
                UnmappedInputCount(format: row[0], name: row[1], count: row[2], firstSeen: Date(timeIntervalSince1970: row[3]),
                                   lastSeen: Date(timeIntervalSince1970: row[4]), device: row[5])
            }
    }
}

extension DisputeStore {
    /// Every unmapped input counted, most frequent first.
    public func unmappedInputs() throws -> [UnmappedInputCount] {
        try writer.read { db in try UnmappedInputs.fetch(db: db) }
    }
}
