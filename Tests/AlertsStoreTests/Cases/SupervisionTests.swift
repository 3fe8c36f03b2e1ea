@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport
import StoreTestSupport

/// Deadline supervision (函单令), driven by the clock the test chooses.
@Suite("Deadline supervision")
struct SupervisionTests {
    static let t = CaseFixtures.local
    static let facts = "依据：2025-05-01 10:00 立案，办理期限 30 天，截止 2025-05-31 10:00；"
    static let team = "专班牵头单位：区人社局，协办单位：区总工会、区住建局、区司法局。"
    static let story = "案情：网格员 gw-005 上报欠薪：某工地 12 名工人被拖欠工资约 8 万元。"
    static let place = "案件 AJ-00000001（八廓社区第2网格 540102-001-002-02，欠薪，2 级）"

    static func scheduler(_ store: DisputeStore, idleDays: Int = 7) -> SupervisionScheduler<DisputeStore> {
        var rules = SupervisionRules()
        rules.idleDays = idleDays
        return SupervisionScheduler(store: store, rules: rules, outputPrefix: "patrolhub/v1", timeZone: CaseFixtures.shanghai)
    }

    static func slipRows(_ store: DisputeStore) throws -> [String] {
        try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, trigger, state FROM slips ORDER BY issued_at, id").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" }
        }
    }

    /// A case left open until its reminder letter, then its supervision
    /// order; each issued exactly once, also after the store is reopened.
    @Test func reminderThenOverdueOrderEachOnceAcrossRestarts() throws {
        let dir = NSTemporaryDirectory() + "patrolhub-supervision-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/store.sqlite"
        var store: DisputeStore? = try CaseFixtures.store(path: path)
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store!)
        try store!.act(on: "AJ-00000001", CaseAction(.acknowledge, by: "值班员甲"), now: Self.t("2025-05-01 10:05"), outputPrefix: "patrolhub/v1")
        try store!.act(on: "AJ-00000001", CaseAction(.assign, by: "值班员甲", assignee: "gw-005"), now: Self.t("2025-05-01 10:06"), outputPrefix: "patrolhub/v1")
        try store!.act(on: "AJ-00000001", CaseAction(.start, by: "gw-005", note: "已约双方面谈"), now: Self.t("2025-05-02 09:30"), outputPrefix: "patrolhub/v1")
        // Idle orders out of the way (tested below): only the deadline speaks here.
        var s = Self.scheduler(store!, idleDays: 365)

        #expect(try s.tick(now: Self.t("2025-05-02 10:00")).isEmpty)
        #expect(try s.tick(now: Self.t("2025-05-24 09:59")).isEmpty)
        let reminder = try s.tick(now: Self.t("2025-05-24 10:00"))
        #expect(reminder.map(\.id) == ["TX-00000001"])
        let letter = try #require(reminder.first)
        #expect(letter.kind == .reminder)
        #expect(letter.caseID == "AJ-00000001")
        #expect(letter.unit == "八廓街道综治中心")
        #expect(letter.zone == "540102-001-002-02")
        #expect(letter.worker == "gw-005")
        #expect(letter.issuedAt == Self.t("2025-05-24 10:00"))
        #expect(letter.text == "提醒函 TX-00000001。八廓街道综治中心：\(Self.place)将于 2025-05-31 10:00 到期，剩余 7 天，尚未办结。"
            + "当前状态：处置中，承办人 gw-005。\(Self.team)请抓紧办理，按期办结。"
            + "\(Self.facts)最后一次处置为 2025-05-02 09:30 gw-005“开始处置”（已约双方面谈）。\(Self.story)")
        #expect(try s.tick(now: Self.t("2025-05-24 10:01")).isEmpty)

        // Restart: a new store handle on the same file, a new scheduler.
        store = nil
        store = try DisputeStore(path: path)
        s = Self.scheduler(store!, idleDays: 365)
        #expect(try s.tick(now: Self.t("2025-05-24 10:00")).isEmpty)
        #expect(try s.tick(now: Self.t("2025-05-30 23:00")).isEmpty)
        #expect(try s.tick(now: Self.t("2025-05-31 09:59")).isEmpty)
        let overdue = try s.tick(now: Self.t("2025-05-31 12:00"))
        #expect(overdue.map(\.id) == ["DB-00000001"])
        #expect(overdue.first?.kind == .supervision)
        #expect(overdue.first?.unit == "八廓街道综治中心")
        #expect(overdue.first?.text == "督办令 DB-00000001。八廓街道综治中心：\(Self.place)办理期限已于 2025-05-31 10:00 届满，至今未办结，已超期 2 小时。"
            + "当前状态：处置中，承办人 gw-005。\(Self.team)责令立即办理，并于 24 小时内报告进展。抄报上级单位：城关区综治中心（城关区）。"
            + "\(Self.facts)最后一次处置为 2025-05-02 09:30 gw-005“开始处置”（已约双方面谈）。\(Self.story)")

        store = nil
        store = try DisputeStore(path: path)
        s = Self.scheduler(store!, idleDays: 365)
        for day in ["2025-05-31 12:00", "2025-06-01 10:00", "2025-06-30 10:00"] { #expect(try s.tick(now: Self.t(day)).isEmpty, "\(day)") }

        #expect(try Self.slipRows(store!) == ["TX-00000001 case:AJ-00000001:due-reminder open", "DB-00000001 case:AJ-00000001:overdue open"])
        #expect(try CaseFixtures.count("SELECT COUNT(*) FROM audit_log WHERE action = 'slip.issued'", store!) == 2)
        let audit = try store!.writer.read { try String.fetchAll($0, sql: "SELECT detail FROM audit_log WHERE action = 'slip.issued' ORDER BY id") }
        #expect(audit == ["case:AJ-00000001:due-reminder → 八廓街道综治中心",
                          "case:AJ-00000001:overdue → 八廓街道综治中心, escalated to 城关区综治中心"])
        let slipsOut = try store!.outbox(limit: 100).filter { $0.topic == "patrolhub/v1/out/slips" }
        #expect(try slipsOut.map { try JSONParser.parse($0.payload)["id"] } == [.string("TX-00000001"), .string("DB-00000001")])
        let stored = try store!.writer.read { try DisputeStore.documents(ofCase: "AJ-00000001", db: $0) }
        #expect(try slipsOut.map { try JSONParser.parse($0.payload) } == stored.map(\.json))
    }

    /// No action for 7 days → an order escalated to the parent zone's unit;
    /// another after 7 more days; an action starts the count again.
    @Test func idleCasesGetOrdersEscalatedToTheParentZonesUnit() throws {
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        let s = Self.scheduler(store)
        let order = { (n: Int, id: String, since: String, days: String, state: String, last: String) in
            "督办令 \(id)。八廓街道综治中心：\(Self.place)自 \(since) 起已连续 \(days) 无任何处置（第 \(n) 次督办）。"
                + "当前状态：\(state)。\(Self.team)责令立即办理，并于 24 小时内报告进展。抄报上级单位：城关区综治中心（城关区）。"
                + "\(Self.facts)\(last)\(Self.story)"
        }
        #expect(try s.tick(now: Self.t("2025-05-08 09:59")).isEmpty)
        let first = try s.tick(now: Self.t("2025-05-08 10:00"))
        #expect(first.map(\.text) == [order(1, "DB-00000001", "2025-05-01 10:00", "7 天", "新建", "立案以来尚无处置。")])
        #expect(try s.tick(now: Self.t("2025-05-08 10:01")).isEmpty)
        #expect(try s.tick(now: Self.t("2025-05-15 09:59")).isEmpty)
        let second = try s.tick(now: Self.t("2025-05-15 10:00"))
        #expect(second.map(\.text) == [order(2, "DB-00000002", "2025-05-08 10:00", "7 天", "新建", "立案以来尚无处置。")])

        try store.act(on: "AJ-00000001", CaseAction(.acknowledge, by: "值班员甲"), now: Self.t("2025-05-16 08:00"), outputPrefix: "patrolhub/v1")
        #expect(try s.tick(now: Self.t("2025-05-23 07:59")).isEmpty)
        let third = try s.tick(now: Self.t("2025-05-23 08:30"))
        #expect(third.map(\.text) == [order(3, "DB-00000003", "2025-05-16 08:00", "7 天", "已受理",
                                            "最后一次处置为 2025-05-16 08:00 值班员甲“受理”。")])
        #expect(try Self.slipRows(store) == ["DB-00000001 case:AJ-00000001:idle:1 open", "DB-00000002 case:AJ-00000001:idle:2 open",
                                             "DB-00000003 case:AJ-00000001:idle:3 open"])
    }

    @Test func aDistrictCaseHasNoHigherUnitToEscalateTo() throws {
        let store = try CaseFixtures.store()
        var c = CaseFixtures.wageCase(days: 1)
        c.category = .fight
        c.severity = .critical
        c.unit = "城关区综治中心"
        c.leadUnit = nil
        c.coUnits = []
        c.explanation = "摄像机 cam-012 检测到打架斗殴。"
        try CaseFixtures.write(c, to: store)
        let s = Self.scheduler(store)
        // A 1-day deadline: the reminder at 80 % of it (19 h 12 min after opening).
        #expect(CaseSupervisor().reminderTime(for: c) == Self.t("2025-05-02 05:12"))
        #expect(try s.tick(now: Self.t("2025-05-02 05:11")).isEmpty)
        #expect(try s.tick(now: Self.t("2025-05-02 05:12")).map(\.text) == [
            "提醒函 TX-00000001。城关区综治中心：案件 AJ-00000001（八廓社区第2网格 540102-001-002-02，打架斗殴，1 级）将于 2025-05-02 10:00 到期，"
            + "剩余 4 小时 48 分钟，尚未办结。当前状态：新建。请抓紧办理，按期办结。"
            + "依据：2025-05-01 10:00 立案，办理期限 1 天，截止 2025-05-02 10:00；立案以来尚无处置。案情：摄像机 cam-012 检测到打架斗殴。",
        ])
        #expect(try s.tick(now: Self.t("2025-05-02 10:00")).map(\.text) == [
            "督办令 DB-00000001。城关区综治中心：案件 AJ-00000001（八廓社区第2网格 540102-001-002-02，打架斗殴，1 级）办理期限已于 2025-05-02 10:00 届满，"
            + "至今未办结，已超期 不足 1 分钟。当前状态：新建。责令立即办理，并于 24 小时内报告进展。"
            + "依据：2025-05-01 10:00 立案，办理期限 1 天，截止 2025-05-02 10:00；立案以来尚无处置。案情：摄像机 cam-012 检测到打架斗殴。",
        ])
    }

    @Test func aCaseFoundLateGetsItsOverdueOrderButNoStaleReminder() throws {
        // The hub was down from before the reminder until after the deadline: one tick, the order only.
        let store = try CaseFixtures.store()
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        let slips = try Self.scheduler(store, idleDays: 365).tick(now: Self.t("2025-06-02 10:00"))
        #expect(slips.map(\.id) == ["DB-00000001"])
        #expect(try Self.slipRows(store) == ["DB-00000001 case:AJ-00000001:overdue open"])
    }

    @Test func drillCasesAreMarkedOnTheirDocuments() throws {
        let store = try CaseFixtures.store()
        var c = CaseFixtures.wageCase()
        c.drill = true
        try CaseFixtures.write(c, to: store)
        let slips = try Self.scheduler(store, idleDays: 365).tick(now: Self.t("2025-05-24 10:00"))
        #expect(slips.map { $0.text.hasPrefix("【演练】提醒函 TX-00000001。八廓街道综治中心：") } == [true])
    }

    @Test func documentNumbersFollowThoseAlreadyIssued() throws {
        // Patrol supervision issues reminder letters too: numbers continue from the store's highest.
        let store = try CaseFixtures.store()
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO slips(seq, id, kind, zone, category, severity, unit, issued_at, updated_at, anchor, state, text, occurrences, trigger)
                VALUES (41, 'TX-00000041', 'reminder', 'Z', 'missed_checkpoint', 3, 'u', 0, 0, 0, 'open', 'x', 1, 'patrol:r1:slot')
                """)
        }
        try CaseFixtures.write(CaseFixtures.wageCase(), to: store)
        #expect(try Self.scheduler(store, idleDays: 365).tick(now: Self.t("2025-05-25 10:00")).map(\.id) == ["TX-00000042"])
    }

    @Test func reminderTimes() {
        let sup = CaseSupervisor()
        #expect(sup.reminderTime(for: CaseFixtures.wageCase(days: 30)) == Self.t("2025-05-24 10:00"))
        #expect(sup.reminderTime(for: CaseFixtures.wageCase(days: 8)) == Self.t("2025-05-02 10:00"))
        #expect(sup.reminderTime(for: CaseFixtures.wageCase(days: 7)) == Self.t("2025-05-01 10:00").addingTimeInterval(0.8 * 7 * 86_400))
        var rules = SupervisionRules()
        rules.reminderDaysBefore = 3
        rules.reminderFraction = 0.5
        #expect(CaseSupervisor(rules).reminderTime(for: CaseFixtures.wageCase(days: 2)) == Self.t("2025-05-02 10:00"))
        #expect(CaseSupervisor(rules).reminderTime(for: CaseFixtures.wageCase(days: 30)) == Self.t("2025-05-28 10:00"))
    }

    /// The pure rule: each deadline document is due until its trigger key is issued, never after.
    @Test func aDocumentIsDueOnlyUntilItsTriggerIsIssued() {
        var rules = SupervisionRules()
        rules.idleDays = 365
        let sup = CaseSupervisor(rules)
        let c = CaseFixtures.wageCase(days: 30) // due 2025-05-31 10:00, reminder 2025-05-24 10:00
        let reminder = CaseSupervisor.Trigger.dueReminder.key(caseID: c.id)
        let overdue = CaseSupervisor.Trigger.overdue.key(caseID: c.id)
        #expect(sup.due(for: c, issued: [:], now: Self.t("2025-05-20 10:00")).isEmpty)
        #expect(sup.due(for: c, issued: [:], now: Self.t("2025-05-25 10:00")) == [.dueReminder])
        #expect(sup.due(for: c, issued: [reminder: Self.t("2025-05-24 10:00")], now: Self.t("2025-05-25 10:00")).isEmpty)
        #expect(sup.due(for: c, issued: [reminder: Self.t("2025-05-24 10:00")], now: Self.t("2025-06-01 10:00")) == [.overdue])
        // Once the overdue order is issued it is never due again, however long the case stays open.
        let both = [reminder: Self.t("2025-05-24 10:00"), overdue: Self.t("2025-05-31 10:01")]
        #expect(sup.due(for: c, issued: both, now: Self.t("2025-05-31 10:02")).isEmpty)
        #expect(sup.due(for: c, issued: both, now: Self.t("2025-09-01 10:00")).isEmpty)
    }

    @Test func rulesFromYAML() throws {
        let r = try RuleSet.parse(ConfigMap.parse(yaml: "supervision:\n  reminder_days_before: 5\n  reminder_fraction: 0.75\n  idle_days: 3\n  tick_seconds: 30\n", file: "rules.yaml"))
        #expect(r.supervision.reminderDaysBefore == 5 && r.supervision.reminderFraction == 0.75 && r.supervision.idleDays == 3 && r.supervision.tickSeconds == 30)
        for (yaml, message) in [
            ("supervision:\n  idle_days: 0\n", "rules.yaml:2: key 'supervision.idle_days': must be between 1 and 365, found 0"),
            ("supervision:\n  reminder_fraction: 1.5\n", "rules.yaml:2: key 'supervision.reminder_fraction': must be between 0.05 and 0.99, found 1.5"),
            ("dedup: {}\nsupervision:\n  idle: 3\n", "rules.yaml:3: key 'supervision.idle': unknown key (check its spelling and place)"),
        ] {
            do {
                _ = try RuleSet.parse(ConfigMap.parse(yaml: yaml, file: "rules.yaml"))
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.description == message)
            }
        }
    }
}
