import Foundation

/// Everything one batch of inbox messages changes, as values: what the store
/// writes in the batch's one transaction (`commit(_:cursor:)` of the store),
/// computed by `BatchStage` without a database.
///
/// Lists are in the order the store writes them: dead letters in inbox order,
/// slips and cases by id, camera statuses and event-log rows in event order.
public struct BatchOutcome: Sendable {
    /// Messages in the batch.
    public var messages = 0
    /// Events handled (not duplicates, not in a dead letter's message after its refused event).
    public var events = 0
    /// Events whose key the store held or an earlier event of the batch had.
    public var duplicates = 0
    /// The keys of the events handled, with their event times (unix seconds): the store records
    /// them, and a later event with one of them is a duplicate.
    public var eventKeys: [AcceptedKey] = []
    /// Messages that became dead letters, in inbox order.
    public var deadLetters: [DeadLetter] = []
    /// Foreign inputs no adapter rule maps, by input: sightings, first and last receive time.
    public var unmapped: [UnmappedInput: UnmappedSightings] = [:]
    /// Camera status changes, in event order (the store keeps the newest by `at`).
    public var cameraStatuses: [CameraStatusChange] = []
    /// One row per accepted event for the event log (what a restart restores the windows from).
    public var eventLog: [EventLogRow] = []
    /// Events that arrived later than the lateness allows (added to the `late_events` counter).
    public var lateEvents = 0
    /// Risk items created or changed, by id (each as it is after the batch).
    public var items: [String: RiskItem] = [:]
    /// Warning slips created or changed, by id.
    public var slips: [SlipChange] = []
    /// Warning slips issued in this batch, in issue order (each gets a `slip.issued` audit entry).
    public var issuedSlips: [Slip] = []
    /// Cases opened or joined by new evidence, by id.
    public var cases: [CaseChange] = []
    /// Patrol supervision's writes (check-in records, slot verdicts, misses found by gap
    /// detection, closed misses), in event order: the store applies them before the rest.
    public var patrol: [PatrolEffect] = []

    public init() {}

    /// The key of an accepted event and its event time.
    public struct AcceptedKey: Sendable, Hashable {
        public var key: String
        public var time: Double
    }

    /// A message the pipeline refused, with why.
    public struct DeadLetter: Sendable, Hashable {
        public var record: InboxRecord
        public var error: HubError
    }

    /// How often a foreign input was seen in the batch.
    public struct UnmappedSightings: Sendable, Hashable {
        public var count: Int
        public var first: Double
        public var last: Double
    }

    /// A camera's status as of an event time.
    public struct CameraStatusChange: Sendable, Hashable {
        public var camera: String
        public var status: CameraStatus
        public var at: Date
    }

    /// One accepted event as the event log keeps it.
    public struct EventLogRow: Sendable, Hashable {
        public var time: Double
        public var itemID: String
        public var zone: String
        public var category: Category
        public var counted: Bool
    }

    /// A warning slip as it is after the batch.
    public struct SlipChange: Sendable, Hashable {
        public var slip: Slip
        /// The event time that opened its window.
        public var anchor: Date
        /// Its items to link now (those not linked before; empty when `publish` is false).
        public var newItems: [String]
        /// Its linked items, severity, case or closing changed: it is published again.
        public var publish: Bool
    }

    /// A case as new evidence left it.
    public struct CaseChange: Sendable, Hashable {
        public var value: Case
        /// The event-time span of its evidence.
        public var evidenceFrom: Date
        public var evidenceAt: Date
        /// Opened in this batch (inserted whole) rather than joined (evidence fields updated).
        public var isNew: Bool
        /// Its items to link now; nil when this process does not know which are linked already
        /// (after a restart): then those of `value.riskItemIDs` the store has not linked.
        public var newItems: [String]?
        /// Its items or severity changed since it was last published by this process.
        public var publish: Bool
        /// New evidence moves it to the district's unit (unless a person ended it meanwhile:
        /// the store decides, on the stored case; a reroute that applies publishes the case).
        public var reroute: CaseReroute?
    }
}

/// One inbox row as the pipeline reads it.
public struct InboxRecord: Sendable, Hashable {
    public var seq: Int64
    /// The message's 128-bit idempotency key (see `InboxMessage`).
    public var keyHigh: UInt64
    public var keyLow: UInt64
    public var topic: String
    public var payload: [UInt8]
    public var receivedAt: Date
    /// Set when `payload` is only the head of an oversized payload (see `InboxMessage`).
    public var oversized: InboxMessage.Oversized? = nil

    /// A record as read from the inbox.
    public init(seq: Int64, keyHigh: UInt64, keyLow: UInt64, topic: String, payload: [UInt8], receivedAt: Date,
                oversized: InboxMessage.Oversized? = nil) {
        self.seq = seq
        self.keyHigh = keyHigh
        self.keyLow = keyLow
        self.topic = topic
        self.payload = payload
        self.receivedAt = receivedAt
        self.oversized = oversized
    }

    /// The key in hex, as dead letters record it.
    public var key: String { StableHash.hex((keyHigh, keyLow)) }

    /// The 128-bit key as one hashable value.
    public var messageKey: MessageKey { MessageKey(high: keyHigh, low: keyLow) }
}

/// A message's 128-bit idempotency key.
public struct MessageKey: Sendable, Hashable {
    public var high: UInt64
    public var low: UInt64
    /// The key from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// An event key compared and hashed by its UTF-8 bytes, as the store's unique
/// index compares it (`String` equality is Unicode's: two keys that differ
/// only in normalization are two keys to the store, and so here).
public struct EventKey: Hashable, Sendable {
    /// The key.
    public let text: String
    /// Wraps a key.
    public init(_ text: String) { self.text = text }

    public static func == (a: EventKey, b: EventKey) -> Bool {
        a.text.utf8.elementsEqual(b.text.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
