import Foundation

/// A registered camera (`config/cameras.csv`: `id,name,lat,lon,crs,zone`).
public struct CameraRecord: Sendable, Hashable {
    /// The id in the camera's topics and payloads.
    public var id: String
    /// A name people recognise, shown in slips and on the board.
    public var name: String
    /// Where the camera stands (its `crs` kept); nil when the file gives none.
    public var location: GeoPoint?
    /// The zone code set in the file; nil means "derive it from the location".
    public var zone: String?

    /// A camera as one row of the file describes it.
    public init(id: String, name: String, location: GeoPoint?, zone: String?) {
        self.id = id
        self.name = name
        self.location = location
        self.zone = zone
    }
}

/// A registered patrol device (`config/devices.csv`: `id,worker,unit,zone`).
public struct DeviceRecord: Sendable, Hashable {
    /// The id in the device's topics.
    public var id: String
    /// The grid worker who carries it.
    public var worker: String
    /// The worker's unit: slips about the device's reports go there.
    public var unit: String
    /// The worker's grid zone; nil: placed by the reported location.
    public var zone: String?

    /// A device as one row of the file describes it.
    public init(id: String, worker: String, unit: String, zone: String?) {
        self.id = id
        self.worker = worker
        self.unit = unit
        self.zone = zone
    }
}

/// The cameras and devices PatrolHub accepts events from. An event from a
/// source not listed here is dead-lettered as `unknown_source`.
public struct Registry: Sendable {
    /// Cameras by id.
    public var cameras: [String: CameraRecord]
    /// Patrol devices by id.
    public var devices: [String: DeviceRecord]

    /// A registry of the given records (of a duplicated id the first wins; the loaders refuse duplicates).
    public init(cameras: [CameraRecord] = [], devices: [DeviceRecord] = []) {
        self.cameras = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.devices = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Loads both files; any bad row refuses the whole file (never half-loads). With `zones`, a
    /// row's `zone` must be one of its zones: a code it does not have would place every event of
    /// the camera or device in a grid no one watches, and no rule of the zone file would apply.
    public static func load(camerasFile: String, devicesFile: String?, zones: ZoneIndex? = nil) throws(HubError) -> Registry {
        let cameras = try loadCameras(file: camerasFile, zones: zones)
        let cameraIDs = Set(cameras.map(\.id))
        let devices = try devicesFile.map { f throws(HubError) in try loadDevices(file: f, cameraIDs: cameraIDs, zones: zones) } ?? []
        return Registry(cameras: cameras, devices: devices)
    }

    /// The cameras of a cameras CSV file (id, name, lat, lon; optional crs, zone), ids unique.
    /// With `zones`, a `zone` it does not have is refused.
    public static func loadCameras(file: String, zones: ZoneIndex? = nil) throws(HubError) -> [CameraRecord] {
        let table = try CSVTable.load(file: file, required: ["id", "name", "lat", "lon"], optional: ["crs", "zone"])
        var seen: [String: Int] = [:]
        var out: [CameraRecord] = []
        for row in table.rows {
            let id = row["id"]
            guard !id.isEmpty else { throw table.error(row, "id", "is empty") }
            if let first = seen[id] { throw table.error(row, "id", "duplicate camera id '\(id)' (first on line \(first))") }
            seen[id] = row.line
            var location: GeoPoint?
            let latText = row["lat"], lonText = row["lon"]
            if !latText.isEmpty || !lonText.isEmpty {
                guard let lat = Double(decimal: latText), (-90...90).contains(lat) else { throw table.error(row, "lat", "expected a latitude in -90…90, found '\(latText)'") }
                guard let lon = Double(decimal: lonText), (-180...180).contains(lon) else { throw table.error(row, "lon", "expected a longitude in -180…180, found '\(lonText)'") }
                let crsText = row["crs"].isEmpty ? "wgs84" : row["crs"].lowercased()
                guard let crs = CoordinateSystem(rawValue: crsText) else { throw table.error(row, "crs", "must be wgs84, gcj02 or bd09, found '\(crsText)'") }
                location = GeoPoint(lat: lat, lon: lon, crs: crs)
            }
            let zone = row["zone"]
            if location == nil && zone.isEmpty { throw table.error(row, "zone", "a camera needs a location or a zone") }
            if let zones, !zone.isEmpty, zones.zone(code: zone) == nil { throw Self.unknownZone(table, row, zone) }
            out.append(CameraRecord(id: id, name: row["name"], location: location, zone: zone.isEmpty ? nil : zone))
        }
        return out
    }

    /// The patrol devices of a devices CSV file (id, worker, unit; optional zone), ids unique.
    /// A device may not have a camera's id (`cameraIDs`): each id is one broker account.
    /// With `zones`, a `zone` it does not have is refused.
    public static func loadDevices(file: String, cameraIDs: Set<String> = [], zones: ZoneIndex? = nil) throws(HubError) -> [DeviceRecord] {
        let table = try CSVTable.load(file: file, required: ["id", "worker", "unit"], optional: ["zone"])
        var seen: [String: Int] = [:]
        var out: [DeviceRecord] = []
        for row in table.rows {
            let id = row["id"]
            guard !id.isEmpty else { throw table.error(row, "id", "is empty") }
            if let first = seen[id] { throw table.error(row, "id", "duplicate device id '\(id)' (first on line \(first))") }
            if cameraIDs.contains(id) {
                throw table.error(row, "id", "device id '\(id)' is also a camera's id (registry.cameras): each id is its own broker account")
            }
            seen[id] = row.line
            if let zones, !row["zone"].isEmpty, zones.zone(code: row["zone"]) == nil { throw Self.unknownZone(table, row, row["zone"]) }
            out.append(DeviceRecord(id: id, worker: row["worker"], unit: row["unit"], zone: row["zone"].isEmpty ? nil : row["zone"]))
        }
        return out
    }
}

extension Registry {
    static func unknownZone(_ table: CSVTable, _ row: CSVTable.Row, _ zone: String) -> HubError {
        table.error(row, "zone", "unknown zone '\(zone.prefix(100))': the zone file (registry.zones) has no such code (leave it empty to place by location)")
    }
}

/// A small RFC 4180 CSV reader: a header row, quoted fields, `#` comment
/// lines and blank lines skipped, errors with the file's line number.
public struct CSVTable: Sendable {
    /// One data row, with the line it was on.
    public struct Row: Sendable {
        /// The row's line in the file, for errors.
        public var line: Int
        var fields: [String: String]
        /// The field in `column`, empty when the row has none.
        public subscript(_ column: String) -> String { fields[column] ?? "" }
    }

    /// The file read, for errors.
    public var file: String
    /// The header's column names, in order.
    public var columns: [String]
    /// The data rows, in file order.
    public var rows: [Row]

    /// The config error for `column` of `row`, at the row's line.
    public func error(_ row: Row, _ column: String, _ message: String) -> HubError {
        HubError.config(file: file, line: row.line, key: column, message: message)
    }

    /// Reads and parses a CSV file, which must be readable UTF-8 with the `required` columns.
    public static func load(file: String, required: [String], optional: [String]) throws(HubError) -> CSVTable {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw HubError.config(file: file, line: nil, key: "", message: "cannot read the file (missing, unreadable or not UTF-8)")
        }
        return try parse(text: text, file: file, required: required, optional: optional)
    }

    /// Parses CSV `text` with the `required` columns and any of the `optional` ones; `file` names it in errors.
    public static func parse(text: String, file: String, required: [String], optional: [String]) throws(HubError) -> CSVTable {
        var records: [(line: Int, fields: [String])] = []
        var field = ""
        var fields: [String] = []
        var inQuotes = false
        var line = 1
        var recordLine = 1
        var atRecordStart = true
        var skipping = false
        var chars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = chars.next()
        if pending == "\u{FEFF}" { pending = chars.next() }
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty) {
                records.append((recordLine, fields))
            }
            fields = []
            field = ""
            atRecordStart = true
        }
        while let c = pending {
            pending = chars.next()
            if skipping {
                if c == "\n" { skipping = false; line += 1; atRecordStart = true }
                continue
            }
            if atRecordStart {
                recordLine = line
                atRecordStart = false
                if c == "#" { skipping = true; continue }
            }
            if inQuotes {
                if c == "\"" {
                    if pending == "\"" { field.unicodeScalars.append("\""); pending = chars.next() } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\r" {
                continue
            } else if c == "\n" {
                endRecord()
                line += 1
            } else {
                field.unicodeScalars.append(c)
            }
        }
        if inQuotes { throw HubError.config(file: file, line: recordLine, key: "", message: "a quoted field is not closed") }
        if !atRecordStart || !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let header = records.first else { throw HubError.config(file: file, line: nil, key: "", message: "the file is empty: expected a header row") }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        for name in required where !columns.contains(name) {
            throw HubError.config(file: file, line: header.line, key: name, message: "missing column (the header must name \(required.joined(separator: ",")))")
        }
        for name in columns where !required.contains(name) && !optional.contains(name) {
            throw HubError.config(file: file, line: header.line, key: name, message: "unknown column (allowed: \((required + optional).joined(separator: ",")))")
        }
        var rows: [Row] = []
        for record in records.dropFirst() {
            guard record.fields.count == columns.count else {
                throw HubError.config(file: file, line: record.line, key: "", message: "expected \(columns.count) fields, found \(record.fields.count)")
            }
            var dict: [String: String] = [:]
            for (i, name) in columns.enumerated() { dict[name] = record.fields[i].trimmingCharacters(in: .whitespaces) }
            rows.append(Row(line: record.line, fields: dict))
        }
        return CSVTable(file: file, columns: columns, rows: rows)
    }
}
