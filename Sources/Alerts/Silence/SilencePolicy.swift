import Foundation

/// The safety rules every new silence must pass (config `silences`), on top
/// of `Silence.validate()`'s shape checks:
///
/// - a category in `neverSilence` (default `sos`) cannot be silenced, and the
///   engine never mutes it even when an older or broader silence matches;
/// - a silence lasts at most `maxDuration` (default 7 days) and starts at most
///   `maxLeadTime` (30 days) after it is created and, unless it is a drill's,
///   at most `maxLookBack` (30 days) before (a silence for a past window mutes
///   late events from it);
/// - at most `maxUnended` (1 000) silences have not ended yet: the pipeline
///   matches every event against them, and each is kept until it ends;
/// - the comment holds at most `maxCommentLength` characters, the other
///   strings at most `maxFieldLength`, none of them control characters
///   (the comment may hold line breaks and tabs);
/// - a silence on every category over a whole district or more (no
///   `category`, no `source`, not `drill: true`, and no `zone` or a district)
///   needs the supervisor role: `SilenceAuthority.supervisor`.
public struct SilencePolicy: Sendable, Hashable {
    /// Categories no silence may mute (default `sos`).
    public var neverSilence: Set<Category> = [.sos]
    /// The longest a silence may last (default 7 days).
    public var maxDuration: TimeInterval = 7 * 86_400
    /// The longest comment, in characters (default 500).
    public var maxCommentLength = 500
    /// `zone`, `source`, `created_by`.
    public static let maxFieldLength = 200
    /// The furthest ahead a silence may start (a silence far in the future never ends, so it is never pruned).
    public static let maxLeadTime: TimeInterval = 30 * 86_400
    /// The furthest back a silence may start: far enough for the late events of a past
    /// maintenance window, not a year-1 start that would make a silence that has always ended.
    public static let maxLookBack: TimeInterval = 30 * 86_400
    /// The most silences not ended yet at once (the store refuses more).
    public static let maxUnended = 1_000

    /// A policy; the defaults are the ones above.
    public init(neverSilence: Set<Category> = [.sos], maxDuration: TimeInterval = 7 * 86_400, maxCommentLength: Int = 500) {
        self.neverSilence = neverSilence
        self.maxDuration = maxDuration
        self.maxCommentLength = maxCommentLength
    }
}

/// Who creates a silence, as far as the silence rules care.
public enum SilenceAuthority: Sendable, Hashable {
    /// May silence a zone, a category or a source, not everything at once.
    case `operator`
    /// May also silence every category over a whole district (the CLI, run on the hub's machine, is one).
    case supervisor
}

extension Silence {
    /// Checks `policy` (see `SilencePolicy`); `topLevelZone` says whether a zone
    /// code is a district (the store knows). Throws naming the field.
    public func validate(policy: SilencePolicy, authority: SilenceAuthority,
                         topLevelZone: (String) -> Bool = { _ in false }) throws(HubError) {
        try validate()
        if let category, policy.neverSilence.contains(category) {
            throw HubError.invalidSilence(field: "category", message: "\(category.rawValue) can never be silenced (silences.never_silence)")
        }
        if startsAt.timeIntervalSince(createdAt) > SilencePolicy.maxLeadTime {
            throw HubError.invalidSilence(field: "start", message: "a silence starts at most \(Self.durationText(SilencePolicy.maxLeadTime)) ahead; this one would start in \(Self.durationText(startsAt.timeIntervalSince(createdAt)))")
        }
        // A drill's silence matches drill events only, at the scenario's event times, which a
        // replayed drill (`--start` of a past day) sets as far back as it was run.
        if drill != true, createdAt.timeIntervalSince(startsAt) > SilencePolicy.maxLookBack {
            throw HubError.invalidSilence(field: "start", message: "a silence starts at most \(Self.durationText(SilencePolicy.maxLookBack)) before it is created; this one would start \(Self.durationText(createdAt.timeIntervalSince(startsAt))) before")
        }
        let length = endsAt.timeIntervalSince(startsAt)
        if length > policy.maxDuration {
            throw HubError.invalidSilence(field: "end", message: "a silence lasts at most \(Self.durationText(policy.maxDuration)) (silences.max_duration); this one would last \(Self.durationText(length))")
        }
        let comment = self.comment
        // Counted in Unicode scalars, not grapheme clusters: one "character" of combining marks can be megabytes.
        if comment.unicodeScalars.count > policy.maxCommentLength {
            throw HubError.invalidSilence(field: "comment", message: "at most \(policy.maxCommentLength) characters, found \(comment.unicodeScalars.count)")
        }
        if comment.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" }) {
            throw HubError.invalidSilence(field: "comment", message: "must not hold control characters (line breaks and tabs are fine)")
        }
        for (field, value) in [("zone", zone), ("source", source), ("created_by", createdBy)] {
            guard let value else { continue }
            if value.unicodeScalars.count > SilencePolicy.maxFieldLength {
                throw HubError.invalidSilence(field: field, message: "at most \(SilencePolicy.maxFieldLength) characters, found \(value.unicodeScalars.count)")
            }
            if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw HubError.invalidSilence(field: field, message: "must not hold control characters")
            }
        }
        if authority != .supervisor, mutesEverything(topLevelZone: topLevelZone) {
            throw HubError.invalidSilence(field: "matchers", message: "a silence on every category over a whole district needs the supervisor role: set a category, a source, or a zone below the district")
        }
    }

    /// No category and no source, over no zone or a district, and not only
    /// drill traffic: every kind of real event in a district or more.
    public func mutesEverything(topLevelZone: (String) -> Bool) -> Bool {
        category == nil && source == nil && drill != true && (zone.map(topLevelZone) ?? true)
    }

    /// `7d`, `36h`, `90m`, `45s`, or years for the absurd.
    static func durationText(_ seconds: TimeInterval) -> String {
        if seconds >= 365 * 86_400 { return HubFormat.fixed(seconds / (365.25 * 86_400), digits: 0) + " years" }
        if seconds >= 86_400, seconds.truncatingRemainder(dividingBy: 86_400) == 0 { return "\(Int(seconds / 86_400))d" }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        return "\(Int(seconds))s"
    }
}
