import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct Cases: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read cases (案件) and act on them.",
            subcommands: [List.self, Show.self, Act.self])

        /// Opens the config's store (or --store) and knows the topic prefix and timezone.
        struct StoreOptions: ParsableArguments {
            @OptionGroup var config: ConfigOptions
            @Option(help: "A store file instead of the config's store.path.") var store: String?

            /// The config when it can be read: required without --store, used for the prefix and timezone with it.
            func hubConfig() throws -> HubConfig? {
                if store != nil, !FileManager.default.fileExists(atPath: config.config) { return nil }
                return try config.load()
            }

            func open() throws -> (DisputeStore, HubConfig) {
                let cfg = try hubConfig()
                let path = try store ?? cfg.map(configuredSQLiteStore) ?? ""
                return (try openExistingStore(path, whereFrom: store == nil ? "store.path in \(config.config)" : ""), cfg ?? HubConfig())
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List cases, newest first.")
            @OptionGroup var store: StoreOptions
            @Option(help: "Only cases in this state (\(Case.State.allCases.map(\.rawValue).joined(separator: ", ")); 'open' for every open state).")
            var state: String?
            @Option(help: "Only cases in this zone or below it (e.g. a street's code).") var zone: String?
            @Option(parsing: .unconditional, help: "At most this many.") var limit: Int = 100 // "-3" is a value to refuse, not an option
            @Flag(help: "Print {\"items\": [...]} with each case as the API returns it.") var json = false

            func run() throws {
                var filter: Case.State?
                var openOnly = false
                if let state {
                    if state == "open" {
                        openOnly = true
                    } else {
                        guard let s = Case.State(rawValue: state) else {
                            throw HubError.cli("--state: unknown state '\(state)' (one of: open, \(Case.State.allCases.map(\.rawValue).joined(separator: ", ")))")
                        }
                        filter = s
                    }
                }
                guard limit > 0 else { throw HubError.cli("--limit must be at least 1, not \(limit)") }
                let (db, cfg) = try store.open()
                if let zone, try !db.writer.read({ try DisputeStore.knowsZone(zone, db: $0) }) {
                    throw HubError.cli("--zone: unknown zone '\(zone)' (not in the store's zones)")
                }
                var cases = try db.writer.read { try DisputeStore.listCases(state: filter, zone: zone, limit: openOnly ? Int.max : limit, db: $0) }
                if openOnly { cases = Array(cases.filter(\.state.isOpen).prefix(limit)) }
                if json {
                    print(JSONValue.object(["items": .array(cases.map(\.json))]).serialized)
                    return
                }
                if cases.isEmpty { print("no cases"); return }
                let f = LocalTime(cfg.timezone)
                for c in cases {
                    var line = "\(c.id)  \(c.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))  sev \(c.severity.rawValue)  "
                    line += "\(c.category.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0))  \(c.zone)  \(c.unit ?? "-")  due \(f(c.dueAt))"
                    if c.state.isOpen, c.dueAt < Date() { line += "  OVERDUE" }
                    print(line)
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "One case: routing, deadline, evidence, transitions, documents, explanation.")
            @OptionGroup var store: StoreOptions
            @Argument(help: "The case id, e.g. AJ-00000001.") var id: String
            @Flag(help: "Print the case JSON with \"transitions\", \"risk_items\" and \"documents\".") var json = false

            func run() throws {
                let (db, cfg) = try store.open()
                let found = try db.writer.read { d -> (Case, [CaseTransition], [RiskItem], [Slip])? in
                    guard let c = try DisputeStore.fetchCase(id: id, db: d) else { return nil }
                    return (c, try DisputeStore.transitions(of: id, db: d), try DisputeStore.riskItems(ofCase: id, db: d),
                            try DisputeStore.documents(ofCase: id, db: d))
                }
                guard let (c, transitions, items, documents) = found else { throw HubError.cli("no case \(id)") }
                if json {
                    guard case .object(var o) = c.json else { return }
                    o["transitions"] = .array(transitions.map(\.json))
                    o["risk_items"] = .array(items.map(\.json))
                    o["documents"] = .array(documents.map(\.json))
                    print(JSONValue.object(o).serialized)
                    return
                }
                let f = LocalTime(cfg.timezone)
                print("\(c.id)  \(c.state.rawValue)  (\(c.state.chineseName))")
                print("  rule:      \(c.rule.rawValue)\(c.drill ? " (drill)" : "")")
                print("  zone:      \(c.zone)")
                print("  category:  \(c.category.rawValue) (\(c.category.chineseName)), severity \(c.severity.rawValue)")
                print("  unit:      \(c.unit ?? "-")")
                if let lead = c.leadUnit { print("  team:      lead \(lead)\(c.coUnits.isEmpty ? "" : ", co-units \(c.coUnits.joined(separator: ", "))")") }
                if let w = c.worker { print("  worker:    \(w)") }
                if let a = c.assignee { print("  assignee:  \(a)") }
                print("  opened:    \(f(c.openedAt))")
                print("  due:       \(f(c.dueAt))\(c.state.isOpen && c.dueAt < Date() ? "  OVERDUE" : "")")
                print("  last act:  \(f(c.lastActionAt))")
                if let r = c.resolvedAt {
                    var line = "  resolved:  \(f(r)), \(c.outcome ?? "-")"
                    if let a = c.amountCNY { line += ", ¥\(a)" }
                    if let s = c.satisfaction { line += ", parties \(s)" }
                    print(line)
                }
                if let cl = c.closedAt { print("  closed:    \(f(cl))") }
                print("  explanation: \(c.explanation)")
                print("risk items (\(items.count)):")
                for i in items {
                    print("  " + i.listLine(f))
                }
                print("transitions (\(transitions.count)):")
                for t in transitions {
                    var line = "  \(f(t.at))  \(t.actor)  \(t.action.rawValue)  \(t.from.rawValue) → \(t.to.rawValue)"
                    if case .object(let o) = t.detail, !o.isEmpty { line += "  \(t.detail.serialized)" }
                    if !t.note.isEmpty { line += "  — \(t.note)" }
                    print(line)
                }
                print("documents (\(documents.count)):")
                for d in documents {
                    var line = "  \(d.id)  \(d.kind.rawValue)  \(d.state.rawValue)  \(f(d.issuedAt))  \(d.unit ?? "-")"
                    if let closed = d.closedAt { line += "  closed \(f(closed))\(d.closeReason.map { " (\($0))" } ?? "")" }
                    print(line)
                }
            }
        }

        struct Act: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Move a case through its lifecycle.",
                discussion: """
                    ACTION is one of: \(CaseActionKind.operatorActions.map(\.rawValue).joined(separator: ", ")).
                    assign needs --assignee; close, false-alarm and reopen need --note; resolve needs --outcome
                    (\(CaseOutcome.allCases.map(\.rawValue).joined(separator: ", "))) and takes --amount (yuan) and
                    --satisfaction (\(CaseSatisfaction.allCases.map(\.rawValue).joined(separator: ", "))).
                    """)
            @OptionGroup var store: StoreOptions
            @Argument(help: "The case id.") var id: String
            @Argument(help: "The action.") var action: String
            @Option(help: "Who acts.") var by: String
            @Option(help: "Why, or what was done.") var note: String = ""
            @Option(help: "assign: who takes the case.") var assignee: String?
            @Option(help: "resolve: how it ended.") var outcome: String?
            @Option(parsing: .unconditional, help: "resolve: amount settled, in yuan.") var amount: String? // "-3" is a value to refuse, not an option
            @Option(help: "resolve: the parties' satisfaction.") var satisfaction: String?
            @Flag(help: "Print the case JSON after the action.") var json = false

            func run() throws {
                guard let kind = CaseActionKind(name: action) else {
                    throw HubError.cli("unknown action '\(action)' (one of: \(CaseActionKind.operatorActions.map(\.rawValue).joined(separator: ", ")))")
                }
                var a = CaseAction(kind, by: by, note: note, assignee: assignee)
                if let outcome {
                    guard let o = CaseOutcome(rawValue: outcome) else {
                        throw HubError.cli("--outcome: unknown outcome '\(outcome)' (one of: \(CaseOutcome.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    a.outcome = o
                }
                if let amount {
                    guard let v = Double(amount), v.isFinite, v >= 0 else { throw HubError.cli("--amount must be a number of yuan ≥ 0, not '\(amount)'") }
                    a.amountCNY = v
                }
                if let satisfaction {
                    guard let s = CaseSatisfaction(rawValue: satisfaction) else {
                        throw HubError.cli("--satisfaction: unknown value '\(satisfaction)' (one of: \(CaseSatisfaction.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    a.satisfaction = s
                }
                let cfg = try store.hubConfig()
                do {
                    // On the SQLite file, or with store.kind: postgres the PostgreSQL store, as the HTTP API acts.
                    let (before, c) = try withDispatchStore(cfg, override: store.store, whereFrom: "store.path in \(store.config.config)") { db in
                        (try db.caseDetail(id: id)?.case.state, try db.act(on: id, a, now: Date(), outputPrefix: (cfg ?? HubConfig()).topicPrefix))
                    }
                    if json {
                        print(c.json.serialized)
                    } else {
                        print("\(c.id): \(before?.rawValue ?? "?") → \(c.state.rawValue) (\(kind.rawValue) by \(a.by))")
                    }
                } catch let e as HubError where HubError.Code.caseAction.contains(e.code) {
                    throw HubError.cli(e.message)
                }
            }
        }
    }
}
