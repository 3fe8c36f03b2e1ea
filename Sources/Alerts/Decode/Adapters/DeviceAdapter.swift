import Foundation

/// A patrol report with the fields `NormalizedEvent` has no room for.
public struct DecodedDeviceReport: Sendable, Hashable {
    /// The report as an event (kind `.detection`, category from the payload).
    public var event: NormalizedEvent
    /// The parties named in the report (`parties`), in order; empty when absent.
    public var parties: [String]
    /// The amount at stake in yuan (`amount_cny`), e.g. unpaid wages.
    public var amountCNY: Double?
    /// Photo links (`photo_urls`), in order; empty when absent.
    public var photoURLs: [String]

    /// A decoded report with its extra fields.
    public init(event: NormalizedEvent, parties: [String] = [], amountCNY: Double? = nil, photoURLs: [String] = []) {
        self.event = event
        self.parties = parties
        self.amountCNY = amountCNY
        self.photoURLs = photoURLs
    }
}

/// Decodes the native payloads of grid workers' handheld devices:
/// `{prefix}/device/{device}/checkin`, `/report` and `/sos` (SPEC.md input table).
///
/// Validation is strict, because these payloads are PatrolHub's own contract:
/// a missing required field is `missing_field`, a wrong JSON type `wrong_type`,
/// a coordinate out of range `out_of_range`, an unknown enum value
/// `invalid_value`, and anything that is not a JSON object `malformed`; each
/// detail names the field. Unknown extra fields are ignored.
///
/// - A check-in becomes kind `.checkin(checkpoint:method:)` with category `.other`
///   and severity 4: it is not a risk; the patrol rules act on the kind.
/// - A report becomes a `.detection` of its category (patrol-report categories only).
/// - An SOS becomes a `.detection` of category `.sos`, severity 1; its `kind`
///   (`sos`, `fall`, `duress`) is kept in `description`.
///
/// A payload whose `device_id` or `device` (a string) names another device
/// than its topic is `id_mismatch`.
///
/// The idempotency key is `device:{source}:{message}:{id}`.
public struct DeviceAdapter: EventAdapter {
    /// The values of a check-in's `method`.
    public enum CheckinMethod: String, Sendable, CaseIterable {
        case nfc, qr, gps
    }

    /// The three messages of a patrol device, the last segment of its topic.
    enum Message: String, Sendable {
        case checkin, report, sos
    }

    /// The values of an SOS's `kind`.
    public enum SOSKind: String, Sendable, CaseIterable {
        case sos, fall, duress
    }

    /// Topic prefix, time zone and payload limit.
    public var options: AdapterOptions { didSet { derived = AdapterOptions.Derived(options) } }
    private var derived: AdapterOptions.Derived
    /// Maps the device id in the topic to a registered device id.
    public var resolver: SourceResolver

    /// An adapter for the patrol-device topics under `options.topicPrefix`.
    public init(options: AdapterOptions = AdapterOptions(), resolver: SourceResolver = .identity) {
        self.options = options
        self.derived = AdapterOptions.Derived(options)
        self.resolver = resolver
    }

    /// Decodes a check-in, report or SOS into one event.
    public func decode(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> [NormalizedEvent] {
        [try decodeMessage(topic: topic, payload: payload).1.event]
    }

    /// Decodes a report with its parties, amount and photos.
    ///
    /// - Throws: `unknown_topic` when `topic` is not a `/report` topic, plus every
    ///   validation error of `decode`.
    public func decodeReport(topic: String, payload: [UInt8], receivedAt: Date) throws(HubError) -> DecodedDeviceReport {
        let (message, report) = try decodeMessage(topic: topic, payload: payload)
        guard message == .report else {
            throw HubError.decode(.unknownTopic, "\(topic) is not a device report topic")
        }
        return report
    }

    /// Decodes any of the three messages; non-reports come back with empty extras.
    private func decodeMessage(topic: String, payload: [UInt8]) throws(HubError) -> (Message, DecodedDeviceReport) {
        let device: String
        let message: Message
        switch derived.router.route(topic) {
        case .deviceCheckin(let id)?: (device, message) = (id, .checkin)
        case .deviceReport(let id)?: (device, message) = (id, .report)
        case .deviceSOS(let id)?: (device, message) = (id, .sos)
        default: throw HubError.decode(.unknownTopic, "\(topic) is not {prefix}/device/{device}/checkin|report|sos")
        }
        try checkSize(payload, options)
        let fields = try PayloadFields(bytes: payload)
        // Validate the payload before the source, so a broken payload from an unknown
        // device reports what is wrong with the payload first.
        let id = try fields.requiredString("id")
        try fields.requireOwnID(["device_id", "device"], topicID: device, kind: "device")
        let time = try fields.requiredTime("time", parser: derived.timeParser)
        let location = try fields.location("location")
        let drill = try fields.bool("drill") ?? false

        func event(_ kind: NormalizedEvent.Kind, _ category: Category, _ source: String, description: String?)
            -> NormalizedEvent
        {
            NormalizedEvent(
                key: "device:\(source):\(message.rawValue):\(id)", kind: kind, sourceKind: .device, source: source,
                category: category, time: time, location: location, drill: drill, description: description,
                format: "native")
        }

        switch message {
        case .checkin:
            let checkpoint = try fields.requiredString("checkpoint")
            let method = try fields.enumeration("method", CheckinMethod.self)
            let source = try resolve(device)
            let checkin = event(.checkin(checkpoint: checkpoint, method: method?.rawValue), .other, source, description: nil)
            return (message, DecodedDeviceReport(event: checkin))
        case .report:
            let raw = try fields.requiredString("category")
            guard let category = Category(rawValue: raw), category.family == .patrolReport else {
                let allowed = Category.allCases.filter { $0.family == .patrolReport }.map(\.rawValue)
                throw HubError.decode(
                    .invalidValue, "field 'category' must be a patrol report category (\(allowed.joined(separator: ", "))), found '\(raw.prefix(40))'")
            }
            let description = try fields.string("description")
            let parties = try fields.stringArray("parties") ?? []
            let amount = try fields.double("amount_cny")
            if let amount, amount < 0 {
                throw HubError.decode(.outOfRange, "field 'amount_cny' must be zero or more, found \(amount)")
            }
            let photos = try fields.stringArray("photo_urls") ?? []
            let source = try resolve(device)
            let report = event(.detection, category, source, description: description)
            return (message, DecodedDeviceReport(event: report, parties: parties, amountCNY: amount, photoURLs: photos))
        case .sos:
            let kind = try fields.enumeration("kind", SOSKind.self) ?? .sos
            let source = try resolve(device)
            var sos = event(.detection, .sos, source, description: "sos kind: \(kind.rawValue)")
            sos.severity = .critical
            return (message, DecodedDeviceReport(event: sos))
        }
    }

    private func resolve(_ device: String) throws(HubError) -> String {
        guard let source = resolver(device) else {
            throw HubError.decode(.unknownSource, "device \"\(device)\" is not registered")
        }
        return source
    }
}
