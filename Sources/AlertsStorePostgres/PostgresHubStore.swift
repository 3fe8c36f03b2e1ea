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
    /// The advisory lock a hub holds on its store's session while it runs (an arbitrary constant of PatrolHub):
    /// exclusively by a lone hub, shared by each hub of a group.
    static let soleHubLockKey: Int64 = 0x5041_5452_4F4C_0003

    /// Takes the store for this hub alone: a session-level advisory lock, held until the connection
    /// closes (the hub stops, or dies and the server notices). Without `broker.shared_group` a hub
    /// decides alone on its store: a second would number items, slips and cases over the first's.
    /// - Throws: `HubError` `.postgresStore` when another hub, or a group, runs on the store.
    public func claimForThisHub() throws {
        guard try claim("pg_try_advisory_lock") else {
            throw HubError(.postgresStore, "another PatrolHub runs on \(url): one hub per PostgreSQL store unless the hubs form a group (broker.shared_group); stop it first")
        }
    }

    /// Takes the store for a hub of a group (`broker.shared_group`): the same lock as
    /// `claimForThisHub`, shared, so the hubs of a group run together and a lone hub does not
    /// run beside them.
    /// - Throws: `HubError` `.postgresStore` when a hub without a group runs on the store.
    public func claimForGroup() throws {
        guard try claim("pg_try_advisory_lock_shared") else {
            throw HubError(.postgresStore, "a PatrolHub without broker.shared_group runs on \(url): a group and a lone hub cannot share a store; stop it first")
        }
    }

    /// Whether the inbox `inboxID` has a position in this store past its start: its pipeline
    /// cursor (`pipeline_cursor`, a hub alone, or what `store migrate` carried over from SQLite)
    /// or its forwarding position (`shared_inbox_forward`, a hub of a group).
    public func hasPosition(inbox inboxID: String) throws -> Bool {
        try turn.withLock {
            try query("""
                SELECT EXISTS (SELECT 1 FROM pipeline_cursor WHERE inbox_id = \(inboxID) AND inbox_seq > 0)
                    OR EXISTS (SELECT 1 FROM shared_inbox_forward WHERE origin = \(inboxID) AND forwarded_through > 0)
                """).rows.first?.decode(Bool.self) ?? false
        }
    }

    /// Tries `function` on the hub lock for up to 2 s: a hub that has just stopped closed its
    /// connection, but its server process may not have ended (and freed the lock) yet.
    private func claim(_ function: String) throws -> Bool {
        for attempt in 0..<20 {
            if attempt > 0 { Thread.sleep(forTimeInterval: 0.1) }
            let taken = try turn.withLock {
                try query(PostgresQuery(unsafeSQL: "SELECT \(function)(\(Self.soleHubLockKey))")).rows.first?.decode(Bool.self) ?? false
            }
            if taken { return true }
        }
        return false
    }

    /// The advisory lock a hub's registry and zone writes hold (hubs of a group starting together
    /// would otherwise each delete and insert the same rows, and one would fail on the keys).
    static let registryLockKey: Int64 = 0x5041_5452_4F4C_0004

    /// Replaces the zones table with the loaded grid.
    public func saveZones(_ index: ZoneIndex) throws {
        try batch(outputPrefix: "") { b in
            try b.run("SELECT pg_advisory_xact_lock(\(Self.registryLockKey))")
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
            try b.run("SELECT pg_advisory_xact_lock(\(Self.registryLockKey))")
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
