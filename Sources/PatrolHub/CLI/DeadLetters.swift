import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    /// `patrolhub dead-letters`: read the messages the hub refused, and queue them
    /// again once the registry or the rules are fixed.
    struct DeadLetters: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dead-letters",
            abstract: "List, read and replay dead letters (messages the hub refused, with their reason and bytes).",
            subcommands: [List.self, Show.self, Replay.self])

        /// The store, and the config's topics (what names a dead letter's camera or device) and timezone.
        struct Options: ParsableArguments {
            @OptionGroup var store: Cases.StoreOptions

            func open() throws -> (DisputeStore, HubConfig) {
                let (db, cfg) = try store.open()
                let router = TopicRouter(prefix: cfg.topicPrefix, frigateTopic: cfg.frigateTopic, onvif2mqttBase: cfg.onvif2mqttTopic)
                do {
                    try db.labelDeadLetterSources(router: router)
                } catch {
                    // A store the hub holds busy, or one this user may only read: the sources written
                    // since the hub's last batch read as their topics.
                }
                return (db, cfg)
            }
        }

        /// The filters `list` and `replay` share.
        struct Filters: ParsableArguments {
            @Option(help: "Only this reason (e.g. unknown_source); repeat for several.") var reason: [String] = []
            @Option(help: "Only this source: the camera or device id the message names, else its topic.") var source: String?
            @Option(help: "Only those made at or after this time (RFC 3339; without offset, the config's timezone).") var since: String?

            func query(_ cfg: HubConfig) throws -> DeadLetterQuery {
                var q = DeadLetterQuery()
                let known = DeadLetterReason.allCases.map(\.rawValue)
                for r in reason {
                    guard known.contains(r) else { throw HubError.cli("--reason: unknown reason '\(r.terminalSafe)' (one of: \(known.joined(separator: ", ")))") }
                }
                q.reasons = reason
                if let source {
                    guard !source.isEmpty, source.utf8.count <= 1024 else { throw HubError.cli("--source: expected a camera or device id or a topic (1 to 1024 bytes)") }
                    q.source = source
                }
                if let since {
                    guard let t = TimeParser(defaultZone: cfg.timezone).parse(since) else {
                        throw HubError.cli("--since: expected an RFC 3339 time, e.g. 2025-03-01T08:00:00+08:00, found '\(since.terminalSafe)'")
                    }
                    q.since = t
                }
                return q
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List dead letters, newest first: id, when, reason, source, size, whether replayed, and why.")
            @OptionGroup var options: Options
            @OptionGroup var filters: Filters
            @Flag(help: "Only those not replayed yet.") var pending = false
            @Option(help: "At most this many (1 to 10000).") var limit: Int = 100
            @Flag(help: "Print {\"items\": [...]} (the API's fields, without the bytes).") var json = false

            func run() throws {
                guard (1...10_000).contains(limit) else { throw HubError.cli("--limit: expected a whole number from 1 to 10000, found \(limit)") }
                let (db, cfg) = try options.open()
                var q = try filters.query(cfg)
                q.limit = limit
                if pending { q.replayed = false }
                let page = try db.deadLettersPage(q)
                if json {
                    print(JSONValue.object(["items": .array(page.items.map(\.json)), "more": .bool(page.next != nil)]).serialized)
                    return
                }
                if page.items.isEmpty { print("no dead letters"); return }
                let f = LocalTime(cfg.timezone)
                for d in page.items {
                    let replayed = d.replayedAt.map { " REPLAYED \(f($0))" } ?? ""
                    print("\(d.id)  \(f(d.createdAt))  \(d.reason)  \(d.source.terminalSafe)  \(d.size) B\(replayed)  \(d.detail.terminalSafe)")
                }
                if page.next != nil { print("… more: narrow the filters or raise --limit") }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "One dead letter: what is known of it, and its bytes (as text when they are UTF-8, else hex).")
            @OptionGroup var options: Options
            @Argument(help: "The dead letter's id (from list).") var id: Int64
            @Option(help: "Show at most this many bytes of the payload.") var maxBytes: Int = 4096

            func run() throws {
                guard maxBytes >= 1 else { throw HubError.cli("--max-bytes must be at least 1") }
                let (db, cfg) = try options.open()
                guard let d = try db.deadLetter(id: id) else { throw HubError.cli("no dead letter \(id)") }
                let f = LocalTime(cfg.timezone)
                print("id        \(d.id)")
                print("reason    \(d.reason)")
                print("detail    \(d.detail.terminalSafe)")
                print("topic     \(d.topic.terminalSafe)")
                print("source    \(d.source.terminalSafe)")
                print("received  \(f(d.receivedAt))")
                print("refused   \(f(d.createdAt))")
                print("inbox key \(d.inboxKey)")
                print("size      \(d.size) bytes" + (d.payloadSHA256.map { " (only the first \(InboxMessage.oversizedHeadBytes) kept; SHA-256 \($0))" } ?? ""))
                if let at = d.replayedAt {
                    print("replayed  \(f(at)) by \((d.replayedBy ?? "").terminalSafe) as inbox key \(d.replayKey ?? "")")
                } else {
                    print("replayed  no" + (d.replayable ? "" : " (cannot be: its bytes are not whole)"))
                }
                let bytes = d.payload ?? []
                let shown = Array(bytes.prefix(maxBytes))
                let cut = bytes.count > shown.count ? "\n… \(bytes.count - shown.count) more bytes (--max-bytes)" : ""
                if let text = String(validating: shown, as: UTF8.self) {
                    print("payload (text):\n\(text.terminalSafe)\(cut)")
                } else {
                    print("payload (hex):\n\(DeadLetterText.hex(shown))\(cut)")
                }
            }
        }

        struct Replay: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Queue dead letters into the inbox again, after the registry or the rules were fixed.",
                discussion: """
                    Selects the dead letters not replayed yet that match every filter given (at least one is \
                    required), queues their bytes into the inbox under a key of their own, and marks them replayed \
                    (audit_log: dead_letter.replayed, with --by). A running hub processes them at its next pipeline \
                    wake-up (within a minute); a stopped one at its next start. Events already stored are not \
                    stored twice (event keys); a message that fails again becomes a new dead letter with its new \
                    reason. Replaying again changes nothing. Oversized dead letters keep only their head and are \
                    never replayed; crashed and unprocessable ones only with --force.
                    """)
            @OptionGroup var options: Options
            @OptionGroup var filters: Filters
            @Option(parsing: .upToNextOption, help: "Only these ids (from list).") var ids: [Int64] = []
            @Option(help: "Who replays (recorded in the audit log).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "cli"
            @Flag(help: "Also replay crashed and unprocessable dead letters (they may stop the hub again).") var force = false
            @Flag(help: "Say what would be queued; change nothing.") var dryRun = false
            @Flag(help: "Print one JSON object (queued, refused, more).") var json = false

            func run() throws {
                guard ids.count <= 1000 else { throw HubError.cli("--ids: at most 1000 ids at a time") }
                guard !ids.isEmpty || !filters.reason.isEmpty || filters.source != nil || filters.since != nil else {
                    throw HubError.cli("give --reason, --source, --since or --ids: which dead letters to replay")
                }
                let author = by.trimmingCharacters(in: .whitespaces)
                guard !author.isEmpty, author.utf8.count <= 200 else { throw HubError.cli("--by: who replays (1 to 200 bytes)") }
                let (db, cfg) = try options.open()
                var q = try filters.query(cfg)
                q.ids = ids
                let r = try db.replayDeadLetters(q, by: author, force: force, dryRun: dryRun)
                if json {
                    print(r.json(dryRun: dryRun).serialized)
                    return
                }
                let verb = dryRun ? "would queue" : "queued"
                print("\(verb) \(r.queued.count) dead letter(s)" + (r.queued.isEmpty ? "" : ": " + DeadLetterText.ids(r.queued.map(\.id))))
                for (id, why) in r.refused.prefix(20) { print("refused \(id): \(why)") }
                if r.refused.count > 20 { print("… and \(r.refused.count - 20) more refused") }
                if r.more { print("more remain than one replay takes (\(DisputeStore.maxReplay)): run it again") }
                if r.queued.isEmpty, r.refused.isEmpty { print("nothing to replay: no dead letter not yet replayed matches") }
            }
        }
    }
}

/// Text forms of dead letters for a terminal.
enum DeadLetterText {
    /// Lowercase hex, 32 bytes a line.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var lines: [String] = []
        for start in stride(from: 0, to: bytes.count, by: 32) {
            var line: [UInt8] = []
            for b in bytes[start..<min(start + 32, bytes.count)] { line += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
            lines.append(String(decoding: line, as: UTF8.self))
        }
        return lines.joined(separator: "\n")
    }

    /// The first ids, and how many more.
    static func ids(_ ids: [Int64]) -> String {
        ids.prefix(20).map(String.init).joined(separator: ", ") + (ids.count > 20 ? " … (\(ids.count - 20) more)" : "")
    }
}

extension DeadLetter {
    /// The API's fields of a dead letter (without its bytes).
    var json: JSONValue {
        .object([
            "id": .number(Double(id)), "reason": .string(reason), "detail": .string(detail), "topic": .string(topic),
            "source": .string(source), "size": .number(Double(size)), "received_at": .string(receivedAt.rfc3339),
            "created_at": .string(createdAt.rfc3339), "replayable": .bool(replayable),
            "replayed_at": replayedAt.map { .string($0.rfc3339) } ?? .null, "replayed_by": replayedBy.map(JSONValue.string) ?? .null,
            "replay_key": replayKey.map(JSONValue.string) ?? .null,
        ])
    }
}

extension DeadLetterReplay {
    func json(dryRun: Bool) -> JSONValue {
        .object([
            "dry_run": .bool(dryRun),
            "queued": .array(queued.map { .object(["id": .number(Double($0.id)), "inbox_key": .string($0.key)]) }),
            "refused": .array(refused.map { .object(["id": .number(Double($0.id)), "why": .string($0.why)]) }),
            "more": .bool(more),
        ])
    }
}
