import Foundation
import Synchronization

// The configurable parts of the adapters: where topics live, how foreign names
// become registered ids, and how foreign vocabularies map onto `Category`.
// Every type has a default for every field, so `FrigateAdapter()` works out of
// the box and a config file only states what differs.

/// Settings shared by every adapter.
public struct AdapterOptions: Sendable, Hashable {
    /// The topic prefix of PatrolHub's own topics (SPEC.md: default `patrolhub/v1`).
    /// A trailing `/` is ignored.
    public var topicPrefix: String
    /// The zone in which a time without an offset is read (SPEC.md: default `Asia/Shanghai`).
    /// GB/T 28181 `AlarmTime` never has an offset, so this matters for every GB alarm.
    public var timeZone: TimeZone
    /// Payloads larger than this are dead-lettered as `oversized` (SPEC.md: 256 KiB).
    public var maxPayloadBytes: Int

    /// The default time zone of SPEC.md, `Asia/Shanghai` (UTC+8, no DST since 1991).
    public static let defaultTimeZone: TimeZone =
        TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3600)!

    /// Options with the SPEC.md defaults for whatever is not given.
    public init(
        topicPrefix: String = "patrolhub/v1",
        timeZone: TimeZone = AdapterOptions.defaultTimeZone,
        maxPayloadBytes: Int = 256 * 1024
    ) {
        self.topicPrefix = topicPrefix
        self.timeZone = timeZone
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// The prefix without trailing slashes.
    var normalizedPrefix: String {
        var prefix = Substring(topicPrefix)
        while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
        return String(prefix)
    }

    /// Routes the topics under `topicPrefix` (the adapters' own topics are
    /// told apart by the same router as the decode stage's).
    var router: TopicRouter { TopicRouter(prefix: normalizedPrefix) }

    /// Reads times without an offset in `timeZone`.
    var timeParser: TimeParser { TimeParser(defaultZone: timeZone) }

    /// What an adapter derives from its options, made when the options are set
    /// (built for every message, the router and the time parser cost ~1 µs).
    struct Derived: Sendable {
        let router: TopicRouter
        let timeParser: TimeParser
        init(_ options: AdapterOptions) {
            router = options.router
            timeParser = options.timeParser
        }
    }
}

/// Maps a foreign name (Frigate camera name, GB/T 28181 `DeviceID`, ONVIF
/// device name in the topic, patrol device id) to a registered camera or device id.
///
/// Returning nil means "not registered": the adapter then throws
/// `HubError.decode(.unknownSource, …)`. The application builds one from its registry:
///
/// ```swift
/// let resolver = SourceResolver { name in registry.cameraID(forForeignName: name) }
/// ```
public struct SourceResolver: Sendable {
    private let resolve: @Sendable (String) -> String?

    /// A resolver from a closure.
    public init(_ resolve: @escaping @Sendable (_ foreignName: String) -> String?) {
        self.resolve = resolve
    }

    /// The registered id for `foreignName`, or nil when it is not registered.
    public func callAsFunction(_ foreignName: String) -> String? { resolve(foreignName) }

    /// The SPEC.md default: a foreign name names the registered source with the same id.
    public static let identity = SourceResolver { $0 }

    /// A fixed table; names not in it resolve to themselves when `otherwiseIdentity`
    /// is true (config maps only the exceptions), else to nil (unknown source).
    public static func table(_ ids: [String: String], otherwiseIdentity: Bool = false) -> SourceResolver {
        SourceResolver { name in ids[name] ?? (otherwiseIdentity ? name : nil) }
    }
}

// MARK: - Frigate

/// How Frigate labels and zones become risk categories.
///
/// Each tracked object is judged by the first rule whose `labels` contain its
/// label (and whose `cameras`, if set, contain its camera). Labels without a
/// rule produce no events.
public struct FrigateMapping: Sendable, Hashable {
    /// Where the object must be for its rule to fire.
    public enum ZoneRequirement: Sendable, Hashable {
        /// Anywhere in the frame (fire, smoke).
        case none
        /// In any Frigate zone: zones are drawn by the integrator on purpose.
        case anyZone
        /// In at least one of these Frigate zone names.
        case named(Set<String>)
    }

    /// One label rule.
    public struct LabelRule: Sendable, Hashable {
        /// Frigate labels this rule applies to (`person`, `car`, `fire` …).
        public var labels: Set<String>
        /// The category raised.
        public var category: Category
        /// Where the object must be.
        public var zones: ZoneRequirement
        /// Only fire once the object is `stationary` (a parked car, not a passing one).
        /// Frigate versions that do not send `stationary` are treated as stationary.
        public var requiresStationary: Bool
        /// Minimum `top_score` (or `score`), if any.
        public var minScore: Double?
        /// Severity override; nil uses the category's default.
        public var severity: Severity?
        /// Frigate camera names this rule is limited to; nil means every camera.
        public var cameras: Set<String>?

        /// A label rule; only `labels` and `category` are required.
        public init(
            labels: Set<String>, category: Category, zones: ZoneRequirement = .none,
            requiresStationary: Bool = false, minScore: Double? = nil, severity: Severity? = nil,
            cameras: Set<String>? = nil
        ) {
            self.labels = labels
            self.category = category
            self.zones = zones
            self.requiresStationary = requiresStationary
            self.minScore = minScore
            self.severity = severity
            self.cameras = cameras
        }
    }

    /// The MQTT topic Frigate publishes tracked-object events on.
    public var topic: String
    /// Label rules, first match wins.
    public var rules: [LabelRule]

    /// The Frigate topic and its label rules (the defaults below unless given).
    public init(topic: String = "frigate/events", rules: [LabelRule] = FrigateMapping.defaultRules()) {
        self.topic = topic
        self.rules = rules
    }

    /// The defaults: `person` in a zone → intrusion; `fire`/`smoke` anywhere →
    /// fire_smoke; a stationary `car`/`motorcycle` in a no-parking zone → illegal_parking.
    ///
    /// - Parameters:
    ///   - intrusionZones: zones where a person is an intrusion (default: any Frigate zone).
    ///   - noParkingZones: Frigate zone names where parking is illegal.
    public static func defaultRules(
        intrusionZones: ZoneRequirement = .anyZone,
        noParkingZones: Set<String> = ["no_parking"]
    ) -> [LabelRule] {
        [
            LabelRule(labels: ["person"], category: .intrusion, zones: intrusionZones),
            LabelRule(labels: ["fire", "smoke"], category: .fireSmoke, zones: .none),
            LabelRule(
                labels: ["car", "motorcycle"], category: .illegalParking,
                zones: .named(noParkingZones), requiresStationary: true),
        ]
    }

    /// The rule for a label on a camera, if any.
    func rule(label: String, camera: String) -> LabelRule? {
        rules.first { $0.labels.contains(label) && ($0.cameras?.contains(camera) ?? true) }
    }
}

// MARK: - GB/T 28181

/// A GB/T 28181 alarm code: `AlarmMethod` plus `Info/AlarmType`.
public struct GBAlarmCode: Sendable, Hashable, CustomStringConvertible {
    /// 1 phone, 2 device, 3 SMS, 4 GPS, 5 video, 6 device fault, 7 other.
    public var method: Int
    /// The alarm type; its meaning depends on the method.
    public var type: Int

    /// The code `method`/`type`.
    public init(method: Int, type: Int) {
        self.method = method
        self.type = type
    }

    /// `method/type`, as the config and dead letters write it.
    public var description: String { "\(method)/\(type)" }
}

/// Whether an adapter passes a vendor's alarm priority on to the rules.
public enum VendorPriorityUse: String, Sendable, CaseIterable, Hashable {
    /// As `NormalizedEvent.vendorPriority`, a hint the rules combine with the category's severity.
    case hint
    /// Not at all: the category's configured severity alone applies.
    case ignore
}

/// How GB/T 28181 alarm methods and types become risk categories.
///
/// Lookup order for one alarm: `ignored` (no event) → `alarmTypes` →
/// `methodDefaults` (the type is missing or not in the table) → dead letter
/// `invalid_value` (a method with no default).
public struct GB28181Mapping: Sendable, Hashable {
    /// `(method, type)` → category.
    public var alarmTypes: [GBAlarmCode: Category]
    /// Codes that are not risks (e.g. 5/9 traffic counting): decoded to no event.
    public var ignored: Set<GBAlarmCode>
    /// Category for an alarm of a method whose type is missing or unmapped.
    public var methodDefaults: [Int: Category]
    /// For a combined `AlarmMethod` such as `2/5`: the order in which methods are tried.
    public var methodPrecedence: [Int]
    /// The CRS of `Longitude`/`Latitude` (GB/T 28181 says nothing; gateways send WGS-84).
    public var coordinateSystem: CoordinateSystem
    /// What `AlarmPriority` is to the rules (`adapters.gb28181.priority`): a hint
    /// (`NormalizedEvent.vendorPriority`, combined with the category's configured
    /// severity by `VendorPriorityRules`), or ignored. A missing priority is no hint.
    public var priority: VendorPriorityUse

    /// A mapping with the Annex A defaults for whatever is not given.
    public init(
        alarmTypes: [GBAlarmCode: Category] = GB28181Mapping.defaultAlarmTypes,
        ignored: Set<GBAlarmCode> = [GBAlarmCode(method: 5, type: 9)],
        methodDefaults: [Int: Category] = GB28181Mapping.defaultMethodDefaults,
        methodPrecedence: [Int] = [5, 2, 6, 4, 1, 3, 7],
        coordinateSystem: CoordinateSystem = .wgs84,
        priority: VendorPriorityUse = .hint
    ) {
        self.alarmTypes = alarmTypes
        self.ignored = ignored
        self.methodDefaults = methodDefaults
        self.methodPrecedence = methodPrecedence
        self.coordinateSystem = coordinateSystem
        self.priority = priority
    }

    /// GB/T 28181-2016 Annex A alarm types.
    public static let defaultAlarmTypes: [GBAlarmCode: Category] = {
        var table: [GBAlarmCode: Category] = [:]
        func put(_ method: Int, _ type: Int, _ category: Category) {
            table[GBAlarmCode(method: method, type: type)] = category
        }
        // Method 2, device alarms.
        put(2, 1, .cameraOffline)  // video loss
        put(2, 2, .cameraTampered)  // tamper (anti-dismantle)
        put(2, 3, .cameraDegraded)  // storage full
        put(2, 4, .cameraDegraded)  // over temperature
        put(2, 5, .cameraDegraded)  // under temperature
        // Method 5, video analytics alarms.
        put(5, 1, .other)  // manual video alarm (raised by an operator)
        put(5, 2, .motion)
        put(5, 3, .leftObject)
        put(5, 4, .objectRemoved)
        put(5, 5, .tripwire)
        put(5, 6, .intrusion)
        put(5, 7, .wrongWay)
        put(5, 8, .loitering)
        put(5, 10, .crowdGathering)  // density
        put(5, 11, .cameraDegraded)  // video anomaly (image quality)
        put(5, 12, .motion)  // fast movement
        // Method 6, device faults.
        put(6, 1, .cameraDegraded)  // storage disk fault
        put(6, 2, .cameraDegraded)  // fan fault
        return table
    }()

    /// Method-level fallbacks: a method-5 alarm without a type is motion (what most
    /// cameras send), a method-6 fault is camera_degraded, anything else is `other`
    /// (its priority a hint like any other), so no alarm is silently lost.
    public static let defaultMethodDefaults: [Int: Category] = [
        1: .other, 2: .other, 3: .other, 4: .other, 5: .motion, 6: .cameraDegraded, 7: .other,
    ]
}

// MARK: - ONVIF

/// How ONVIF event topics become risk categories.
///
/// A rule's `pattern` is a `/`-separated topic without namespace prefixes; it
/// matches when its segments appear, in order and contiguous, in the event's
/// topic (namespace prefixes such as `tns1:` stripped, case-insensitive). The
/// longest matching pattern wins. So `VideoSource/ImageTooDark` matches
/// `tns1:VideoSource/ImageTooDark/AnalyticsService`.
///
/// A rule whose category is camera health (`camera_offline`, `camera_tampered`,
/// `camera_degraded`) reports the camera's status instead of a detection: its
/// property going true is `.cameraStatus(status)`, going false or deleted is
/// `.cameraStatus(.online)`, exactly as the native status topic.
public struct ONVIFMapping: Sendable, Hashable {
    /// One topic rule.
    public struct TopicRule: Sendable, Hashable {
        /// The topic pattern, `/`-separated, without namespace prefixes.
        public var pattern: String
        /// The category an event on a matching topic raises (or the camera status it reports).
        public var category: Category
        /// The `Data` item that carries the property state (`IsInside`, `State` …);
        /// nil finds it among the usual names or the first boolean item. An event
        /// with no state item (e.g. `LineDetector/Crossed`) is a one-shot detection.
        public var stateItem: String?
        /// Severity override; nil uses the category's default.
        public var severity: Severity?
        /// For a camera-health category: the status a true state reports
        /// (nil: `status(for:)` of the category).
        public var status: CameraStatus?

        /// A rule for topics matching `pattern`.
        public init(pattern: String, category: Category, stateItem: String? = nil, severity: Severity? = nil,
                    status: CameraStatus? = nil) {
            self.pattern = pattern
            self.category = status?.healthCategory ?? category
            self.stateItem = stateItem
            self.severity = severity
            self.status = status
        }

        var segments: [String] { ONVIFMapping.segments(of: pattern) }

        /// The camera status a true state of this rule reports; nil for an analytics rule.
        public var healthStatus: CameraStatus? {
            guard category.family == .cameraHealth else { return nil }
            return status ?? ONVIFMapping.status(for: category)
        }
    }

    /// The status a camera-health category reports when a rule names no status.
    public static func status(for category: Category) -> CameraStatus? {
        switch category {
        case .cameraOffline: return .signalLost
        case .cameraTampered: return .tampered
        case .cameraDegraded: return .imageBlurry
        default: return nil
        }
    }

    /// Topic rules; topics that match none decode to no event (and are counted as unmapped).
    public var rules: [TopicRule] {
        didSet {
            compiled = rules.map { ($0.segments, $0) }
            memo = Memo()
        }
    }
    /// The rules with their patterns split once (matching runs for every ONVIF message).
    private var compiled: [(segments: [String], rule: TopicRule)]
    /// Topic → (rule, local path), remembered: a camera sends few distinct topics.
    private var memo = Memo()

    final class Memo: Sendable {
        let table = Mutex<[String: (rule: TopicRule?, path: String)]>([:])
    }

    /// A mapping of `rules` (the defaults below unless given), patterns split once.
    public init(rules: [TopicRule] = ONVIFMapping.defaultRules) {
        self.rules = rules
        self.compiled = rules.map { ($0.segments, $0) }
    }

    /// The rule for a topic and the topic's local path (`VideoSource/ImageTooDark`), remembered.
    func resolve(_ topic: String) -> (rule: TopicRule?, path: String) {
        if let hit = memo.table.withLock({ $0[topic] }) { return hit }
        let resolved = (rule(forTopic: topic), Self.localSegments(of: topic).joined(separator: "/"))
        // Real topics are short; a long one (anyone can send 64 KB of topic) is not kept.
        guard topic.utf8.count <= 512 else { return resolved }
        memo.table.withLock { table in
            if table.count > 10_000 { table = [:] } // bounded: topics are few, unless a device sends garbage
            table[topic] = resolved
        }
        return resolved
    }

    /// Equal when the rules are (the memo is a cache).
    public static func == (a: ONVIFMapping, b: ONVIFMapping) -> Bool { a.rules == b.rules }
    /// Hashes the rules only, consistent with `==`.
    public func hash(into h: inout Hasher) { h.combine(rules) }

    /// The default rules: the ONVIF Analytics Service topics, plus the vendor
    /// topics that Home Assistant's ONVIF integration (`parsers.py`) and other
    /// bridges read from real cameras. docs/ADAPTERS.md lists each with its source.
    public static let defaultRules: [TopicRule] = [
        // ONVIF Analytics Service Specification (rule engine), Hikvision and Dahua intrusion and line crossing.
        TopicRule(pattern: "RuleEngine/FieldDetector/ObjectsInside", category: .intrusion, stateItem: "IsInside"),
        TopicRule(pattern: "RuleEngine/LineDetector/Crossed", category: .tripwire),
        TopicRule(pattern: "RuleEngine/LoiteringDetector/ObjectIsLoitering", category: .loitering),
        TopicRule(pattern: "ObjectAbandoned", category: .leftObject),
        TopicRule(pattern: "RuleEngine/CellMotionDetector/Motion", category: .motion),
        TopicRule(pattern: "RuleEngine/MotionRegionDetector/Motion", category: .motion),
        TopicRule(pattern: "RuleEngine/TamperDetector/Tamper", category: .cameraTampered, status: .tampered),
        // ONVIF VideoSource events (Profile S/T motion alarm and image quality).
        TopicRule(pattern: "VideoSource/MotionAlarm", category: .motion),
        TopicRule(pattern: "VideoSoure/MotionAlarm", category: .motion), // misspelt by some firmwares
        TopicRule(pattern: "VideoSource/SignalLoss", category: .cameraOffline, status: .signalLost),
        TopicRule(pattern: "VideoSource/GlobalSceneChange", category: .cameraTampered, status: .tampered),
        TopicRule(pattern: "VideoSource/ImageTooDark", category: .cameraDegraded, status: .imageTooDark),
        TopicRule(pattern: "VideoSource/ImageTooBright", category: .cameraDegraded, status: .imageTooBright),
        TopicRule(pattern: "VideoSource/ImageTooBlurry", category: .cameraDegraded, status: .imageBlurry),
        // TP-Link Tapo (state items IsIntrusion, IsLineCross, IsTamper, IsPeople).
        TopicRule(pattern: "RuleEngine/CellMotionDetector/Intrusion", category: .intrusion),
        TopicRule(pattern: "RuleEngine/CellMotionDetector/LineCross", category: .tripwire),
        TopicRule(pattern: "RuleEngine/CellMotionDetector/Tamper", category: .cameraTampered, status: .tampered),
        // A person anywhere in the frame is not an intrusion: motion, unless the config says otherwise.
        TopicRule(pattern: "RuleEngine/PeopleDetector/People", category: .motion),
        TopicRule(pattern: "RuleEngine/CellMotionDetector/People", category: .motion),
        // Reolink person detection, and the human-shape detection of some OEM firmwares.
        TopicRule(pattern: "RuleEngine/MyRuleDetector/PeopleDetect", category: .motion),
        TopicRule(pattern: "UserAlarm/IVA/HumanShapeDetect", category: .motion),
    ]

    /// Topic segments without namespace prefixes (`tns1:VideoSource` → `VideoSource`).
    static func localSegments(of topic: String) -> [String] {
        topic.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            String(segment.lastIndex(of: ":").map { segment[segment.index(after: $0)...] } ?? segment)
        }
    }

    /// The ONVIF topic a path names, without what the ONVIF event broker (MQTT)
    /// adds around it: a leading `onvif-ej` format segment and, from the first
    /// segment starting with `&`, the values of the event's source items
    /// (`onvif-ej/RuleEngine/LineDetector/Crossed/&1/2/Fence` →
    /// `RuleEngine/LineDetector/Crossed`). Rules match either form; the
    /// unmapped-input counts use this one, so one topic is one row whatever its sources.
    public static func topicName(_ path: String) -> String {
        var segments = path.split(separator: "/", omittingEmptySubsequences: true)
        if let first = segments.first, first.lowercased().hasPrefix("onvif-ej") { segments.removeFirst() }
        if let amp = segments.firstIndex(where: { $0.hasPrefix("&") }) { segments.removeSubrange(amp...) }
        return segments.joined(separator: "/")
    }

    /// `localSegments`, lowercased, for matching.
    static func segments(of topic: String) -> [String] { localSegments(of: topic).map { $0.lowercased() } }

    /// The best rule for a topic, or nil.
    func rule(forTopic topic: String) -> TopicRule? {
        let topicSegments = Self.segments(of: topic)
        var best: (rule: TopicRule, length: Int)?
        for (pattern, rule) in compiled {
            guard !pattern.isEmpty, pattern.count <= topicSegments.count else { continue }
            let matches = (0...(topicSegments.count - pattern.count)).contains { start in
                topicSegments[start..<start + pattern.count].elementsEqual(pattern)
            }
            if matches, pattern.count > (best?.length ?? 0) { best = (rule, pattern.count) }
        }
        return best?.rule
    }
}
