import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// `patrolhub cases list|show|act`, run as the built executable on a real store file.
@Suite("Cases command line")
struct CasesCLITests {
    /// A store with the sample zones and two cases, and a config naming it.
    struct Fixture {
        let dir = TempDir("patrolhub-cases-cli")
        let store: DisputeStore
        let config: String
        let opened = Date(timeIntervalSince1970: 1_746_064_800) // 2025-05-01 10:00 +08:00

        init() throws {
            store = try DisputeStore(path: dir.file("s.sqlite"))
            try store.saveZones(try ZoneFile.load(contentsOf: packageRoot.appendingPathComponent("config/zones.geojson")))
            let wage = Case(id: "AJ-00000001", rule: .patrolReport, zone: "540102-001-002-02", category: .wageArrears, severity: .major,
                            unit: "八廓街道综治中心", worker: "gw-005", leadUnit: "区人社局", coUnits: ["区总工会", "区司法局"],
                            openedAt: opened, dueAt: opened.addingTimeInterval(30 * 86_400),
                            explanation: "网格员 gw-005 上报欠薪：12 名工人被拖欠工资。", riskItemIDs: [], sources: ["dev-005"], categories: [.wageArrears])
            let fight = Case(id: "AJ-00000002", rule: .severity, zone: "540102-002-001-01", category: .fight, severity: .critical,
                             unit: "城关区综治中心", openedAt: opened.addingTimeInterval(3600), dueAt: opened.addingTimeInterval(86_400 + 3600),
                             explanation: "摄像机 cam-012 检测到打架斗殴。", riskItemIDs: [], sources: ["cam-012"], categories: [.fight])
            try store.writer.write { db in
                try DisputeStore.write(case: wage, evidenceAt: wage.openedAt, db: db)
                try DisputeStore.write(case: fight, evidenceAt: fight.openedAt, db: db)
            }
            config = dir.write("hub.yaml", "topic_prefix: city/v2\nstore:\n  path: s.sqlite\n")
        }

        func run(_ args: [String]) throws -> (status: Int32, output: String) {
            try runProcess(try patrolhubExecutable(), ["cases"] + args + ["--config", config])
        }
    }

    @Test func listShowsCasesNewestFirstWithFilters() throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let (status, output) = try f.run(["list"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("AJ-00000002  new"))
        #expect(lines[0].contains("fight") && lines[0].contains("城关区综治中心") && lines[0].contains("due 2025-05-02 11:00:00 +08:00"))
        #expect(lines[1].hasPrefix("AJ-00000001  new"))
        let (_, street) = try f.run(["list", "--zone", "540102-001", "--json"])
        let json = try JSONParser.parse(street.trimmingCharacters(in: .whitespacesAndNewlines))
        guard case .array(let items)? = json["items"] else { Issue.record("no items: \(street)"); return }
        #expect(items.map { $0["id"] } == [.string("AJ-00000001")])
        #expect(items.first?["lead_unit"] == .string("区人社局"))
        #expect(items.first?["co_units"] == .array([.string("区总工会"), .string("区司法局")]))
        let (_, none) = try f.run(["list", "--state", "resolved"])
        #expect(none.trimmingCharacters(in: .whitespacesAndNewlines) == "no cases")
        let (_, open) = try f.run(["list", "--state", "open", "--json"])
        #expect(try JSONParser.parse(open.trimmingCharacters(in: .whitespacesAndNewlines))["items"].map { if case .array(let a) = $0 { a.count } else { -1 } } == 2)
    }

    @Test func actWalksACaseAndShowTellsItsHistory() throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        for args in [["act", "AJ-00000001", "acknowledge", "--by", "值班员甲"],
                     ["act", "AJ-00000001", "assign", "--by", "值班员甲", "--assignee", "gw-005", "--note", "请联系劳动监察"],
                     ["act", "AJ-00000001", "start", "--by", "gw-005"],
                     ["act", "AJ-00000001", "resolve", "--by", "gw-005", "--outcome", "mediated_agreement", "--amount", "80000",
                      "--satisfaction", "satisfied", "--note", "分期支付"]] {
            let (status, output) = try f.run(args)
            #expect(status == 0, "\(args): \(output)")
        }
        let (status, output) = try f.run(["act", "AJ-00000001", "close", "--by", "值班员乙", "--note", "回访满意", "--json"])
        #expect(status == 0, "\(output)")
        let closed = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(closed["state"] == .string("closed"))
        #expect(closed["outcome"] == .string("mediated_agreement"))
        #expect(closed["amount_cny"] == .number(80_000))
        #expect(closed["satisfaction"] == .string("satisfied"))
        #expect(closed["assignee"] == .string("gw-005"))

        let (_, text) = try f.run(["show", "AJ-00000001"])
        #expect(text.contains("AJ-00000001  closed  (已归档)"), "\(text)")
        #expect(text.contains("team:      lead 区人社局, co-units 区总工会, 区司法局"), "\(text)")
        #expect(text.contains("explanation: 网格员 gw-005 上报欠薪：12 名工人被拖欠工资。"), "\(text)")
        #expect(text.contains("transitions (5):"), "\(text)")
        #expect(text.contains(#"值班员甲  assign  acknowledged → assigned  {"assignee":"gw-005"}  — 请联系劳动监察"#), "\(text)")
        #expect(text.contains(#"gw-005  resolve  in_progress → resolved  {"amount_cny":80000,"outcome":"mediated_agreement","satisfaction":"satisfied"}  — 分期支付"#), "\(text)")

        let (_, js) = try f.run(["show", "AJ-00000001", "--json"])
        let shown = try JSONParser.parse(js.trimmingCharacters(in: .whitespacesAndNewlines))
        guard case .array(let ts)? = shown["transitions"] else { Issue.record("no transitions: \(js)"); return }
        #expect(ts.map { $0["action"] } == ["acknowledge", "assign", "start", "resolve", "close"].map(JSONValue.string))
        #expect(ts.map { $0["by"] } == ["值班员甲", "值班员甲", "gw-005", "gw-005", "值班员乙"].map(JSONValue.string))

        // What the CLI wrote is the hub's to publish: one case message per action, under the config's prefix.
        let out = try f.store.outbox(limit: 100)
        #expect(out.map(\.topic) == Array(repeating: "city/v2/out/cases", count: 5))
        #expect(try JSONParser.parse(out.last!.payload)["state"] == .string("closed"))
    }

    @Test(arguments: [
        (["act", "AJ-00000002", "resolve", "--by", "a", "--outcome", "handled"],
         "case AJ-00000002 is new: 'resolve' is not allowed from new (allowed: acknowledge, assign, false-alarm)"),
        (["act", "AJ-00000002", "false-alarm", "--by", "a"], "'false-alarm' on case AJ-00000002 needs a note saying why"),
        (["act", "AJ-00000002", "assign", "--by", "a"], "'assign' on case AJ-00000002 needs an assignee"),
        (["act", "AJ-00000099", "acknowledge", "--by", "a"], "no case AJ-00000099"),
        (["act", "AJ-00000002", "ack", "--by", "a"], "unknown action 'ack' (one of: acknowledge, assign, start, hold, resolve, close, false-alarm, reopen)"),
        (["act", "AJ-00000002", "resolve", "--by", "a", "--outcome", "settled"], "--outcome: unknown outcome 'settled'"),
        (["act", "AJ-00000002", "resolve", "--by", "a", "--outcome", "handled", "--amount", "lots"], "--amount must be a number of yuan ≥ 0, not 'lots'"),
        (["act", "AJ-00000002", "resolve", "--by", "a", "--outcome", "handled", "--amount", "-3"], "--amount must be a number of yuan ≥ 0, not '-3'"),
        (["act", "AJ-00000002", "resolve", "--by", "a", "--outcome", "handled", "--satisfaction", "happy"], "--satisfaction: unknown value 'happy'"),
        (["list", "--state", "done"], "--state: unknown state 'done'"),
        (["list", "--zone", "999"], "--zone: unknown zone '999'"),
        (["show", "AJ-00000099"], "no case AJ-00000099"),
    ])
    func badInputExitsNonZeroWithAClearMessage(args: [String], message: String) throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let (status, output) = try f.run(args)
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
        #expect(try f.store.outbox(limit: 10).isEmpty)
        #expect(try f.store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM case_transitions") } == 0)
    }

    @Test func aMissingStoreOrConfigIsNamed() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let config = dir.write("hub.yaml", "store:\n  path: nowhere.sqlite\n")
        let (status, output) = try runProcess(try patrolhubExecutable(), ["cases", "list", "--config", config])
        #expect(status != 0)
        #expect(output.contains("no store at \(dir.file("nowhere.sqlite"))"), "\(output)")
        let (status2, output2) = try runProcess(try patrolhubExecutable(), ["cases", "list", "--config", dir.file("missing.yaml")])
        #expect(status2 != 0)
        #expect(output2.contains("missing.yaml"), "\(output2)")
    }
}

/// `patrolhub report monthly` on a real store file.
@Suite("Monthly report command")
struct MonthlyReportCLITests {
    @Test func monthlyInEveryFormat() throws {
        let f = try CasesCLITests.Fixture()
        defer { f.dir.cleanup() }
        // Case 2 (fight, due 2 May) is assigned and started on 2 May and resolved late on 3 May; case 1 stays open.
        // (In the store's time: an action is recorded no earlier than the case's last one.)
        try f.store.act(on: "AJ-00000002", CaseAction(.assign, by: "d", assignee: "gw-008"), now: f.opened.addingTimeInterval(86_400), outputPrefix: "p")
        try f.store.act(on: "AJ-00000002", CaseAction(.start, by: "gw-008"), now: f.opened.addingTimeInterval(1.5 * 86_400), outputPrefix: "p")
        try f.store.act(on: "AJ-00000002", CaseAction(.resolve, by: "gw-008", outcome: .handled, amountCNY: 300, satisfaction: .satisfied),
                        now: f.opened.addingTimeInterval(2 * 86_400), outputPrefix: "p")
        let exe = try patrolhubExecutable()
        let (status, md) = try runProcess(exe, ["report", "monthly", "--date", "2025-05-20", "--config", f.config])
        #expect(status == 0, "\(md)")
        #expect(md.contains("# 月评比 Monthly evaluation 2025-05"), "\(md)")
        #expect(md.contains("| cases opened 立案 | 2 |"), "\(md)")
        #expect(md.contains("| 540102-002 | 吉日街道 | 1 | 吉日街道综治中心 | 1 | 1 | 100.0 % | 1 | 2.0 | 100.0 % | 300.00 | 100.0 % | 0 |"), "\(md)")
        let out = f.dir.file("monthly.html")
        let (htmlStatus, msg) = try runProcess(exe, ["report", "monthly", "--date", "2025-05-20", "--format", "html", "-o", out, "--config", f.config])
        #expect(htmlStatus == 0, "\(msg)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
    }
}
