import Foundation

extension NativeCameraDecoder {
    /// The usual camera event — a flat object of the known fields, every value
    /// valid — read field by field, without building a JSON object: the native
    /// format is over half of a district's traffic. Any other shape or any
    /// invalid value returns nil, and `decodeEvent` reads the payload the
    /// general way, which names the problem; values are read by the same
    /// parser routines, so an event read here equals the general path's.
    func fastEvent(camera: String, payload: [UInt8]) -> NormalizedEvent? {
        payload.withUnsafeBufferPointer { buf -> NormalizedEvent? in
            var p = JSONParser(buf: buf)
            var id: String?, type: String?, time: Date?, confidence: Double?, location: GeoPoint?, count: Int?
            var drill = false
            var seen: UInt8 = 0
            p.skipWS()
            guard p.take(UInt8(ascii: "{")) else { return nil }
            p.skipWS()
            if p.take(UInt8(ascii: "}")) { return nil } // nothing in it: the general path names the missing field
            while true {
                p.skipWS()
                guard let field = p.knownKey(Self.fields), seen & (1 << field) == 0 else { return nil }
                seen |= 1 << field
                p.skipWS()
                guard p.take(UInt8(ascii: ":")) else { return nil }
                p.skipWS()
                guard !p.peekNull() else { return nil } // null is "absent": the general path decides
                switch field {
                case 0: // id
                    guard let s = p.nonEmptyString() else { return nil }
                    id = s
                case 1: // type
                    guard let s = p.nonEmptyString() else { return nil }
                    type = s
                case 2: // time
                    guard let t = p.timeString(timeParser) else { return nil }
                    time = t
                case 3: // confidence
                    guard let d = p.numberValue(), (0...1).contains(d) else { return nil }
                    confidence = d
                case 4: // location
                    guard let l = p.location() else { return nil }
                    location = l
                case 5: // count
                    guard let d = p.numberValue(), d.rounded() == d, abs(d) < 1e15, (0...1_000_000).contains(Int(d)) else { return nil }
                    count = Int(d)
                case 6: // snapshot_url
                    guard p.peek(UInt8(ascii: "\"")), (try? p.string()) != nil else { return nil }
                case 7: // drill
                    if (try? p.literal("true")) != nil { drill = true } else if (try? p.literal("false")) != nil { drill = false } else { return nil }
                default:
                    return nil
                }
                p.skipWS()
                if p.take(UInt8(ascii: ",")) { continue }
                guard p.take(UInt8(ascii: "}")) else { return nil }
                break
            }
            p.skipWS()
            guard p.i == buf.count, let id, let type, let time,
                  let category = Category(rawValue: type), category.family == .cameraAnalytics else { return nil }
            return NormalizedEvent(
                key: "camera:\(camera):\(id)", sourceKind: .camera, source: camera, category: category,
                time: time, location: location, confidence: confidence, count: count, drill: drill)
        }
    }

    static let fields: [StaticString] = ["id", "type", "time", "confidence", "location", "count", "snapshot_url", "drill"]
}

extension JSONParser {
    @inline(__always) func peek(_ c: UInt8) -> Bool { i < buf.count && buf[i] == c }

    @inline(__always) mutating func take(_ c: UInt8) -> Bool {
        guard peek(c) else { return false }
        i += 1
        return true
    }

    func peekNull() -> Bool {
        i + 4 <= buf.count && buf[i] == UInt8(ascii: "n") && buf[i + 1] == UInt8(ascii: "u") && buf[i + 2] == UInt8(ascii: "l") && buf[i + 3] == UInt8(ascii: "l")
    }

    /// A key without escapes that is one of `names` (its index), else nil.
    mutating func knownKey(_ names: [StaticString]) -> Int? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < buf.count, buf[i] != UInt8(ascii: "\""), buf[i] != UInt8(ascii: "\\") { i += 1 }
        guard peek(UInt8(ascii: "\"")) else { return nil }
        let length = i - start
        i += 1
        for (index, name) in names.enumerated() where name.utf8CodeUnitCount == length {
            if memcmp(buf.baseAddress! + start, name.utf8Start, length) == 0 { return index }
        }
        return nil
    }

    /// A string with something in it besides spaces and tabs (`PayloadFields.requiredString`)
    /// and no NUL character (the general path strips or refuses those: `DecodeText`).
    mutating func nonEmptyString() -> String? {
        guard peek(UInt8(ascii: "\"")), let s = try? string(), s.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }),
              !DecodeText.containsNUL(s) else { return nil }
        return s
    }

    /// An RFC 3339 time in a string without escapes, parsed from its bytes.
    mutating func timeString(_ parser: TimeParser) -> Date? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < buf.count, buf[i] != UInt8(ascii: "\""), buf[i] != UInt8(ascii: "\\"), buf[i] >= 0x20, buf[i] < 0x80 { i += 1 }
        guard peek(UInt8(ascii: "\"")) else { return nil }
        let text = UnsafeBufferPointer(rebasing: buf[start..<i])
        i += 1
        // Not blank (the general path says "is empty"), then the parser's own rules.
        guard text.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return nil }
        return parser.parse(utf8: text)
    }

    mutating func numberValue() -> Double? {
        guard i < buf.count, buf[i] == UInt8(ascii: "-") || (buf[i] >= 48 && buf[i] <= 57) else { return nil }
        return try? number()
    }

    /// `{"lat": …, "lon": …, "crs": …}` as `PayloadFields.location` reads it.
    mutating func location() -> GeoPoint? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var lat: Double?, lon: Double?, crs = CoordinateSystem.wgs84
        var seen: UInt8 = 0
        skipWS()
        guard !peek(UInt8(ascii: "}")) else { return nil }
        while true {
            skipWS()
            guard let field = knownKey(Self.locationFields), seen & (1 << field) == 0 else { return nil }
            seen |= 1 << field
            skipWS()
            guard take(UInt8(ascii: ":")) else { return nil }
            skipWS()
            switch field {
            case 0: guard let d = numberValue(), (-90...90).contains(d) else { return nil }; lat = d
            case 1: guard let d = numberValue(), (-180...180).contains(d) else { return nil }; lon = d
            default:
                guard peek(UInt8(ascii: "\"")), let s = try? string(), let c = CoordinateSystem(rawValue: s.lowercased()) else { return nil }
                crs = c
            }
            skipWS()
            if take(UInt8(ascii: ",")) { continue }
            guard take(UInt8(ascii: "}")) else { return nil }
            break
        }
        guard let lat, let lon else { return nil }
        return GeoPoint(lat: lat, lon: lon, crs: crs)
    }

    static let locationFields: [StaticString] = ["lat", "lon", "crs"]
}
