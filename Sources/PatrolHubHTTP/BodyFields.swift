import Alerts
import Hummingbird

/// The fields of a JSON request body, read the way every write route reads
/// them: an object with only `known` keys; a field that is absent or `null`
/// is nil; a wrong type is a 400 naming the field.
struct BodyFields {
    let object: JSONObject

    init(_ body: JSONValue, known: Set<String>) throws {
        guard case .object(let o) = body else { throw APIError.badRequest("the body must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.field(unknown, "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
        object = o
    }

    /// The field's value, nil when absent or `null`.
    func value(_ key: String) -> JSONValue? {
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw APIError.field(key, "expected a string, found \(v.typeName)") }
        return s
    }
}
