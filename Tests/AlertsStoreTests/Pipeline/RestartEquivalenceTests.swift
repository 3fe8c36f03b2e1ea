@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Restart and decode edge cases, each test stating the expected behaviour.
///
/// The restart tests run the same input twice: once through one processor
/// (a hub that kept running) and once with a new processor on the same store
/// at `restartAt` (a restarted hub). README: "The engine's windows … are
/// rebuilt from the store at start, so a restart continues them."
@Suite("A restart changes no outcome; GB/T 28181 oddities still decode")
struct ReviewFindingsTests {
    typealias O = OutcomeTableTests
    typealias Message = OutcomeTableTests.Message

    /// Feeds `messages` one by one (the clock just after each message's minute);
    /// a fresh processor on the same store takes over at index `restartAt`.
    /// `before[i]` runs on the store (at the clock of the previous message) before message `i`: a case action.
    static func run(_ messages: [Message], rules: RuleSet = RuleSet(), restartAt: Int? = nil,
                    before: [Int: (DisputeStore, Date) throws -> Void] = [:]) throws -> (DisputeStore, O.Outcomes) {
        final class Clock: @unchecked Sendable { var now = OutcomeTableTests.t0 }
        let clock = Clock()
        let store = try DisputeStore.inMemory()
        // The registry's cameras, as a hub saves them at start: the store keeps their statuses.
        try store.saveRegistry(O.registry, zoneOf: { $0.zone })
        func processor() throws -> PipelineProcessor {
            let decode = DecodeStage(router: TopicRouter(), registry: O.registry, timeParser: TimeParser(), adapters: rules.adapters)
            let engine = RiskEngine(rules: rules, place: Placer(registry: O.registry, zones: nil).place)
            return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { clock.now })
        }
        var p = try processor()
        for (i, m) in messages.enumerated() {
            try before[i]?(store, clock.now)
            if i == restartAt { p = try processor() }
            clock.now = O.t0.addingTimeInterval(m.minute * 60 + 1)
            try store.ingest([InboxMessage(topic: m.topic, payload: Array(m.payload.utf8), receivedAt: clock.now)])
            let r = try p.processPending(limit: 10)
            #expect(r.deadLetters == 0, "message \(i) was dead-lettered")
        }
        return (store, try O.outcomes(store))
    }

    // MARK: - Restart: a slip a case action closed

    /// Intrusions in G1 from cam-A and cam-B make a threshold slip (3 in the group window) and a
    /// correlation case; the dispatcher calls the case a false alarm, which closes the slip. cam-A's
    /// item recurs at 2:00: the running engine counts the window's next slip from the newest
    /// occurrence when it learnt of the closing (1:00), so 2:00, 2:30 and 3:00 make a new slip. A
    /// restart after 2:00 must count from there too, not from the newest occurrence of the closed
    /// slip's items (2:00, which would leave two and no slip).
    @Test(arguments: [4, 5])
    func aSlipClosedByACaseActionCountsFromWhereItClosedAfterARestart(restartAt: Int) throws {
        let messages = [
            O.camera("cam-A", "a1", "crowd_gathering", 0), O.camera("cam-B", "b1", "crowd_gathering", 0.5), O.camera("cam-A", "a2", "crowd_gathering", 1),
            O.camera("cam-C", "c1", "loitering", 1.5), O.camera("cam-A", "a3", "crowd_gathering", 2),
            O.camera("cam-B", "b2", "crowd_gathering", 2.5), O.camera("cam-A", "a4", "crowd_gathering", 3),
        ]
        let falseAlarm: (DisputeStore, Date) throws -> Void = { store, now in
            let caseID = try #require(try store.writer.read { try String.fetchOne($0, sql: "SELECT case_id FROM slips WHERE id = 'YJ-00000001'") },
                                      "sanity: the slip became a case")
            try store.act(on: caseID, CaseAction(.falseAlarm, by: "dispatcher-1", note: "a market crowd"), now: now, outputPrefix: "patrolhub/v1")
        }
        func slips(_ store: DisputeStore) throws -> [String] {
            try store.writer.read { try String.fetchAll($0, sql: "SELECT id || ' ' || state || ' ' || COALESCE(close_reason, '-') || ' ' || COALESCE(count_after, '-') FROM slips ORDER BY id") }
        }
        let (running, outcomes) = try Self.run(messages, before: [3: falseAlarm])
        let countStart = O.t0.addingTimeInterval(60).timeIntervalSince1970
        #expect(try slips(running) == ["YJ-00000001 closed case_false_alarm \(countStart)", "YJ-00000002 open - -"],
                "sanity: the running hub counts from 1:00 and issues a second slip")
        let (restarted, restartedOutcomes) = try Self.run(messages, restartAt: restartAt, before: [3: falseAlarm])
        #expect(try slips(restarted) == slips(running))
        #expect(restartedOutcomes == outcomes)
    }

    /// A slip held open long (its anchor older than the repeat interval) that closed recently keeps a
    /// count start a window can still see: the snapshot restores it, whatever its anchor.
    @Test func aLongHeldSlipThatClosedRecentlyIsRestoredForItsCountStart() throws {
        let messages = [
            O.camera("cam-A", "a1", "crowd_gathering", 0), O.camera("cam-B", "b1", "crowd_gathering", 0.5), O.camera("cam-A", "a2", "crowd_gathering", 1),
            O.camera("cam-C", "c1", "loitering", 100),
        ]
        let (store, _) = try Self.run(messages)
        let countStart = O.t0.addingTimeInterval(99 * 60)
        try store.writer.write { db in
            try db.execute(sql: "UPDATE slips SET state = 'closed', close_reason = 'items_closed', count_after = ? WHERE id = 'YJ-00000001'",
                           arguments: [countStart.timeIntervalSince1970])
        }
        let (snapshot, _) = try store.engineSnapshot(rules: RuleSet())
        let restored = snapshot.recentSlips.first { $0.slip.id == "YJ-00000001" }
        #expect(restored?.slip.countAfter == countStart, "anchored at 0:00, 100 minutes before the newest event, and counted from 99:00")
    }

    // MARK: - Restart: the snapshot's horizons ignore the lateness bound

    /// Two intrusions in G1 at 0:00 and 0:30, an unrelated event in G2 at 12:00
    /// (watermark 12:00), then an intrusion in G1 at 5:00 — not late (12:00 −
    /// 10 min lateness = 2:00), so its group window (−5:00, 5:00] holds three
    /// occurrences: a warning slip. After a restart at that point the snapshot
    /// only reloads occurrences newer than MAX(time) − group window = 2:00, so
    /// the slip is never issued.
    @Test func restartKeepsOccurrencesANotLateEventCanStillSee() throws {
        let messages = [
            O.camera("cam-A", "a1", "intrusion", 0), O.camera("cam-B", "b1", "intrusion", 0.5),
            O.camera("cam-C", "c1", "loitering", 12),
            O.camera("cam-A", "a2", "intrusion", 5),
        ]
        let (_, running) = try Self.run(messages)
        #expect(running.slips == [O.SlipRow(zone: "G1", category: "intrusion", items: 3)], "sanity: the hub that kept running issues the slip")
        let (_, restarted) = try Self.run(messages, restartAt: 3)
        #expect(restarted == running, "a restart must not lose the warning slip")
    }

    /// Crowd on cam-A in G1 at 0:00, an unrelated motion in G2 at 16:00
    /// (watermark 16:00), then crowd on cam-B in G1 at 7:00 — not late (16 −
    /// 10 = 6) and 7 min from cam-A's: two sources, a correlation case. After a
    /// restart the snapshot's recent evidence starts at MAX(time) − window =
    /// 1:00, cam-A's evidence is gone and no case opens.
    @Test func restartKeepsEvidenceANotLateEventCanStillCorrelateWith() throws {
        let messages = [
            O.camera("cam-A", "a1", "crowd_gathering", 0),
            O.camera("cam-C", "c1", "motion", 16),
            O.camera("cam-B", "b1", "crowd_gathering", 7),
        ]
        let (_, running) = try Self.run(messages)
        #expect(running.cases.map(\.rule) == ["correlation"], "sanity: the hub that kept running opens the case")
        let (_, restarted) = try Self.run(messages, restartAt: 2)
        #expect(restarted == running, "a restart must not lose the correlation case")
    }

    /// A case's window is its evidence ± the window. The snapshot restores an
    /// active case as `first = last = evidence_at` (its NEWEST evidence), so the
    /// early side of the window shrinks after a restart. Fight on cam-A at 10:00
    /// opens a case; crowd on cam-B at 20:00 joins (last = 20:00). A late report
    /// from D1 at 3:00 joins while the hub keeps running (3:00 ≥ 10:00 − 15 min);
    /// after a restart it falls outside [20:00 − 15 min, …] and is linked to nothing.
    @Test func restartKeepsTheEarlySideOfAnOpenCasesWindow() throws {
        let messages = [
            O.camera("cam-A", "a1", "fight", 10),
            O.camera("cam-B", "b1", "crowd_gathering", 20),
            O.report("D1", "r1", "dispute", 3),
        ]
        let (_, running) = try Self.run(messages)
        #expect(running.cases.map(\.items) == [3], "sanity: the late report joins the case while the hub keeps running")
        let (_, restarted) = try Self.run(messages, restartAt: 2)
        #expect(restarted == running, "the late report must still join the case after a restart")
    }

    /// The same with `event_time.lateness_seconds` ≥ the correlation window (a
    /// legal setting, up to a week): the report at 3:00 is not late, does not
    /// find the restored case, and opens a SECOND case for the same situation.
    @Test func restartDoesNotSplitOneSituationIntoTwoCases() throws {
        var rules = RuleSet()
        rules.lateness = 1800
        let messages = [
            O.camera("cam-A", "a1", "fight", 10),
            O.camera("cam-B", "b1", "crowd_gathering", 20),
            O.report("D1", "r1", "dispute", 3),
        ]
        let (_, running) = try Self.run(messages, rules: rules)
        #expect(running.cases.count == 1)
        let (_, restarted) = try Self.run(messages, rules: rules, restartAt: 2)
        #expect(restarted.cases.count == 1, "one situation, one case — also across a restart")
    }

    /// SPEC: "the camera-health risk item itself stays open until the camera
    /// reports online again". The snapshot reloads open items only when
    /// last_seen ≥ MAX(event time) − max(dedup window, 1 day): a camera offline
    /// for more than a day on a busy hub is forgotten at a restart, and its
    /// `online` no longer closes the camera_offline item (open forever).
    @Test func onlineAfterARestartClosesAHealthItemOlderThanADay() throws {
        let messages = [
            O.status("cam-A", "offline", 0),
            O.camera("cam-C", "c1", "motion", 25 * 60), // other cameras keep the hub busy: 25 h later
            O.status("cam-A", "online", 25 * 60 + 1),
        ]
        let (store, _) = try Self.run(messages)
        let running = try store.riskItems().filter { $0.category == .cameraOffline }.map(\.state)
        #expect(running == [.closed], "sanity: online closes it while the hub keeps running")

        let (restartedStore, _) = try Self.run(messages, restartAt: 2)
        let restarted = try restartedStore.riskItems().filter { $0.category == .cameraOffline }.map(\.state)
        #expect(restarted == [.closed], "online after a restart must close the camera_offline item")
    }

    // MARK: - GB/T 28181 scanner vs the XMLParser it replaced

    /// Gateways written in C often forward the SIP body with its terminating
    /// NUL (strlen + 1). Foundation's XMLParser (libxml2) stops at the NUL
    /// and accepts such a payload; a scanner that reported "content after the
    /// root element" would dead-letter every alarm of that gateway as `malformed`.
    @Test func gbAlarmWithATrailingNULStillDecodes() throws {
        let xml = """
            <?xml version="1.0" encoding="GB2312"?>
            <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>34020000001320000001</DeviceID>
            <AlarmPriority>2</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2024-01-02T15:04:05</AlarmTime>
            <Info><AlarmType>6</AlarmType></Info></Notify>\r\n
            """
        let adapter = GB28181Adapter()
        let topic = "patrolhub/v1/gb28181/34020000001320000001/alarm"
        #expect(try adapter.decode(topic: topic, payload: Array(xml.utf8), receivedAt: O.t0).map(\.category) == [.intrusion], "sanity")
        let events = try adapter.decode(topic: topic, payload: Array(xml.utf8) + [0], receivedAt: O.t0)
        #expect(events.map(\.category) == [.intrusion])
    }

    /// The old `text(_:)` trimmed `.whitespacesAndNewlines` (Unicode: U+3000
    /// ideographic space — A1A1 in GB2312 — and U+00A0); the new one trims only
    /// XML's four. `<AlarmPriority>1　</AlarmPriority>` used to be priority 1 and
    /// is now `wrong_type`; a padded DeviceID now yields a different event key.
    @Test func gbFieldsAreStillTrimmedOfUnicodeSpaces() throws {
        let xml = """
            <?xml version="1.0" encoding="GB2312"?>
            <Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>34020000001320000001</DeviceID>
            <AlarmPriority>1\u{3000}</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2024-01-02T15:04:05</AlarmTime>
            <Info><AlarmType>6\u{00A0}</AlarmType></Info></Notify>
            """
        let adapter = GB28181Adapter()
        let events = try adapter.decode(topic: "patrolhub/v1/gb28181/34020000001320000001/alarm", payload: Array(xml.utf8), receivedAt: O.t0)
        #expect(events.map(\.vendorPriority) == [.critical])
    }

    // MARK: - Restart: audit of joined evidence

    /// After a restart the processor's `published` cache is empty, so the
    /// first later evidence of a case is audited as `case.evidence` listing
    /// EVERY linked item, not the one that joined (the same input without a
    /// restart audits only the new item).
    @Test func evidenceAuditAfterARestartNamesOnlyTheNewItem() throws {
        let messages = [
            O.camera("cam-A", "a1", "crowd_gathering", 0),
            O.camera("cam-B", "b1", "fight", 4),
            O.report("D1", "r1", "dispute", 12),
        ]
        func audit(_ store: DisputeStore) throws -> [String] {
            try store.writer.read { try String.fetchAll($0, sql: "SELECT detail FROM audit_log WHERE action = 'case.evidence' ORDER BY id") }
        }
        let (running, _) = try Self.run(messages)
        #expect(try audit(running) == ["evidence: RI-00000003"], "sanity")
        let (restarted, _) = try Self.run(messages, restartAt: 2)
        #expect(try audit(restarted) == ["evidence: RI-00000003"])
    }
}
