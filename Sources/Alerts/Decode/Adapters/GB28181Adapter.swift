import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Decodes GB/T 28181 alarm `Notify` XML as a SIP gateway forwards it on
/// `{prefix}/gb28181/{device}/alarm`.
///
/// ```xml
/// <?xml version="1.0" encoding="GB2312"?>
/// <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>34020000001320000001</DeviceID>
/// <AlarmPriority>2</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2024-01-02T15:04:05</AlarmTime>
/// <Info><AlarmType>6</AlarmType></Info></Notify>
/// ```
///
/// Tolerances, because real gateways and platforms differ:
/// - **Encoding.** The declaration usually says GB2312, but gateways send GB2312/GBK/
///   GB18030 bytes or UTF-8 regardless. Bytes that are valid UTF-8 are read as
///   UTF-8 (GB text is almost never valid UTF-8); anything else is read as
///   GB18030, a superset of GB2312 and GBK. The declaration is ignored.
/// - **Tag case.** Tags match case-insensitively (`<info>`, `<cmdType>`), namespace prefixes ignored.
/// - **`null`.** An element whose text is `null` (any case) is absent: wvp-GB28181-pro
///   cascades write missing values so (`<AlarmType>null</AlarmType>`).
/// - **CmdType.** Optional (the topic already says alarm; wvp's own tests send none);
///   one naming another command is refused.
/// - **Layout.** `AlarmType` is read from `Info` or, failing that, from `Notify`;
///   `EventType` from `Info/AlarmTypeParam`, `Info`, `Notify/AlarmTypeParam` or `Notify`;
///   `Description` is accepted for `AlarmDescription`.
/// - **Times.** `AlarmTime` as devices write it (`TimeParser.parseDeviceTime`: unpadded
///   fields, a space or `T`, fractions, `+08:00`/`+0800`); without an offset it is read
///   in `options.timeZone`. An unset clock (`0000-00-00T00:00:00`) is the receive time
///   (`timeSource = .received`), which then stands in the key for the bogus time.
/// - **Combined methods.** `AlarmMethod` `2/5`, `2,5` or `25` (the combined form
///   GB/T 28181 uses in queries) is one alarm reported through several methods:
///   one event is emitted, for the first method in `methodPrecedence` for which
///   the `AlarmType` is defined (or ignored), else the first present method.
/// - **Coordinates.** `Longitude`/`Latitude` in `mapping.coordinateSystem`; both
///   zero, or either missing, means no location.
///
/// What an alarm becomes:
/// - A camera-health category (`camera_offline`, `camera_tampered`, `camera_degraded`)
///   is a `.cameraStatus` (`signal_lost`, `tampered`, `degraded`), as the native status
///   topic reports it; its leave (`EventType` 2) is `.cameraStatus(.online)`.
/// - Any other category is a `.detection`; with `EventType` 1 (enter) it opens the
///   lifecycle `gb28181:{DeviceID}:{method}:{type}`, which the leave (`EventType` 2)
///   ends with `.end`. Without `EventType` it is one-shot.
/// - `AlarmPriority` 1–4 is `vendorPriority`, a hint the rules combine with the
///   category's configured severity (`mapping.priority` `.ignore` drops it); the
///   event's own severity is the category's.
///
/// The key is `gb28181:{DeviceID}:{AlarmTime}:{AlarmType}:{AlarmMethod}`, plus `:enter`
/// or `:leave` when `EventType` says so.
public struct GB28181Adapter: EventAdapter {
    /// Which alarm codes become which categories.
    public var mapping: GB28181Mapping
    /// Topic prefix, time zone (AlarmTime has no offset) and payload limit.
    public var options: AdapterOptions { didSet { derived = AdapterOptions.Derived(options) } }
    private var derived: AdapterOptions.Derived
    /// Maps a GB/T 28181 `DeviceID` (or the device in the topic) to a registered camera id.
    public var resolver: SourceResolver
    /// When set, the registered cameras (`DecodeStage` passes the registry's): a
    /// topic naming one of them, and not a forwarding device (`GBIdentifier.isForwarder`),
    /// is that camera speaking, and a `DeviceID` naming another registered camera is `id_mismatch`.
    public var topicCamera: SourceResolver?

    /// An adapter with the Annex A mapping unless given.
    public init(
        mapping: GB28181Mapping = GB28181Mapping(), options: AdapterOptions = AdapterOptions(),
        resolver: SourceResolver = .identity
    ) {
        self.mapping = mapping
        self.options = options
        self.derived = AdapterOptions.Derived(options)
        self.resolver = resolver
    }

    /// GB/T 28181-2016 `AlarmTypeParam/EventType`.
    enum EventType: Int {
        case enter = 1
        case leave = 2
    }

    /// Decodes one alarm `Notify`.
    ///
    /// The source is the `DeviceID` in the XML (the alarming channel); when the
    /// resolver does not know it, the device in the topic (the gateway or NVR that
    /// forwarded it) is tried, and only when neither is registered is the alarm
    /// dead-lettered as `unknown_source`.
    ///
    /// - Throws: `malformed` (not XML, not decodable text), `invalid_value` (root is
    ///   not `Notify`, `CmdType` is not `Alarm`, unknown method, bad time),
    ///   `missing_field`, `wrong_type` (non-numeric numbers), `out_of_range`
    ///   (priority outside 1–4, coordinates), `unknown_source`.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        guard case .gb28181Alarm(let topicDevice)? = derived.router.route(topic) else {
            throw HubError.decode(.unknownTopic, "\(topic) is not {prefix}/gb28181/{device}/alarm")
        }
        try checkSize(payload, options)
        let root = try XMLElementTree.parse(Self.text(of: payload))
        guard root.name == "notify" else {
            throw HubError.decode(.invalidValue, "root element is <\(root.originalName)>, expected <Notify>")
        }
        if let cmdType = try root.value("CmdType"), cmdType.lowercased() != "alarm" {
            throw HubError.decode(.invalidValue, "CmdType is \"\(cmdType)\", expected \"Alarm\"")
        }
        let deviceID = try root.required("DeviceID")
        let priority = try priority(root)
        let methodText = try root.required("AlarmMethod")
        let methods = try Self.methods(methodText)
        let timeText = try root.required("AlarmTime")
        let time: Date, timeSource: TimeSource
        if TimeParser.isUnsetClock(timeText) {
            (time, timeSource) = (receivedAt, .received)
        } else if let parsed = derived.timeParser.parseDeviceTime(timeText) {
            (time, timeSource) = (parsed, .device)
        } else {
            throw HubError.decode(.invalidValue, "AlarmTime: \"\(timeText.prefix(64))\" is not a time (expected 2024-01-02T15:04:05)")
        }
        let info = root.child("Info")
        var typeText = try info?.value("AlarmType")
        if typeText == nil { typeText = try root.value("AlarmType") }
        let type = try typeText.map { (text) throws(HubError) in try Self.integer(text, field: "AlarmType") }
        let eventType = try eventType(root, info: info)
        let location = try location(root)

        let channel = resolver(deviceID)
        guard let source = channel ?? resolver(topicDevice) else {
            throw HubError.decode(
                .unknownSource, "GB/T 28181 DeviceID \"\(deviceID)\" (via \"\(topicDevice)\") is not registered")
        }
        // An NVR, gateway or platform forwards its channels' alarms: their DeviceID differs from
        // the topic. A registered camera that is none of these speaks for itself only (an
        // unregistered DeviceID, e.g. its own channel id, still falls back to it).
        if let topicCamera, let channel, let speaker = topicCamera(topicDevice), speaker != channel,
           !GBIdentifier.isForwarder(topicDevice) {
            throw HubError.decode(.idMismatch, "DeviceID \"\(deviceID.prefix(40))\" is camera \(channel), but the topic is camera \(speaker)'s own (\"\(topicDevice.prefix(40))\"): a camera publishes only its own alarms; forward other cameras' alarms under an NVR's or gateway's id")
        }
        let method = chooseMethod(methods, type: type)
        if let type, mapping.ignored.contains(GBAlarmCode(method: method, type: type)) { return [] }
        let category: Category
        if let type, let mapped = mapping.alarmTypes[GBAlarmCode(method: method, type: type)] {
            category = mapped
        } else if let fallback = mapping.methodDefaults[method] {
            category = fallback
        } else {
            throw HubError.decode(.invalidValue, "AlarmMethod \(method) (type \(typeText ?? "none")) has no mapping")
        }
        let methodKey = methods.map(String.init).joined(separator: "/")
        var description = try root.value("AlarmDescription")
        if description == nil { description = try root.value("Description") }
        // Not GB/T 28181's: a simulator marks drill traffic with <Drill>true</Drill> (docs/ADAPTERS.md).
        let drill = try root.value("Drill").map { ["true", "1"].contains($0.lowercased()) } ?? false

        // An unset clock would key every such alarm alike: the receive time stands in for it.
        let timeKey = timeSource == .device ? timeText : "received-\(Int64((receivedAt.timeIntervalSince1970 * 1000).rounded(.down)))"
        var key = "gb28181:\(deviceID):\(timeKey):\(typeText ?? ""):\(methodKey)"
        if let eventType { key += eventType == .enter ? ":enter" : ":leave" }
        let kind: NormalizedEvent.Kind
        var lifecycle: String?
        if let status = Self.healthStatus(category) {
            kind = .cameraStatus(eventType == .leave ? .online : status)
        } else {
            kind = eventType == .leave ? .end : .detection
            if eventType != nil { lifecycle = "gb28181:\(deviceID):\(method):\(type.map(String.init) ?? "")" }
        }
        return [
            NormalizedEvent(
                key: key, kind: kind, sourceKind: .camera, source: source, category: category, time: time,
                location: location, drill: drill, lifecycle: lifecycle, description: description, format: "gb28181",
                timeSource: timeSource, vendorPriority: mapping.priority == .hint ? priority : nil)
        ]
    }

    /// The camera status a camera-health category reports, nil for any other category.
    static func healthStatus(_ category: Category) -> CameraStatus? {
        switch category {
        case .cameraOffline: return .signalLost
        case .cameraTampered: return .tampered
        case .cameraDegraded: return .degraded
        default: return nil
        }
    }

    /// `AlarmPriority`, nil when absent or 0 (the category's severity then applies): the
    /// standard defines 1–4, and devices with no priority configured send 0.
    private func priority(_ root: XMLElementTree) throws(HubError) -> Severity? {
        guard let text = try root.value("AlarmPriority") else { return nil }
        let value = try Self.integer(text, field: "AlarmPriority")
        guard value != 0 else { return nil }
        guard let severity = Severity(rawValue: value) else {
            throw HubError.decode(.outOfRange, "AlarmPriority: \(value) is outside 1…4")
        }
        return severity
    }

    /// `EventType` (GB/T 28181-2016 `Info/AlarmTypeParam/EventType`, also found directly under
    /// `Info` or at the `Notify` level): 1 enter, 2 leave; absent or another number: one-shot.
    private func eventType(_ root: XMLElementTree, info: XMLElementTree?) throws(HubError) -> EventType? {
        var text = try info?.child("AlarmTypeParam")?.value("EventType")
        if text == nil { text = try info?.value("EventType") }
        if text == nil { text = try root.child("AlarmTypeParam")?.value("EventType") }
        if text == nil { text = try root.value("EventType") }
        guard let text else { return nil }
        return EventType(rawValue: try Self.integer(text, field: "EventType"))
    }

    private func location(_ root: XMLElementTree) throws(HubError) -> GeoPoint? {
        guard let lonText = try root.value("Longitude"), let latText = try root.value("Latitude") else { return nil }
        guard let lon = Double(decimal: lonText), lon.isFinite else {
            throw HubError.decode(.wrongType, "Longitude: expected a decimal number, got \"\(lonText)\"")
        }
        guard let lat = Double(decimal: latText), lat.isFinite else {
            throw HubError.decode(.wrongType, "Latitude: expected a decimal number, got \"\(latText)\"")
        }
        if lat == 0 && lon == 0 { return nil }
        guard (-90...90).contains(lat) else { throw HubError.decode(.outOfRange, "Latitude: \(lat) is outside -90…90") }
        guard (-180...180).contains(lon) else {
            throw HubError.decode(.outOfRange, "Longitude: \(lon) is outside -180…180")
        }
        return GeoPoint(lat: lat, lon: lon, crs: mapping.coordinateSystem)
    }

    /// The method an alarm is classified under (see the type's documentation).
    private func chooseMethod(_ methods: [Int], type: Int?) -> Int {
        guard methods.count > 1 else { return methods[0] }
        let ordered =
            mapping.methodPrecedence.filter(methods.contains) + methods.filter { !mapping.methodPrecedence.contains($0) }
        if let type {
            let defined = ordered.first { method in
                let code = GBAlarmCode(method: method, type: type)
                return mapping.alarmTypes[code] != nil || mapping.ignored.contains(code)
            }
            if let defined { return defined }
        }
        return ordered[0]
    }

    /// `5`, `2/5`, `2,5`, `25` → the distinct methods in order; each must be 1–7.
    static func methods(_ text: String) throws(HubError) -> [Int] {
        var methods: [Int] = []
        for byte in text.utf8 { // separators and digits are ASCII: anything else is refused
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "|") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: " ") { continue }
            guard byte >= UInt8(ascii: "1"), byte <= UInt8(ascii: "7") else {
                throw HubError.decode(
                    .invalidValue, "AlarmMethod: \"\(text)\" is not a method 1–7 or a combination such as 2/5")
            }
            let digit = Int(byte - UInt8(ascii: "0"))
            if !methods.contains(digit) { methods.append(digit) }
        }
        guard !methods.isEmpty else { throw HubError.decode(.missingField, "AlarmMethod is required") }
        return methods
    }

    /// The codes the standard defines (methods, types, event types, priorities) are all at
    /// least 0: a negative one is refused, not taken for an unmapped type.
    static func integer(_ text: String, field: String) throws(HubError) -> Int {
        guard let value = Int(text) else {
            throw HubError.decode(.wrongType, "\(field): expected an integer, got \"\(text)\"")
        }
        guard value >= 0 else { throw HubError.decode(.outOfRange, "\(field): \(value) is negative (the standard's codes are 0 or more)") }
        return value
    }

    /// The payload as text: UTF-8 when the bytes are valid UTF-8, else GB18030.
    static func text(of payload: [UInt8]) throws(HubError) -> String {
        var bytes = payload[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        if isValidUTF8(bytes) { return String(decoding: bytes, as: UTF8.self) }
        if let gb = String(bytes: bytes, encoding: gb18030) { return gb }
        throw HubError.decode(.malformed, "payload is neither UTF-8 nor GB18030/GB2312 text")
    }

    /// Whether `bytes` are well-formed UTF-8 (portable; `String(validating:)` needs macOS 15).
    static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        if !bytes.contains(where: { $0 >= 0x80 }) { return true } // ASCII, the usual case
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// GB18030 as an `NSStringEncoding` (kCFStringEncodingGB_18030_2000 | 0x8000_0000).
    /// `CFStringConvertEncodingToNSStringEncoding` is not available on Linux, but
    /// Foundation on both Linux and Darwin accepts this raw value.
    static let gb18030 = String.Encoding(rawValue: 0x8000_0632)
}

/// A minimal element tree for the flat XML documents of GB/T 28181, with tag
/// names compared case-insensitively and without namespace prefixes.
///
/// Names and text stay ranges of the document's bytes until asked for (the
/// adapter reads a handful of an alarm's elements); text that had entities,
/// CDATA or child elements in between is kept decoded.
struct XMLElementTree: Sendable {
    /// The document's bytes, shared by all its elements.
    let document: [UInt8]
    /// The tag name as written, and where its local part (after any prefix) starts.
    let nameRange: Range<Int>
    let localName: Range<Int>
    /// The text: this range of the document when it is one plain run, else `decoded`.
    var textRange: Range<Int>
    var decoded: [UInt8]?
    var children: [XMLElementTree] = []

    /// Lowercased local name.
    var name: String { Self.lowercased(document[localName]) }
    var originalName: String { String(decoding: document[nameRange], as: UTF8.self) }
    var content: String { withContent { String(decoding: $0, as: UTF8.self) } }

    func withContent<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        if let decoded { return decoded.withUnsafeBufferPointer(body) }
        return document.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[textRange])) }
    }

    /// The first child with this name (case-insensitive).
    func child(_ name: String) -> XMLElementTree? {
        // An ASCII name (the names asked for) is compared byte by byte, folding case, without copies.
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            return children.first { child in
                child.document[child.localName].elementsEqual(name.utf8) { a, b in
                    (a >= 0x41 && a <= 0x5A ? a | 0x20 : a) == (b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
                }
            }
        }
        let wanted = Self.lowercased(name.utf8)
        return children.first { $0.name == wanted }
    }

    /// Lowercases ASCII letters without Unicode tables (tag names are ASCII;
    /// anything else goes through `String.lowercased`).
    static func lowercased(_ u: some Collection<UInt8>) -> String {
        if u.allSatisfy({ $0 < 0x80 }) {
            return String(decoding: u.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        return String(decoding: u, as: UTF8.self).lowercased()
    }

    /// The trimmed text of the first child with this name; nil when absent or empty.
    /// Trailing NULs (a C string's padding) are trimmed with the trailing whitespace;
    /// any other NUL stays, for `value` to refuse.
    func text(_ name: String) -> String? {
        guard let element = child(name) else { return nil }
        return element.withContent { u -> String? in
            // Trims XML whitespace (space, tab, CR, LF) without Foundation's character sets.
            func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
            guard let first = u.firstIndex(where: { !isSpace($0) }), let last = u.lastIndex(where: { !isSpace($0) && $0 != 0 }) else { return nil }
            let trimmed = String(decoding: UnsafeBufferPointer(rebasing: u[first...last]), as: UTF8.self)
            // Rarely, other spaces pad a field (U+3000 from a GB2312 editor, U+00A0, a vertical tab): trim
            // those too (only a first or last byte outside printable ASCII can start or end one).
            let printable: ClosedRange<UInt8> = 0x21...0x7E
            if !printable.contains(u[first]) || !printable.contains(u[last]),
               trimmed.first?.isWhitespace == true || trimmed.last?.isWhitespace == true {
                let text = trimmed.trimmingCharacters(in: .whitespacesAndNewlines)
                return text.isEmpty ? nil : text
            }
            return trimmed
        }
    }

    /// Like `text`, but the text `null` (any case) is absent too: wvp-GB28181-pro writes
    /// missing values so when it cascades an alarm (`<AlarmType>null</AlarmType>`).
    /// A NUL character left in the text (inside it, not trailing) is `invalid_value` (`DecodeText`).
    func value(_ name: String) throws(HubError) -> String? {
        guard let text = text(name) else { return nil }
        if text.utf8.count == 4, text.lowercased() == "null" { return nil }
        if DecodeText.containsNUL(text) { throw DecodeText.nulError(field: name) }
        return text
    }

    /// Like `value`, but a missing, empty or `null` element is `missing_field`.
    func required(_ name: String) throws(HubError) -> String {
        guard let text = try value(name) else { throw HubError.decode(.missingField, "\(name) is required") }
        return text
    }

    /// Parses a document and returns its root element.
    ///
    /// A small non-validating scanner for the flat documents GB/T 28181
    /// gateways forward (Foundation's `XMLParser` cost ~15 µs a message):
    /// elements, text, CDATA, the five predefined entities and character
    /// references; declarations, comments, processing instructions and a
    /// DOCTYPE are skipped; attributes are read past but not kept. A document
    /// that is not well-formed (mismatched or unclosed tags, a stray `<` or
    /// `&`, two roots, text outside the root) is `malformed`, with its line.
    static func parse(_ text: String) throws(HubError) -> XMLElementTree {
        var bytes = Array(text.utf8)
        // Gateways written in C often forward the SIP body with its terminating NUL.
        while bytes.last == 0 { bytes.removeLast() }
        var scanner = XMLScanner(bytes: bytes)
        return try scanner.document()
    }
}

/// The scanner behind `XMLElementTree.parse`.
struct XMLScanner {
    /// The deepest element nesting read (the root is level 1). A `Notify` is
    /// about 4 deep; the scanner recurses once per level, so without a bound a
    /// few kilobytes of `<a><a><a>…` would overflow the stack.
    static let maxDepth = 32

    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var line: Int { 1 + bytes[..<min(i, bytes.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }

    func fail(_ why: String) -> HubError {
        HubError.decode(.malformed, "payload is not well-formed XML (line \(line): \(why))")
    }

    func starts(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        let p = s.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { return false }
        return true
    }

    mutating func skip(past end: StaticString, what: String) throws(HubError) {
        while i < bytes.count {
            if starts(end) { i += end.utf8CodeUnitCount; return }
            i += 1
        }
        throw fail("unterminated \(what)")
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Skips whitespace, comments, processing instructions and a DOCTYPE between elements.
    mutating func misc() throws(HubError) {
        while i < bytes.count {
            if Self.isSpace(bytes[i]) { i += 1 }
            else if starts("<?") { try skip(past: "?>", what: "processing instruction") }
            else if starts("<!--") { try skip(past: "-->", what: "comment") }
            else if starts("<!DOCTYPE") { try skip(past: ">", what: "DOCTYPE") }
            else { return }
        }
    }

    mutating func document() throws(HubError) -> XMLElementTree {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        try misc()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail(i < bytes.count ? "text before the root element" : "no root element") }
        let root = try element(depth: 1)
        try misc()
        guard i == bytes.count else { throw fail("content after the root element") }
        return root
    }

    /// An element starting at `<`, through its end tag; `depth` is its level (the root's is 1).
    mutating func element(depth: Int) throws(HubError) -> XMLElementTree {
        guard depth <= Self.maxDepth else { throw fail("nested too deeply, more than \(Self.maxDepth) levels") }
        i += 1 // <
        let nameStart = i
        while i < bytes.count, !Self.isSpace(bytes[i]), bytes[i] != UInt8(ascii: "/"), bytes[i] != UInt8(ascii: ">") { i += 1 }
        guard i > nameStart, i < bytes.count else { throw fail("bad start tag") }
        let nameEnd = i
        var rawName: String { String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self) } // for errors
        // Attributes: read past them, minding quotes.
        var selfClosing = false
        while true {
            guard i < bytes.count else { throw fail("unterminated start tag <\(rawName)>") }
            let c = bytes[i]
            if c == UInt8(ascii: ">") { i += 1; break }
            if c == UInt8(ascii: "/") {
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: ">") else { throw fail("bad start tag <\(rawName)>") }
                i += 2
                selfClosing = true
                break
            }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                i += 1
                while i < bytes.count, bytes[i] != c { i += 1 }
                guard i < bytes.count else { throw fail("unterminated attribute value in <\(rawName)>") }
            } else if c == UInt8(ascii: "<") {
                throw fail("'<' inside the tag <\(rawName)>")
            }
            i += 1
        }
        // The local name: the last part between colons that is not empty (a namespace prefix is dropped).
        var localEnd = nameEnd
        while localEnd > nameStart, bytes[localEnd - 1] == UInt8(ascii: ":") { localEnd -= 1 }
        let localName = localEnd == nameStart ? nameStart..<nameEnd // only colons: the name as written
            : (bytes[nameStart..<localEnd].lastIndex(of: UInt8(ascii: ":")).map { $0 + 1 } ?? nameStart)..<localEnd
        var node = XMLElementTree(document: bytes, nameRange: nameStart..<nameEnd, localName: localName, textRange: i..<i)
        if selfClosing { return node }
        // Text stays a range while it is one plain run; anything else is decoded into `content`.
        var content: [UInt8] = []
        var runs = 0
        func decode() {
            if node.decoded == nil { content = Array(bytes[node.textRange]); node.decoded = [] }
        }
        while true {
            guard i < bytes.count else { throw fail("<\(rawName)> is not closed") }
            let c = bytes[i]
            if c == UInt8(ascii: "<") {
                if starts("</") {
                    i += 2
                    let endStart = i
                    while i < bytes.count, bytes[i] != UInt8(ascii: ">"), !Self.isSpace(bytes[i]) { i += 1 }
                    let endEnd = i
                    func endName() -> String { String(decoding: bytes[endStart..<endEnd], as: UTF8.self) }
                    while i < bytes.count, Self.isSpace(bytes[i]) { i += 1 }
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("bad end tag </\(endName())>") }
                    i += 1
                    guard bytes[endStart..<endEnd].elementsEqual(bytes[nameStart..<nameEnd]) else { throw fail("</\(endName())> closes <\(rawName)>") }
                    if node.decoded != nil { node.decoded = content }
                    return node
                } else if starts("<![CDATA[") {
                    i += 9
                    let cdataStart = i
                    try skip(past: "]]>", what: "CDATA section")
                    decode()
                    content.append(contentsOf: bytes[cdataStart..<(i - 3)])
                } else if starts("<!--") {
                    try skip(past: "-->", what: "comment")
                } else if starts("<?") {
                    try skip(past: "?>", what: "processing instruction")
                } else {
                    node.children.append(try element(depth: depth + 1))
                }
            } else if c == UInt8(ascii: "&") {
                decode()
                try reference(into: &content)
            } else {
                let run = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "<"), bytes[i] != UInt8(ascii: "&") { i += 1 }
                runs += 1
                if runs == 1, node.decoded == nil, node.textRange.isEmpty {
                    node.textRange = run..<i
                } else {
                    decode()
                    content.append(contentsOf: bytes[run..<i])
                }
            }
        }
    }

    /// An entity or character reference at `&`.
    mutating func reference(into out: inout [UInt8]) throws(HubError) {
        let start = i + 1
        var end = start
        while end < bytes.count, end - start < 12, bytes[end] != UInt8(ascii: ";") { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: ";") else { throw fail("'&' that starts no reference") }
        let name = String(decoding: bytes[start..<end], as: UTF8.self)
        switch name {
        case "lt": out.append(UInt8(ascii: "<"))
        case "gt": out.append(UInt8(ascii: ">"))
        case "amp": out.append(UInt8(ascii: "&"))
        case "quot": out.append(UInt8(ascii: "\""))
        case "apos": out.append(UInt8(ascii: "'"))
        default:
            var scalar: Unicode.Scalar?
            if name.hasPrefix("#x") || name.hasPrefix("#X") {
                scalar = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
            } else if name.hasPrefix("#") {
                scalar = UInt32(name.dropFirst(1)).flatMap(Unicode.Scalar.init)
            }
            guard let scalar else { throw fail("unknown entity &\(name);") }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        i = end + 1
    }
}
