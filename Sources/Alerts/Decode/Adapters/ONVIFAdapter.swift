import Foundation

/// Decodes ONVIF events bridged to MQTT as JSON on `{prefix}/onvif/{device}/{onvif topic}`.
///
/// The topic tail is the ONVIF topic, with or without namespace prefixes
/// (`tns1:RuleEngine/FieldDetector/ObjectsInside` or `RuleEngine/FieldDetector/ObjectsInside`).
/// The payload is the ONVIF `tt:Message` as JSON:
///
/// ```json
/// {"UtcTime": "2024-01-02T07:04:05.120Z", "PropertyOperation": "Changed",
///  "Source": {"VideoSourceConfigurationToken": "VSC_1", "Rule": "Fence"},
///  "Data": {"IsInside": "true"}}
/// ```
///
/// Bridges serialise `SimpleItem`s differently, so `Source`, `Key` and `Data`
/// may each be an object of name → value, a list `[{"Name": …, "Value": …}]`, or
/// `{"SimpleItem": …}` wrapping either; values may be JSON booleans, numbers or
/// the strings ONVIF uses (`"true"`, `"false"`, `"1"`, `"0"`). Top-level keys
/// match case-insensitively.
///
/// Property events are folded into one lifecycle, `onvif:{camera}:{topic}|{source key}`:
/// the state item (`IsInside`, `State`, `IsMotion` …) going true (`Changed`, or
/// no `PropertyOperation`) raises a detection; going false or `Deleted` is a `.end`.
/// `Initialized` is the snapshot a subscription starts with: nothing happened,
/// so it raises nothing whatever its state (a true snapshot leaves no trace:
/// the item, if the hub saw it open, stays open until its false or `Deleted`).
/// A false snapshot of an analytics property is that lifecycle's `.end`: it
/// closes an item whose false was lost while the bridge was away, and changes
/// nothing otherwise. Health snapshots stay nothing: a camera has one status,
/// and the snapshot of one healthy property must not report a tampered camera online.
/// An event without a state item (`LineDetector/Crossed`) is a one-shot
/// detection without lifecycle.
///
/// Camera-health rules (`SignalLoss`, tamper, image quality) report the
/// camera's status instead: true is `.cameraStatus(status)`, false or `Deleted`
/// is `.cameraStatus(.online)`, without lifecycle, as the native status topic.
///
/// python-onvif-zeep bridges wrap items as `{"SimpleItem": [...] or {...},
/// "ElementItem": [], "Extension": null, "_attr_1": null}`: the `SimpleItem`s
/// are read, the rest ignored. A device whose clock is unset (Hikvision's
/// `0000-00-00T00:00:00Z`) is taken at `receivedAt` with `timeSource = .received`,
/// and the receive time (ms) is in the key, so each such alarm is its own event.
///
/// A zero-byte payload is how a bridge clears a retained property: it is read as
/// `Deleted` at `receivedAt`. It carries no `Source`, so its `.end` has the
/// topic-level lifecycle `onvif:{camera}:{topic}` (no `|`), which closes every
/// lifecycle of that camera and topic.
///
/// Topics not in the mapping decode to no event (checked before the device is
/// resolved, like Frigate labels): ONVIF devices publish many
/// housekeeping topics (processor usage, storage, relays), and dead-lettering
/// them all would bury real problems. The decode stage counts them instead
/// (`UnmappedInput`, `patrolhub adapters unmapped`).
public struct ONVIFAdapter: EventAdapter {
    /// Which topics become which categories or camera statuses.
    public var mapping: ONVIFMapping
    /// Topic prefix, time zone and payload limit.
    public var options: AdapterOptions { didSet { derived = AdapterOptions.Derived(options) } }
    private var derived: AdapterOptions.Derived
    /// Maps the ONVIF device name in the topic to a registered camera id.
    public var resolver: SourceResolver

    /// An adapter with the default topic rules unless given.
    public init(
        mapping: ONVIFMapping = ONVIFMapping(), options: AdapterOptions = AdapterOptions(),
        resolver: SourceResolver = .identity
    ) {
        self.mapping = mapping
        self.options = options
        self.derived = AdapterOptions.Derived(options)
        self.resolver = resolver
    }

    /// ONVIF `PropertyOperation`.
    public enum PropertyOperation: String, Sendable, CaseIterable {
        case initialized = "Initialized"
        case changed = "Changed"
        case deleted = "Deleted"
    }

    /// Decodes one ONVIF event message.
    ///
    /// - Throws: `unknown_topic` (not an ONVIF topic under the prefix), `malformed`,
    ///   `missing_field` (`UtcTime`), `wrong_type`, `invalid_value` (bad time,
    ///   unknown `PropertyOperation`, a state that is not boolean), `unknown_source`.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        var unmapped: UnmappedInput?
        return try decode(topic: topic, payload: payload, receivedAt: receivedAt, unmapped: &unmapped)
    }

    /// `decode`, setting `unmapped` when no rule maps the topic (the result is then empty).
    public func decode(topic: String, payload: [UInt8], receivedAt: Date, unmapped: inout UnmappedInput?) throws(HubError) -> [NormalizedEvent] {
        guard case .onvif(let device, let onvifTopic)? = derived.router.route(topic) else {
            throw HubError.decode(.unknownTopic, "\(topic) is not {prefix}/onvif/{device}/{onvif topic}")
        }
        try checkSize(payload, options)
        let resolved = mapping.resolve(onvifTopic)
        guard let rule = resolved.rule else {
            let name = ONVIFMapping.topicName(resolved.path)
            // Counted for registered cameras only: names from anyone else could fill the bounded table for good.
            if resolver(device) != nil { unmapped = UnmappedInput(format: "onvif", name: name.isEmpty ? onvifTopic : name, device: device) }
            return []
        }
        guard let source = resolver(device) else {
            throw HubError.decode(.unknownSource, "ONVIF device \"\(device)\" is not registered")
        }
        let topicLifecycle = "onvif:\(source):\(resolved.path)"
        let health = rule.healthStatus

        var drill = false
        var timeSource = TimeSource.device
        func event(_ kind: NormalizedEvent.Kind, key: String, time: Date, lifecycle: String?) -> NormalizedEvent {
            var category = rule.category
            if case .cameraStatus(let status) = kind, let c = status.healthCategory { category = c }
            return NormalizedEvent(
                key: key, kind: kind, sourceKind: .camera, source: source, category: category,
                severity: health == nil ? rule.severity : nil, time: time, drill: drill,
                lifecycle: health == nil ? lifecycle : nil, format: "onvif", timeSource: timeSource)
        }
        /// A true state: a detection, or the camera's status for a health rule.
        func raised(_ key: String, _ time: Date, _ lifecycle: String?) -> NormalizedEvent {
            event(health.map { .cameraStatus($0) } ?? .detection, key: key, time: time, lifecycle: lifecycle)
        }
        /// A false state or a delete: the lifecycle's end, or the camera back online.
        func ended(_ key: String, _ time: Date, _ lifecycle: String) -> NormalizedEvent {
            event(health == nil ? .end : .cameraStatus(.online), key: key, time: time, lifecycle: lifecycle)
        }

        let receivedMillis = Int64((receivedAt.timeIntervalSince1970 * 1000).rounded())
        if payload.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            timeSource = .received // the message carries no time of its own
            return [ended("\(topicLifecycle):deleted:\(receivedMillis)", receivedAt, topicLifecycle)]
        }

        let fields = Self.canonicalKeys(Self.unwrapNotification(try PayloadFields(bytes: payload)))
        let utcTime = try fields.requiredString("UtcTime")
        let time: Date
        let keyTime: String
        if TimeParser.isUnsetClock(utcTime) {
            // The device's clock is unset: the hub's receive time stands in, in the key too
            // (every alarm of such a device carries the same bogus time).
            time = receivedAt
            timeSource = .received
            keyTime = "received-\(receivedMillis)"
        } else {
            // UtcTime is UTC by definition: a time without offset is read as UTC.
            guard let parsed = TimeParser.utc.parse(utcTime) else {
                throw HubError.decode(.invalidValue, "field 'UtcTime' is not an ISO 8601 time: '\(utcTime.prefix(40))'")
            }
            time = parsed
            keyTime = utcTime
        }
        let operation = try Self.operation(fields)
        // Not ONVIF's: a simulator marks drill traffic with a top-level `Drill` (docs/ADAPTERS.md).
        drill = try fields.bool("Drill") ?? false
        let sourceItems = try Self.simpleItems(fields.present("Source"), field: "Source")
        let keyItems = try Self.simpleItems(fields.present("Key"), field: "Key")
        let dataItems = try Self.simpleItems(fields.present("Data"), field: "Data")
        let state = try Self.state(dataItems, preferred: rule.stateItem)

        let sourceKey = (sourceItems + keyItems).map { "\($0.name)=\(Self.text($0.value))" }.sorted()
            .joined(separator: ",")
        let lifecycle = sourceKey.isEmpty ? topicLifecycle : "\(topicLifecycle)|\(sourceKey)"
        let stateKey = state.map { $0 ? "true" : "false" } ?? "-"
        let key = "\(lifecycle):\(keyTime):\(operation?.rawValue ?? "-"):\(stateKey)"

        switch (operation, state) {
        case (.initialized?, false?) where health == nil:
            // The property is false now. Nothing happened, but a lifecycle the hub still holds
            // open lost its false while the bridge was away (a resubscription starts with these
            // snapshots): it ends. An end of a lifecycle nobody holds open changes nothing.
            return [ended(key, time, lifecycle)]
        case (.initialized?, _):
            return []
        case (.deleted?, _):
            return [ended(key, time, lifecycle)]
        case (_, nil):
            return [raised(key, time, nil)]
        case (_, true?):
            return [raised(key, time, lifecycle)]
        case (_, false?):
            return [ended(key, time, lifecycle)]
        }
    }

    /// A `SimpleItem`: name and raw JSON value.
    private struct SimpleItem {
        var name: String
        var value: JSONValue

        /// An item of `field` (`Source`, `Data` …): its name and a string value lose their
        /// trailing NULs, another NUL is refused (`DecodeText`), as both go into keys and lifecycles.
        init(name: String, value: JSONValue, field: String) throws(HubError) {
            self.name = try DecodeText.checked(name, field: "\(field).\(name)") // the detail writes a NUL as \u0000
            if case .string(let text) = value {
                self.value = .string(try DecodeText.checked(text, field: "\(field).\(self.name)"))
            } else {
                self.value = value
            }
        }
    }

    /// Data item names that carry a property's state, in the order they are tried.
    private static let stateNames = [
        "isinside", "state", "ismotion", "istamper", "isloitering", "isabandoned", "active", "logicalstate",
        // TP-Link Tapo's items (Home Assistant's onvif parsers.py).
        "isintrusion", "islinecross", "ispeople", "isvehicle", "ispet", "istpsmartevent",
    ]

    private static let canonicalNames = ["UtcTime", "PropertyOperation", "Source", "Key", "Data", "Drill"]

    /// Renames `utctime`, `utcTime` … to the canonical ONVIF spelling.
    private static func canonicalKeys(_ fields: PayloadFields) -> PayloadFields {
        // The usual case: the keys are spelled canonically already.
        if fields.object.keys.allSatisfy({ key in canonicalNames.contains(key) || !canonicalNames.contains { asciiCaseEqual($0, key) } }) {
            return fields
        }
        // One pass over the members (a payload can have tens of thousands): only the six canonical
        // names can collide, and where two spellings do, the canonical one wins.
        var members: [JSONObject.Element] = []
        members.reserveCapacity(fields.object.count)
        var canonicalAt: [String: Int] = [:]
        for (key, value) in fields.object {
            guard let canonical = canonicalNames.first(where: { asciiCaseEqual($0, key) }) else {
                members.append((key, value))
                continue
            }
            if let i = canonicalAt[canonical] {
                if canonical == key { members[i].value = value }
            } else {
                canonicalAt[canonical] = members.count
                members.append((canonical, value))
            }
        }
        return PayloadFields(object: JSONObject(unique: members), path: fields.path)
    }

    /// A whole `wsnt:NotificationMessage` as zeep serialises it (`{"Topic": …,
    /// "Message": {"_value_1": {"UtcTime": …, "Data": …}}}`): the `tt:Message` inside.
    /// The topic is the MQTT topic's, as for every other shape.
    private static func unwrapNotification(_ fields: PayloadFields) -> PayloadFields {
        guard !fields.object.keys.contains(where: { asciiCaseEqual($0, "UtcTime") }),
              case .object(var message)? = fields.object.first(where: { asciiCaseEqual($0.key, "Message") })?.value
        else { return fields }
        if case .object(let inner)? = message["_value_1"] { message = inner }
        return PayloadFields(object: message, path: "Message")
    }

    /// Members a zeep serialisation adds that carry no item: `_attr_1`, `_value_1`, nulls.
    private static func isBridgeNoise(_ key: String, _ value: JSONValue) -> Bool {
        if key.hasPrefix("_attr_") || key.hasPrefix("_value_") { return true }
        if case .null = value { return true }
        return asciiCaseEqual(key, "ElementItem") || asciiCaseEqual(key, "Extension")
    }

    private static func operation(_ fields: PayloadFields) throws(HubError) -> PropertyOperation? {
        guard let raw = try fields.string("PropertyOperation") else { return nil }
        guard let operation = PropertyOperation.allCases.first(where: { asciiCaseEqual($0.rawValue, raw) })
        else {
            throw HubError.decode(.invalidValue, "PropertyOperation: unknown value \"\(raw)\" (Initialized, Changed, Deleted)")
        }
        return operation
    }

    /// Reads `Source`/`Key`/`Data` in any of the shapes bridges use.
    private static func simpleItems(_ value: JSONValue?, field: String) throws(HubError) -> [SimpleItem] {
        func member(_ object: JSONObject, _ name: String) -> JSONValue? {
            object.first { asciiCaseEqual($0.key, name) }?.value
        }
        switch value {
        case nil:
            return []
        case .array(let entries)?:
            var items: [SimpleItem] = []
            for (index, entry) in entries.enumerated() {
                guard case .object(let object) = entry, case .string(let name)? = member(object, "name") else {
                    throw HubError.decode(.wrongType, "\(field)[\(index)]: expected {\"Name\": string, \"Value\": …}")
                }
                items.append(try SimpleItem(name: name, value: member(object, "value") ?? .null, field: field))
            }
            return items
        case .null?:
            return []
        case .object(let object)?:
            // `{"SimpleItem": …}`, with python-onvif-zeep's `ElementItem`, `Extension`
            // and `_attr_1` beside it: the SimpleItems are the data, the rest is ignored.
            if let wrapped = member(object, "simpleitem") {
                return try simpleItems(wrapped, field: "\(field).SimpleItem")
            }
            if case .string(let name)? = member(object, "name"), let value = member(object, "value"),
               object.allSatisfy({ asciiCaseEqual($0.key, "name") || asciiCaseEqual($0.key, "value") || Self.isBridgeNoise($0.key, $0.value) }) {
                return [try SimpleItem(name: name, value: value, field: field)]
            }
            var items: [SimpleItem] = []
            for (name, value) in object where !Self.isBridgeNoise(name, value) {
                items.append(try SimpleItem(name: name, value: value, field: field))
            }
            return items
        case let other?:
            throw HubError.decode(.wrongType, "\(field): expected an object or a list of SimpleItems, got \(other.typeName)")
        }
    }

    /// The property state, or nil when the event has none (a one-shot event).
    private static func state(_ items: [SimpleItem], preferred: String?) throws(HubError) -> Bool? {
        let names = (preferred.map { [$0] } ?? []) + stateNames
        for name in names {
            if let item = items.first(where: { asciiCaseEqual($0.name, name) }) {
                guard let value = boolean(item.value) else {
                    throw HubError.decode(
                        .invalidValue, "Data.\(item.name): \(text(item.value)) is not a boolean state")
                }
                return value
            }
        }
        return items.lazy.compactMap { item -> Bool? in
            switch item.value {
            case .bool(let value): return value
            case .string(let text) where asciiCaseEqual(text, "true") || asciiCaseEqual(text, "false"): return asciiCaseEqual(text, "true")
            default: return nil
            }
        }.first
    }

    private static func boolean(_ value: JSONValue) -> Bool? {
        switch value {
        case .bool(let value): return value
        case .number(let number) where number == 0 || number == 1: return number == 1
        case .string(let text):
            switch asciiLowercased(trimmedASCII(text)) {
            case "true", "1", "on", "yes": return true
            case "false", "0", "off", "no": return false
            default: return nil
            }
        default: return nil
        }
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let number):
            return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .string(let string): return string
        case .array, .object: return value.typeName
        }
    }
}
