import Alerts
import AlertsStore
import ArgumentParser
import Foundation
import PatrolHubRuntime

extension PatrolHubCommand {
    struct Silences: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage silences (静默): time-boxed rules that mute matching risk items.",
            subcommands: [Add.self, List.self, Expire.self, Delete.self])

        /// Opens the config's store (or --store): its SQLite file, or with `store.kind: postgres` the PostgreSQL store.
        struct StoreOptions: ParsableArguments {
            @OptionGroup var config: ConfigOptions
            @Option(help: "A store file instead of the config's store.path.") var store: String?

            /// Runs `body` on the store.
            func with<T>(_ body: (any DispatchStore) throws -> T) throws -> T {
                try withDispatchStore(store == nil ? try config.load() : nil, override: store, whereFrom: "store.path in \(config.config)", body)
            }

            /// The zone times are shown in: the config's `timezone` (the default zone when --store is given and there is no config file).
            func timeZone() throws -> TimeZone {
                if store != nil && !FileManager.default.fileExists(atPath: config.config) { return HubConfig().timezone }
                return try config.load().timezone
            }

            /// The config's `silences` rules (the defaults when --store is given and there is no config file).
            func policy() throws -> SilencePolicy {
                if store != nil && !FileManager.default.fileExists(atPath: config.config) { return SilencePolicy() }
                return try config.load().silences
            }
        }

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a silence; at least one matcher, an author and a reason are required.")
            @OptionGroup var store: StoreOptions
            @Option(help: "Zone code; its child zones are silenced too.") var zone: String?
            @Option(help: "Risk category, e.g. motion.") var category: String?
            @Option(help: "Camera or device id.") var source: String?
            @Option(help: "true: only drill events; false: only real events.") var drill: Bool?
            @Option(help: "Start (RFC 3339; default now).") var start: String?
            @Option(help: "End (RFC 3339).") var end: String?
            @Option(parsing: .unconditional, help: "Length instead of --end: 30m, 2h, 1d.") var duration: String? // "-1h" is a value to refuse
            @Option(help: "Who creates it.") var by: String
            @Option(help: "Why.") var comment: String

            func run() throws {
                let parser = TimeParser(defaultZone: try store.timeZone())
                let now = Date()
                let starts = try start.map { t in try parser.parse(t) ?? { throw HubError.cli("--start is not an RFC 3339 time: \(t)") }() } ?? now
                let ends: Date
                if end != nil, duration != nil { throw HubError.cli("give --end or --duration, not both") }
                if let end {
                    guard let e = parser.parse(end) else { throw HubError.cli("--end is not an RFC 3339 time: \(end)") }
                    ends = e
                } else if let duration {
                    guard let d = DurationText.seconds(duration) else { throw HubError.cli("--duration must look like 30m, 2h or 1d, not '\(duration)'") }
                    ends = starts.addingTimeInterval(d)
                } else {
                    throw HubError.cli("give --end or --duration")
                }
                var cat: Alerts.Category?
                if let category {
                    guard let c = Alerts.Category(rawValue: category) else { throw HubError.cli("--category: unknown category '\(category)'") }
                    cat = c
                }
                let silence = Silence(id: "", zone: zone, category: cat, source: source, drill: drill, startsAt: starts, endsAt: ends,
                                      createdBy: by, comment: comment, createdAt: now)
                do {
                    // The CLI runs on the hub's machine with access to its store: it has the supervisor's say,
                    // and the config's rules (never-silenced categories, maximum duration) still apply.
                    let policy = try store.policy()
                    let saved = try store.with { try $0.addSilence(silence, policy: policy, authority: .supervisor) }
                    print("\(saved.id) created: \(Self.describe(saved, LocalTime(try store.timeZone())))")
                } catch let e as HubError where e.code == .invalidSilence {
                    throw HubError.cli("invalid silence: \(e)")
                }
            }

            /// The silence in one line, its times in the configured zone with their offset.
            static func describe(_ s: Silence, _ local: LocalTime) -> String {
                var m: [String] = []
                if let z = s.zone { m.append("zone=\(z)") }
                if let c = s.category { m.append("category=\(c.rawValue)") }
                if let src = s.source { m.append("source=\(src)") }
                if let d = s.drill { m.append("drill=\(d)") }
                return "\(m.joined(separator: " ")) from \(local(s.startsAt)) to \(local(s.endsAt)), by \(s.createdBy): \(s.comment)"
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List silences that have not ended (--all: every silence).")
            @OptionGroup var store: StoreOptions
            @Flag(help: "Include ended silences.") var all = false

            func run() throws {
                let list = try store.with { try $0.silences(endingAfter: all ? nil : Date()) }
                if list.isEmpty { print("no silences"); return }
                let now = Date()
                let local = LocalTime(try store.timeZone())
                for s in list {
                    let state = s.isActive(at: now) ? "active" : (s.endsAt <= now ? "ended" : "pending")
                    print("\(s.id)  \(state.padding(toLength: 7, withPad: " ", startingAt: 0))  \(Add.describe(s, local))")
                }
            }
        }

        struct Expire: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "End a silence now.")
            @OptionGroup var store: StoreOptions
            @Argument(help: "The silence id, e.g. JM-000001.") var id: String
            @Option(help: "Who ends it.") var by: String

            func run() throws {
                do {
                    guard try store.with({ try $0.expireSilence(id: id, by: by, at: Date()) }) else { throw HubError.cli("no silence \(id)") }
                } catch let e as HubError where e.code == .invalidSilence {
                    throw HubError.cli(e.message)
                }
                print("\(id) expired")
            }
        }

        struct Delete: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a silence (items it already muted stay muted).")
            @OptionGroup var store: StoreOptions
            @Argument(help: "The silence id.") var id: String
            @Option(help: "Who deletes it.") var by: String

            func run() throws {
                guard try store.with({ try $0.deleteSilence(id: id, by: by, at: Date()) }) else { throw HubError.cli("no silence \(id)") }
                print("\(id) deleted")
            }
        }
    }
}
