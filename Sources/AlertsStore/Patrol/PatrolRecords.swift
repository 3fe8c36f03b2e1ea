import Alerts
import Foundation
import GRDB

/// A row of `patrol_slots`: one decided slot and its current verdict.
struct PatrolSlotRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "patrol_slots"

    var id: String
    var route: String
    var checkpoint: String
    var device: String
    var worker: String
    var unit: String?
    var zone: String
    var day: String
    var dueAt: Double
    var graceEndsAt: Double
    var closesAt: Double
    var status: String
    var checkinAt: Double?
    var distanceMetres: Double?
    var missedAt: Double?
    var riskItemID: String?
    var slipID: String?
    var updatedAt: Double

    enum CodingKeys: String, CodingKey {
        case id, route, checkpoint, device, worker, unit, zone, day, status
        case dueAt = "due_at", graceEndsAt = "grace_ends_at", closesAt = "closes_at", checkinAt = "checkin_at",
             distanceMetres = "distance_m", missedAt = "missed_at", riskItemID = "risk_item_id", slipID = "slip_id", updatedAt = "updated_at"
    }

    /// A slot's first verdict.
    init(_ slot: PatrolSlot, status: PatrolStatus, checkinAt: Date? = nil, distanceMetres: Double? = nil, missedAt: Date? = nil,
         riskItemID: String? = nil, slipID: String? = nil, updatedAt: Date) {
        id = slot.id
        route = slot.route
        checkpoint = slot.checkpoint
        device = slot.device
        worker = slot.worker
        unit = slot.unit
        zone = slot.zone
        day = slot.day
        dueAt = slot.due.timeIntervalSince1970
        graceEndsAt = slot.graceEnds.timeIntervalSince1970
        closesAt = slot.closes.timeIntervalSince1970
        self.status = status.rawValue
        self.checkinAt = checkinAt?.timeIntervalSince1970
        self.distanceMetres = distanceMetres
        self.missedAt = missedAt?.timeIntervalSince1970
        self.riskItemID = riskItemID
        self.slipID = slipID
        self.updatedAt = updatedAt.timeIntervalSince1970
    }

    /// What the patrol stage needs of it (an unknown status reads as missed: never undone by a flagged check-in).
    var state: PatrolSlotState {
        PatrolSlotState(status: PatrolStatus(rawValue: status) ?? .missed, riskItemID: riskItemID, slipID: slipID)
    }
}

/// A row of `patrol_records`, the append-only patrol log.
struct PatrolRecordRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "patrol_records"

    /// Assigned by SQLite on insert.
    var id: Int64?
    var slotID: String?
    var kind: String
    var status: String
    var device: String
    var worker: String?
    var route: String?
    var checkpoint: String
    var zone: String?
    var eventKey: String?
    var time: Double
    var method: String?
    var lat: Double?
    var lon: Double?
    var crs: String?
    var distanceMetres: Double?
    var recordedAt: Double
    var detail: String

    enum CodingKeys: String, CodingKey {
        case id, kind, status, device, worker, route, checkpoint, zone, time, method, lat, lon, crs, detail
        case slotID = "slot_id", eventKey = "event_key", distanceMetres = "distance_m", recordedAt = "recorded_at"
    }

    /// The row of `record`, recorded at `now`.
    init(_ record: PatrolRecord, recordedAt now: Date) {
        slotID = record.slotID
        kind = record.kind.rawValue
        status = record.status.rawValue
        device = record.device
        worker = record.worker
        route = record.route
        checkpoint = record.checkpoint
        zone = record.zone
        eventKey = record.eventKey
        time = record.time.timeIntervalSince1970
        method = record.method
        lat = record.location?.lat
        lon = record.location?.lon
        crs = record.location?.crs.rawValue
        distanceMetres = record.distanceMetres
        recordedAt = now.timeIntervalSince1970
        detail = record.detail
    }
}
