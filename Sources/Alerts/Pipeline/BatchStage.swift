import Foundation

/// What this process last published of each slip and case: its linked items
/// (append-only lists), severity, case and whether it was closed. A change
/// that only moves counters or times updates the row but is not linked,
/// audited or published again; a new item, a severity or a case link is.
/// A restart seeds it from the store's rows of the slips and cases the engine
/// restores (`init(restoring:)`); others, pruned (`keep(only:)`), are published
/// once more if they change again (at least once). (A case's category changes
/// only with its severity, so a case needs no more.)
public struct PublishedMemory: Sendable, Equatable {
    /// What was last published of one slip or case.
    public struct Entry: Sendable, Equatable {
        /// Items linked when it was last published.
        public var items: Int
        /// Severity when it was last published.
        public var severity: Severity
        /// The case a slip was linked to when it was last published.
        public var caseID: String? = nil
        /// Whether it was closed when it was last published.
        public var closed = false
        /// An entry.
        public init(items: Int, severity: Severity, caseID: String? = nil, closed: Bool = false) {
            self.items = items
            self.severity = severity
            self.caseID = caseID
            self.closed = closed
        }
    }

    /// By slip or case id.
    public var entries: [String: Entry] = [:]
    /// An empty memory.
    public init() {}

    /// What the store holds of the slips and cases a restored engine holds (`snapshot`): as they
    /// were last published, since each publication is written with its change. A restarted hub
    /// then publishes only what changes, as the running one would have.
    public init(restoring snapshot: RiskEngine.Snapshot) {
        for (slip, _) in snapshot.recentSlips where slip.kind == .warning {
            entries[slip.id] = Entry(items: slip.riskItemIDs.count, severity: slip.severity, caseID: slip.caseID, closed: slip.state == .closed)
        }
        for c in snapshot.recentCases {
            entries[c.value.id] = Entry(items: c.value.riskItemIDs.count, severity: c.value.severity)
        }
    }

    /// Slips and cases remembered.
    public var count: Int { entries.count }

    /// Keeps only the ids in `held` (the slips and cases the engine holds open: only they
    /// can change again through it; a later change of another is published once more, at worst).
    public mutating func keep(only held: Set<String>) {
        entries = entries.filter { held.contains($0.key) }
    }
}

/// The pipeline's batch as one function of values: inbox records in, a
/// `BatchOutcome` out. Two steps, because the duplicate check needs the
/// store between them: `decode` gives the batch's event keys, the store says
/// which of them it holds, and `run` handles the events through the engine.
///
/// Neither touches a database: what the store knows enters as values
/// (`known`, `closedElsewhere`, the `PatrolLedger`), and everything the batch
/// changes leaves as the `BatchOutcome`.
public enum BatchStage {
    /// A batch after decoding.
    public struct Decoded: Sendable {
        /// The messages that decoded, in inbox order, each with its events.
        public var messages: [(index: Int, events: [NormalizedEvent])] = []
        /// The messages refused while decoding, by index into the batch.
        public var failures: [(index: Int, error: HubError)] = []
        /// Every decoded event's key, in order (what the store is asked about).
        public var keys: [String] = []
        /// Foreign inputs no rule maps.
        public var unmapped: [UnmappedInput: BatchOutcome.UnmappedSightings] = [:]
        /// The records.
        public var records: [InboxRecord] = []
    }

    /// Decodes every record of the batch (so that its event keys go to the store together).
    ///
    /// A record is refused (a failure with its reason) when its payload was
    /// oversized, when it has the bytes of a message that crashed the hub
    /// (`crashedKeys`), when it does not decode, or when one of its events is
    /// older than `tooOldBefore` (unix seconds: the newest event time minus the
    /// key retention; nil: no limit), whose duplicate check is gone.
    public static func decode(_ records: [InboxRecord], with decode: DecodeStage, now: Date, crashedKeys: Set<MessageKey>,
                              tooOldBefore: Double?, keyRetention: TimeInterval?) -> Decoded {
        var out = Decoded()
        out.records = records
        out.messages.reserveCapacity(records.count)
        out.keys.reserveCapacity(records.count)
        let maxPayloadBytes = decode.maxPayloadBytes
        for (index, record) in records.enumerated() {
            if let o = record.oversized {
                out.failures.append((index, HubError.decode(.oversized, "payload is \(o.size) bytes, the limit is \(maxPayloadBytes) (limits.max_payload_bytes); only its first \(record.payload.count) bytes are kept, SHA-256 \(o.sha256)")))
                continue
            }
            if !crashedKeys.isEmpty, crashedKeys.contains(record.messageKey) {
                out.failures.append((index, HubError.decode(.crashed, "the same bytes as a message that crashed the hub (dead letter \(record.key)); not processed again")))
                continue
            }
            do {
                var unmapped: UnmappedInput?
                let events = try decode.decode(topic: record.topic, payload: record.payload, now: now, receivedAt: record.receivedAt, unmapped: &unmapped)
                if let unmapped {
                    let t = record.receivedAt.timeIntervalSince1970
                    let seen = out.unmapped[unmapped]
                    out.unmapped[unmapped] = .init(count: (seen?.count ?? 0) + 1, first: min(seen?.first ?? t, t), last: max(seen?.last ?? t, t))
                }
                if let tooOldBefore, let old = events.first(where: { $0.time.timeIntervalSince1970 < tooOldBefore }) {
                    out.failures.append((index, HubError.decode(.tooOld, "event time \(old.time.rfc3339) is more than retention.event_keys_hours (\(Int(keyRetention ?? 0) / 3600)) behind the newest event time: its duplicate check is gone, so it is not processed")))
                    continue
                }
                out.messages.append((index, events))
                for event in events { out.keys.append(event.key) }
            } catch {
                out.failures.append((index, error))
            }
        }
        return out
    }

    /// Handles the decoded events in order and gathers what the batch changes.
    ///
    /// - An event whose key is in `known` (the store holds it) or was accepted
    ///   earlier in the batch is a duplicate.
    /// - A check-in goes to `patrol` first (`PatrolStage.checkin`, with the
    ///   store's `ledger` and the engine's item ids): its effects join the
    ///   outcome's `patrol`, in event order. A `HubError.decode` from it makes its
    ///   message a dead letter: that event and the message's later ones are not
    ///   handled, and their keys are not recorded (a later copy is new).
    /// - `closedElsewhere`: warning slips someone else closed since the last
    ///   batch (a case action): the engine forgets them, so no item joins them again.
    /// - `published` decides which slips and cases are published and which
    ///   items are linked, and is updated to what the outcome publishes.
    public static func run(_ batch: Decoded, known: Set<EventKey>, now: Date, closedElsewhere: Set<String> = [],
                           engine: inout RiskEngine, published: inout PublishedMemory,
                           patrol: PatrolStage? = nil, ledger: PatrolLedger = PatrolLedger()) -> BatchOutcome {
        var out = BatchOutcome()
        var ledger = ledger
        out.messages = batch.records.count
        out.unmapped = batch.unmapped
        if !closedElsewhere.isEmpty {
            out.slipCountStarts = engine.forgetClosedSlips(closedElsewhere)
            for id in closedElsewhere {
                if var p = published.entries[id] { p.closed = true; published.entries[id] = p }
            }
        }
        let lateBefore = engine.lateEvents
        var failures = batch.failures
        var items: [String: RiskItem] = [:]
        var slips: [String: (slip: Slip, anchor: Date)] = [:]
        var cases: [String: (value: Case, evidenceFrom: Date, evidenceAt: Date, isNew: Bool)] = [:]
        var reroutes: [String: CaseReroute] = [:]
        // Keys accepted in this batch, with the position of their entry in `out.eventKeys`.
        var accepted: [EventKey: Int] = [:]
        accepted.reserveCapacity(batch.keys.count)
        out.eventKeys.reserveCapacity(batch.keys.count)
        out.eventLog.reserveCapacity(batch.keys.count)
        var effects: [EngineEffect] = []
        for (index, events) in batch.messages {
            var recordedHere: [EventKey] = [] // keys this message recorded: forgotten again if it is refused
            do throws(HubError) {
                for event in events {
                    let key = EventKey(event.key)
                    guard !known.contains(key), accepted[key] == nil else {
                        out.duplicates += 1
                        continue
                    }
                    accepted[key] = out.eventKeys.count
                    out.eventKeys.append(.init(key: event.key, time: event.time.timeIntervalSince1970))
                    recordedHere.append(key)
                    if let patrol, case .checkin = event.kind,
                       let checkin = try patrol.checkin(event, now: now, ledger: &ledger, itemIDs: &engine.itemIDs) { // throws before changing anything
                        out.patrol += checkin.effects
                    }
                    out.events += 1
                    effects.removeAll(keepingCapacity: true)
                    engine.handle(event, now: now, into: &effects)
                    for effect in effects {
                        switch effect {
                        case .item(let item):
                            items[item.id] = item
                        case .slip(let slip, let anchor, let isNew):
                            if isNew { out.issuedSlips.append(slip) }
                            slips[slip.id] = (slip, anchor)
                        case .cameraStatus(let camera, let status, let at, let drill):
                            out.cameraStatuses.append(.init(camera: camera, status: status, at: at, drill: drill))
                        case .accepted(_, let itemID, let zone, let category, let time, let counted):
                            out.eventLog.append(.init(time: time.timeIntervalSince1970, itemID: itemID, zone: zone, category: category, counted: counted))
                        case .caseChanged(let value, let evidenceFrom, let evidenceAt, let isNew):
                            let previous = cases[value.id]
                            cases[value.id] = (value, min(evidenceFrom, previous?.evidenceFrom ?? evidenceFrom),
                                               max(evidenceAt, previous?.evidenceAt ?? evidenceAt), isNew || previous?.isNew == true)
                        case .caseRerouted(var r):
                            if let earlier = reroutes[r.caseID] { r.fromUnit = earlier.fromUnit }
                            reroutes[r.caseID] = r
                        }
                    }
                }
            } catch {
                failures.append((index, error))
                // The message is a dead letter: the key of its refused event is forgotten
                // (the events before it were handled and keep theirs).
                if let refused = recordedHere.last, let at = accepted.removeValue(forKey: refused) {
                    out.eventKeys.remove(at: at)
                }
            }
        }
        out.deadLetters = failures.sorted { $0.index < $1.index }.map { .init(record: batch.records[$0.index], error: $0.error) }
        out.lateEvents = engine.lateEvents - lateBefore
        out.items = items
        for (id, s) in slips.sorted(by: { $0.key < $1.key }) {
            let slip = s.slip
            let now = PublishedMemory.Entry(items: slip.riskItemIDs.count, severity: slip.severity, caseID: slip.caseID, closed: slip.state == .closed)
            let previous = published.entries[id]
            let publish = previous != now
            if publish { published.entries[id] = now }
            out.slips.append(.init(slip: slip, anchor: s.anchor, newItems: publish ? Array(slip.riskItemIDs.dropFirst(previous?.items ?? 0)) : [],
                                   publish: publish))
        }
        for (id, change) in cases.sorted(by: { $0.key < $1.key }) {
            let c = change.value
            let now = PublishedMemory.Entry(items: c.riskItemIDs.count, severity: c.severity)
            let previous = published.entries[id]
            // The items not linked yet: known from what this process wrote, else (after a restart) the store's.
            let newItems: [String]? = previous.map { Array(c.riskItemIDs.dropFirst($0.items)) } ?? (change.isNew ? c.riskItemIDs : nil)
            published.entries[id] = now
            out.cases.append(.init(value: c, evidenceFrom: change.evidenceFrom, evidenceAt: change.evidenceAt, isNew: change.isNew,
                                   newItems: newItems, publish: previous != now, reroute: reroutes[id]))
        }
        return out
    }
}
