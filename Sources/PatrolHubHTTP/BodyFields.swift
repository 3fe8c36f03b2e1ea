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
        // A NUL character (`\u0000`) in any string: PostgreSQL's text refuses it (a 500 there), and
        // SQLite would store a name or note no other tool reads back whole.
        if let field = o.keys.sorted().first(where: { Self.holdsNUL(o[$0]!) }) {
            throw APIError.field(field, "holds a NUL character")
        }
        object = o
    }

    /// Whether `value` or any value inside it is a string with a NUL character.
    static func holdsNUL(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): s.utf8.contains(0)
        case .array(let a): a.contains(where: holdsNUL)
        case .object(let o): o.contains { holdsNUL($0.value) }
        default: false
        }
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
