import AlertsStore
import Foundation
import GRDB
import Alerts
import TestSupport

/// Stores for the case tests, with cases written the way the engine writes them
/// (`DisputeStore.write(case:…)`).
extension CaseFixtures {
    /// A store with the sample zones saved, as the hub saves them at start.
    package static func store(path: String? = nil) throws -> DisputeStore {
        let s = try path.map { try DisputeStore(path: $0) } ?? DisputeStore.inMemory()
        try s.saveZones(sampleZones)
        return s
    }

    package static func write(_ c: Case, to store: DisputeStore) throws {
        try store.writer.write { db in try DisputeStore.write(case: c, evidenceAt: c.openedAt, db: db) }
    }

    package static func count(_ sql: String, _ store: DisputeStore) throws -> Int {
        try store.writer.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }
}
