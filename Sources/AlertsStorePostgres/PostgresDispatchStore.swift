import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// The dispatch room's store on PostgreSQL (`store.kind: postgres`): what the
/// HTTP API, the event stream and `/metrics` read and write, statement for
/// statement what `DisputeStore` does on SQLite, so every hub of a group shows
/// the whole city's state and takes its operators' actions.
///
/// It has two connections of its own, opened by `connect`: one for the reads
/// (each one repeatable-read transaction, one snapshot), one for the operator
/// actions (case actions, silences, replay marks, the change log's pruning),
/// which run in `exclusive` transactions that no pipeline batch of any hub
/// interleaves with: an action waiting for a long batch does not hold up the
/// board's reads. A connection found closed (the server restarted, the network
/// was cut, a statement timed out) is opened again at the next call, so the API
/// answers again once PostgreSQL is back. An action that waits longer than
/// `PostgresStore.actionLockTimeout` for the batches is refused as
/// `.storeBusy` (the API's 503).
///
/// `inbox` is the hub's SQLite inbox file: a dead letter replayed is queued
/// there, as a message the hub received, and `/metrics` counts its messages.
///
/// Every call blocks its thread (see `PostgresStore`): the HTTP side calls it
/// from its `StoreThreads`; the calls on one connection take turns.
public final class PostgresDispatchStore: DispatchStore {
    /// Opens a connection (reading the password file or variable again each time).
    let connect: @Sendable () throws -> PostgresStore
    private let readConnection: Mutex<PostgresStore>
    private let actionConnection: Mutex<PostgresStore>
    /// The hub's own inbox file (nil for a command-line tool, which has none: it cannot replay,
    /// and counts no inbox).
    let inbox: DisputeStore?

    /// Opens both connections with `connect` (a failure is the caller's, at start) over the hub's inbox file.
    public init(connect: @escaping @Sendable () throws -> PostgresStore, inbox: DisputeStore?) throws {
        self.connect = connect
        let reads = try connect()
        do {
            actionConnection = Mutex(try connect())
        } catch {
            reads.close()
            throw error
        }
        readConnection = Mutex(reads)
        self.inbox = inbox
    }

    /// The reads' connection, opened again when the last one was closed.
    var store: PostgresStore {
        get throws { try Self.open(readConnection, connect) }
    }

    /// The operator actions' connection, opened again when the last one was closed.
    var actions: PostgresStore {
        get throws { try Self.open(actionConnection, connect) }
    }

    private static func open(_ slot: borrowing Mutex<PostgresStore>, _ connect: () throws -> PostgresStore) throws -> PostgresStore {
        try slot.withLock { current in
            guard current.isClosed else { return current }
            current.close()
            current = try connect()
            return current
        }
    }

    /// Runs `body` in one repeatable-read transaction on the reads' connection. A read that failed
    /// because the connection was lost (the server restarted, the network was cut) is run once more
    /// on a new connection: reads change nothing, so the API answers at once when PostgreSQL is back.
    func read<T>(_ body: (PostgresBatch) throws -> T) throws -> T {
        let first = try store
        do {
            return try first.snapshot(body)
        } catch {
            guard first.isClosed else { throw error }
            return try store.snapshot(body)
        }
    }

    /// Closes both connections (the hub is stopping).
    public func close() {
        readConnection.withLock { $0.close() }
        actionConnection.withLock { $0.close() }
    }

    // MARK: - Lists and objects

    /// A page of risk items matching `q`, newest first (by `seq`).
    public func riskItemsPage(_ q: ListQuery) throws -> ListPage<RiskItem> {
        var f = ListFilter(q, table: "risk_items", order: "seq")
        f.add("last_seen >=", q.since?.timeIntervalSince1970)
        f.add("late =", q.late)
        f.add(states: q.states)
        return try read { b in
            try f.page(b, columns: PostgresStore.itemColumns) { rows in try rows.map(PostgresStore.item) }
        }
    }

    /// A page of cases matching `q`, newest first (by `seq`); `open` stands for every open state.
    public func casesPage(_ q: ListQuery) throws -> ListPage<Case> {
        var f = ListFilter(q, table: "cases", order: "seq")
        f.add("updated_at >=", q.since?.timeIntervalSince1970)
        f.add(states: q.caseStates)
        return try read { b in
            try f.page(b, columns: PostgresBatch.caseColumns) { rows in try Self.cases(rows, b) }
        }
    }

    /// A page of slips matching `q`, newest first (by `rid`, the order they were first written in).
    public func slipsPage(_ q: ListQuery) throws -> ListPage<Slip> {
        var f = ListFilter(q, table: "slips", order: "rid")
        f.add("updated_at >=", q.since?.timeIntervalSince1970)
        f.add("kind =", q.kind?.rawValue)
        f.add(states: q.states)
        return try read { b in
            try f.page(b, columns: PostgresBatch.slipColumns) { rows in try Self.slips(rows, b) }
        }
    }

    /// Whether `code` names a zone the store knows (`unzoned` always; any code when the store has no zones).
    public func knowsZone(_ code: String) throws -> Bool {
        if code == "unzoned" { return true }
        return try read { b in
            try b.run("SELECT NOT EXISTS (SELECT 1 FROM zones) OR EXISTS (SELECT 1 FROM zones WHERE code = \(code))").rows.first?.decode(Bool.self) ?? false
        }
    }

    /// One case with its transitions, risk items (in the case's order) and slips; nil when unknown.
    public func caseDetail(id: String) throws -> CaseDetail? {
        try read { b in
            guard let c = try b.fetchCase(id: id) else { return nil }
            let found = try Self.items(ids: c.riskItemIDs, b)
            let transitions = try b.run("""
                SELECT id, case_id, at, actor, action, from_state, to_state, note FROM case_transitions WHERE case_id = \(id) ORDER BY at, id
                """).rows.map(Self.transition)
            let slips = try Self.slips(try b.run("SELECT \(unescaped: PostgresBatch.slipColumns) FROM slips WHERE case_id = \(id) ORDER BY rid").rows.map { $0 }, b)
            return CaseDetail(case: c, transitions: transitions, riskItems: c.riskItemIDs.compactMap { found[$0] }, slips: slips)
        }
    }

    /// Every zone with its live counts, aggregated up the hierarchy (`ZoneSummary.aggregate`).
    public func zoneSummaries() throws -> [ZoneSummary] {
        try read { b in
            let zones = try b.run("SELECT code, name, level, parent, unit, worker, geometry FROM zones ORDER BY code COLLATE \"C\"").rows.map { row in
                let (code, name, level, parent, unit, worker, geometry) = try row.decode((String, String, String, String?, String?, String?, String?).self)
                return ZoneSummary(code: code, name: name, level: level, parent: parent, unit: unit, worker: worker,
                                   geometry: geometry.flatMap { try? JSONParser.parse($0) })
            }
            let items = try b.run("""
                SELECT zone, suppressed_by IS NOT NULL, COUNT(*), MIN(severity) FROM risk_items WHERE state = 'open' GROUP BY zone, suppressed_by IS NOT NULL
                """).rows.map { row -> ZoneSummary.OpenItems in
                let (zone, muted, n, severity) = try row.decode((String, Bool, Int, Int).self)
                return (zone, muted, n, severity)
            }
            let closed = Case.State.allCases.filter { !$0.isOpen }.map(\.rawValue)
            let cases = try b.run("SELECT zone, COUNT(*), MIN(severity) FROM cases WHERE NOT (state = ANY(\(closed))) GROUP BY zone").rows.map { row -> ZoneSummary.OpenCases in
                let (zone, n, severity) = try row.decode((String, Int, Int).self)
                return (zone, n, severity)
            }
            let slips = try b.run("SELECT zone, COUNT(*) FROM slips WHERE state = 'open' GROUP BY zone").rows.map { row -> (zone: String, count: Int) in
                let (zone, n) = try row.decode((String, Int).self)
                return (zone, n)
            }
            return ZoneSummary.aggregate(zones: zones, items: items, cases: cases, slips: slips)
        }
    }

    // MARK: - The change log

    /// Up to `limit` changes after `seq`, oldest first, each with the object it names as it is now.
    public func changesWithObjects(after seq: Int64, limit: Int) throws -> [(Change, JSONValue?)] {
        try read { b in
            let changes = try b.run("SELECT seq, kind, subject, op, at FROM changes WHERE seq > \(seq) ORDER BY seq LIMIT \(max(1, limit))").rows.compactMap { row -> Change? in
                let (seq, kind, subject, op, at) = try row.decode((Int64, String, String, String, Double).self)
                guard let k = Change.Kind(rawValue: kind), let o = Change.Op(rawValue: op) else { return nil }
                return Change(seq: seq, kind: k, subject: subject, op: o, at: Date(timeIntervalSince1970: at))
            }
            // Each kind's objects in one or two queries, not one per change.
            func subjects(_ kind: Change.Kind) -> [String] { Array(Set(changes.filter { $0.kind == kind }.map(\.subject))) }
            let items = try Self.items(ids: subjects(.riskItem), b)
            var slips: [String: Slip] = [:]
            for s in try Self.slips(b.run("SELECT \(unescaped: PostgresBatch.slipColumns) FROM slips WHERE id = ANY(\(subjects(.slip)))").rows.map { $0 }, b) {
                slips[s.id] = s
            }
            var cases: [String: Case] = [:]
            for c in try Self.cases(b.run("SELECT \(unescaped: PostgresBatch.caseColumns) FROM cases WHERE id = ANY(\(subjects(.case)))").rows.map { $0 }, b) {
                cases[c.id] = c
            }
            var transitions: [String: CaseTransitionRecord] = [:]
            let transitionIDs = subjects(.transition).compactMap(Int64.init)
            for t in try b.run("""
                SELECT id, case_id, at, actor, action, from_state, to_state, note FROM case_transitions WHERE id = ANY(\(transitionIDs))
                """).rows.map(Self.transition) {
                transitions[String(t.id)] = t
            }
            return changes.map { c in
                switch c.kind {
                case .riskItem: return (c, items[c.subject]?.json)
                case .slip: return (c, slips[c.subject]?.json)
                case .case: return (c, cases[c.subject]?.json)
                case .transition: return (c, transitions[c.subject]?.json)
                }
            }
        }
    }

    /// The newest change's `seq` (0 when none).
    public func latestChangeSeq() throws -> Int64 {
        try read { b in try b.run("SELECT MAX(seq) FROM changes").rows.first?.decode(Int64?.self) ?? 0 }
    }

    /// The oldest `seq` in the log and the newest committed (also once pruning emptied the log: the
    /// highest seq pruned, `changes.pruned_through`). Not the identity's last value: PostgreSQL gives
    /// numbers to transactions still running, and a stream starting past them would never see them.
    public func changeLogBounds() throws -> (oldest: Int64?, latest: Int64) {
        try read { b in
            let (oldest, newest, pruned) = try b.run("""
                SELECT MIN(seq), MAX(seq), (SELECT value FROM counters WHERE name = \(PostgresHousekeeper.changesPrunedThrough)) FROM changes
                """).rows.first?.decode((Int64?, Int64?, Int64?).self) ?? (nil, nil, nil)
            return (oldest, max(newest ?? 0, pruned ?? 0))
        }
    }

    /// Deletes change-log rows older than `cutoff` and all but the newest `keepingNewest`, `chunk` rows an `exclusive` transaction.
    public func pruneChanges(olderThan cutoff: Date, keepingNewest: Int64, chunk: Int) throws -> Int {
        var total = 0
        while true {
            let n = try actions.exclusive { b in
                let newest = try b.run("SELECT MAX(seq) FROM changes").rows.first?.decode(Int64?.self) ?? 0
                let through = keepingNewest >= newest ? 0 : newest - keepingNewest
                let deleted = try b.run("""
                    DELETE FROM changes WHERE seq IN (
                        SELECT seq FROM changes WHERE at < \(cutoff.timeIntervalSince1970) OR seq <= \(through) ORDER BY seq LIMIT \(chunk))
                    RETURNING seq
                    """).rows.map { try $0.decode(Int64.self) }
                try PostgresHousekeeper.notePrunedChanges(through: deleted.max(), b)
                return deleted.count
            }
            total += n
            if n < chunk { return total }
        }
    }

    // MARK: - Reading rows

    /// Risk items by id (those that exist).
    static func items(ids: [String], _ b: PostgresBatch) throws -> [String: RiskItem] {
        var out: [String: RiskItem] = [:]
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let part = Array(ids[start..<min(start + 1000, ids.count)])
            for item in try b.run("SELECT \(unescaped: PostgresStore.itemColumns) FROM risk_items WHERE id = ANY(\(part))").rows.map(PostgresStore.item) {
                out[item.id] = item
            }
        }
        return out
    }

    /// Cases from rows of `caseColumns`, their risk items read for all of them together.
    static func cases(_ rows: [PostgresRow], _ b: PostgresBatch) throws -> [Case] {
        let ids = try rows.map { try $0.makeRandomAccess()["id"].decode(String.self) }
        let links = try b.linkedItems(table: "case_items", owner: "case_id", ids: ids)
        return try zip(rows, ids).map { try PostgresBatch.decodeCase($0, items: links[$1] ?? []) }
    }

    /// Slips from rows of `slipColumns`, their risk items read for all of them together.
    static func slips(_ rows: [PostgresRow], _ b: PostgresBatch) throws -> [Slip] {
        let ids = try rows.map { try $0.makeRandomAccess()["id"].decode(String.self) }
        let links = try b.linkedItems(table: "slip_items", owner: "slip_id", ids: ids)
        return try zip(rows, ids).map { try PostgresBatch.decodeSlip($0, items: links[$1] ?? []) }
    }

    /// A transition from `id, case_id, at, actor, action, from_state, to_state, note`.
    static func transition(_ row: PostgresRow) throws -> CaseTransitionRecord {
        let (id, caseID, at, actor, action, from, to, note) = try row.decode((Int64, String, Double, String, String, String, String, String).self)
        return CaseTransitionRecord(id: id, caseID: caseID, at: Date(timeIntervalSince1970: at), actor: actor, action: action, from: from, to: to, note: note)
    }
}

/// The WHERE clause and paging of one list query (`ListQuery`), as SQLite's `SQLFilter`, with
/// numbered parameters.
struct ListFilter {
    let table: String
    let order: String
    let limit: Int
    var prefix = ""
    var clauses: [String] = []
    var binds = PostgresBindings()
    var count = 0

    init(_ q: ListQuery, table: String, order: String) {
        self.table = table
        self.order = order
        limit = max(1, q.limit)
        if let zone = q.zone {
            prefix = "WITH RECURSIVE sub(code) AS (SELECT \(bind(zone))::text UNION SELECT z.code FROM zones z JOIN sub ON z.parent = sub.code) "
            clauses.append("zone IN (SELECT code FROM sub)")
        }
        if !q.categories.isEmpty { clauses.append("category = ANY(\(bind(q.categories.map(\.rawValue))))") }
        if table == "slips", let drill = q.drill {
            clauses.append(ListQuery.slipDrillClause(bind(drill)))
        } else {
            add("drill =", q.drill)
        }
        add("\(order) <", q.cursor)
    }

    /// Binds `value`; returns its placeholder.
    mutating func bind<T: PostgresNonThrowingEncodable>(_ value: T) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    /// `clause $n` when `value` is set.
    mutating func add<T: PostgresNonThrowingEncodable>(_ clause: String, _ value: T?) {
        guard let value else { return }
        clauses.append("\(clause) \(bind(value))")
    }

    /// Any of `states` (none: any state).
    mutating func add(states: [String]) {
        guard !states.isEmpty else { return }
        clauses.append("state = ANY(\(bind(states)))")
    }

    /// One page, newest first: the rows, then `make` over them together.
    func page<T>(_ b: PostgresBatch, columns: String, _ make: ([PostgresRow]) throws -> [T]) throws -> ListPage<T> {
        var f = self
        let limitParameter = f.bind(limit + 1)
        let sql = prefix + "SELECT \(order) AS page_key, \(columns) FROM \(table)"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY \(order) DESC LIMIT \(limitParameter)"
        let rows = Array(try b.run(PostgresQuery(unsafeSQL: sql, binds: f.binds)).rows)
        let kept = Array(rows.prefix(limit))
        let next = rows.count > limit ? try kept.last?.makeRandomAccess()["page_key"].decode(Int64.self) : nil
        return ListPage(items: try make(kept), next: next)
    }
}
