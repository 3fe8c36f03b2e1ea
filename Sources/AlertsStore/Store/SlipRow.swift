import Alerts
import Foundation
import GRDB

/// A row of `slips`, for the writes and reads off the pipeline's hot path
/// (reminder letters, supervision orders, a slip published as stored). The
/// batch's warning slips keep their prepared statements (`SQLiteBatch.write(slips:)`).
struct SlipRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "slips"

    /// The number in the id, per kind.
    var seq: Int
    var id: String
    var kind: String
    var zone: String
    var category: String
    var severity: Int
    var unit: String?
    var worker: String?
    var issuedAt: Double
    var updatedAt: Double
    /// The event time (or deadline) that opened the slip's window.
    var anchor: Double
    var state: String
    var caseID: String?
    var text: String
    var occurrences: Int
    /// The idempotency key of a document issued once (`patrol:{slot}:missed`, `case:{id}:overdue`, …).
    var trigger: String?
    var closedAt: Double?
    var closeReason: String?
    /// `Slip.countAfter`.
    var countAfter: Double?

    enum CodingKeys: String, CodingKey {
        case seq, id, kind, zone, category, severity, unit, worker, anchor, state, text, occurrences, trigger
        case issuedAt = "issued_at", updatedAt = "updated_at", caseID = "case_id", closedAt = "closed_at", closeReason = "close_reason"
        case countAfter = "count_after"
    }

    /// The row of `slip`, numbered `seq`, with its anchor and trigger.
    init(_ slip: Slip, seq: Int, anchor: Date, trigger: String?) {
        self.seq = seq
        id = slip.id
        kind = slip.kind.rawValue
        zone = slip.zone
        category = slip.category.rawValue
        severity = slip.severity.rawValue
        unit = slip.unit
        worker = slip.worker
        issuedAt = slip.issuedAt.timeIntervalSince1970
        updatedAt = slip.updatedAt.timeIntervalSince1970
        self.anchor = anchor.timeIntervalSince1970
        state = slip.state.rawValue
        caseID = slip.caseID
        text = slip.text
        occurrences = slip.occurrences
        self.trigger = trigger
        closedAt = slip.closedAt?.timeIntervalSince1970
        closeReason = slip.closeReason
        countAfter = slip.countAfter?.timeIntervalSince1970
    }

    /// The slip, with its linked items.
    func slip(itemIDs: [String]) -> Slip {
        Slip(id: id, kind: Slip.Kind(rawValue: kind) ?? .warning, zone: zone, category: Category(rawValue: category) ?? .other,
             severity: Severity(rawValue: severity) ?? .info, unit: unit, worker: worker, issuedAt: Date(timeIntervalSince1970: issuedAt),
             updatedAt: Date(timeIntervalSince1970: updatedAt), state: Slip.State(rawValue: state) ?? .open, caseID: caseID, text: text,
             riskItemIDs: itemIDs, occurrences: occurrences, closedAt: closedAt.map(Date.init(timeIntervalSince1970:)), closeReason: closeReason,
             countAfter: countAfter.map(Date.init(timeIntervalSince1970:)))
    }

    /// The slip `id` as stored, with its linked items; nil when there is none.
    static func slip(id: String, db: Database) throws -> Slip? {
        guard let row = try SlipRow.fetchOne(db, key: id) else { return nil }
        let ids = try String.fetchAll(db.cachedStatement(sql: "SELECT risk_item_id FROM slip_items WHERE slip_id = ? ORDER BY risk_item_id"), arguments: [id])
        return row.slip(itemIDs: ids)
    }
}
