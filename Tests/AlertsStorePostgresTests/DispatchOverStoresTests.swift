@testable import AlertsStore
@testable import AlertsStorePostgres
import Foundation
import Synchronization
import GRDB
import PostgresNIO
import PostgresTestSupport
import Reports
import StoreTestSupport
import Testing
@testable import Alerts
import TestSupport

/// The dispatch room's store interface (`DispatchStore`: what the HTTP API,
/// the event stream and `/metrics` read and write) over SQLite
/// (`DisputeStore`) and PostgreSQL (`PostgresDispatchStore`, a fresh
/// database of a real server): the same pipeline input, then every read of
/// the interface, operator actions (case actions, silences, a dead-letter
/// replay) and the pipeline's next batches, must give the same answers on both.
@Suite("The dispatch store over SQLite and PostgreSQL", .serialized)
struct DispatchOverStoresTests {
    typealias T = StoreBehaviourTests
    typealias Hub = PipelineOverStoresTests.Hub

    /// Everything the interface answered, in a form both stores give alike.
    struct View: Equatable {
        var pages: [String: [String]] = [:]
        var details: [String] = []
        var zones: [ZoneSummary] = []
        var knows: [Bool] = []
        /// `seq kind subject op object` of each change.
        var changes: [String] = []
        var bounds: String = ""
        var deadLetters: [DeadLetter] = []
        var deadLetterCounts: String = ""
        var silences: [Silence] = []
        var tallies = StoreTallies()
        var status = StoreStatus()
        var oldestPending: Date?
    }

    static func view(_ d: any DispatchStore) throws -> View {
        var v = View()
        // Lists: everything, by zone (the street above G1), by state, category and drill, and a page of one with its next.
        var queries: [String: ListQuery] = ["all": ListQuery()]
        var q = ListQuery(); q.zone = "S"; queries["zone"] = q
        q = ListQuery(); q.zone = "X"; queries["other zone"] = q
        q = ListQuery(); q.states = ["open"]; queries["open"] = q
        q = ListQuery(); q.categories = [.intrusion]; q.drill = false; queries["intrusion"] = q
        q = ListQuery(); q.since = T.at(9); queries["since"] = q
        q = ListQuery(); q.limit = 1; queries["one"] = q
        q = ListQuery(); q.kind = .warning; queries["warning"] = q
        for (name, query) in queries {
            let items = try d.riskItemsPage(query)
            v.pages["items " + name] = items.items.map(\.json.serialized) + [items.next == nil ? "last" : "more"]
            let cases = try d.casesPage(query)
            v.pages["cases " + name] = cases.items.map(\.json.serialized) + [cases.next == nil ? "last" : "more"]
            let slips = try d.slipsPage(query)
            v.pages["slips " + name] = slips.items.map(\.json.serialized) + [slips.next == nil ? "last" : "more"]
            if let next = slips.next {
                var more = query
                more.cursor = next
                v.pages["slips " + name + " page 2"] = try d.slipsPage(more).items.map(\.json.serialized)
            }
            if let next = items.next {
                var more = query
                more.cursor = next
                v.pages["items " + name + " page 2"] = try d.riskItemsPage(more).items.map(\.json.serialized)
            }
        }
        for c in try d.casesPage(ListQuery()).items {
            guard let detail = try d.caseDetail(id: c.id) else { v.details.append("missing \(c.id)"); continue }
            let parts = [detail.case.json.serialized] + detail.transitions.map(\.json.serialized) + detail.riskItems.map(\.json.serialized)
                + detail.slips.map(\.json.serialized)
            v.details.append(parts.joined(separator: "\n"))
        }
        v.details.append(try d.caseDetail(id: "AJ-nope") == nil ? "none" : "found")
        v.zones = try d.zoneSummaries()
        v.knows = try ["G1", "S", "nope", "unzoned"].map(d.knowsZone)
        // The numbers, and what each names: within one commit PostgreSQL's bulk upsert may log the
        // rows in another order than SQLite's one by one (the stream's order inside a commit).
        let changes = try d.changesWithObjects(after: 0, limit: 10_000)
        v.changes = changes.map { "\($0.0.seq)" } + changes.map { c, o in "\(c.kind.rawValue) \(c.subject) \(c.op.rawValue) \(o?.serialized ?? "gone")" }.sorted()
        let bounds = try d.changeLogBounds()
        v.bounds = "\(bounds.oldest.map(String.init) ?? "none") \(bounds.latest) \(try d.latestChangeSeq())"
        v.deadLetters = try d.deadLettersPage(DeadLetterQuery()).items + (try d.deadLettersPage(DeadLetterQuery()).items.compactMap { try d.deadLetter(id: $0.id) })
        let counts = try d.deadLetterCounts(top: 5)
        v.deadLetterCounts = "\(counts.byReason) \(counts.bySource)"
        v.silences = try d.silences(endingAfter: nil)
        v.tallies = try d.metricsTallies(afterDeadLetter: 0, afterChange: 0)
        v.status = try d.metricsStatus()
        v.oldestPending = try d.oldestPendingReceivedAt()
        return v
    }

    /// The grid the stores' zones table holds: district D, street S, grid G1 (the cameras'), street X.
    static func saveZones(_ hub: Hub) throws {
        let zones: [(String, String, String, String?)] = [("D", "区", "district", nil), ("S", "街道", "street", "D"), ("G1", "网格一", "grid", "S"),
                                                          ("X", "另一街道", "street", "D")]
        if let sqlite = hub.sqlite {
            try sqlite.store.writer.write { db in
                for z in zones {
                    try db.execute(sql: "INSERT INTO zones(code, name, level, parent, unit, worker, geometry) VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                                   arguments: [z.0, z.1, z.2, z.3, "unit-" + z.0])
                }
            }
        } else {
            try hub.postgres!.store.batch(outputPrefix: "") { b in
                for z in zones {
                    try b.run("INSERT INTO zones(code, name, level, parent, unit, worker, geometry) VALUES (\(z.0), \(z.1), \(z.2), \(z.3), \("unit-" + z.0), NULL, NULL)")
                }
            }
        }
    }

    /// What one store answered along the whole run.
    struct Run: Equatable {
        var before = View()
        var acted: [String] = []
        var after = View()
        var outbox: [String] = []
        /// The daily, weekly and monthly reports, as markdown and CSV.
        var reports: [String: String] = [:]
        var outcomes = PipelineOverStoresTests.Outcomes()
        /// Rows each table's housekeeping deleted (the inbox, vacuum and checkpoint left out), and what was left.
        var pruned: [String: Int] = [:]
        var afterPruning = PipelineOverStoresTests.Outcomes()
        var prunedCounters: [String: Int] = [:]
    }

    static func run(_ kind: StoreKind) throws -> Run {
        let hub = try Hub(kind)
        defer { hub.finish() }
        var run = Run()
        try saveZones(hub)
        let dispatch: any DispatchStore
        var second: PostgresDispatchStore?
        if let sqlite = hub.sqlite {
            dispatch = sqlite.store
        } else {
            // Connections of its own, as `serve` opens them, and the hub's inbox file.
            let (url, password) = (hub.postgres!.url, hub.postgres!.password)
            second = try PostgresDispatchStore(connect: { try PostgresStore(url: url, password: password) }, inbox: hub.inbox)
            dispatch = second!
        }
        defer { second?.close() }
        func drain(_ p: any Processing) throws {
            var rounds = 0
            while rounds < 50, try p.processPending(limit: 3).messages > 0 || p.isolating { rounds += 1 }
        }
        try hub.inbox.ingest(T.first)
        hub.clock.now = T.at(6)
        let p = try hub.start()
        try drain(p)
        try hub.inbox.ingest(T.second)
        hub.clock.now = T.at(11)
        try drain(p)
        // The dead letters' sources, as the hub's pipeline labels them between batches.
        let labelled = try hub.sqlite?.store.labelDeadLetterSources(router: TopicRouter())
            ?? hub.postgres!.store.labelDeadLetterSources(router: TopicRouter())
        run.acted.append("labelled \(labelled)")
        run.before = try view(dispatch)

        // Operator actions: a case taken through its states to closed (its warning slips close with it),
        // an illegal one refused, silences made, refused, ended and deleted, a dead letter replayed.
        guard let caseID = try dispatch.casesPage(ListQuery()).items.first?.id else {
            run.acted.append("no case")
            return run
        }
        var now = T.at(12)
        func act(_ action: CaseAction) {
            now += 1
            do {
                run.acted.append(try dispatch.act(on: caseID, action, now: now, outputPrefix: "patrolhub/v1").json.serialized)
            } catch let e as HubError {
                run.acted.append("refused \(e.code.rawValue): \(e.message)")
            } catch {
                run.acted.append("error \(error)")
            }
        }
        act(CaseAction(.acknowledge, by: "op-1", note: "看到了"))
        act(CaseAction(.assign, by: "op-1", assignee: "网格员 W-1"))
        act(CaseAction(.reopen, by: "op-1"))
        act(CaseAction(.close, by: "op-2", note: "已处置"))
        act(CaseAction(.falseAlarm, by: "op-2", note: "误报"))
        do {
            _ = try dispatch.act(on: "AJ-nope", CaseAction(.acknowledge, by: "op-1"), now: now, outputPrefix: "patrolhub/v1")
            run.acted.append("acted on no case")
        } catch let e as HubError { run.acted.append("refused \(e.code.rawValue): \(e.message)") }
        func silence(_ zone: String?, source: String? = nil) {
            do {
                let s = try dispatch.addSilence(Silence(id: "", zone: zone, source: source, startsAt: now, endsAt: now + 3600, createdBy: "op-1",
                                                        comment: "施工", createdAt: now), policy: SilencePolicy(), authority: .operator)
                run.acted.append("silence \(s.id)")
            } catch let e as HubError { run.acted.append("refused \(e.code.rawValue): \(e.message)") } catch { run.acted.append("error \(error)") }
        }
        silence("G1")
        silence("nope")
        silence(nil, source: "cam-nope")
        silence("S", source: "cam-B")
        run.acted.append("expired \(try dispatch.expireSilence(id: "JM-000002", by: "op-1", at: now + 60))")
        do {
            _ = try dispatch.expireSilence(id: "JM-000002", by: "op-1", at: now + 120)
        } catch let e as HubError { run.acted.append("refused \(e.code.rawValue): \(e.message)") }
        run.acted.append("deleted \(try dispatch.deleteSilence(id: "JM-000001", by: "op-1", at: now + 60)) \(try dispatch.deleteSilence(id: "JM-000009", by: "op-1", at: now))")
        let replay = try dispatch.replayDeadLetters(DeadLetterQuery(), by: "op-1", force: false, dryRun: false, now: now)
        run.acted.append("replayed \(replay.queued.map(\.key)) refused \(replay.refused.map(\.why)) more \(replay.more)")
        run.acted.append("pending \(try hub.inbox.pending(after: 0, limit: 100).count)")

        // The pipeline's next batches see what the operators did: the replayed copy, new intrusions in G1.
        try hub.inbox.ingest([T.camera("cam-A", "a9", "intrusion", 20), T.camera("cam-B", "b9", "intrusion", 21), T.camera("cam-A", "a10", "intrusion", 22)])
        hub.clock.now = T.at(23)
        try drain(p)
        run.after = try view(dispatch)
        // The supervision reports, from the same queries on either store.
        let context = ReportContext(timeZone: TimeZone(identifier: "UTC")!, now: T.at(30))
        for kind in ReportCatalog.kinds {
            let report = try ReportCatalog.build(kind, date: LocalDay(year: 2027, month: 1, day: 15), context: context, store: dispatch)
            run.reports[kind + ".md"] = ReportRenderer.render(report, as: .md)
            run.reports[kind + ".csv"] = ReportRenderer.render(report, as: .csv)
        }
        let outboxStore: any OutboxStore = hub.sqlite?.store ?? hub.postgres!.store
        run.outbox = try outboxStore.outbox(limit: 1000).map { "\($0.topic) \(String(decoding: $0.payload, as: UTF8.self))" }
        run.acted.append("pruned \(try dispatch.pruneChanges(olderThan: .distantPast, keepingNewest: 3, chunk: 2))")
        let bounds = try dispatch.changeLogBounds()
        run.acted.append("bounds \(bounds.oldest.map(String.init) ?? "none") \(bounds.latest)")
        // An emptied log still knows how far it went (a stream starting there waits for the next change).
        run.acted.append("pruned all \(try dispatch.pruneChanges(olderThan: .distantFuture, keepingNewest: 0, chunk: 1000))")
        let emptied = try dispatch.changeLogBounds()
        run.acted.append("bounds \(emptied.oldest.map(String.init) ?? "none") \(emptied.latest) \(try dispatch.latestChangeSeq())")
        run.outcomes = try hub.outcomes()

        // A month later, housekeeping with short retentions and small steps (each task over several
        // steps): the ended case with its transitions, closed slips and items, the dead letters,
        // old event keys and batches, ended silences and the change log go, alike on both.
        var policy = Housekeeper.Policy()
        policy.keyRetention = 60
        policy.batchRetention = 60
        policy.deadLetters = 86_400
        policy.closed = 86_400
        policy.changes = 86_400
        policy.chunkRows = 3
        policy.pause = .zero
        let later = T.at(30 * 24 * 60)
        let counts: Housekeeper.Counts
        if let sqlite = hub.sqlite {
            counts = try Housekeeper(store: sqlite.store, policy: policy).runPass(now: later)
        } else {
            counts = try PostgresHousekeeper(store: hub.postgres!.store, policy: policy).runPass(now: later)
        }
        run.pruned = counts.rows.filter { !["inbox", "vacuum", "checkpoint"].contains($0.key) && $0.value > 0 }
        run.afterPruning = try hub.outcomes()
        let status = try dispatch.metricsStatus()
        run.prunedCounters = status.pruned.filter { $0.key != "inbox" }
        return run
    }

    @Test("every read, action and replay answers alike on SQLite and PostgreSQL")
    func sameAnswers() async throws {
        let sqlite = try await onDedicatedThread { try Self.run(.sqlite) }
        let postgres = try await onDedicatedThread { try Self.run(.postgres) }
        // The run did what it says (on SQLite; PostgreSQL must then equal it).
        #expect(sqlite.before.pages["cases all"]?.count == 2, "one case, then 'last'")
        #expect(sqlite.before.pages["items one page 2"]?.count == 1)
        #expect(sqlite.before.zones.first { $0.code == "D" }?.openRiskItems ?? 0 > 0, "counts add up to the district")
        #expect(sqlite.before.knows == [true, true, false, true])
        #expect(sqlite.before.pages["slips intrusion"]?.count == 2, "the intrusions' warning slip is real: \(sqlite.before.pages["slips intrusion"] ?? [])")
        #expect(!sqlite.before.changes.isEmpty && !sqlite.before.deadLetters.isEmpty)
        #expect(sqlite.acted.first == "labelled 1" && sqlite.before.deadLetters.first?.source == "cam-A", "\(sqlite.before.deadLetters)")
        #expect(sqlite.acted.contains { $0.hasPrefix("refused illegal_transition") }, "\(sqlite.acted)")
        #expect(sqlite.acted.contains("silence JM-000001") && sqlite.acted.contains("silence JM-000002"), "\(sqlite.acted)")
        #expect(sqlite.acted.contains { $0.hasPrefix("replayed [\"") }, "\(sqlite.acted)")
        #expect(sqlite.after.pages["slips all"]?.contains { $0.contains("\"case_false_alarm\"") } == true, "the case's warning slip closed with it")
        #expect(sqlite.outbox.contains { $0.hasPrefix("patrolhub/v1/out/cases") && $0.contains("\"false_alarm\"") }, "\(sqlite.outbox)")

        for (name, s) in sqlite.before.pages.sorted(by: { $0.key < $1.key }) {
            #expect(postgres.before.pages[name] == s, "before: \(name)")
        }
        for (name, s) in sqlite.after.pages.sorted(by: { $0.key < $1.key }) {
            #expect(postgres.after.pages[name] == s, "after: \(name)")
        }
        #expect(postgres.before.details == sqlite.before.details)
        #expect(postgres.before.zones == sqlite.before.zones)
        #expect(postgres.before.knows == sqlite.before.knows)
        #expect(postgres.before.changes == sqlite.before.changes)
        #expect(postgres.before.bounds == sqlite.before.bounds)
        #expect(postgres.before.deadLetters == sqlite.before.deadLetters)
        #expect(postgres.before.deadLetterCounts == sqlite.before.deadLetterCounts)
        #expect(postgres.before.tallies == sqlite.before.tallies)
        #expect(postgres.before.status == sqlite.before.status)
        #expect(postgres.before.oldestPending == sqlite.before.oldestPending)
        #expect(postgres.acted == sqlite.acted)
        #expect(postgres.after.details == sqlite.after.details)
        #expect(postgres.after.zones == sqlite.after.zones)
        #expect(postgres.after.changes == sqlite.after.changes)
        #expect(postgres.after.silences == sqlite.after.silences)
        #expect(postgres.after.deadLetters == sqlite.after.deadLetters)
        #expect(postgres.after.tallies == sqlite.after.tallies)
        #expect(postgres.after.status == sqlite.after.status)
        #expect(postgres.outbox == sqlite.outbox)
        #expect(sqlite.reports["daily.md"]?.contains("W-1") == true && sqlite.reports["monthly.csv"]?.contains("S") == true, "\(sqlite.reports)")
        for (name, text) in sqlite.reports.sorted(by: { $0.key < $1.key }) {
            #expect(postgres.reports[name] == text, "\(name)")
        }
        #expect(postgres.outcomes.items == sqlite.outcomes.items)
        #expect(postgres.outcomes.slips == sqlite.outcomes.slips)
        #expect(postgres.outcomes.cases == sqlite.outcomes.cases)
        #expect(postgres.outcomes.deadLetters == sqlite.outcomes.deadLetters)

        #expect(sqlite.pruned["cases"] == 1 && sqlite.pruned["dead_letters"] ?? 0 > 0
                && sqlite.pruned["event_keys"] ?? 0 > 0 && sqlite.pruned["silences"] == 2, "\(sqlite.pruned)")
        #expect(postgres.pruned == sqlite.pruned)
        #expect(postgres.prunedCounters == sqlite.prunedCounters && sqlite.prunedCounters == sqlite.pruned)
        #expect(postgres.afterPruning.items == sqlite.afterPruning.items)
        #expect(postgres.afterPruning.slips == sqlite.afterPruning.slips)
        #expect(postgres.afterPruning.cases == sqlite.afterPruning.cases)
        #expect(postgres.afterPruning.eventKeys == sqlite.afterPruning.eventKeys)
        #expect(postgres.afterPruning.deadLetters == sqlite.afterPruning.deadLetters)
        // Counters aside: the SQLite store also counts its own inbox's pruned rows (`pruned.inbox`); the others are compared above.
        #expect(postgres.afterPruning.rows.filter { $0.key != "counters" } == sqlite.afterPruning.rows.filter { $0.key != "counters" })
    }

    @Test("PostgreSQL: the API's connections come back after the server ended them; an action waits for no batch it cannot")
    func connectionsComeBack() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("dispatch-reconnect")
            let dispatch = try PostgresDispatchStore(connect: { try PostgresStore(url: db.url, password: db.password) }, inbox: nil)
            defer { dispatch.close() }
            let admin = try PostgresStore(url: db.url, password: db.password)
            defer { admin.close() }
            #expect(try dispatch.latestChangeSeq() == 0)
            func endTheOthers() throws {
                try admin.batch(outputPrefix: "") { b in
                    try b.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                }
                Thread.sleep(forTimeInterval: 0.2) // the client notices the closed socket
            }
            try endTheOthers()
            // A read is run again on a new connection.
            #expect(try dispatch.zoneSummaries().isEmpty)
            #expect(try dispatch.riskItemsPage(ListQuery()).items.isEmpty)
            // An action is not repeated (it may have committed), but the next one has a new connection.
            try endTheOthers()
            let silence = Silence(id: "", category: .motion, startsAt: T.at(0), endsAt: T.at(60), createdBy: "op", comment: "works", createdAt: T.at(0))
            _ = try? dispatch.addSilence(silence, policy: SilencePolicy(), authority: .operator)
            let saved = try dispatch.addSilence(silence, policy: SilencePolicy(), authority: .operator)
            #expect(try dispatch.silences(endingAfter: nil).map(\.id).contains(saved.id))
        }
    }

    @Test("PostgreSQL: actions that cannot get past a long batch are refused as busy within their wait, queued ones too")
    func busyActionsAreRefused() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("dispatch-busy")
            let dispatch = try PostgresDispatchStore(connect: {
                let s = try PostgresStore(url: db.url, password: db.password)
                s.actionWaitMilliseconds.store(300, ordering: .relaxed)
                return s
            }, inbox: nil)
            defer { dispatch.close() }
            let batch = try PostgresStore(url: db.url, password: db.password)
            defer { batch.close() }
            // A "batch" holding the leader row (as every batch does) until told to stop.
            let released = Atomic<Bool>(false), holding = DispatchSemaphore(value: 0), stop = DispatchSemaphore(value: 0)
            let holder = Thread {
                _ = try? batch.batch(outputPrefix: "") { _ in
                    holding.signal()
                    _ = stop.wait(timeout: .now() + 30)
                }
                released.store(true, ordering: .relaxed)
            }
            holder.start()
            holding.wait()
            let results = Mutex<[String]>([])
            let group = DispatchGroup()
            for n in 0..<3 {
                group.enter()
                Thread {
                    let silence = Silence(id: "", category: .motion, startsAt: T.at(0), endsAt: T.at(60), createdBy: "op-\(n)", comment: "works", createdAt: T.at(0))
                    do {
                        _ = try dispatch.addSilence(silence, policy: SilencePolicy(), authority: .operator)
                        results.withLock { $0.append("added") }
                    } catch let e as HubError {
                        results.withLock { $0.append(e.code.rawValue + (released.load(ordering: .relaxed) ? " after the batch" : "")) }
                    } catch {
                        results.withLock { $0.append("\(error)") }
                    }
                    group.leave()
                }.start()
            }
            group.wait()
            stop.signal()
            #expect(results.withLock { $0 } == ["store_busy", "store_busy", "store_busy"], "each refused while the batch still held the store")
            // Once the batch has committed, an action goes through; reads never waited for it.
            while !released.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.01) }
            let silence = Silence(id: "", category: .motion, startsAt: T.at(0), endsAt: T.at(60), createdBy: "op", comment: "works", createdAt: T.at(0))
            #expect(try dispatch.addSilence(silence, policy: SilencePolicy(), authority: .operator).id == "JM-000001")
        }
    }
}
