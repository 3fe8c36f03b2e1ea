import Foundation

/// One row of the append-only patrol log (`patrol_records`): a check-in or a verdict.
public struct PatrolRecord: Sendable, Hashable {
    /// What the row records.
    public enum Kind: String, Sendable, Hashable {
        /// A check-in event (any status, also unscheduled).
        case checkin
        /// A slot declared missed.
        case missed
    }

    /// The slot's correlation id; nil for an unscheduled check-in.
    public var slotID: String?
    /// A check-in or a verdict.
    public var kind: Kind
    /// How the check-in counted, or the slot's verdict.
    public var status: PatrolStatus
    /// The patrol device that checked in (or was due to).
    public var device: String
    /// The worker the device belongs to, when known.
    public var worker: String?
    /// The route of the slot, when scheduled.
    public var route: String?
    /// The checkpoint checked in at (or due).
    public var checkpoint: String
    /// The checkpoint's zone, when known.
    public var zone: String?
    /// The check-in's event key (nil for a verdict).
    public var eventKey: String?
    /// The check-in's event time, or the slot's grace end for a verdict.
    public var time: Date
    /// How the check-in was made (NFC, QR, GPS...), when reported.
    public var method: String?
    /// Where the device reported being, when it did.
    public var location: GeoPoint?
    /// Distance from the checkpoint, when a location was reported.
    public var distanceMetres: Double?
    /// Why, in plain language (distance, or the miss's item and letter).
    public var detail: String

    /// A record.
    public init(slotID: String?, kind: Kind, status: PatrolStatus, device: String, worker: String?, route: String?, checkpoint: String,
                zone: String?, eventKey: String? = nil, time: Date, method: String? = nil, location: GeoPoint? = nil,
                distanceMetres: Double? = nil, detail: String) {
        self.slotID = slotID
        self.kind = kind
        self.status = status
        self.device = device
        self.worker = worker
        self.route = route
        self.checkpoint = checkpoint
        self.zone = zone
        self.eventKey = eventKey
        self.time = time
        self.method = method
        self.location = location
        self.distanceMetres = distanceMetres
        self.detail = detail
    }
}

/// What the store holds of a decided slot (a row of `patrol_slots`): the
/// verdict and, after a miss, its risk item and reminder letter.
public struct PatrolSlotState: Sendable, Hashable {
    /// The slot's verdict.
    public var status: PatrolStatus
    /// The missed_checkpoint risk item (kept after a late check-in).
    public var riskItemID: String?
    /// The reminder letter (kept after a late check-in).
    public var slipID: String?

    /// A slot's state.
    public init(status: PatrolStatus, riskItemID: String? = nil, slipID: String? = nil) {
        self.status = status
        self.riskItemID = riskItemID
        self.slipID = slipID
    }
}

/// A slot declared missed: everything the store writes for it.
public struct PatrolMiss: Sendable, Hashable {
    /// The slot missed.
    public var slot: PatrolSlot
    /// The missed_checkpoint risk item (seq from its id).
    public var item: RiskItem
    /// The reminder letter (提醒函, kind `.reminder`), linked to `item`.
    public var letter: Slip
    /// The letter's seq (the number in its id).
    public var letterSeq: Int
    /// The letter's idempotency key (`PatrolStage.letterTrigger(slotID:)`): a letter is issued once per slot.
    public var trigger: String
    /// The `missed` record.
    public var record: PatrolRecord
}

/// One write of patrol supervision, in the order the store applies them
/// (a later effect may read what an earlier one wrote: a letter closed in the
/// batch that issued it).
public enum PatrolEffect: Sendable, Hashable {
    /// A slot missed: its risk item, reminder letter and link, the slot's
    /// `missed` verdict, the `missed` record, the letter's `slip.issued` audit
    /// entry, and the letter published on `{prefix}/out/slips` (as stored).
    case missed(PatrolMiss)
    /// A check-in's record.
    case record(PatrolRecord)
    /// A slot's first verdict, set by a check-in at `at`.
    case slotCheckedIn(PatrolSlot, status: PatrolStatus, at: Date, distanceMetres: Double?)
    /// A decided slot's verdict improved by a check-in at `at`.
    case slotImproved(slotID: String, status: PatrolStatus, at: Date, distanceMetres: Double?)
    /// A missed slot's risk item closed by a covering check-in (if still open), its last
    /// sighting moved to the check-in's time `at` when later.
    case itemClosed(id: String, at: Date)
    /// A missed slot's reminder letter closed by a covering check-in, audited
    /// (`slip.closed` with `detail`) and published again under the same id (as stored).
    case letterClosed(id: String, detail: String)
}

/// A check-in of a device at an event time: what the store is asked its
/// neighbours for (`PatrolNeighbours`).
public struct PatrolCheckinAt: Sendable, Hashable {
    /// The device that checked in.
    public var device: String
    /// The check-in's event time.
    public var time: Date

    /// A device's check-in time.
    public init(device: String, time: Date) {
        self.device = device
        self.time = time
    }
}

/// The event times of a device's check-ins the store holds just before and
/// just after a time (strictly; any status): the ends of the gaps a check-in there closes.
public struct PatrolNeighbours: Sendable, Hashable {
    /// The latest check-in before the time, if any.
    public var previous: Date?
    /// The earliest check-in after the time, if any.
    public var next: Date?

    /// Neighbours.
    public init(previous: Date? = nil, next: Date? = nil) {
        self.previous = previous
        self.next = next
    }
}

/// What patrol supervision knows of the store for one batch or tick, as
/// values the store loads before `PatrolStage` runs; the stage updates it
/// with what it decides, so a later check-in of the batch sees an earlier one.
public struct PatrolLedger: Sendable, Hashable {
    /// The store's neighbours of each of the batch's check-ins (absent: none).
    public var neighbours: [PatrolCheckinAt: PatrolNeighbours] = [:]
    /// The decided slots among those the batch or tick concerns, by slot id (absent: undecided).
    public var slots: [String: PatrolSlotState] = [:]
    /// Slots whose reminder letter exists (its trigger is in the store), by slot id:
    /// their letter is never issued again, even when their verdict row is gone.
    public var lettersIssued: Set<String> = []
    /// The highest reminder letter seq the store holds (0: none).
    public var lastLetterSeq = 0
    /// Check-in times this batch recorded so far, by device.
    var recorded: [String: [Date]] = [:]

    /// A ledger (empty: a store without patrol history).
    public init(neighbours: [PatrolCheckinAt: PatrolNeighbours] = [:], slots: [String: PatrolSlotState] = [:],
                lettersIssued: Set<String> = [], lastLetterSeq: Int = 0) {
        self.neighbours = neighbours
        self.slots = slots
        self.lettersIssued = lettersIssued
        self.lastLetterSeq = lastLetterSeq
    }

    /// The device's check-ins just before and after `time`, among the store's and the batch's so far.
    func around(device: String, time: Date) -> PatrolNeighbours {
        var n = neighbours[PatrolCheckinAt(device: device, time: time)] ?? PatrolNeighbours()
        for t in recorded[device] ?? [] {
            if t < time, n.previous.map({ t > $0 }) ?? true { n.previous = t }
            if t > time, n.next.map({ t < $0 }) ?? true { n.next = t }
        }
        return n
    }
}

/// What one scheduler tick decides, as values: the store commits it in one
/// transaction (`commit(_:now:)` of the store).
public struct PatrolTickOutcome: Sendable, Hashable {
    /// The summary (what the hub logs and tests check).
    public var result = PatrolTickResult()
    /// The misses, in due order.
    public var effects: [PatrolEffect] = []
    /// Where the scheduler's evaluation now stands (nil: unchanged).
    public var evaluatedUntil: Date?

    /// An outcome that changes nothing.
    public init() {}
}

/// What one scheduler tick did.
public struct PatrolTickResult: Sendable, Hashable {
    /// Slots whose grace ended in the evaluated span.
    public var evaluated = 0
    /// Of those, the ones without a check-in: declared missed now.
    public var missed: [String] = []
    /// Reminder letters issued (one per missed slot).
    public var letters: [String] = []
    /// The span evaluated, `(from, through]`; nil on the very first tick without `effective_from`.
    public var from: Date?
    /// The end of the span evaluated, inclusive; nil when nothing was.
    public var through: Date?
    /// Nothing evaluated.
    public init() {}
}
