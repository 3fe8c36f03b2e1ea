import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    /// `patrolhub items list`: risk items as the API lists them, with what is odd about each
    /// (late, location mismatch, receive-time clock), so an installer sees why an item opened nothing.
    struct Items: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "items",
            abstract: "Read risk items (风险隐患).",
            subcommands: [List.self])

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List risk items, newest first.",
                discussion: """
                    Each line ends with what is odd about the item: LATE (every event of it was older than the \
                    lateness bound: it opened no slip or case, and why), LOCATION (its reported location was set \
                    aside: far from its camera or outside every zone, and where it was placed), RECEIVED-TIME \
                    (a device clock was unset: timed by the hub's receive time).
                    """)
            @OptionGroup var store: Cases.StoreOptions
            @Option(help: "Only items in this state (open, closed).") var state: String?
            @Option(help: "Only items in this zone or below it.") var zone: String?
            @Flag(help: "Only late items.") var late = false
            @Option(parsing: .unconditional, help: "At most this many.") var limit: Int = 100 // "-3" is a value to refuse, not an option
            @Flag(help: "Print {\"items\": [...]} with each item as the API returns it.") var json = false

            func run() throws {
                guard limit > 0 else { throw HubError.cli("--limit must be at least 1, not \(limit)") }
                var q = ListQuery()
                q.limit = limit
                if let state {
                    guard ["open", "closed"].contains(state) else { throw HubError.cli("--state: unknown state '\(state)' (one of: open, closed)") }
                    q.states = [state]
                }
                if late { q.late = true }
                let (db, cfg) = try store.open()
                if let zone {
                    guard try db.writer.read({ try DisputeStore.knowsZone(zone, db: $0) }) else {
                        throw HubError.cli("--zone: unknown zone '\(zone)' (not in the store's zones)")
                    }
                    q.zone = zone
                }
                let items = try db.writer.read { try DisputeStore.riskItems(q, db: $0).items }
                if json {
                    print(JSONValue.object(["items": .array(items.map(\.json))]).serialized)
                    return
                }
                if items.isEmpty { print("no risk items"); return }
                let f = LocalTime(cfg.timezone)
                for i in items { print(i.listLine(f)) }
            }
        }
    }
}

extension RiskItem {
    /// One line of `items list` and of `cases show`'s evidence.
    func listLine(_ f: LocalTime) -> String {
        var line = "\(id)  \(state.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))  sev \(severity.rawValue)  "
        line += "\(category.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0))  \(zone)  \(source)  \(f(firstSeen)) … \(f(lastSeen))  ×\(occurrences)"
        if drill { line += "  DRILL" }
        if let s = suppressedBy { line += "  muted by \(s)" }
        if late { line += "  LATE (\(lateReason ?? "late"))" }
        if let m = locationMismatch { line += "  LOCATION (\(m))" }
        if timeSource == .received { line += "  RECEIVED-TIME (device clock unset: timed by the hub's receive time)" }
        return line
    }
}
