import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO

/// What a hub running on PostgreSQL (`store.kind: postgres`) needs of the
/// store besides the pipeline: the registry it loaded at start, and the
/// outbox its publisher empties. Statement for statement what `DisputeStore`
/// does (`saveZones`, `saveRegistry`, `outbox(limit:)`, `deleteOutbox(ids:)`).
/// Each call is one transaction on the store's connection; the calling thread
/// blocks (the publisher calls from its store thread, the hub at start).
extension PostgresStore: OutboxStore {
    /// The advisory lock a hub holds on its store's session while it runs (an arbitrary constant of PatrolHub).
    static let soleHubLockKey: Int64 = 0x5041_5452_4F4C_0003

    /// Takes the store for this hub alone: a session-level advisory lock, held until the connection
    /// closes (the hub stops, or dies and the server notices). One hub per PostgreSQL store for now:
    /// each hub numbers its items, slips and cases itself, so two would reuse each other's ids.
    /// - Throws: `HubError` `.postgresStore` when another hub holds it.
    public func claimForThisHub() throws {
        let taken = try turn.withLock {
            try query("SELECT pg_try_advisory_lock(\(Self.soleHubLockKey))").rows.first?.decode(Bool.self) ?? false
        }
        guard taken else {
            throw HubError(.postgresStore, "another PatrolHub runs on \(url): one hub per PostgreSQL store for now (each numbers its items, slips and cases itself); stop it first")
        }
    }

    /// Replaces the zones table with the loaded grid.
    public func saveZones(_ index: ZoneIndex) throws {
        try batch(outputPrefix: "") { b in
            try b.run("DELETE FROM zones")
            for z in index.zones {
                try b.run("""
                    INSERT INTO zones(code, name, level, parent, unit, worker, geometry)
                    VALUES (\(z.code), \(z.name), \(z.level.rawValue), \(z.parent), \(z.unit), \(z.worker), \(z.geometry.geoJSON.serialized))
                    """)
            }
        }
    }

    /// Replaces the registered cameras and devices, keeping known camera status. With several
    /// hubs on one store, each start writes its registry: the hubs of a group must share one.
    public func saveRegistry(_ registry: Registry, zoneOf: (CameraRecord) -> String?) throws {
        try batch(outputPrefix: "") { b in
            try b.run("DELETE FROM devices")
            let ids = registry.cameras.keys.sorted()
            try b.run("DELETE FROM cameras WHERE NOT (id = ANY(\(ids)))")
            for id in ids {
                guard let c = registry.cameras[id] else { continue }
                try b.run("""
                    INSERT INTO cameras(id, name, lat, lon, crs, zone) VALUES (\(c.id), \(c.name), \(c.location?.lat), \(c.location?.lon),
                                                                              \(c.location?.crs.rawValue), \(zoneOf(c)))
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon, crs = excluded.crs, zone = excluded.zone
                    """)
            }
            for id in registry.devices.keys.sorted() {
                guard let d = registry.devices[id] else { continue }
                try b.run("INSERT INTO devices(id, worker, unit, zone) VALUES (\(d.id), \(d.worker), \(d.unit), \(d.zone))")
            }
        }
    }

    /// The oldest `limit` messages not yet published, in the order written.
    public func outbox(limit: Int) throws -> [DisputeStore.OutboxMessage] {
        try turn.withLock {
            try query("SELECT id, topic, payload FROM outbox ORDER BY id LIMIT \(limit)").rows.map { row in
                let (id, topic, payload) = try row.decode((Int64, String, ByteBuffer).self)
                return DisputeStore.OutboxMessage(id: id, topic: topic, payload: Array(payload.readableBytesView))
            }
        }
    }

    /// Removes published messages (after the broker acknowledged them).
    public func deleteOutbox(ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try turn.withLock { _ = try query("DELETE FROM outbox WHERE id = ANY(\(ids))") }
    }
}
