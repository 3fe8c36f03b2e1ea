import Alerts
import Foundation
import GRDB

extension DisputeStore {
    /// Creates a silence after validating it against its shape, `policy` (never-silenced
    /// categories, maximum duration, string lengths) and `authority` (a silence on every
    /// category over a whole district needs `.supervisor`); returns it with its id.
    @discardableResult
    public func addSilence(_ silence: Silence, policy: SilencePolicy = SilencePolicy(), authority: SilenceAuthority = .operator) throws -> Silence {
        try silence.validate()
        return try writer.write { db in
            let topLevel = Set(try String.fetchAll(db, sql: "SELECT code FROM zones WHERE level = 'district'"))
            try silence.validate(policy: policy, authority: authority, topLevelZone: { topLevel.contains($0) })
            // A mistyped zone or source would mute nothing, silently: refuse names the
            // store does not know (when it knows any; the hub fills them at start).
            if let zone = silence.zone, zone != "unzoned", try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM zones") ?? 0 > 0,
               try Int.fetchOne(db, sql: "SELECT 1 FROM zones WHERE code = ?", arguments: [zone]) == nil {
                throw HubError.invalidSilence(field: "zone", message: "unknown zone '\(zone)' (not in the hub's zone file)")
            }
            if let source = silence.source,
               try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM cameras) + (SELECT COUNT(*) FROM devices)") ?? 0 > 0,
               try Int.fetchOne(db, sql: "SELECT 1 FROM cameras WHERE id = ? UNION SELECT 1 FROM devices WHERE id = ?", arguments: [source, source]) == nil {
                throw HubError.invalidSilence(field: "source", message: "unknown source '\(source)' (no registered camera or device has that id)")
            }
            let unended = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM silences WHERE ends_at > ?", arguments: [silence.createdAt.timeIntervalSince1970]) ?? 0
            if unended >= SilencePolicy.maxUnended {
                throw HubError.invalidSilence(field: "silence", message: "\(unended) silences have not ended yet; at most \(SilencePolicy.maxUnended) (expire the ones no longer needed)")
            }
            var s = silence
            if s.id.isEmpty {
                // Numbered from the append-only audit log, so a deleted silence's id is never reused.
                let n = (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_log WHERE action = 'silence.created'") ?? 0) + 1
                s.id = "JM-" + HubFormat.zeroPadded(n, width: 6)
            }
            try SilenceRow(s).insert(db)
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, ?, ?, 'silence.created', ?)",
                           arguments: [s.createdAt.timeIntervalSince1970, s.createdBy, s.id, s.comment])
            return s
        }
    }

    /// Silences ending after `after` (all when nil), by start time.
    public func silences(endingAfter after: Date? = nil) throws -> [Silence] {
        // A cached statement: the pipeline reads the silences before every batch.
        try writer.read { db in
            try SilenceRow.fetchAll(db.cachedStatement(sql: "SELECT * FROM silences WHERE ends_at > ? ORDER BY starts_at, id"),
                                    arguments: [after?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]).map(\.silence)
        }
    }

    /// Ends a silence now (it stops muting new events; one that has not started
    /// is cut to nothing); returns whether it existed. Expiring a silence that
    /// has already ended is refused (`HubError.invalidSilence`), so the audit log keeps one row.
    @discardableResult
    public func expireSilence(id: String, by actor: String, at now: Date) throws -> Bool {
        try writer.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT starts_at, ends_at FROM silences WHERE id = ?", arguments: [id]) else { return false }
            let starts: Double = row[0], ends: Double = row[1]
            guard ends > now.timeIntervalSince1970 else {
                throw HubError.invalidSilence(field: "id", message: "silence \(id) ended at \(Date(timeIntervalSince1970: ends).rfc3339) already")
            }
            try db.execute(sql: "UPDATE silences SET ends_at = ? WHERE id = ?", arguments: [max(starts, now.timeIntervalSince1970), id])
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, ?, ?, 'silence.expired', '')",
                           arguments: [now.timeIntervalSince1970, actor, id])
            return true
        }
    }

    /// Deletes a silence (a mistake); items it already muted stay muted.
    @discardableResult
    public func deleteSilence(id: String, by actor: String, at now: Date) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM silences WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, ?, ?, 'silence.deleted', '')",
                           arguments: [now.timeIntervalSince1970, actor, id])
            return true
        }
    }
}

/// A row of `silences`.
struct SilenceRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "silences"

    var id: String
    var zone: String?
    var category: String?
    var source: String?
    /// `true`: drills only, `false`: real events only, NULL: both.
    var drill: Bool?
    var startsAt: Double
    var endsAt: Double
    var createdBy: String
    var comment: String
    var createdAt: Double

    enum CodingKeys: String, CodingKey {
        case id, zone, category, source, drill, comment
        case startsAt = "starts_at", endsAt = "ends_at", createdBy = "created_by", createdAt = "created_at"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let startsAt = Column(CodingKeys.startsAt)
        static let endsAt = Column(CodingKeys.endsAt)
    }

    init(_ s: Silence) {
        id = s.id
        zone = s.zone
        category = s.category?.rawValue
        source = s.source
        drill = s.drill
        startsAt = s.startsAt.timeIntervalSince1970
        endsAt = s.endsAt.timeIntervalSince1970
        createdBy = s.createdBy
        comment = s.comment
        createdAt = s.createdAt.timeIntervalSince1970
    }

    /// The silence.
    var silence: Silence {
        Silence(id: id, zone: zone, category: category.flatMap(Category.init(rawValue:)), source: source, drill: drill,
                startsAt: Date(timeIntervalSince1970: startsAt), endsAt: Date(timeIntervalSince1970: endsAt), createdBy: createdBy,
                comment: comment, createdAt: Date(timeIntervalSince1970: createdAt))
    }
}
