import Foundation

/// A parsed JSON value, as the zone-file reader needs it.
///
/// The zone reader has its own small JSON parser rather than
/// `JSONSerialization`: on Linux, Foundation's bridging to `NSNumber` and
/// `[String: Any]` made a 100 000-feature file take over 10 s, and its
/// errors do not say where the file is broken. This one reads that file in
/// about a second and reports line and column.
enum GeoJSONNode: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([GeoJSONNode])
    case object([String: GeoJSONNode])

    subscript(key: String) -> GeoJSONNode? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var number: Double? { if case .number(let d) = self { return d }; return nil }
    var array: [GeoJSONNode]? { if case .array(let a) = self { return a }; return nil }
    var object: [String: GeoJSONNode]? { if case .object(let o) = self { return o }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }

    /// A short name of the JSON type, for messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Where and why the JSON is malformed.
struct GeoJSONSyntaxError: Error, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int
    var message: String
    var description: String { "\(message) at line \(line), column \(column)" }
}

/// A strict RFC 8259 recursive-descent parser (depth-limited) over bytes.
struct GeoJSONParser {
    private let bytes: [UInt8]  // input plus a trailing 0 so strtod always stops
    private var i = 0
    private var depth = 0
    private let end: Int

    static func parse(_ data: Data) throws(GeoJSONSyntaxError) -> GeoJSONNode {
        var p = GeoJSONParser(data)
        return try p.parseDocument()
    }

    private init(_ data: Data) {
        var b = [UInt8](data)
        end = b.count
        b.append(0)
        bytes = b
        // Skip a UTF-8 byte-order mark.
        if end >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { i = 3 }
    }

    private mutating func parseDocument() throws(GeoJSONSyntaxError) -> GeoJSONNode {
        skipSpace()
        let v = try parseValue()
        skipSpace()
        if i < end { throw fail("unexpected text after the JSON value") }
        return v
    }

    private func fail(_ message: String) -> GeoJSONSyntaxError {
        var line = 1, col = 1
        var k = 0
        while k < Swift.min(i, end) {
            if bytes[k] == 0x0A { line += 1; col = 1 } else if bytes[k] & 0xC0 != 0x80 { col += 1 }
            k += 1
        }
        return GeoJSONSyntaxError(line: line, column: col, message: message)
    }

    @inline(__always) private mutating func skipSpace() {
        while i < end {
            let c = bytes[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    private mutating func parseValue() throws(GeoJSONSyntaxError) -> GeoJSONNode {
        guard i < end else { throw fail("unexpected end of file") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character '\(Character(UnicodeScalar(bytes[i])))'")
        }
    }

    private mutating func literal(_ word: StaticString) throws(GeoJSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        let w = UnsafeBufferPointer(start: word.utf8Start, count: n)
        guard i + n <= end, bytes[i..<(i + n)].elementsEqual(w) else { throw fail("invalid literal") }
        i += n
    }

    private mutating func enter() throws(GeoJSONSyntaxError) {
        depth += 1
        if depth > 64 { throw fail("nesting deeper than 64 levels") }
    }

    private mutating func parseArray() throws(GeoJSONSyntaxError) -> GeoJSONNode {
        try enter()
        defer { depth -= 1 }
        i += 1
        var items: [GeoJSONNode] = []
        skipSpace()
        if i < end && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try parseValue())
            skipSpace()
            guard i < end else { throw fail("unexpected end of file in an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']' in an array")
        }
    }

    private mutating func parseObject() throws(GeoJSONSyntaxError) -> GeoJSONNode {
        try enter()
        defer { depth -= 1 }
        i += 1
        var members: [String: GeoJSONNode] = [:]
        skipSpace()
        if i < end && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < end, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name in quotes") }
            let key = try parseString()
            skipSpace()
            guard i < end, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after a member name") }
            i += 1
            skipSpace()
            members[key] = try parseValue()
            skipSpace()
            guard i < end else { throw fail("unexpected end of file in an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func parseString() throws(GeoJSONSyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < end {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                let s = bytes.withUnsafeBufferPointer { String(decoding: $0[start..<i], as: UTF8.self) }
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in a string") }
            i += 1
        }
        var out = [UInt8](bytes[start..<i])
        while i < end {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < end else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), i + 1 < end,
                   bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair in a string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                let u = UnicodeScalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape in a string")
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(GeoJSONSyntaxError) -> UInt32 {
        guard i + 4 <= end else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Checks the RFC 8259 number grammar, then converts with `strtod`
    /// (correctly rounded); the trailing 0 byte guarantees it stops.
    private mutating func parseNumber() throws(GeoJSONSyntaxError) -> Double {
        let start = i
        @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end, isDigit(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while i < end && isDigit(bytes[i]) { i += 1 } }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end, isDigit(bytes[i]) else { throw fail("invalid number") }
            while i < end && isDigit(bytes[i]) { i += 1 }
        }
        if i < end && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < end && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < end, isDigit(bytes[i]) else { throw fail("invalid number") }
            while i < end && isDigit(bytes[i]) { i += 1 }
        }
        return bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress!.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: i - start + 1) {
                strtod($0, nil)
            }
        }
    }
}
