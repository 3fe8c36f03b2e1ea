import Alerts
import Foundation
import GRDB

extension ZoneDirectory {
    /// The zones saved in the store (`DisputeStore.saveZones`).
    public init(db: Database) throws {
        self.init(try Row.fetchAll(db, sql: "SELECT code, name, level, parent, unit FROM zones").compactMap { row in
            guard let level = ZoneLevel(rawValue: row["level"]) else { return nil }
            return ZoneUnit(code: row["code"], name: row["name"], level: level, parent: row["parent"], unit: row["unit"])
        })
    }
}
