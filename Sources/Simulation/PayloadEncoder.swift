import Alerts
import Foundation

/// Writes simulated events as the bytes real devices send, in every input
/// format the hub decodes (SPEC.md "Input contract", docs/ADAPTERS.md).
///
/// Output is byte-for-byte deterministic: JSON is written by hand with a
/// fixed key order and fixed number formats (never through a serializer
/// whose key order or float printing could change).
///
/// Drill marking: native payloads carry `"drill":true`; Frigate and ONVIF
/// JSON carry a top-level `"drill":true` next to their own fields; GB/T 28181
/// XML carries a `<Drill>true</Drill>` element in `<Notify>`. The adapters
/// read these when present (docs/ADAPTERS.md, "Drill marking").
public struct PayloadEncoder: Sendable {
    /// The hub's `topic_prefix`.
    public var topicPrefix: String
    /// The topic Frigate-format cameras publish on.
    public var frigateTopic: String
    /// GB/T 28181 `AlarmTime` is local time without an offset, read by the hub in this zone.
    public var timeZone: TimeZone
    /// Whether payloads carry the drill mark (see above).
    public var drill: Bool

    /// An encoder for the hub's topics, marking drills unless `drill` is false.
    public init(topicPrefix: String = "patrolhub/v1", frigateTopic: String = "frigate/events",
                timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!, drill: Bool = true) {
        self.topicPrefix = topicPrefix
        self.frigateTopic = frigateTopic
        self.timeZone = timeZone
        self.drill = drill
    }

    private var drillField: String { drill ? #","drill":true"# : "" }

    // MARK: - Native

    /// `{prefix}/camera/{camera}/event`.
    public func cameraEvent(camera: String, id: String, category: Category, time: Date, confidence: Double?, count: Int?,
                            location: GeoPoint? = nil) -> (topic: String, payload: [UInt8]) {
        var s = #"{"id":"# + json(id) + #","type":"# + json(category.rawValue) + #","time":"# + json(time.rfc3339)
        if let confidence { s += #","confidence":"# + fixed(confidence, 2) }
        if let count { s += #","count":"# + String(count) }
        if let location { s += #","location":"# + locationJSON(location) }
        s += drillField + "}"
        return ("\(topicPrefix)/camera/\(camera)/event", Array(s.utf8))
    }

    /// `{prefix}/camera/{camera}/status` (publish retained).
    public func cameraStatus(camera: String, status: CameraStatus, time: Date) -> (topic: String, payload: [UInt8]) {
        let s = #"{"status":"# + json(status.rawValue) + #","time":"# + json(time.rfc3339) + drillField + "}"
        return ("\(topicPrefix)/camera/\(camera)/status", Array(s.utf8))
    }

    /// `{prefix}/device/{device}/report`.
    public func report(device: String, id: String, category: Category, time: Date, description: String?, parties: [String],
                       amountCNY: Double?, location: GeoPoint?) -> (topic: String, payload: [UInt8]) {
        var s = #"{"id":"# + json(id) + #","category":"# + json(category.rawValue) + #","time":"# + json(time.rfc3339)
        if let description { s += #","description":"# + json(description) }
        if !parties.isEmpty { s += #","parties":["# + parties.map(json).joined(separator: ",") + "]" }
        if let amountCNY { s += #","amount_cny":"# + fixed(amountCNY, 2) }
        if let location { s += #","location":"# + locationJSON(location) }
        s += drillField + "}"
        return ("\(topicPrefix)/device/\(device)/report", Array(s.utf8))
    }

    /// `{prefix}/device/{device}/sos`.
    public func sos(device: String, id: String, kind: String, time: Date, location: GeoPoint?) -> (topic: String, payload: [UInt8]) {
        var s = #"{"id":"# + json(id) + #","time":"# + json(time.rfc3339) + #","kind":"# + json(kind)
        if let location { s += #","location":"# + locationJSON(location) }
        s += drillField + "}"
        return ("\(topicPrefix)/device/\(device)/sos", Array(s.utf8))
    }

    /// `{prefix}/device/{device}/checkin`.
    public func checkin(device: String, id: String, checkpoint: String, time: Date, method: String, location: GeoPoint?) -> (topic: String, payload: [UInt8]) {
        var s = #"{"id":"# + json(id) + #","checkpoint":"# + json(checkpoint) + #","time":"# + json(time.rfc3339) + #","method":"# + json(method)
        if let location { s += #","location":"# + locationJSON(location) }
        s += drillField + "}"
        return ("\(topicPrefix)/device/\(device)/checkin", Array(s.utf8))
    }

    // MARK: - Frigate

    /// Where a Frigate object of this category is, for the default label rules.
    static func frigateObject(_ category: Category) -> (label: String, zones: [String], stationary: Bool)? {
        switch category {
        case .intrusion: return ("person", ["restricted_area"], false)
        case .fireSmoke: return ("fire", [], false)
        case .illegalParking: return ("car", ["no_parking"], true)
        default: return nil
        }
    }

    /// One message of a Frigate tracked object's lifecycle (`new` or `end`),
    /// with its `before` and `after` states as Frigate sends them.
    public func frigate(camera: String, objectID: String, category: Category, type: String, start: Date, frame: Date,
                        end: Date?, score: Double) -> (topic: String, payload: [UInt8])? {
        guard let object = Self.frigateObject(category) else { return nil }
        let zones = "[" + object.zones.map(json).joined(separator: ",") + "]"
        func state(frame: Date, end: Date?, active: Bool) -> String {
            #"{"id":"# + json(objectID) + #","camera":"# + json(camera) + #","frame_time":"# + epoch(frame)
                + #","label":"# + json(object.label) + #","sub_label":null,"top_score":"# + fixed(score, 2)
                + #","score":"# + fixed(score, 2) + #","false_positive":false,"start_time":"# + epoch(start)
                + #","end_time":"# + (end.map(epoch) ?? "null") + #","current_zones":"# + zones + #","entered_zones":"# + zones
                + #","stationary":"# + (object.stationary ? "true" : "false") + #","active":"# + (active ? "true" : "false")
                + #","has_snapshot":true,"has_clip":true}"#
        }
        let before = type == "new" ? state(frame: frame, end: nil, active: true) : state(frame: start, end: nil, active: true)
        let after = state(frame: frame, end: end, active: end == nil)
        let s = #"{"type":"# + json(type) + #","before":"# + before + #","after":"# + after + drillField + "}"
        return (frigateTopic, Array(s.utf8))
    }

    // MARK: - GB/T 28181

    /// A GB/T 28181 alarm `Notify`, forwarded by gateway `gateway`, naming the camera as `DeviceID`.
    public func gb28181(gateway: String, camera: String, sn: Int, category: Category, severity: Severity, time: Date,
                        description: String?) -> (topic: String, payload: [UInt8])? {
        guard let code = GBCodes.code(for: category) else { return nil }
        var s = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n<Notify>\n<CmdType>Alarm</CmdType>\n<SN>\(sn)</SN>\n"
        s += "<DeviceID>\(xml(camera))</DeviceID>\n<AlarmPriority>\(severity.rawValue)</AlarmPriority>\n"
        s += "<AlarmMethod>\(code.method)</AlarmMethod>\n<AlarmTime>\(localTime(time))</AlarmTime>\n"
        if let description { s += "<AlarmDescription>\(xml(description))</AlarmDescription>\n" }
        s += "<Info><AlarmType>\(code.type)</AlarmType></Info>\n"
        if drill { s += "<Drill>true</Drill>\n" }
        s += "</Notify>\n"
        return ("\(topicPrefix)/gb28181/\(gateway)/alarm", Array(s.utf8))
    }

    // MARK: - ONVIF

    /// An ONVIF property event bridged to JSON. `state` nil writes a one-shot
    /// event (`LineDetector/Crossed`); true/false a property change.
    public func onvif(camera: String, category: Category, rule: String, time: Date, state: Bool?) -> (topic: String, payload: [UInt8])? {
        guard let t = ONVIFTopics.topic(for: category) else { return nil }
        var s = #"{"UtcTime":"# + json(time.rfc3339)
        if state != nil { s += #","PropertyOperation":"Changed""# }
        s += #","Source":{"VideoSourceConfigurationToken":"VSC_1","Rule":"# + json(rule) + "}"
        if let state, let item = t.stateItem {
            s += #","Data":{"# + json(item) + ":" + (state ? #""true""# : #""false""#) + "}"
        } else {
            s += #","Data":{"ObjectId":"# + json(rule) + "}"
        }
        s += (drill ? #","Drill":true"# : "") + "}"
        return ("\(topicPrefix)/onvif/\(camera)/\(t.topic)", Array(s.utf8))
    }

    // MARK: - Text helpers

    /// A JSON string literal (quotes included).
    public func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += "\\u" + HubFormat.zeroPadded(u.value, width: 4, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `v` with exactly `digits` decimals, from integer arithmetic (no float printing).
    func fixed(_ v: Double, _ digits: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let n = Int64((v * Double(scale)).rounded())
        let sign = n < 0 ? "-" : ""
        let a = abs(n)
        return sign + String(a / scale) + (digits > 0 ? "." + HubFormat.zeroPadded(a % scale, width: digits) : "")
    }

    func locationJSON(_ p: GeoPoint) -> String {
        var s = #"{"lat":"# + fixed(p.lat, 7) + #","lon":"# + fixed(p.lon, 7)
        if p.crs != .wgs84 { s += #","crs":"# + json(p.crs.rawValue) }
        return s + "}"
    }

    /// Frigate's epoch seconds with milliseconds.
    func epoch(_ d: Date) -> String { fixed(d.timeIntervalSince1970, 3) }

    /// `2024-01-02T15:04:05` in `timeZone`, whole seconds.
    func localTime(_ d: Date) -> String {
        HubFormat.isoLocal(d, in: timeZone)
    }
}

/// The GB/T 28181 alarm codes the simulator sends for each category: the
/// first code of the hub's default mapping for it, method 5 (video) first.
public enum GBCodes {
    static let table: [Category: GBAlarmCode] = {
        var out: [Category: GBAlarmCode] = [:]
        let codes = GB28181Mapping.defaultAlarmTypes.sorted {
            ($0.key.method == 5 ? 0 : 1, $0.key.method, $0.key.type) < ($1.key.method == 5 ? 0 : 1, $1.key.method, $1.key.type)
        }
        for (code, category) in codes where out[category] == nil && category.family == .cameraAnalytics && category != .other {
            out[category] = code
        }
        return out
    }()

    /// The code for `category`, nil when GB/T 28181 cannot express it.
    public static func code(for category: Category) -> GBAlarmCode? { table[category] }
}

/// The ONVIF topics the simulator sends for each category (the hub's default
/// ONVIF mapping) and the `Data` item that carries the property state.
public enum ONVIFTopics {
    /// The topic and state item of one category.
    public struct Entry: Sendable {
        /// The ONVIF topic, without namespace prefixes.
        public var topic: String
        /// nil: a one-shot event without state (`LineDetector/Crossed`).
        public var stateItem: String?
    }

    static let table: [Category: Entry] = [
        .intrusion: Entry(topic: "tns1:RuleEngine/FieldDetector/ObjectsInside", stateItem: "IsInside"),
        .tripwire: Entry(topic: "tns1:RuleEngine/LineDetector/Crossed", stateItem: nil),
        .loitering: Entry(topic: "tns1:RuleEngine/LoiteringDetector/ObjectIsLoitering", stateItem: "IsLoitering"),
        .leftObject: Entry(topic: "tns1:RuleEngine/AbandonedObjectDetector/ObjectAbandoned", stateItem: "State"),
        .motion: Entry(topic: "tns1:RuleEngine/CellMotionDetector/Motion", stateItem: "IsMotion"),
    ]

    /// The topic for `category`, nil when the default ONVIF mapping has none.
    public static func topic(for category: Category) -> Entry? { table[category] }
}
