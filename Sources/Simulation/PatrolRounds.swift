import Alerts
import Foundation

/// The hub's patrol plan as a source of rounds to walk: every slot due in the
/// scenario's span becomes a visit (route, device, checkpoint, slot, grace,
/// window, checkpoint location and radius), which the planner turns into a
/// check-in on time, late, outside the radius, or none.
extension PatrolPlan: PatrolRoundSource {
    /// The visits due on `wanted` routes (all when nil) from `start` for `duration`; `file` and `line` name the scenario in errors.
    public func visits(routes wanted: [String]?, from start: Date, duration: TimeInterval, file: String, line: Int) throws(HubError) -> [PatrolVisit] {
        if let wanted {
            for id in wanted where route(id: id) == nil {
                throw HubError.config(file: file, line: line, key: "patrol.routes",
                                  message: "route '\(id)' is not in the hub's patrol plan (\(routes.map(\.id).sorted().joined(separator: ", ")))")
            }
        }
        let end = start.addingTimeInterval(duration)
        var out: [PatrolVisit] = []
        var day = localDay(of: start).adding(days: -1)
        let last = localDay(of: end)
        while day <= last {
            for route in routes where wanted?.contains(route.id) ?? true {
                for slot in slots(of: route, on: day) where slot.due >= start && slot.due < end {
                    let cp = checkpoints[slot.checkpoint]
                    out.append(PatrolVisit(
                        route: route.id, device: slot.device, checkpoint: slot.checkpoint, slot: slot.due.timeIntervalSince(start),
                        grace: slot.graceEnds.timeIntervalSince(slot.due), window: slot.closes.timeIntervalSince(slot.due),
                        location: cp?.location, radius: cp?.radiusMetres ?? 50))
                }
            }
            day = day.adding(days: 1)
        }
        return out.sorted { ($0.slot, $0.route, $0.checkpoint) < ($1.slot, $1.route, $1.checkpoint) }
    }
}
