import Foundation

/// A time-boxed rule that mutes matching risk items (静默): maintenance,
/// drills, a known situation. Muted items are kept, marked `suppressed_by`
/// with the silence's id, and count toward no slip.
///
/// Every matcher that is set must match; a silence must set at least one.
/// `zone` matches the zone and every zone below it (a street silences its
/// communities and grids).
public struct Silence: Sendable, Hashable {
    /// `JM-` and a number, unique in the store; muted items name it in `suppressed_by`.
    public var id: String
    /// Mutes this zone and every zone below it; nil: any zone.
    public var zone: String?
    /// Mutes this category only; nil: any.
    public var category: Category?
    /// Mutes this camera or device only; nil: any.
    public var source: String?
    /// `true`: only drill events; `false`: only real ones; nil: both.
    public var drill: Bool?
    /// Start of the muted event times (inclusive).
    public var startsAt: Date
    /// End of the muted event times (exclusive).
    public var endsAt: Date
    /// The operator who created it, for the audit log.
    public var createdBy: String
    /// Why it exists; required.
    public var comment: String
    /// When it was created (processing time).
    public var createdAt: Date

    /// A silence with every field given; `validate()` checks it before it is stored.
    public init(id: String, zone: String? = nil, category: Category? = nil, source: String? = nil, drill: Bool? = nil,
                startsAt: Date, endsAt: Date, createdBy: String, comment: String, createdAt: Date) {
        self.id = id
        self.zone = zone
        self.category = category
        self.source = source
        self.drill = drill
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
        self.createdAt = createdAt
    }

    /// Checks what SPEC.md requires: author, reason, a window, a matcher.
    public func validate() throws(HubError) {
        if createdBy.trimmingCharacters(in: .whitespaces).isEmpty { throw HubError.invalidSilence(field: "created_by", message: "is required") }
        if comment.trimmingCharacters(in: .whitespaces).isEmpty { throw HubError.invalidSilence(field: "comment", message: "is required: say why") }
        if endsAt <= startsAt { throw HubError.invalidSilence(field: "end", message: "must be after start") }
        if zone == nil && category == nil && source == nil && drill == nil {
            throw HubError.invalidSilence(field: "matchers", message: "set at least one of zone, category, source, drill")
        }
    }

    /// Whether the silence is in force at `time`.
    public func isActive(at time: Date) -> Bool { time >= startsAt && time < endsAt }

    /// Whether it mutes an event placed in `chain` (zone codes from the
    /// district down to the event's zone) at event time.
    public func matches(_ event: NormalizedEvent, chain: [String], zone: String) -> Bool {
        guard isActive(at: event.time) else { return false }
        if let category, category != event.category { return false }
        if let source, source != event.source { return false }
        if let drill, drill != event.drill { return false }
        if let z = self.zone, z != zone, !chain.contains(z) { return false }
        return true
    }
}

extension HubError.Code {
    /// A silence cannot be created or ended; `context.field` names the field (`id` for a silence that has ended already).
    public static let invalidSilence = Self("invalid_silence")
}

extension HubError {
    /// Why a silence cannot be created (or ended), naming the field: `"end: must be after start"`.
    public static func invalidSilence(field: String, message: String, fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        HubError(.invalidSilence, message, context: Context(field: field), description: "\(field): \(message)", fileID: fileID, line: line)
    }
}
