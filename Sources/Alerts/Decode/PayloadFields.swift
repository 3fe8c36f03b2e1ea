import Foundation

/// Typed access to a JSON payload's fields, throwing the dead-letter reason
/// that names the field: missing, wrong type, out of range.
///
/// Every JSON decoder (native, Frigate, ONVIF, patrol devices) reads through
/// this one type, so a dead letter names its field the same way whatever the
/// format: `field 'after.camera' is required`, `field 'parties[1]' must be a string`.
/// `null` counts as absent. A string read here loses its trailing NUL padding,
/// and one with another NUL character is `invalid_value` (`DecodeText`).
public struct PayloadFields: Sendable {
    /// The object read.
    public let object: JSONObject
    /// Where this object sits in the payload (`""` for the top level, `after`,
    /// `location`), so that nested fields are named in full in errors.
    public let path: String

    /// Parses bytes as a JSON object, or throws `malformed`.
    public init(bytes: [UInt8]) throws(HubError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw HubError.decode(.malformed, "not valid JSON: \(error)")
        }
        guard case .object(let o) = value else { throw HubError.decode(.malformed, "expected a JSON object, found \(value.typeName)") }
        object = o
        path = ""
    }

    /// Parses bytes as a JSON object, building only the fields `selection` names
    /// (the others are checked, not built); throws `malformed` as `init(bytes:)` does.
    public init(bytes: [UInt8], selecting selection: JSONSelection) throws(HubError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, selecting: selection)
        } catch {
            throw HubError.decode(.malformed, "not valid JSON: \(error)")
        }
        guard case .object(let o) = value else { throw HubError.decode(.malformed, "expected a JSON object, found \(value.typeName)") }
        object = o
        path = ""
    }

    /// Fields of `object`, at `path` in the payload (for error messages).
    public init(object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    /// The full name of a field, for error messages (`location.lat`).
    public func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The field's value, nil when it is absent or `null`.
    public func present(_ name: String) -> JSONValue? {
        guard let v = object[name] else { return nil }
        if case .null = v { return nil }
        return v
    }

    /// The error for a required field that is absent.
    public func missing(_ key: String) -> HubError {
        HubError.decode(.missingField, "field '\(name(key))' is required")
    }

    func wrongType(_ key: String, _ expected: String, _ found: JSONValue) -> HubError {
        HubError.decode(.wrongType, "field '\(name(key))' must be \(expected), found \(found.typeName)")
    }

    /// An optional string field; an error when present with another type, or
    /// holding a NUL character other than trailing padding (`DecodeText.checked`).
    public func string(_ name: String) throws(HubError) -> String? {
        guard let v = present(name) else { return nil }
        guard case .string(let s) = v else { throw wrongType(name, "a string", v) }
        return try DecodeText.checked(s, field: self.name(name))
    }

    /// Refuses a field present with another type than string; its text is not read
    /// (nor checked for NUL characters): for fields the hub accepts but does not keep.
    public func requireStringType(_ name: String) throws(HubError) {
        guard let v = present(name) else { return }
        guard case .string = v else { throw wrongType(name, "a string", v) }
    }

    /// A required string with something in it besides spaces.
    public func requiredString(_ name: String) throws(HubError) -> String {
        guard let s = try string(name) else { throw missing(name) }
        guard s.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }) else {
            throw HubError.decode(.invalidValue, "field '\(self.name(name))' is empty")
        }
        return s
    }

    /// An optional number field, checked against `range` when given.
    public func double(_ name: String, range: ClosedRange<Double>? = nil) throws(HubError) -> Double? {
        guard let v = present(name) else { return nil }
        guard case .number(let d) = v else { throw wrongType(name, "a number", v) }
        if let range, !range.contains(d) {
            throw HubError.decode(.outOfRange, "field '\(self.name(name))' must be within \(range.lowerBound)…\(range.upperBound), found \(d)")
        }
        return d
    }

    /// An optional whole-number field, checked against `range` when given.
    public func int(_ name: String, range: ClosedRange<Int>? = nil) throws(HubError) -> Int? {
        guard let d = try double(name) else { return nil }
        guard d.rounded() == d, abs(d) < 1e15 else { throw HubError.decode(.wrongType, "field '\(self.name(name))' must be a whole number, found \(d)") }
        let n = Int(d)
        if let range, !range.contains(n) {
            throw HubError.decode(.outOfRange, "field '\(self.name(name))' must be within \(range.lowerBound)…\(range.upperBound), found \(n)")
        }
        return n
    }

    /// An optional true/false field.
    public func bool(_ name: String) throws(HubError) -> Bool? {
        guard let v = present(name) else { return nil }
        guard case .bool(let b) = v else { throw wrongType(name, "true or false", v) }
        return b
    }

    /// A nested object, whose fields are then named `name.field` in errors.
    public func object(_ name: String) throws(HubError) -> PayloadFields? {
        guard let v = present(name) else { return nil }
        guard case .object(let o) = v else { throw wrongType(name, "an object", v) }
        return PayloadFields(object: o, path: self.name(name))
    }

    /// A value from a closed set of strings (`method`, `kind`, `type`).
    public func enumeration<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws(HubError) -> T?
    where T.RawValue == String {
        guard let raw = try string(name) else { return nil }
        guard let value = T(rawValue: raw) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw HubError.decode(.invalidValue, "field '\(self.name(name))' must be one of \(allowed), found '\(raw.prefix(40))'")
        }
        return value
    }

    /// A required time field, read with `parser`.
    public func requiredTime(_ name: String, parser: TimeParser) throws(HubError) -> Date {
        let text = try requiredString(name)
        guard let date = parser.parse(text) else { throw HubError.decode(.invalidValue, "field '\(self.name(name))' is not an RFC 3339 time: '\(text.prefix(40))'") }
        return date
    }

    /// An optional array of strings.
    public func stringArray(_ name: String) throws(HubError) -> [String]? {
        guard let v = present(name) else { return nil }
        guard case .array(let a) = v else { throw wrongType(name, "an array of strings", v) }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for (index, item) in a.enumerated() {
            guard case .string(let s) = item else { throw wrongType("\(name)[\(index)]", "a string", item) }
            out.append(try DecodeText.checked(s, field: self.name("\(name)[\(index)]")))
        }
        return out
    }

    /// `{"lat": .., "lon": .., "crs": "wgs84"|"gcj02"|"bd09"}`, crs defaulting to wgs84.
    public func location(_ name: String = "location") throws(HubError) -> GeoPoint? {
        guard let v = present(name) else { return nil }
        guard case .object(let o) = v else { throw wrongType(name, "an object {lat, lon, crs}", v) }
        let f = PayloadFields(object: o, path: self.name(name))
        guard let lat = try f.double("lat") else { throw f.missing("lat") }
        guard let lon = try f.double("lon") else { throw f.missing("lon") }
        guard (-90...90).contains(lat) else { throw HubError.decode(.outOfRange, "field '\(f.name("lat"))' must be within -90…90, found \(lat)") }
        guard (-180...180).contains(lon) else { throw HubError.decode(.outOfRange, "field '\(f.name("lon"))' must be within -180…180, found \(lon)") }
        let crsText = try f.string("crs") ?? "wgs84"
        guard let crs = CoordinateSystem(rawValue: crsText.lowercased()) else {
            throw HubError.decode(.invalidValue, "field '\(f.name("crs"))' must be wgs84, gcj02 or bd09, found '\(crsText.prefix(40))'")
        }
        return GeoPoint(lat: lat, lon: lon, crs: crs)
    }
}
