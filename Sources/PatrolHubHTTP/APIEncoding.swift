import Alerts
import Foundation
import Hummingbird

/// The one JSON encoder of the API: keys sorted (stable output, as the
/// store's `JSONValue` writes it), `/` unescaped, times as RFC 3339 in UTC
/// with milliseconds (`Date.rfc3339`, as every PatrolHub output).
enum APIEncoding {
    /// The encoder (configured once, never changed after: safe to share between requests).
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.rfc3339)
        }
        return e
    }()

    /// `value` as JSON.
    static func buffer(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try encoder.encode(value))
    }
}

/// Hummingbird's response encoder for `HubRequestContext`: `APIEncoding`'s
/// JSON and a final newline, as `application/json; charset=utf-8`. Every
/// `ResponseEncodable` a route returns goes through it.
struct APIResponseEncoder: ResponseEncoder {
    func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        var buffer = try APIEncoding.buffer(value)
        buffer.writeString("\n")
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: buffer))
    }
}

/// A property written as `null` when nil (Swift's synthesized `Encodable`
/// leaves nil properties out; the API's objects always carry every field).
@propertyWrapper
struct Null<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

/// A `JSONValue` (GeoJSON geometry, an action's detail) inside a response.
struct AnyJSON: Encodable, Sendable {
    var value: JSONValue

    init(_ value: JSONValue) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let d):
            var c = encoder.singleValueContainer()
            // Whole numbers as integers, as `JSONValue.serialized` writes them.
            if d.rounded() == d, abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for v in a { try c.encode(AnyJSON(v)) }
        case .object(let o):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in o.members { try c.encode(AnyJSON(v), forKey: AnyKey(k)) }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
