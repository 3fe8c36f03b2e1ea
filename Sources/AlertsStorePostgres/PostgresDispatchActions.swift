import Alerts
import AlertsStore
import Foundation
import NIOCore
import PostgresNIO

/// Operator actions, dead letters and `/metrics` on PostgreSQL: statement for
/// statement what `DisputeStore` does (`CaseActionStore.swift`,
/// `SilenceStore.swift`, `DeadLetterStore.swift`, `MetricsReads.swift`).
extension PostgresDispatchStore {
    // MARK: - Case actions

    /// Applies an operator action to a case in one `exclusive` transaction (see
    /// `DisputeStore.act(on:_:now:outputPrefix:)`): the case row, its transition, an audit row,
    /// the case on `{outputPrefix}/out/cases`, and the documents an ending action closes.
    public func act(on caseID: String, _ action: CaseAction, now requested: Date, outputPrefix: String) throws -> Case {
        try actions.exclusive { b in
            guard let current = try b.fetchCase(id: caseID) else {
                throw HubError.caseAction(.unknownCase, "no case \(caseID)")
            }
            // Never before the case's last transition: an action that waited for another one (or for a
            // batch) is recorded after it, so its history reads in order by time.
            let last = try b.run("SELECT MAX(at) FROM case_transitions WHERE case_id = \(caseID)").rows.first?.decode(Double?.self) ?? nil
            let now = max(requested, last.map(Date.init(timeIntervalSince1970:)) ?? requested)
            let (next, transition) = try current.applying(action, at: now)
            let actions = try b.run("SELECT COUNT(*) FROM case_transitions WHERE case_id = \(caseID)").rows.first?.decode(Int.self) ?? 0
            if actions >= CaseAction.maxActionsPerCase, action.kind != .close, action.kind != .falseAlarm {
                throw HubError.caseAction(.invalidAction, "case \(caseID) has \(actions) entries in its history, at most \(CaseAction.maxActionsPerCase) (close or false-alarm still end it)")
            }
            try b.upsert(case: next, evidenceAt: nil)
            let t = now.timeIntervalSince1970
            try b.run("""
                INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state, note, detail)
                VALUES (\(caseID), \(transition.at.timeIntervalSince1970), \(transition.actor), \(transition.action.rawValue),
                        \(transition.from.rawValue), \(transition.to.rawValue), \(transition.note), \(transition.detail.serialized))
                """)
            var detail = "\(transition.from.rawValue) → \(transition.to.rawValue)"
            if case .object(let o) = transition.detail, !o.isEmpty { detail += " " + transition.detail.serialized }
            if !transition.note.isEmpty { detail += ": " + transition.note }
            try b.run("INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (\(t), \(transition.actor), \(caseID), \("case.\(action.kind.rawValue)"), \(detail))")
            try b.enqueue(topic: "\(outputPrefix)/out/cases", next.json, at: t)
            if !next.state.isOpen {
                for slip in try Self.close(caseID: caseID, kinds: [.reminder, .supervision], reason: nil, now: now, b) {
                    try b.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, at: t)
                }
            }
            if next.state == .closed || next.state == .falseAlarm {
                let reason: Slip.CloseReason = next.state == .closed ? .caseClosed : .caseFalseAlarm
                for slip in try Self.close(caseID: caseID, kinds: [.warning], reason: reason, now: now, b) {
                    try b.enqueue(topic: "\(outputPrefix)/out/slips", slip.json, at: t)
                }
            }
            return next
        }
    }

    /// Closes the case's open slips of `kinds` (with `reason` when given); returns them as closed, by issue time.
    private static func close(caseID: String, kinds: [Slip.Kind], reason: Slip.CloseReason?, now: Date, _ b: PostgresBatch) throws -> [Slip] {
        let t = now.timeIntervalSince1970
        let kindNames = kinds.map(\.rawValue)
        let ids = try b.run("""
            UPDATE slips SET state = 'closed', updated_at = \(t), closed_at = \(t), close_reason = COALESCE(\(reason?.rawValue), close_reason)
            WHERE case_id = \(caseID) AND kind = ANY(\(kindNames)) AND state = 'open' RETURNING id
            """).rows.map { try $0.decode(String.self) }
        guard !ids.isEmpty else { return [] }
        let rows = try b.run("""
            SELECT \(unescaped: PostgresBatch.slipColumns) FROM slips WHERE id = ANY(\(ids)) ORDER BY issued_at, id COLLATE "C"
            """).rows.map { $0 }
        return try slips(rows, b)
    }

    // MARK: - Silences

    /// Silences ending after `after` (all when nil), by start time (`PostgresStore.silences`).
    public func silences(endingAfter after: Date?) throws -> [Silence] {
        try store.silences(endingAfter: after)
    }

    /// Creates a silence after validating it (see `DisputeStore.addSilence(_:policy:authority:)`);
    /// numbered from the audit log, in an `exclusive` transaction so two hubs never give one number twice.
    public func addSilence(_ silence: Silence, policy: SilencePolicy, authority: SilenceAuthority) throws -> Silence {
        try silence.validate()
        return try actions.exclusive { b in
            let topLevel = Set(try b.run("SELECT code FROM zones WHERE level = 'district'").rows.map { try $0.decode(String.self) })
            try silence.validate(policy: policy, authority: authority, topLevelZone: { topLevel.contains($0) })
            if let zone = silence.zone, zone != "unzoned",
               try b.run("SELECT EXISTS (SELECT 1 FROM zones) AND NOT EXISTS (SELECT 1 FROM zones WHERE code = \(zone))").rows.first?.decode(Bool.self) == true {
                throw HubError.invalidSilence(field: "zone", message: "unknown zone '\(zone)' (not in the hub's zone file)")
            }
            if let source = silence.source, try b.run("""
                SELECT (EXISTS (SELECT 1 FROM cameras) OR EXISTS (SELECT 1 FROM devices))
                    AND NOT EXISTS (SELECT 1 FROM cameras WHERE id = \(source)) AND NOT EXISTS (SELECT 1 FROM devices WHERE id = \(source))
                """).rows.first?.decode(Bool.self) == true {
                throw HubError.invalidSilence(field: "source", message: "unknown source '\(source)' (no registered camera or device has that id)")
            }
            let unended = try b.run("SELECT COUNT(*) FROM silences WHERE ends_at > \(silence.createdAt.timeIntervalSince1970)").rows.first?.decode(Int.self) ?? 0
            if unended >= SilencePolicy.maxUnended {
                throw HubError.invalidSilence(field: "silence", message: "\(unended) silences have not ended yet; at most \(SilencePolicy.maxUnended) (expire the ones no longer needed)")
            }
            var s = silence
            if s.id.isEmpty {
                let n = (try b.run("SELECT COUNT(*) FROM audit_log WHERE action = 'silence.created'").rows.first?.decode(Int.self) ?? 0) + 1
                s.id = "JM-" + HubFormat.zeroPadded(n, width: 6)
            }
            try b.run("""
                INSERT INTO silences(id, zone, category, source, drill, starts_at, ends_at, created_by, comment, created_at)
                VALUES (\(s.id), \(s.zone), \(s.category?.rawValue), \(s.source), \(s.drill), \(s.startsAt.timeIntervalSince1970),
                        \(s.endsAt.timeIntervalSince1970), \(s.createdBy), \(s.comment), \(s.createdAt.timeIntervalSince1970))
                """)
            try b.run("""
                INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (\(s.createdAt.timeIntervalSince1970), \(s.createdBy), \(s.id), 'silence.created', \(s.comment))
                """)
            return s
        }
    }

    /// Ends a silence now (see `DisputeStore.expireSilence(id:by:at:)`).
    public func expireSilence(id: String, by actor: String, at now: Date) throws -> Bool {
        try actions.exclusive { b in
            guard let row = try b.run("SELECT starts_at, ends_at FROM silences WHERE id = \(id) FOR UPDATE").rows.first else { return false }
            let (starts, ends) = try row.decode((Double, Double).self)
            guard ends > now.timeIntervalSince1970 else {
                throw HubError.invalidSilence(field: "id", message: "silence \(id) ended at \(Date(timeIntervalSince1970: ends).rfc3339) already")
            }
            try b.run("UPDATE silences SET ends_at = \(max(starts, now.timeIntervalSince1970)) WHERE id = \(id)")
            try b.run("INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (\(now.timeIntervalSince1970), \(actor), \(id), 'silence.expired', '')")
            return true
        }
    }

    /// Deletes a silence (see `DisputeStore.deleteSilence(id:by:at:)`).
    public func deleteSilence(id: String, by actor: String, at now: Date) throws -> Bool {
        try actions.exclusive { b in
            guard try b.changes("DELETE FROM silences WHERE id = \(id)") > 0 else { return false }
            try b.run("INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (\(now.timeIntervalSince1970), \(actor), \(id), 'silence.deleted', '')")
            return true
        }
    }

    // MARK: - Dead letters

    /// A page of dead letters, newest first, without their bytes; `next` continues it.
    public func deadLettersPage(_ q: DeadLetterQuery) throws -> (items: [DeadLetter], next: Int64?) {
        let limit = max(1, min(q.limit, 10_000))
        var f = DeadLetterFilter(q)
        let sql = "SELECT \(DisputeStore.deadLetterColumns) FROM dead_letters \(f.clause) ORDER BY id DESC LIMIT \(f.bind(limit + 1))"
        let rows = try read { b in try b.run(PostgresQuery(unsafeSQL: sql, binds: f.binds)).rows.map { try Self.deadLetter($0, payload: false) } }
        let items = Array(rows.prefix(limit))
        return (items, rows.count > limit ? items.last?.id : nil)
    }

    /// One dead letter with its stored bytes, nil when there is none with this id.
    public func deadLetter(id: Int64) throws -> DeadLetter? {
        try read { b in
            try b.run("SELECT \(unescaped: DisputeStore.deadLetterColumns), payload FROM dead_letters WHERE id = \(id)").rows.first.map { try Self.deadLetter($0, payload: true) }
        }
    }

    /// Dead letters not replayed yet, by reason and by their `top` largest sources, largest first.
    public func deadLetterCounts(top: Int) throws -> (byReason: [(String, Int)], bySource: [(String, Int)]) {
        try read { b in
            let reasons = try b.run("""
                SELECT reason, COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL GROUP BY reason ORDER BY n DESC, reason COLLATE "C"
                """).rows.map { try $0.decode((String, Int).self) }
            let sources = try b.run("""
                SELECT COALESCE(source, topic) AS s, COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL
                GROUP BY s ORDER BY n DESC, COALESCE(source, topic) COLLATE "C" LIMIT \(max(1, top))
                """).rows.map { try $0.decode((String, Int).self) }
            return (reasons, sources)
        }
    }

    /// Queues the selected dead letters into this hub's inbox file again and marks them replayed in
    /// the store (see `DisputeStore.replayDeadLetters`). In a group the copies travel as any message
    /// this hub received: forwarded into the shared inbox, decided by the leader.
    public func replayDeadLetters(_ q: DeadLetterQuery, by actor: String, force: Bool, dryRun: Bool, now: Date) throws -> DeadLetterReplay {
        try DeadLetterReplay.run(q, force: force, dryRun: dryRun, select: { selection, after, limit in
            var f = DeadLetterFilter(selection)
            let sql = "SELECT \(DisputeStore.deadLetterColumns), payload FROM dead_letters \(f.clause.isEmpty ? "WHERE" : f.clause + " AND") id > \(f.bind(after)) ORDER BY id LIMIT \(f.bind(limit))"
            return try read { b in
                try b.run(PostgresQuery(unsafeSQL: sql, binds: f.binds)).rows.map { row in
                    let d = try Self.deadLetter(row, payload: true)
                    var plain = d
                    plain.payload = nil
                    return (plain, d.payload ?? [])
                }
            }
        }, ingest: { messages in
            guard let inbox else { throw HubError(.postgresStore, "a replay queues the messages into a hub's inbox: replay through the hub's HTTP API") }
            _ = try inbox.ingest(messages)
        }, mark: { queued in
            try actions.exclusive { b in
                let t = now.timeIntervalSince1970
                var marked: Set<Int64> = []
                for (id, key) in queued {
                    let n = try b.changes("""
                        UPDATE dead_letters SET replayed_at = \(t), replayed_by = \(actor), replay_key = \(key) WHERE id = \(id) AND replayed_at IS NULL
                        """)
                    guard n > 0 else { continue } // a replay running at the same moment marked it
                    marked.insert(id)
                    try b.run("""
                        INSERT INTO audit_log(at, actor, subject, action, detail)
                        VALUES (\(t), \(actor), \("dead-letter-\(id)"), 'dead_letter.replayed', \("queued again as inbox key \(key)"))
                        """)
                }
                return marked
            }
        })
    }

    /// A dead letter from a row of `DisputeStore.deadLetterColumns` (and `payload` when `payload`).
    static func deadLetter(_ row: PostgresRow, payload: Bool) throws -> DeadLetter {
        let r = row.makeRandomAccess()
        return DeadLetter(
            id: try r["id"].decode(Int64.self), inboxKey: try r["inbox_key"].decode(String.self), reason: try r["reason"].decode(String.self),
            detail: try r["detail"].decode(String.self), topic: try r["topic"].decode(String.self), source: try r["source"].decode(String.self),
            size: try r["size"].decode(Int.self), receivedAt: Date(timeIntervalSince1970: try r["received_at"].decode(Double.self)),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            payloadSHA256: try r["payload_sha256"].decode(String?.self),
            replayedAt: try r["replayed_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            replayedBy: try r["replayed_by"].decode(String?.self), replayKey: try r["replay_key"].decode(String?.self),
            payload: payload ? (try r["payload"].decode(ByteBuffer?.self)).map { Array($0.readableBytesView) } ?? [] : nil)
    }

    // MARK: - Metrics

    /// The newest dead letter id and change seq now: counting starts after them.
    public func metricsMarks() throws -> (deadLetter: Int64, change: Int64) {
        let (deadLetter, change) = try read { b -> (Int64, Int64) in
            try b.run("SELECT COALESCE((SELECT MAX(id) FROM dead_letters), 0), COALESCE((SELECT MAX(seq) FROM changes), 0)").rows.first?
                .decode((Int64, Int64).self) ?? (0, 0)
        }
        return (deadLetter, change)
    }

    /// Dead letters and changes after the marks, by label, with the next marks (by primary-key range).
    public func metricsTallies(afterDeadLetter deadLetter: Int64, afterChange change: Int64) throws -> StoreTallies {
        try read { b in
            var t = StoreTallies()
            let row = try b.run("SELECT COALESCE((SELECT MAX(id) FROM dead_letters), 0), COALESCE((SELECT MAX(seq) FROM changes), 0)").rows.first
            let marks: (Int64, Int64)? = try row?.decode((Int64, Int64).self)
            let (dl, ch) = marks ?? (0, 0)
            t.deadLetterMark = max(deadLetter, dl)
            t.changeMark = max(change, ch)
            if t.deadLetterMark > deadLetter {
                for row in try b.run("""
                    SELECT reason, COUNT(*) FROM dead_letters WHERE id > \(deadLetter) AND id <= \(t.deadLetterMark) GROUP BY reason
                    """).rows {
                    let (reason, n) = try row.decode((String, Int).self)
                    t.deadLetters[reason] = n
                }
            }
            if t.changeMark > change {
                for row in try b.run("SELECT kind, op, COUNT(*) FROM changes WHERE seq > \(change) AND seq <= \(t.changeMark) GROUP BY kind, op").rows {
                    let (kind, op, n) = try row.decode((String, String, Int).self)
                    t.changes[kind, default: [:]][op] = n
                }
                for row in try b.run("""
                    SELECT s.kind, COUNT(*) FROM changes c JOIN slips s ON s.id = c.subject
                    WHERE c.seq > \(change) AND c.seq <= \(t.changeMark) AND c.kind = 'slip' AND c.op = 'new' GROUP BY s.kind
                    """).rows {
                    let (kind, n) = try row.decode((String, Int).self)
                    t.slipsIssued[kind] = n
                }
            }
            return t
        }
    }

    /// The figures of `/metrics`: the inbox from this hub's inbox file (processed: as far as the
    /// store's pipeline cursor, or a group's forwarding, has taken it), the rest from the store.
    public func metricsStatus() throws -> StoreStatus {
        let done = try position()
        let received = try inbox?.inboxReceivedSeq() ?? 0
        return try read { b in
            var s = StoreStatus()
            s.inboxReceived = Int(received)
            s.inboxProcessed = Int(min(done, received))
            s.inboxPending = Int(max(0, received - done))
            let (open, muted) = try b.run("""
                SELECT COUNT(*), COUNT(*) FILTER (WHERE suppressed_by IS NOT NULL) FROM risk_items WHERE state = 'open'
                """).rows.first?.decode((Int, Int).self) ?? (0, 0)
            s.riskItems["open"] = open
            s.riskItemsSuppressed = muted
            for row in try b.run("SELECT kind, state, COUNT(*) FROM slips GROUP BY kind, state").rows {
                let (kind, state, n) = try row.decode((String, String, Int).self)
                s.slips[kind, default: [:]][state] = n
            }
            for row in try b.run("SELECT state, COUNT(*) FROM cases GROUP BY state").rows {
                let (state, n) = try row.decode((String, Int).self)
                s.cases[state] = n
            }
            s.unmapped = try b.run("""
                SELECT format, name, count, first_seen, last_seen, device FROM unmapped_inputs ORDER BY count DESC, format COLLATE "C", name COLLATE "C"
                """).rows.map { row in
                let (format, name, count, first, last, device) = try row.decode((String, String, Int, Double, Double, String).self)
                return UnmappedInputCount(format: format, name: name, count: count, firstSeen: Date(timeIntervalSince1970: first),
                                          lastSeen: Date(timeIntervalSince1970: last), device: device)
            }
            for row in try b.run("SELECT name, value FROM counters").rows {
                let (name, value) = try row.decode((String, Int).self)
                switch name {
                case "late_events": s.lateEvents = value
                case DeadLetterCounters.pending: s.deadLettersPending = value
                case DeadLetterCounters.replayed: s.deadLettersReplayed = value
                case let n where n.hasPrefix("pruned."): s.pruned[String(n.dropFirst("pruned.".count))] = value
                default: break
                }
            }
            let newest = try b.newestEventTime()
            s.newestEventTime = newest > 0 ? Date(timeIntervalSince1970: newest) : nil
            return s
        }
    }

    /// When the oldest message of this hub's inbox not yet taken (see `position`) was received.
    public func oldestPendingReceivedAt() throws -> Date? {
        guard let inbox else { return nil }
        return try inbox.receivedAt(after: try position())
    }

    /// How far this hub's inbox has been taken: the store's pipeline cursor for it (a hub alone),
    /// or how far it has been forwarded into the shared inbox (a hub of a group).
    func position() throws -> Int64 {
        guard let id = inbox?.inboxID else { return 0 }
        return try read { b in
            try b.run("""
                SELECT GREATEST(COALESCE((SELECT inbox_seq FROM pipeline_cursor WHERE inbox_id = \(id)), 0),
                                COALESCE((SELECT forwarded_through FROM shared_inbox_forward WHERE origin = \(id)), 0))
                """).rows.first?.decode(Int64.self) ?? 0
        }
    }
}

/// The WHERE clause of a dead-letter selection (`DeadLetterQuery`), as SQLite's `deadLetterFilter`.
struct DeadLetterFilter {
    var binds = PostgresBindings()
    var count = 0
    var conditions: [String] = []

    init(_ q: DeadLetterQuery) {
        if !q.reasons.isEmpty { conditions.append("reason = ANY(\(bind(q.reasons)))") }
        if let s = q.source { conditions.append("(source = \(bind(s)) OR (source IS NULL AND topic = \(bind(s))))") }
        if let since = q.since { conditions.append("created_at >= \(bind(since.timeIntervalSince1970))") }
        if !q.ids.isEmpty { conditions.append("id = ANY(\(bind(q.ids)))") }
        switch q.replayed {
        case true?: conditions.append("replayed_at IS NOT NULL")
        case false?: conditions.append("replayed_at IS NULL")
        case nil: break
        }
        if let c = q.cursor { conditions.append("id < \(bind(c))") }
    }

    /// `WHERE …`, or nothing when no filter is set.
    var clause: String { conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ") }

    /// Binds `value`; returns its placeholder.
    mutating func bind<T: PostgresNonThrowingEncodable>(_ value: T) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }
}

extension PostgresStore {
    /// Fills the source of dead letters that have none (written since the last call), as
    /// `DisputeStore.labelDeadLetterSources`: the camera or device their topic or payload names.
    /// Returns how many.
    @discardableResult
    public func labelDeadLetterSources(router: TopicRouter) throws -> Int {
        try batch(outputPrefix: "") { b in
            let rows = try b.run("SELECT id, topic, payload FROM dead_letters WHERE source IS NULL ORDER BY id LIMIT 10000").rows.map {
                try $0.decode((Int64, String, ByteBuffer).self)
            }
            guard !rows.isEmpty else { return 0 }
            let ids = rows.map(\.0)
            let sources = rows.map { DeadLetterSource.name(topic: $0.1, payload: Array($0.2.readableBytesView), router: router) }
            try b.run("""
                UPDATE dead_letters d SET source = u.source FROM unnest(\(ids)::bigint[], \(sources)::text[]) AS u(id, source) WHERE d.id = u.id
                """)
            return rows.count
        }
    }
}
