@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport

/// Retention and housekeeping on real store files (docs/STORAGE.md).
@Suite("Housekeeper")
struct HousekeeperTests {
    static let now = PipelineProcessorTests.now
    static let day: TimeInterval = 86_400

    /// A folder removed when the test ends.
    final class Folder {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("housekeeper-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        var store: String { (path as NSString).appendingPathComponent("store.sqlite") }
    }

    static func policy(chunk: Int = 2000, keyHours: Double = 2) -> Housekeeper.Policy {
        var p = Housekeeper.Policy()
        p.keyRetention = keyHours * 3600
        p.batchRetention = keyHours * 3600
        p.inbox = 7 * day
        p.deadLetters = 90 * day
        p.closed = 400 * day
        p.chunkRows = chunk
        p.pause = .zero
        return p
    }

    func count(_ store: DisputeStore, _ sql: String) throws -> Int {
        try store.writer.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    func ids(_ store: DisputeStore, _ table: String) throws -> [String] {
        try store.writer.read { try String.fetchAll($0, sql: "SELECT id FROM \(table) ORDER BY id") }
    }

    // MARK: - Event keys and the too-old rule

    @Test("an event key goes once the newest event time is its retention past it; a redelivery older than that is a too_old dead letter, a newer one a duplicate")
    func eventKeysAndTooOld() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        let p = try PipelineProcessorTests.make(store)
        p.keyRetention = 2 * 3600
        let old = PipelineProcessorTests.msg("cam-1", "old", "intrusion", 300)      // 5 h before `now`
        let recent = PipelineProcessorTests.msg("cam-1", "recent", "intrusion", 60) // 1 h before
        let newest = PipelineProcessorTests.msg("cam-2", "newest", "intrusion", 0)
        try store.ingest([old, recent, newest])
        #expect(try p.processPending(limit: 100).events == 3)
        #expect(try count(store, "SELECT COUNT(*) FROM events") == 3)

        let counts = try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now)
        #expect(counts.rows["event_keys"] == 1)
        #expect(try store.writer.read { try String.fetchAll($0, sql: "SELECT key FROM events ORDER BY key") } == ["camera:cam-1:recent", "camera:cam-2:newest"])

        // The same bytes again: the old one cannot be checked, so it is refused; the recent one is a duplicate.
        try store.ingest([old, recent])
        let r = try p.processPending(limit: 100)
        #expect(r.events == 0)
        #expect(r.duplicates == 1)
        #expect(r.deadLetters == 1)
        let dead = try store.deadLetters()
        #expect(dead.map(\.reason) == ["too_old"])
        #expect(try store.riskItems().map(\.occurrences).reduce(0, +) == 3, "nothing counted twice")
        // An event just inside the retention is processed (and its key kept by the next pass).
        let edge = PipelineProcessorTests.msg("cam-2", "edge", "intrusion", 119)
        try store.ingest([edge])
        #expect(try p.processPending(limit: 100).events == 1)
        _ = try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now)
        #expect(try count(store, "SELECT COUNT(*) FROM events WHERE key = 'camera:cam-2:edge'") == 1)
    }

    @Test("the key retention is at least the dedup window plus the lateness bound plus an hour")
    func keyRetentionFloor() {
        var rules = RuleSet()
        rules.dedupWindow = 600
        rules.lateness = 7200
        #expect(Housekeeper.Policy.keyRetention(hours: 1, rules: rules) == 600 + 7200 + 3600)
        #expect(Housekeeper.Policy.keyRetention(hours: 72, rules: rules) == 72 * 3600)
        rules.cases.window = 1800
        #expect(Housekeeper.Policy.batchRetention(rules: rules) == 1800 + 7200 + 3600, "what a restart reads, and an hour")
    }

    @Test("pruning the event batches before a restart changes no outcome: the batches a restart reads stay")
    func batchPruningKeepsRestarts() throws {
        typealias O = OutcomeTableTests
        let rules = RuleSet()
        // Five hours of unrelated traffic (whose batches go), then crowd on cam-A, an unrelated
        // motion that moves the watermark 16 min on, and crowd on cam-B 7 min after cam-A's:
        // a correlation case only if cam-A's evidence survives the restart.
        var messages = (0..<60).map { O.camera("cam-C", "early\($0)", "motion", Double($0) * 5) }
        let base = 300.0
        messages += [O.camera("cam-A", "a1", "crowd_gathering", base), O.camera("cam-C", "c1", "motion", base + 16),
                     O.camera("cam-B", "b1", "crowd_gathering", base + 7)]
        func run(restartAt: Int?) throws -> (O.Outcomes, Int) {
            final class Clock: @unchecked Sendable { var now = OutcomeTableTests.t0 }
            let clock = Clock()
            let store = try DisputeStore.inMemory()
            func processor() throws -> PipelineProcessor {
                let decode = DecodeStage(router: TopicRouter(), registry: O.registry, timeParser: TimeParser(), adapters: rules.adapters)
                let engine = RiskEngine(rules: rules, place: Placer(registry: O.registry, zones: nil).place)
                return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
            }
            var p = try processor()
            var pruned = 0
            for (i, m) in messages.enumerated() {
                if i == restartAt {
                    var policy = Self.policy()
                    policy.keyRetention = Housekeeper.Policy.keyRetention(hours: 1, rules: rules)
                    policy.batchRetention = Housekeeper.Policy.batchRetention(rules: rules)
                    pruned = try Housekeeper(store: store, policy: policy).runPass(now: clock.now).rows["event_batches"] ?? 0
                    p = try processor()
                }
                clock.now = O.t0.addingTimeInterval(m.minute * 60 + 1)
                try store.ingest([InboxMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: clock.now)])
                #expect(try p.processPending(limit: 10).deadLetters == 0)
            }
            return (try O.outcomes(store), pruned)
        }
        let (running, _) = try run(restartAt: nil)
        #expect(running.cases.map(\.rule) == ["correlation"], "sanity: the hub that kept running opens the case")
        let (restarted, pruned) = try run(restartAt: messages.count - 1)
        #expect(pruned > 30, "the early batches went")
        #expect(restarted == running)
    }

    // MARK: - Closed things, references, and what stays

    /// Rows of every kind, old and new, open and closed, linked and not.
    func fill(_ store: DisputeStore) throws {
        let now = Self.now.timeIntervalSince1970
        let old = now - 500 * Self.day, recent = now - 10 * Self.day
        try store.writer.write { db in
            func item(_ seq: Int, _ id: String, _ state: String, _ lastSeen: Double) throws {
                try db.execute(sql: """
                    INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, first_seen, last_seen, occurrences, state)
                    VALUES (?, ?, 'cam-1', 'camera', 'fight', 3, 'Z-A', ?, ?, 1, ?)
                    """, arguments: [seq, id, lastSeen, lastSeen, state])
            }
            try item(1, "RI-old-closed", "closed", old)          // goes
            try item(2, "RI-old-open", "open", old)              // open: stays
            try item(3, "RI-new-closed", "closed", recent)       // recent: stays
            try item(4, "RI-in-kept-slip", "closed", old)        // linked to an open slip: stays
            try item(5, "RI-in-kept-case", "closed", old)        // linked to an open case: stays
            try item(6, "RI-in-old-case", "closed", old)         // linked to an old closed case: goes with it
            try item(7, "RI-in-old-slip", "closed", old)         // linked to an old closed slip: goes with it
            func kase(_ seq: Int, _ id: String, _ state: String, _ closedAt: Double?, _ updated: Double) throws {
                try db.execute(sql: """
                    INSERT INTO cases(seq, id, zone, category, severity, state, opened_at, due_at, updated_at, explanation, closed_at)
                    VALUES (?, ?, 'Z-A', 'fight', 4, ?, ?, ?, ?, 'x', ?)
                    """, arguments: [seq, id, state, updated, updated, updated, closedAt])
            }
            try kase(1, "AJ-old-closed", "closed", old, old)     // goes, with its links and transitions
            try kase(2, "AJ-old-open", "in_progress", nil, old)  // open: stays
            try kase(3, "AJ-new-closed", "closed", recent, recent)
            try db.execute(sql: "INSERT INTO case_items(case_id, risk_item_id) VALUES ('AJ-old-closed', 'RI-in-old-case'), ('AJ-old-open', 'RI-in-kept-case')")
            for c in ["AJ-old-closed", "AJ-old-open"] {
                try db.execute(sql: "INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state) VALUES (?, ?, 'desk', 'close', 'new', 'closed')",
                               arguments: [c, old])
            }
            func slip(_ seq: Int, _ id: String, _ kind: String, _ state: String, _ caseID: String?, _ at: Double) throws {
                try db.execute(sql: """
                    INSERT INTO slips(seq, id, kind, zone, category, severity, issued_at, updated_at, anchor, state, case_id, text, occurrences, closed_at)
                    VALUES (?, ?, ?, 'Z-A', 'fight', 3, ?, ?, ?, ?, ?, 't', 1, ?)
                    """, arguments: [seq, id, kind, at, at, at, state, caseID, state == "closed" ? at : nil])
            }
            try slip(1, "YJ-old-closed", "warning", "closed", nil, old)             // goes
            try slip(2, "YJ-old-open", "warning", "open", nil, old)                 // open: stays
            try slip(3, "YJ-of-open-case", "warning", "closed", "AJ-old-open", old) // its case is kept: stays
            try slip(4, "TX-of-old-case", "reminder", "open", "AJ-old-closed", old) // its case goes: goes
            try slip(5, "YJ-new-closed", "warning", "closed", nil, recent)
            try db.execute(sql: "INSERT INTO slip_items(slip_id, risk_item_id) VALUES ('YJ-old-open', 'RI-in-kept-slip'), ('YJ-old-closed', 'RI-in-old-slip')")
            for (i, at) in [old, recent].enumerated() {
                try db.execute(sql: """
                    INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at)
                    VALUES (?, 'malformed', '', 't', x'00', 1, ?, ?)
                    """, arguments: ["k\(i)", at, at])
                try db.execute(sql: "INSERT INTO silences(id, starts_at, ends_at, created_by, comment, created_at) VALUES (?, ?, ?, 'me', '', ?)",
                               arguments: ["S-\(i)", at, at + 3600, at])
                try db.execute(sql: """
                    INSERT INTO patrol_slots(id, route, checkpoint, device, worker, zone, day, due_at, grace_ends_at, closes_at, status, updated_at)
                    VALUES (?, 'r', 'c', 'd', 'w', 'Z-A', '2020-01-01', ?, ?, ?, 'missed', ?)
                    """, arguments: ["slot-\(i)", at, at, at, at])
                try db.execute(sql: """
                    INSERT INTO patrol_records(slot_id, kind, status, device, checkpoint, time, recorded_at)
                    VALUES (?, 'missed', 'missed', 'd', 'c', ?, ?)
                    """, arguments: ["slot-\(i)", at, at])
            }
            try db.execute(sql: "INSERT INTO audit_log(at, actor, subject, action, detail) VALUES (?, 'patrolhub', 'YJ-old-closed', 'slip.issued', '')",
                           arguments: [old])
            // The change log's rows, as if written long ago.
            try db.execute(sql: "UPDATE changes SET at = ?", arguments: [old])
        }
    }

    @Test("each table loses exactly what is older than its retention and not open or linked to something kept")
    func closedRetention() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        try fill(store)
        let changesBefore = try count(store, "SELECT COUNT(*) FROM changes")
        let counts = try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now)
        #expect(try ids(store, "risk_items") == ["RI-in-kept-case", "RI-in-kept-slip", "RI-new-closed", "RI-old-open"])
        #expect(try ids(store, "cases") == ["AJ-new-closed", "AJ-old-open"])
        #expect(try ids(store, "slips") == ["YJ-new-closed", "YJ-of-open-case", "YJ-old-open"])
        #expect(try count(store, "SELECT COUNT(*) FROM case_items") == 1)
        #expect(try count(store, "SELECT COUNT(*) FROM slip_items") == 1)
        #expect(try store.writer.read { try String.fetchAll($0, sql: "SELECT case_id FROM case_transitions") } == ["AJ-old-open"])
        #expect(try store.writer.read { try String.fetchAll($0, sql: "SELECT inbox_key FROM dead_letters") } == ["k1"])
        #expect(try ids(store, "silences") == ["S-1"])
        #expect(try ids(store, "patrol_slots") == ["slot-1"])
        #expect(try store.writer.read { try String.fetchAll($0, sql: "SELECT slot_id FROM patrol_records") } == ["slot-1"])
        #expect(try count(store, "SELECT COUNT(*) FROM changes") == 0, "older than the change log's two days")
        #expect(counts.rows["risk_items"] == 3 && counts.rows["cases"] == 1 && counts.rows["slips"] == 2 && counts.rows["changes"] == changesBefore)
        #expect(try store.writer.read { try Housekeeper.prunedTotals(db: $0) }["risk_items"] == 3)
        // What stays append-only stays so.
        #expect(throws: DatabaseError.self) { try store.writer.write { try $0.execute(sql: "DELETE FROM case_transitions") } }
        #expect(throws: DatabaseError.self) { try store.writer.write { try $0.execute(sql: "DELETE FROM patrol_records") } }
        #expect(throws: DatabaseError.self) { try store.writer.write { try $0.execute(sql: "DELETE FROM audit_log") } }
        #expect(try count(store, "SELECT COUNT(*) FROM audit_log") == 1, "the audit log is kept")
        // A second pass finds nothing more.
        #expect(try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now).total == 0)
    }

    @Test("processed inbox rows go after the inbox retention; unprocessed ones stay however old")
    func inboxRetention() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        let old = Self.now.addingTimeInterval(-8 * Self.day)
        try store.ingest((0..<5).map { InboxMessage(topic: "t", payload: [UInt8($0)], receivedAt: old) })
        try store.ingest([InboxMessage(topic: "t", payload: [9], receivedAt: Self.now)])
        try store.writer.write { try $0.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = 3") }
        let counts = try Housekeeper(store: store, policy: Self.policy(chunk: 2 + 100)).runPass(now: Self.now)
        #expect(counts.rows["inbox"] == 3)
        #expect(try store.inboxWriter.read { try Int64.fetchAll($0, sql: "SELECT seq FROM inbox ORDER BY seq") } == [4, 5, 6])
    }

    @Test("beside a PostgreSQL store: the inbox alone is pruned, through the cursor that store keeps, read at each pass")
    func inboxBesideAnotherStore() throws {
        let folder = try Folder()
        let inbox = try DisputeStore.inboxOnly(path: DisputeStore.inboxPath(for: folder.store))
        let old = Self.now.addingTimeInterval(-8 * Self.day)
        try inbox.ingest((0..<5).map { InboxMessage(topic: "t", payload: [UInt8($0)], receivedAt: old) })
        try inbox.ingest([InboxMessage(topic: "t", payload: [9], receivedAt: Self.now)])
        var elsewhere: Int64 = 2 // the other store's cursor
        let housekeeper = Housekeeper(inbox: inbox, policy: Self.policy(chunk: 100), cursor: { elsewhere })
        #expect(try housekeeper.runPass(now: Self.now).rows["inbox"] == 2)
        #expect(try inbox.inboxWriter.read { try Int64.fetchAll($0, sql: "SELECT seq FROM inbox ORDER BY seq") } == [3, 4, 5, 6])
        elsewhere = 6
        let counts = try housekeeper.runPass(now: Self.now)
        #expect(counts.rows["inbox"] == 3, "rows received within the retention stay, processed or not")
        #expect(counts.rows.keys.sorted() == ["inbox"], "nothing but the inbox")
        #expect(try inbox.inboxWriter.read { try Int64.fetchAll($0, sql: "SELECT seq FROM inbox ORDER BY seq") } == [6])
    }

    // MARK: - Small steps

    @Test("no step looks at or deletes more than its chunk, and the pass still deletes everything due")
    func chunked() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        let old = Self.now.timeIntervalSince1970 - 100 * Self.day
        try store.writer.write { db in
            for i in 0..<1050 {
                try db.execute(sql: """
                    INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at)
                    VALUES (?, 'malformed', '', 't', x'00', 1, ?, ?)
                    """, arguments: ["k\(i)", old, old])
                try db.execute(sql: "INSERT INTO events(key, time) VALUES (?, ?)", arguments: ["camera:c:\(i)", Int(old)])
                try db.execute(sql: """
                    INSERT INTO risk_items(seq, id, source, source_kind, category, severity, zone, first_seen, last_seen, occurrences, state)
                    VALUES (?, ?, 'cam-1', 'camera', 'fight', 3, 'Z-A', ?, ?, 1, 'closed')
                    """, arguments: [i + 1, "RI-\(i)", old - 400 * Self.day, old - 400 * Self.day])
            }
            try EventLogEncoder(capacity: 1).with(time: Self.now.timeIntervalSince1970).write(db: db)
        }
        let h = Housekeeper(store: store, policy: Self.policy(chunk: 100))
        h.recordsSteps = true
        let counts = try h.runPass(now: Self.now)
        #expect(counts.rows["dead_letters"] == 1050 && counts.rows["event_keys"] == 1050 && counts.rows["risk_items"] == 1050)
        #expect(h.steps.allSatisfy { $0.examined <= 100 && $0.deleted <= 100 }, "\(h.steps.filter { $0.examined > 100 || $0.deleted > 100 })")
        #expect(h.steps.filter { $0.task == "event_keys" }.count >= 11)
        #expect(try count(store, "SELECT COUNT(*) FROM dead_letters") + count(store, "SELECT COUNT(*) FROM events") + count(store, "SELECT COUNT(*) FROM risk_items") == 0)
    }

    @Test("tick does one step at a time and starts the next pass only after the interval")
    func tickPacing() throws {
        let store = try DisputeStore.inMemory()
        var policy = Self.policy()
        policy.interval = 3600
        let h = Housekeeper(store: store, policy: policy)
        var ticks = 0
        var done: Housekeeper.Counts?
        while done == nil {
            done = try h.tick(now: Self.now)
            ticks += 1
        }
        #expect(ticks >= Housekeeper.Task.allCases.count, "one step per tick")
        #expect(try h.tick(now: Self.now.addingTimeInterval(3599)) == nil)
        #expect(try h.tick(now: Self.now.addingTimeInterval(3600)) == nil, "a new pass starts with one step")
    }

    // MARK: - File size

    func fileBytes(_ store: DisputeStore, _ path: String) throws -> Int {
        try store.writer.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        try store.inboxWriter.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        return [path, DisputeStore.inboxPath(for: path)].reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0)
        }
    }

    /// A day of traffic: inbox rows, event keys, event batches and dead letters, stamped `day` days after `now`.
    func fillDay(_ store: DisputeStore, day: Int, events: Int = 20_000) throws {
        let t = Self.now.timeIntervalSince1970 + Double(day) * Self.day
        let payload = [UInt8](repeating: 0x41, count: 200)
        try store.ingest((0..<events).map { InboxMessage(topic: "patrolhub/v1/camera/cam-\($0 % 50)/event", payload: payload + Array("\(day)-\($0)".utf8),
                                                         receivedAt: Date(timeIntervalSince1970: t)) })
        try store.writer.write { db in
            try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = inbox_seq + ?", arguments: [events])
            var batch = EventLogEncoder(capacity: events)
            for i in 0..<events {
                try db.execute(sql: "INSERT INTO events(key, time) VALUES (?, ?)", arguments: ["camera:cam-\(i % 50):day\(day)-event-\(i)", Int(t)])
                batch.append(time: t, itemID: "RI-\(i % 100)", zone: "Z-A", category: "fight", counted: true)
                if i % 50 == 0 {
                    try db.execute(sql: """
                        INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at)
                        VALUES (?, 'malformed', 'bad', 't', ?, 200, ?, ?)
                        """, arguments: ["d\(day)-\(i)", Data(payload), t, t])
                }
            }
            try batch.write(db: db)
        }
    }

    @Test("filled, pruned and filled again with the same amount, a new store's files grow by less than 10 %, and shrink when pruned")
    func fileSizePlateaus() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") } == 2, "a new store frees pages incrementally")
        #expect(try store.inboxWriter.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") } == 2)
        var policy = Self.policy(keyHours: 1)
        policy.inbox = 0.5 * Self.day
        policy.deadLetters = 0.5 * Self.day
        let h = Housekeeper(store: store, policy: policy)
        var sizes: [Int] = []
        var pruned: [Int] = []
        for day in 0..<4 {
            try fillDay(store, day: day)
            sizes.append(try fileBytes(store, folder.store))
            _ = try h.runPass(now: Self.now.addingTimeInterval(Double(day) * Self.day + 3600))
            pruned.append(try fileBytes(store, folder.store))
        }
        // Each pass keeps only the newest day's keys, batch and inbox rows (the cutoffs fall just before it).
        #expect(try count(store, "SELECT COUNT(*) FROM events") == 20_000)
        #expect(sizes[3] < sizes[1] + sizes[1] / 10, "filled sizes \(sizes), after pruning \(pruned)")
        #expect(pruned[3] < pruned[1] + pruned[1] / 10, "filled sizes \(sizes), after pruning \(pruned)")
        print("housekeeper file sizes: filled \(sizes), after pruning \(pruned)")
    }

    // MARK: - Bytes per row

    @Test("bytes per row of each table the pipeline fills, measured with dbstat (docs/STORAGE.md)")
    func bytesPerRow() throws {
        let folder = try Folder()
        let store = try DisputeStore(path: folder.store)
        let p = try PipelineProcessorTests.make(store)
        let n = 20_000
        let types = ["intrusion", "fight", "loitering", "fire_smoke"]
        for start in stride(from: 0, to: n, by: 500) {
            try store.ingest((start..<(start + 500)).map { i in
                PipelineProcessorTests.msg("cam-\(i % 2 + 1)", "evt-\(i)-\(String(UUID().uuidString.prefix(8)).lowercased())", types[i % 4], Double(n - i) / 60)
            })
            while try p.processPending(limit: 100).messages > 0 {}
        }
        try store.writer.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        try store.inboxWriter.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        func measure(_ writer: any DatabaseWriter, _ tables: [String: String]) throws -> [String: (rows: Int, bytes: Int)] {
            try writer.read { db in
                var out: [String: (rows: Int, bytes: Int)] = [:]
                for (table, owners) in tables {
                    let bytes = try Int.fetchOne(db, sql: "SELECT SUM(pgsize) FROM dbstat WHERE name IN (\(owners))") ?? 0
                    out[table] = (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0, bytes)
                }
                return out
            }
        }
        var m = try measure(store.writer, [
            "events": "'events', 'sqlite_autoindex_events_1'",
            "event_batches": "'event_batches', 'event_batches_last_time'",
            "risk_items": "'risk_items', 'sqlite_autoindex_risk_items_1', 'sqlite_autoindex_risk_items_2', 'risk_items_state', 'risk_items_zone'",
            "slips": "'slips', 'sqlite_autoindex_slips_1', 'slips_kind_seq', 'slips_trigger', 'slips_case'",
            "slip_items": "'slip_items', 'sqlite_autoindex_slip_items_1', 'slip_items_item'",
            "changes": "'changes', 'changes_at'",
            "audit_log": "'audit_log'",
        ])
        m.merge(try measure(store.inboxWriter, ["inbox": "'inbox'"])) { a, _ in a }
        for (table, v) in m.sorted(by: { $0.key < $1.key }) {
            print("bytes per row: \(table) \(v.rows) rows, \(v.bytes) bytes, \(v.rows > 0 ? v.bytes / v.rows : 0) per row")
        }
        let keys = try #require(m["events"])
        #expect(keys.rows == n)
        #expect(keys.bytes / keys.rows < 120, "an event key with its time stays small")
        let inbox = try #require(m["inbox"])
        #expect(inbox.bytes / inbox.rows < 400)
    }

    // MARK: - Migration of a store made before v13

    @Test("a store made before the retention migration opens, its keys take the newest logged time, and the housekeeper prunes it")
    func oldStoreMigrates() throws {
        let folder = try Folder()
        let logged = Self.now.timeIntervalSince1970 - 10 * Self.day + 0.25
        do {
            // The schema the previous release made, with no auto_vacuum.
            let queue = try DatabaseQueue(path: folder.store)
            try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            try Migrations.migrator.migrate(queue, upTo: "v12-visible-outcomes")
            try queue.write { db in
                for i in 0..<10 { try db.execute(sql: "INSERT INTO events(key) VALUES (?)", arguments: ["camera:c:\(i)"]) }
                var batch = EventLogEncoder(capacity: 1)
                batch.append(time: logged, itemID: "RI-1", zone: "Z-A", category: "fight", counted: true)
                try batch.write(db: db)
            }
        }
        let store = try DisputeStore(path: folder.store)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") } == 0, "an older store keeps its mode")
        #expect(try store.writer.read { try Int.fetchAll($0, sql: "SELECT DISTINCT time FROM events") } == [Int(logged.rounded(.up))])
        // Kept while the newest event time is within the retention of it…
        #expect((try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now).rows["event_keys"] ?? 0) == 0)
        #expect(try count(store, "SELECT COUNT(*) FROM events") == 10)
        // …and pruned once it has moved on; new keys carry their own time.
        let p = try PipelineProcessorTests.make(store)
        p.keyRetention = 2 * 3600
        try store.ingest([PipelineProcessorTests.msg("cam-1", "n", "intrusion", 0)])
        #expect(try p.processPending(limit: 10).events == 1)
        let counts = try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now)
        #expect(counts.rows["event_keys"] == 10)
        #expect(try store.writer.read { try Int.fetchAll($0, sql: "SELECT time FROM events") } == [Int(Self.now.timeIntervalSince1970)])
        #expect(try Housekeeper(store: store, policy: Self.policy()).runPass(now: Self.now).vacuumedPages == 0, "no incremental vacuum on an older store")
    }

    @Test("store vacuum shrinks an older store's files to their data and switches it to incremental vacuum; refused while the store is open")
    func vacuumStoppedStore() throws {
        let folder = try Folder()
        do {
            let queue = try DatabaseQueue(path: folder.store)
            try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            try Migrations.migrator.migrate(queue, upTo: "v12-visible-outcomes")
        }
        do {
            let store = try DisputeStore(path: folder.store)
            try fillDay(store, day: 0)
            try fillDay(store, day: 1)
            #expect(throws: HubError.self) { try DisputeStore.vacuum(path: folder.store) }
            var policy = Self.policy(keyHours: 1)
            policy.inbox = 0.5 * Self.day
            policy.deadLetters = 0.5 * Self.day
            #expect(try Housekeeper(store: store, policy: policy).runPass(now: Self.now.addingTimeInterval(Self.day + 3600)).rows["event_keys"] == 20_000)
        }
        let free = try DatabaseQueue(path: folder.store).read { try Int.fetchOne($0, sql: "PRAGMA freelist_count") ?? 0 }
        #expect(free > 100, "the pruned rows' pages are free")
        let (before, after) = try DisputeStore.vacuum(path: folder.store)
        #expect(after < before, "before \(before), after \(after)")
        #expect(try DatabaseQueue(path: folder.store).read { try Int.fetchOne($0, sql: "PRAGMA freelist_count") } == 0)
        let store = try DisputeStore(path: folder.store)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") } == 2)
        #expect(try store.inboxWriter.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") } == 2)
        #expect(try count(store, "SELECT COUNT(*) FROM events") == 20_000)
    }

    // MARK: - Config

    @Test(arguments: [
        ("retention:\n  chunk_rows: 5\n", "/etc/patrolhub/hub.yaml:2: key 'retention.chunk_rows': must be between 100 and 100000, found 5"),
        ("retention:\n  closed_days: 0\n", "/etc/patrolhub/hub.yaml:2: key 'retention.closed_days': must be between 1 and 36500, found 0"),
        ("retention:\n  event_keys_hours: 100000\n", "/etc/patrolhub/hub.yaml:2: key 'retention.event_keys_hours': must be between 1 and 87600, found 100000"),
        ("retention:\n  dead_letter_days: 3\n", "/etc/patrolhub/hub.yaml:2: key 'retention.dead_letter_days': unknown key (check its spelling and place)"),
    ])
    func configRefused(yaml: String, message: String) {
        do {
            _ = try EngineFixtures.config(yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func configSetsThePolicy() throws {
        let c = try EngineFixtures.config("retention:\n  event_keys_hours: 24\n  dead_letters_days: 30\n  closed_days: 365\n  interval_minutes: 10\n  chunk_rows: 500\n")
        let p = Housekeeper.Policy(config: c, rules: RuleSet())
        #expect(p.keyRetention == 24 * 3600 && p.deadLetters == 30 * Self.day && p.closed == 365 * Self.day)
        #expect(p.interval == 600 && p.chunkRows == 500 && p.inbox == 7 * Self.day)
    }
}

extension EventLogEncoder {
    /// A one-entry batch at `time` (tests).
    func with(time: Double) -> EventLogEncoder {
        var copy = self
        copy.append(time: time, itemID: "RI-x", zone: "Z-A", category: "fight", counted: true)
        return copy
    }
}
