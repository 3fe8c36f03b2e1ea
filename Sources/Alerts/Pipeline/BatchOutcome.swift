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
    /// Warning slips closed elsewhere (a case action) that the engine forgot in this batch, with
    /// their count start (`Slip.countAfter`), for the store to keep beside their closing.
    public var slipCountStarts: [String: Date] = [:]
    /// Warning slips issued in this batch, in issue order (each gets a `slip.issued` audit entry).
    public var issuedSlips: [Slip] = []
    /// Cases opened or joined by new evidence, by id.
    public var cases: [CaseChange] = []
    /// Patrol supervision's writes (check-in records, slot verdicts, misses found by gap
    /// detection, closed misses), in event order: the store applies them before the rest.
    public var patrol: [PatrolEffect] = []

    /// An empty outcome; `BatchStage` fills it as it runs.
    public init() {}

    /// The key of an accepted event and its event time.
    public struct AcceptedKey: Sendable, Hashable {
        /// The event's dedup key (`camera:ID:EVENT`, `status:ID:HASH`, …).
        public var key: String
        /// Its event time, unix seconds: retention deletes keys by it.
        public var time: Double
    }

    /// A message the pipeline refused, with why.
    public struct DeadLetter: Sendable, Hashable {
        /// The inbox row refused.
        public var record: InboxRecord
        /// Why it was refused.
        public var error: HubError
    }

    /// How often a foreign input was seen in the batch.
    public struct UnmappedSightings: Sendable, Hashable {
        /// Messages of the input in the batch.
        public var count: Int
        /// Receive time of the first, unix seconds.
        public var first: Double
        /// Receive time of the last, unix seconds.
        public var last: Double
    }

    /// A camera's status as of an event time.
    public struct CameraStatusChange: Sendable, Hashable {
        /// The camera's id.
        public var camera: String
        /// The status it reported.
        public var status: CameraStatus
        /// The event time of the report; the store keeps the newest.
        public var at: Date
        /// A drill's status: kept apart from the camera's real status (`cameras.drill_status`).
        public var drill = false
    }

    /// One accepted event as the event log keeps it.
    public struct EventLogRow: Sendable, Hashable {
        /// Event time, unix seconds.
        public var time: Double
        /// The risk item the event joined or opened.
        public var itemID: String
        /// The zone the event was placed in.
        public var zone: String
        /// The event's category.
        public var category: Category
        /// Whether it counts towards new windows when the engine's memory is rebuilt after a restart (late and muted events do not).
        public var counted: Bool
    }

    /// A warning slip as it is after the batch.
    public struct SlipChange: Sendable, Hashable {
        /// The slip with its fields after the batch.
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
        /// The case with its fields after the batch.
        public var value: Case
        /// The event-time span of its evidence.
        public var evidenceFrom: Date
        /// The event time of its newest evidence.
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
    /// The inbox row's sequence number: the pipeline's cursor advances past it.
    public var seq: Int64
    /// The message's 128-bit idempotency key (see `InboxMessage`).
    public var keyHigh: UInt64
    /// The low half of the idempotency key.
    public var keyLow: UInt64
    /// The MQTT topic it arrived on; the topic router picks the decoder by it.
    public var topic: String
    /// The payload bytes as received (or their head, when `truncated`).
    public var payload: [UInt8]
    /// When the hub received it (the event time of events whose device clock is unset).
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
    /// The high 64 bits.
    public var high: UInt64
    /// The low 64 bits.
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

    /// Byte-wise equality of the UTF-8 text, as SQLite's unique index compares (one `memcmp`
    /// of the two buffers: `utf8.elementsEqual` would walk them byte by byte through indices).
    public static func == (a: EventKey, b: EventKey) -> Bool {
        guard a.text.utf8.count == b.text.utf8.count else { return false }
        var x = a.text, y = b.text
        return x.withUTF8 { p in
            y.withUTF8 { q in p.count == 0 || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0 }
        }
    }

    /// Hashes the UTF-8 bytes, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
