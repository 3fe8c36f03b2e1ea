import Foundation

/// A parsed JSON value: what `JSONParser` builds, for payloads, zone files
/// and the hub's own small files alike.
///
/// PatrolHub parses JSON with its own small parser instead of
/// `JSONSerialization`/`JSONDecoder`: it runs once per event on the hot path,
/// it must tell "wrong type" from "missing" precisely for dead letters, it
/// must never trap on hostile input (depth and size are bounded), and a
/// person fixing a file needs the line and column of a syntax error. On
/// Linux, Foundation's bridging to `NSNumber` and `[String: Any]` also made a
/// 100 000-feature zone file take over 10 s; this parser reads it in about a
/// second.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type name used in error messages ("expected a string, found a number").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The member `key` of an object; nil for a missing key or a value that is not an object.
    public subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The text of a string value, nil for any other.
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// The number of a number value, nil for any other.
    public var doubleValue: Double? { if case .number(let d) = self { return d }; return nil }
    /// The value of a boolean, nil for any other.
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The elements of an array, nil for any other value.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    /// The members of an object, nil for any other value.
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    /// Whether this is JSON `null`.
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Serialises compactly with sorted keys (stable output for tests and hashes).
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if d.rounded() == d, abs(d) < 1e15 { out += String(Int64(d)) } else { out += String(d) }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, m) in o.members.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(m.key, to: &out)
                out += ":"
                m.value.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Copies runs of bytes that need no escaping in one go (most strings are one run).
        let u = s.utf8
        var runStart = u.startIndex
        var i = u.startIndex
        while i != u.endIndex {
            let b = u[i]
            if b < 0x20 || b == 0x22 || b == 0x5C {
                if runStart != i { out += Substring(u[runStart..<i]) }
                switch b {
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                default:
                    out += "\\u" + HubFormat.zeroPadded(b, width: 4, radix: 16)
                }
                runStart = u.index(after: i)
            }
            i = u.index(after: i)
        }
        if runStart != u.endIndex { out += Substring(u[runStart...]) }
        out += "\""
    }
}

/// Which members of a JSON object to build (`JSONParser.parse(_:selecting:)`).
public indirect enum JSONSelection: Sendable {
    /// The whole value.
    case all
    /// An object's named members, each built by its own selection; the others are checked and skipped.
    case members([Member])

    /// One member to build, and how much of it.
    public struct Member: Sendable {
        /// The member's key.
        public let name: String
        /// `name`'s UTF-8, compared with a key's bytes.
        let bytes: [UInt8]
        /// What of the member's value to build.
        public let selection: JSONSelection
        /// Selects member `name`, whole by default.
        public init(_ name: String, _ selection: JSONSelection = .all) {
            self.name = name
            self.bytes = Array(name.utf8)
            self.selection = selection
        }
    }

    /// An object's members by name, each built whole.
    public static func fields(_ names: [String]) -> JSONSelection { .members(names.map { Member($0) }) }
}

extension HubError.Code {
    /// Bytes that are not JSON (RFC 8259); the context has the place: `offset`, `line`, `column`.
    public static let jsonSyntax = Self("json_syntax")
}

extension HubError {
    /// Why bytes are not JSON, at the 0-based byte `offset` (line and column
    /// 1-based, the column counted in characters); renders as `"<message> at byte <offset>"`,
    /// and a file's reader names line and column instead.
    static func jsonSyntax(_ message: String, offset: Int, line: Int, column: Int) -> HubError {
        HubError(.jsonSyntax, message, context: Context(line: line, column: column, offset: offset),
                 description: "\(message) at byte \(offset)")
    }
}

/// The hub's one JSON parser: strict RFC 8259 over UTF-8 bytes, nesting
/// limited to `maxDepth` (hostile payloads cannot overflow the stack),
/// strings validated as UTF-8, every error a `HubError` of code `.jsonSyntax`
/// with its byte offset, line and column.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maxDepth = 64

    /// Parses bytes that must be one JSON value (a UTF-8 byte-order mark is skipped).
    public static func parse(_ bytes: [UInt8]) throws(HubError) -> JSONValue {
        try parse(bytes, selecting: .all)
    }

    /// Parses text that must be one JSON value.
    public static func parse(_ text: String) throws(HubError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses bytes that must be a JSON object, building only the members
    /// `selection` names (nested objects by their own selection); the other
    /// members are checked as strictly as `parse` checks them but not built.
    /// An adapter that reads a dozen fields of a large payload (Frigate's two
    /// tracked objects carry boxes, regions, snapshots) skips the rest.
    public static func parse(_ bytes: [UInt8], selecting selection: JSONSelection) throws(HubError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buf) throws(HubError) -> JSONValue in
            var p = JSONParser(buf: buf)
            if buf.count >= 3, buf[0] == 0xEF, buf[1] == 0xBB, buf[2] == 0xBF { p.i = 3 }
            p.skipWS()
            let v = try p.value(depth: 0, selecting: selection)
            p.skipWS()
            guard p.i == buf.count else { throw p.fail("unexpected data after the JSON value") }
            return v
        }
    }

    let buf: UnsafeBufferPointer<UInt8>
    var i = 0
    /// 10^0 … 10^22, each exact (a product of exact values below 2^53 · 2^k).
    static let powersOfTen: [Double] = (0...22).reduce(into: []) { acc, k in acc.append(k == 0 ? 1 : acc[k - 1] * 10) }

    init(buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    /// The error at the current position; line and column are counted only now, on the error path.
    func fail(_ message: String) -> HubError {
        var line = 1, column = 1
        var k = 0
        let end = Swift.min(i, buf.count)
        while k < end {
            if buf[k] == 0x0A { line += 1; column = 1 } else if buf[k] & 0xC0 != 0x80 { column += 1 }
            k += 1
        }
        return .jsonSyntax(message, offset: i, line: line, column: column)
    }

    @inline(__always) mutating func skipWS() {
        while i < buf.count {
            let c = buf[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    mutating func value(depth: Int) throws(HubError) -> JSONValue {
        guard depth < Self.maxDepth else { throw fail("nested too deeply") }
        guard i < buf.count else { throw fail("unexpected end of input") }
        switch buf[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipWS()
            if i < buf.count, buf[i] == UInt8(ascii: "}") { i += 1; return .object([:]) }
            var members: [JSONObject.Element] = []
            members.reserveCapacity(8)
            while true {
                skipWS()
                guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWS()
                guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWS()
                members.append((key, try value(depth: depth + 1)))
                skipWS()
                guard i < buf.count else { throw fail("unexpected end of input in an object") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(JSONObject(unique: JSONObject.lastWins(members))) // a repeated key: the last wins
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var arr: [JSONValue] = []
            skipWS()
            if i < buf.count, buf[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
            while true {
                skipWS()
                arr.append(try value(depth: depth + 1))
                skipWS()
                guard i < buf.count else { throw fail("unexpected end of input in an array") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    /// A value, built as `selection` says: an object keeps only the members it names.
    mutating func value(depth: Int, selecting selection: JSONSelection) throws(HubError) -> JSONValue {
        guard case .members(let wanted) = selection, i < buf.count, buf[i] == UInt8(ascii: "{") else { return try value(depth: depth) }
        guard depth < Self.maxDepth else { throw fail("nested too deeply") }
        i += 1
        skipWS()
        if i < buf.count, buf[i] == UInt8(ascii: "}") { i += 1; return .object([:]) }
        var members: [JSONObject.Element] = []
        members.reserveCapacity(wanted.count)
        while true {
            skipWS()
            guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            // A plain key is matched on its bytes; only a wanted one becomes a string.
            var wantedIndex: Int?
            var key = ""
            if let plain = plainString() {
                wantedIndex = wanted.firstIndex { m in
                    m.bytes.count == plain.count && m.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, plain.baseAddress!, plain.count) == 0 }
                }
                if let w = wantedIndex { key = wanted[w].name }
            } else {
                key = try string()
                wantedIndex = wanted.firstIndex { $0.name == key }
            }
            skipWS()
            guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipWS()
            if let w = wantedIndex {
                members.append((key, try value(depth: depth + 1, selecting: wanted[w].selection)))
            } else {
                try skipValue(depth: depth + 1)
            }
            skipWS()
            guard i < buf.count else { throw fail("unexpected end of input in an object") }
            if buf[i] == UInt8(ascii: ",") { i += 1; continue }
            if buf[i] == UInt8(ascii: "}") {
                i += 1
                return .object(JSONObject(unique: JSONObject.lastWins(members)))
            }
            throw fail("expected ',' or '}'")
        }
    }

    /// Checks a value as `value` would, without building it.
    mutating func skipValue(depth: Int) throws(HubError) {
        guard depth < Self.maxDepth else { throw fail("nested too deeply") }
        guard i < buf.count else { throw fail("unexpected end of input") }
        switch buf[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipWS()
            if i < buf.count, buf[i] == UInt8(ascii: "}") { i += 1; return }
            while true {
                skipWS()
                guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                try skipString()
                skipWS()
                guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWS()
                try skipValue(depth: depth + 1)
                skipWS()
                guard i < buf.count else { throw fail("unexpected end of input in an object") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "}") { i += 1; return }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            skipWS()
            if i < buf.count, buf[i] == UInt8(ascii: "]") { i += 1; return }
            while true {
                skipWS()
                try skipValue(depth: depth + 1)
                skipWS()
                guard i < buf.count else { throw fail("unexpected end of input in an array") }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                if buf[i] == UInt8(ascii: "]") { i += 1; return }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        default:
            try skipNumber()
        }
    }

    /// At a string of printable ASCII without escapes: its bytes (the position moves past it); else nil (the position stays).
    mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
        var k = i + 1
        while k < buf.count {
            let c = buf[k]
            if c == UInt8(ascii: "\"") {
                defer { i = k + 1 }
                return UnsafeBufferPointer(rebasing: buf[(i + 1)..<k])
            }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { return nil }
            k += 1
        }
        return nil
    }

    /// Checks a number's grammar as `number` does; converts it only when it could be out of range.
    mutating func skipNumber() throws(HubError) {
        let start = i
        var k = i
        if k < buf.count, buf[k] == UInt8(ascii: "-") { k += 1 }
        while k < buf.count, (buf[k] >= 48 && buf[k] <= 57) || buf[k] == UInt8(ascii: ".") { k += 1 }
        // An exponent or hundreds of digits may overflow: let `number` check it (and every odd case).
        if k < buf.count, buf[k] == UInt8(ascii: "e") || buf[k] == UInt8(ascii: "E") || k - start > 300 {
            _ = try number()
            return
        }
        _ = try number(convert: false)
    }

    /// Checks a string as `string` would: a plain ASCII one is only scanned, any other is decoded (and dropped).
    mutating func skipString() throws(HubError) {
        var k = i + 1
        while k < buf.count {
            let c = buf[k]
            if c == UInt8(ascii: "\"") { i = k + 1; return }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { break }
            k += 1
        }
        _ = try string()
    }

    mutating func literal(_ word: StaticString) throws(HubError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= buf.count else { throw fail("invalid literal") }
        let w = word.utf8Start
        for k in 0..<n where buf[i + k] != w[k] { throw fail("invalid literal") }
        i += n
    }

    /// A number; `convert: false` checks the grammar only (for a number without exponent and of at most 300 characters, which cannot be out of range) and returns 0.
    mutating func number(convert: Bool = true) throws(HubError) -> Double {
        let start = i
        if i < buf.count, buf[i] == UInt8(ascii: "-") { i += 1 }
        guard i < buf.count, buf[i] >= 48, buf[i] <= 57 else { throw fail("invalid value") }
        if buf[i] == 48 { i += 1 } else { while i < buf.count, buf[i] >= 48, buf[i] <= 57 { i += 1 } }
        var simple = true
        var fractionStart = -1
        if i < buf.count, buf[i] == UInt8(ascii: ".") {
            simple = false
            i += 1
            fractionStart = i
            guard i < buf.count, buf[i] >= 48, buf[i] <= 57 else { throw fail("invalid number") }
            while i < buf.count, buf[i] >= 48, buf[i] <= 57 { i += 1 }
        }
        var exponent = false
        if i < buf.count, buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E") {
            simple = false
            exponent = true
            i += 1
            if i < buf.count, buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-") { i += 1 }
            guard i < buf.count, buf[i] >= 48, buf[i] <= 57 else { throw fail("invalid number") }
            while i < buf.count, buf[i] >= 48, buf[i] <= 57 { i += 1 }
        }
        if !convert { return 0 }
        if fractionStart > 0, !exponent, i - start < 17 {
            // A decimal of at most 15 digits: the digits as an integer (exact below 2^53) divided by
            // a power of ten (exact up to 10^22) is the correctly rounded value, as strtod's.
            var v: Int64 = 0
            var k = start
            let neg = buf[k] == UInt8(ascii: "-")
            if neg { k += 1 }
            while k < i {
                if buf[k] != UInt8(ascii: ".") { v = v * 10 + Int64(buf[k] - 48) }
                k += 1
            }
            let d = Double(v) / Self.powersOfTen[i - fractionStart]
            return neg ? -d : d
        }
        if simple, i - start < 16 {
            var v: Int64 = 0
            var k = start
            let neg = buf[k] == UInt8(ascii: "-")
            if neg { k += 1 }
            while k < i { v = v * 10 + Int64(buf[k] - 48); k += 1 }
            return Double(neg ? -v : v)
        }
        // Long decimals (coordinates of zone files), exponents: strtod (correctly rounded) on a
        // NUL-terminated copy; the grammar is checked above, so it reads exactly these bytes.
        let count = i - start
        let d: Double
        if count < 128 {
            d = withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { tmp in
                for k in 0..<count { tmp[k] = CChar(bitPattern: buf[start + k]) }
                tmp[count] = 0
                return strtod(tmp.baseAddress!, nil)
            }
        } else {
            guard let v = Double(String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)) else { throw fail("number out of range") }
            d = v
        }
        guard d.isFinite else { throw fail("number out of range") }
        return d
    }

    mutating func string() throws(HubError) -> String {
        i += 1 // opening quote
        let start = i
        // Fast path: no escapes. ASCII needs no validation (and `String(validating:)`
        // is not specialised: it looked up generic metadata for every string).
        var ascii = true
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buf[start..<i])
                i += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in a string") }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: buf[start..<i]))
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < buf.count else { break }
                let e = buf[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < buf.count, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw fail("invalid escape")
                }
                continue
            }
            bytes.append(c)
            i += 1
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws(HubError) -> UInt32 {
        guard i + 4 <= buf.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
