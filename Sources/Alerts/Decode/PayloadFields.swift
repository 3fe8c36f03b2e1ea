import Foundation

/// Typed access to a JSON payload's top-level fields, throwing the
/// dead-letter reason that names the field: missing, wrong type, out of range.
public struct PayloadFields: Sendable {
    public let object: [String: JSONValue]

    /// Parses bytes as a JSON object, or throws `malformed`.
    public init(bytes: [UInt8]) throws(DecodeError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw DecodeError(.malformed, "not valid JSON: \(error)")
        }
        guard case .object(let o) = value else { throw DecodeError(.malformed, "expected a JSON object, found \(value.typeName)") }
        object = o
    }

    public init(object: [String: JSONValue]) { self.object = object }

    func present(_ name: String) -> JSONValue? {
        guard let v = object[name], v != .null else { return nil }
        return v
    }

    public func string(_ name: String) throws(DecodeError) -> String? {
        guard let v = present(name) else { return nil }
        guard case .string(let s) = v else { throw DecodeError(.wrongType, "field '\(name)' must be a string, found \(v.typeName)") }
        return s
    }

    public func requiredString(_ name: String) throws(DecodeError) -> String {
        guard let s = try string(name) else { throw DecodeError(.missingField, "field '\(name)' is required") }
        guard !s.isEmpty else { throw DecodeError(.invalidValue, "field '\(name)' is empty") }
        return s
    }

    public func double(_ name: String, range: ClosedRange<Double>? = nil) throws(DecodeError) -> Double? {
        guard let v = present(name) else { return nil }
        guard case .number(let d) = v else { throw DecodeError(.wrongType, "field '\(name)' must be a number, found \(v.typeName)") }
        if let range, !range.contains(d) { throw DecodeError(.outOfRange, "field '\(name)' must be within \(range.lowerBound)…\(range.upperBound), found \(d)") }
        return d
    }

    public func int(_ name: String, range: ClosedRange<Int>? = nil) throws(DecodeError) -> Int? {
        guard let d = try double(name) else { return nil }
        guard d.rounded() == d, abs(d) < 1e15 else { throw DecodeError(.wrongType, "field '\(name)' must be a whole number, found \(d)") }
        let n = Int(d)
        if let range, !range.contains(n) { throw DecodeError(.outOfRange, "field '\(name)' must be within \(range.lowerBound)…\(range.upperBound), found \(n)") }
        return n
    }

    public func bool(_ name: String) throws(DecodeError) -> Bool? {
        guard let v = present(name) else { return nil }
        guard case .bool(let b) = v else { throw DecodeError(.wrongType, "field '\(name)' must be true or false, found \(v.typeName)") }
        return b
    }

    public func requiredTime(_ name: String, parser: TimeParser) throws(DecodeError) -> Date {
        let text = try requiredString(name)
        guard let date = parser.parse(text) else { throw DecodeError(.invalidValue, "field '\(name)' is not an RFC 3339 time: '\(text.prefix(40))'") }
        return date
    }

    public func stringArray(_ name: String) throws(DecodeError) -> [String]? {
        guard let v = present(name) else { return nil }
        guard case .array(let a) = v else { throw DecodeError(.wrongType, "field '\(name)' must be an array of strings, found \(v.typeName)") }
        var out: [String] = []
        for item in a {
            guard case .string(let s) = item else { throw DecodeError(.wrongType, "field '\(name)' must be an array of strings, found \(item.typeName) in it") }
            out.append(s)
        }
        return out
    }

    /// `{"lat": .., "lon": .., "crs": "wgs84"|"gcj02"|"bd09"}`, crs defaulting to wgs84.
    public func location(_ name: String = "location") throws(DecodeError) -> GeoPoint? {
        guard let v = present(name) else { return nil }
        guard case .object(let o) = v else { throw DecodeError(.wrongType, "field '\(name)' must be an object {lat, lon, crs}, found \(v.typeName)") }
        let f = PayloadFields(object: o)
        guard let lat = try f.double("lat") else { throw DecodeError(.missingField, "field '\(name).lat' is required") }
        guard let lon = try f.double("lon") else { throw DecodeError(.missingField, "field '\(name).lon' is required") }
        guard (-90...90).contains(lat) else { throw DecodeError(.outOfRange, "field '\(name).lat' must be within -90…90, found \(lat)") }
        guard (-180...180).contains(lon) else { throw DecodeError(.outOfRange, "field '\(name).lon' must be within -180…180, found \(lon)") }
        let crsText = try f.string("crs") ?? "wgs84"
        guard let crs = CoordinateSystem(rawValue: crsText.lowercased()) else {
            throw DecodeError(.invalidValue, "field '\(name).crs' must be wgs84, gcj02 or bd09, found '\(crsText)'")
        }
        return GeoPoint(lat: lat, lon: lon, crs: crs)
    }
}
