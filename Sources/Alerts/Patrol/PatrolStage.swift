import Foundation

/// Patrol supervision as functions of values: check-ins matched to slots,
/// with gap detection on event time (`checkin`, run by `BatchStage.run` for
/// each check-in event), and the wall-clock missed-checkpoint scheduler
/// (`tick`). Both read what the store knows from a `PatrolLedger` the store
/// loads first, and return `PatrolEffect`s the store writes in the batch's
/// or the tick's one transaction. Item ids come from the caller's
/// `ItemIDAllocator` (the engine's), letter seqs from the ledger.
///
/// The verdict of a slot only ever improves: nothing → outside_radius →
/// missed → late → on_time, where a flagged (outside-radius) check-in never
/// undoes a miss, and a covered check-in after a miss (a late one, or one a
/// device buffered while offline) closes the missed_checkpoint risk item and
/// its reminder letter (republished, closed, under the same id).
public struct PatrolStage: Sendable {
    /// The schedule of slots the check-ins are matched against.
    public let plan: PatrolPlan
    /// `{prefix}` of `{prefix}/out/slips`, where the letters of a tick go.
    public let outputPrefix: String
    /// Severity of `missed_checkpoint` items (rules.yaml may override the default, 3).
    public let severity: Severity

    /// A stage for `plan`.
    public init(plan: PatrolPlan, outputPrefix: String, rules: RuleSet = RuleSet()) {
        self.plan = plan
        self.outputPrefix = outputPrefix
        self.severity = rules.severity(of: .missedCheckpoint)
    }

    /// What one check-in did.
    public struct CheckinResult: Sendable, Hashable {
        /// The slot the check-in was matched to; nil for an unscheduled one.
        public var slotID: String?
        /// How the check-in itself counted.
        public var status: PatrolStatus
        /// The slot's verdict after it (nil for an unscheduled check-in).
        public var slotStatus: PatrolStatus?
        /// Distance from the checkpoint, when a location was reported.
        public var distanceMetres: Double?
        /// The missed_checkpoint item closed by this check-in, if any.
        public var closedItemID: String?
        /// The reminder letter closed by this check-in, if any.
        public var closedSlipID: String?
        /// Slots this check-in's gap detection declared missed (ids, by due time).
        public var missed: [String] = []
        /// The reminder letters issued for them.
        public var letters: [String] = []
        /// The writes, in order.
        public var effects: [PatrolEffect] = []
    }

    /// The trigger of a slot's reminder letter (`slips.trigger`): a letter is issued once per slot.
    public static func letterTrigger(slotID: String) -> String { "patrol:\(slotID):missed" }

    // MARK: - What the store loads

    /// The check-ins of a decoded batch (device and event time): the store
    /// loads their neighbours (`PatrolNeighbours`) before `slotsConcerned`.
    public static func checkins(in batch: BatchStage.Decoded) -> [PatrolCheckinAt] {
        var out: [PatrolCheckinAt] = []
        for (_, events) in batch.messages {
            for event in events {
                if case .checkin = event.kind { out.append(PatrolCheckinAt(device: event.source, time: event.time)) }
            }
        }
        return out
    }

    /// The slots whose state the batch's check-ins may read, given the
    /// store's neighbours of each: each check-in's own slot, and every slot of
    /// the device's routes whose grace ends between the earliest and the
    /// latest of the device's check-ins and their neighbours (a superset of
    /// every gap `checkin` can decide, whatever the batch's order). Sorted.
    public func slotsConcerned(by batch: BatchStage.Decoded, neighbours: [PatrolCheckinAt: PatrolNeighbours]) -> [String] {
        var ids: Set<String> = []
        var span: [String: (lo: Date, hi: Date)] = [:]
        for (_, events) in batch.messages {
            for event in events {
                guard case .checkin(let checkpoint, _) = event.kind else { continue }
                if case .slot(let slot, _) = plan.match(device: event.source, checkpoint: checkpoint, at: event.time) { ids.insert(slot.id) }
                let n = neighbours[PatrolCheckinAt(device: event.source, time: event.time)] ?? PatrolNeighbours()
                let lo = min(n.previous ?? event.time, event.time), hi = max(n.next ?? event.time, event.time)
                let s = span[event.source]
                span[event.source] = (min(lo, s?.lo ?? lo), max(hi, s?.hi ?? hi))
            }
        }
        for (device, s) in span {
            for slot in plan.slots(ofDevice: device, graceEndingFrom: s.lo, before: s.hi) { ids.insert(slot.id) }
        }
        return ids.sorted()
    }

    /// The span a tick at `now` evaluates, `(from, through]`, given where
    /// evaluation stood (`evaluatedUntil`, nil on a new store); nil when there is nothing to evaluate.
    func tickSpan(now: Date, evaluatedUntil: Date?) -> (from: Date, through: Date)? {
        let from: Date
        if let evaluatedUntil {
            from = evaluatedUntil
        } else {
            guard let effectiveFrom = plan.effectiveFrom else { return nil }
            from = min(effectiveFrom, now)
        }
        return now > from ? (from, now) : nil
    }

    /// The slots a tick at `now` may decide (the store loads their state before `tick`).
    public func slotsConcerned(byTickAt now: Date, evaluatedUntil: Date?) -> [String] {
        guard let span = tickSpan(now: now, evaluatedUntil: evaluatedUntil) else { return [] }
        return plan.slots(graceEndingAfter: span.from, through: span.through).map(\.id)
    }

    // MARK: - Check-ins

    /// Handles one check-in event (kind `.checkin`; other kinds return nil),
    /// after **gap detection on event time**: a check-in proves the device's
    /// clock reached its event time, so every slot of the device's routes whose
    /// grace ended in `[previous check-in, this check-in)` (event times of the
    /// device's check-ins known to the store or recorded earlier in the batch,
    /// any status) and that is still undecided is missed now — the same miss as
    /// `tick`'s (item, letter issued once by its trigger, record, audit,
    /// outbox), so whichever comes first decides and the other does nothing.
    /// The device's first check-in detects nothing before it. Then the
    /// check-in is applied (so a late check-in's own slot is first missed, then
    /// made up `late`, as under the wall-clock scheduler). A check-in that
    /// arrives out of order (a later one is already known) also decides
    /// `[this check-in, the next one)`, after it is applied; a gap between two
    /// check-ins already known was decided when the later of them arrived, so
    /// this only adds misses before the former first check-in. Whatever the
    /// order of arrival, every gap between two known check-ins ends decided,
    /// with the same slot statuses.
    ///
    /// - Parameters:
    ///   - ledger: what the store holds (loaded for the batch's check-ins); updated with what this decides.
    ///   - itemIDs: hands out risk item ids (the engine's counter).
    /// - Throws: `HubError.decode` `unknown_checkpoint` or `no_route` before
    ///   changing anything, so the pipeline dead-letters the message.
    public func checkin(_ event: NormalizedEvent, now: Date, ledger: inout PatrolLedger, itemIDs: inout ItemIDAllocator) throws(HubError) -> CheckinResult? {
        guard case .checkin(let checkpoint, let method) = event.kind else { return nil }
        var effects: [PatrolEffect] = []
        var gaps: [(slot: String, letter: String?)] = []
        var result: CheckinResult
        let around: PatrolNeighbours
        switch plan.match(device: event.source, checkpoint: checkpoint, at: event.time) {
        case .unknownCheckpoint:
            throw HubError.decode(.unknownCheckpoint, "checkpoint '\(checkpoint.prefix(64))' is not in the patrol plan (\((plan.file as NSString).lastPathComponent)); check-in \(event.key) from device \(event.source)")
        case .noRoute:
            throw HubError.decode(.noRoute, "device \(event.source) walks no route in the patrol plan (\((plan.file as NSString).lastPathComponent)), so its check-in at \(checkpoint.prefix(64)) matches no slot")
        case .unscheduled(let cp, let routeID):
            around = ledger.around(device: event.source, time: event.time)
            if let previous = around.previous {
                gaps += declareGaps(device: event.source, from: previous, before: event.time, now: now, ledger: &ledger, itemIDs: &itemIDs, into: &effects)
            }
            let route = routeID.flatMap(plan.route(id:)) ?? plan.routes(forDevice: event.source).first
            let distance = event.location.map { $0.distance(to: cp.location) }
            effects.append(.record(PatrolRecord(
                slotID: nil, kind: .checkin, status: .unscheduled, device: event.source, worker: route?.worker, route: routeID,
                checkpoint: cp.id, zone: cp.zone, eventKey: event.key, time: event.time, method: method, location: event.location,
                distanceMetres: distance, detail: "no slot of \(event.source)'s routes is open at this checkpoint then")))
            result = CheckinResult(slotID: nil, status: .unscheduled, slotStatus: nil, distanceMetres: distance)
        case .slot(let slot, let timeliness):
            around = ledger.around(device: event.source, time: event.time)
            if let previous = around.previous {
                gaps += declareGaps(device: event.source, from: previous, before: event.time, now: now, ledger: &ledger, itemIDs: &itemIDs, into: &effects)
            }
            let cp = plan.checkpoints[slot.checkpoint]!
            let distance = event.location.map { $0.distance(to: cp.location) }
            let status = Self.status(distance: distance, radius: cp.radiusMetres, timeliness: timeliness)
            let detail = status == .outsideRadius
                ? "\(Int(distance!.rounded())) m from the checkpoint (radius \(Int(cp.radiusMetres)) m)"
                : (distance.map { "\(Int($0.rounded())) m from the checkpoint" } ?? "no location (\(method ?? "no method"))")
            effects.append(.record(PatrolRecord(
                slotID: slot.id, kind: .checkin, status: status, device: event.source, worker: slot.worker, route: slot.route,
                checkpoint: slot.checkpoint, zone: slot.zone, eventKey: event.key, time: event.time, method: method,
                location: event.location, distanceMetres: distance, detail: detail)))
            result = applyCheckin(slot: slot, status: status, time: event.time, distance: distance, ledger: &ledger, into: &effects)
        }
        ledger.recorded[event.source, default: []].append(event.time)
        if let next = around.next {
            gaps += declareGaps(device: event.source, from: event.time, before: next, now: now, ledger: &ledger, itemIDs: &itemIDs, into: &effects)
        }
        result.missed = gaps.map(\.slot)
        result.letters = gaps.compactMap(\.letter)
        result.effects = effects
        return result
    }

    /// How a check-in counts for its slot: flagged `outside_radius` farther
    /// than the checkpoint's radius (GPS distance), else on time or late by its time.
    public static func status(distance: Double?, radius: Double, timeliness: PatrolStatus) -> PatrolStatus {
        (distance.map { $0 > radius } ?? false) ? .outsideRadius : timeliness
    }

    /// Declares missed every undecided slot of the device's routes whose grace ends in `[from, before)`.
    func declareGaps(device: String, from: Date, before: Date, now: Date, ledger: inout PatrolLedger, itemIDs: inout ItemIDAllocator,
                     into effects: inout [PatrolEffect]) -> [(slot: String, letter: String?)] {
        var out: [(slot: String, letter: String?)] = []
        for slot in plan.slots(ofDevice: device, graceEndingFrom: from, before: before) where ledger.slots[slot.id] == nil {
            out.append((slot.id, declareMissed(slot, now: now, ledger: &ledger, itemIDs: &itemIDs, into: &effects)))
        }
        return out
    }

    /// Updates the slot's verdict; closes a miss when the check-in covers the slot.
    func applyCheckin(slot: PatrolSlot, status: PatrolStatus, time: Date, distance: Double?, ledger: inout PatrolLedger,
                      into effects: inout [PatrolEffect]) -> CheckinResult {
        var result = CheckinResult(slotID: slot.id, status: status, slotStatus: status, distanceMetres: distance)
        guard let current = ledger.slots[slot.id] else {
            effects.append(.slotCheckedIn(slot, status: status, at: time, distanceMetres: distance))
            ledger.slots[slot.id] = PatrolSlotState(status: status)
            return result
        }
        guard Self.improves(current.status, to: status) else {
            result.slotStatus = current.status
            return result
        }
        effects.append(.slotImproved(slotID: slot.id, status: status, at: time, distanceMetres: distance))
        ledger.slots[slot.id]?.status = status
        if current.status == .missed {
            if let itemID = current.riskItemID {
                effects.append(.itemClosed(id: itemID, at: time))
                result.closedItemID = itemID
            }
            if let slipID = current.slipID {
                effects.append(.letterClosed(id: slipID, detail: "\(slot.id): checked in \(status.rawValue) at \(plan.localText(time))"))
                result.closedSlipID = slipID
            }
        }
        return result
    }

    /// Whether a check-in counted `status` changes a slot whose verdict is
    /// `current`: only upwards, and a flagged check-in never undoes a miss.
    public static func improves(_ current: PatrolStatus, to status: PatrolStatus) -> Bool {
        rank(status) > rank(current) && (status.isCovered || current != .missed)
    }

    /// Verdict order: a slot's status only moves up.
    static func rank(_ s: PatrolStatus) -> Int {
        switch s {
        case .unscheduled: return 0
        case .outsideRadius: return 1
        case .missed: return 2
        case .late: return 3
        case .onTime: return 4
        }
    }

    // MARK: - The missed-checkpoint scheduler

    /// The missed-checkpoint scheduler: decides every slot whose grace ended
    /// after the last evaluated instant (`evaluatedUntil`) and up to `now`,
    /// and moves that instant to `now`. A slot with no verdict yet is missed:
    /// a `missed_checkpoint` risk item, a reminder letter (提醒函, `TX-…`,
    /// issued once: its trigger is `patrol:{slot id}:missed`) to the worker's
    /// unit on `{prefix}/out/slips`, and a `missed` record.
    ///
    /// Pure in time: `now` is the only clock. After a restart the first tick
    /// covers the whole downtime, once; a second tick at the same `now` does nothing.
    /// On a new store (`evaluatedUntil` nil) the first tick starts evaluating
    /// from `effective_from` (if the plan sets it) or else from `now`.
    ///
    /// - Parameters:
    ///   - ledger: the state of the slots `slotsConcerned(byTickAt:evaluatedUntil:)` names.
    ///   - itemIDs: hands out risk item ids (the engine's counter).
    public func tick(now: Date, evaluatedUntil: Date?, ledger: PatrolLedger, itemIDs: inout ItemIDAllocator) -> PatrolTickOutcome {
        var out = PatrolTickOutcome()
        if evaluatedUntil == nil { out.evaluatedUntil = plan.effectiveFrom.map { min($0, now) } ?? now }
        guard let span = tickSpan(now: now, evaluatedUntil: evaluatedUntil) else { return out }
        var ledger = ledger
        out.result.from = span.from
        out.result.through = span.through
        for slot in plan.slots(graceEndingAfter: span.from, through: span.through) {
            out.result.evaluated += 1
            if ledger.slots[slot.id] != nil { continue }
            let letter = declareMissed(slot, now: now, ledger: &ledger, itemIDs: &itemIDs, into: &out.effects)
            out.result.missed.append(slot.id)
            if let letter { out.result.letters.append(letter) }
        }
        out.evaluatedUntil = now
        return out
    }

    /// The miss of an undecided slot: risk item, reminder letter, verdict and
    /// record (nothing when its letter was issued before). Returns the letter's id.
    func declareMissed(_ slot: PatrolSlot, now: Date, ledger: inout PatrolLedger, itemIDs: inout ItemIDAllocator,
                       into effects: inout [PatrolEffect]) -> String? {
        guard !ledger.lettersIssued.contains(slot.id) else { return nil }
        let cp = plan.checkpoints[slot.checkpoint]!
        let item = RiskItem(id: itemIDs.allocate(), source: slot.device, sourceKind: .device, category: .missedCheckpoint, severity: severity,
                            zone: slot.zone, unit: slot.unit, worker: slot.worker, firstSeen: slot.graceEnds, lastSeen: slot.graceEnds,
                            lifecycle: slot.id, location: cp.location.wgs84)
        ledger.lastLetterSeq += 1
        let seq = ledger.lastLetterSeq
        let slipID = RiskEngine.slipID(.reminder, seq)
        let letter = Slip(id: slipID, kind: .reminder, zone: slot.zone, category: .missedCheckpoint, severity: severity, unit: slot.unit,
                          worker: slot.worker, issuedAt: now, updatedAt: now,
                          text: letterText(slipID: slipID, slot: slot, checkpoint: cp, route: plan.route(id: slot.route)),
                          riskItemIDs: [item.id], occurrences: 1)
        let record = PatrolRecord(slotID: slot.id, kind: .missed, status: .missed, device: slot.device, worker: slot.worker, route: slot.route,
                                  checkpoint: slot.checkpoint, zone: slot.zone, time: slot.graceEnds,
                                  detail: "no check-in by \(plan.localText(slot.graceEnds)); \(item.id), \(slipID)")
        effects.append(.missed(PatrolMiss(slot: slot, item: item, letter: letter, letterSeq: seq,
                                          trigger: Self.letterTrigger(slotID: slot.id), record: record)))
        ledger.lettersIssued.insert(slot.id)
        ledger.slots[slot.id] = PatrolSlotState(status: .missed, riskItemID: item.id, slipID: slipID)
        return slipID
    }

    /// The reminder letter's text: who, which checkpoint, which slot, the grace, what to do.
    public func letterText(slipID: String, slot: PatrolSlot, checkpoint cp: PatrolPlan.Checkpoint, route: PatrolPlan.Route?) -> String {
        let grace = Int(slot.graceEnds.timeIntervalSince(slot.due) / 60)
        let routeText = route.map { "路线 \($0.id) \($0.name)" } ?? "路线 \(slot.route)"
        return "提醒函 \(slipID)：网格员 \(slot.worker)（设备 \(slot.device)，\(routeText)）未按时巡查检查点 \(cp.id)（\(cp.name)，网格 \(slot.zone)）。"
            + "应到时间 \(plan.localText(slot.due))，宽限 \(grace) 分钟（至 \(plan.clockText(slot.graceEnds))）仍未签到，记为漏巡。"
            + "请 \(slot.unit ?? "所在单位") 督促核实；\(plan.clockText(slot.closes)) 前补签的记为迟到并自动销号。"
    }
}
