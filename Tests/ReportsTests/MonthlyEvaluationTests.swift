@testable import AlertsStore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
@testable import Reports
@testable import Simulation
import Testing
@testable import Alerts
import TestSupport
import StoreTestSupport

/// The monthly evaluation's figures over a generated month, checked against
/// figures computed here from the generated cases (plain loops, not SQL).
@Suite("Monthly evaluation")
struct MonthlyEvaluationTests {
    /// A small deterministic generator (the simulator's SplitMix64).
    struct Rand {
        var g: SeededRandom
        init(state: UInt64) { g = SeededRandom(seed: state) }
        mutating func next() -> UInt64 { g.next() }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static let t = CaseFixtures.local
    static let mayStart = t("2025-05-01 00:00")
    static let juneStart = t("2025-06-01 00:00")
    static let now = t("2025-06-03 09:00")

    struct Generated {
        var cases: [Case] = []
        /// (case id, issued at) of supervision orders.
        var orders: [(String, Date)] = []
    }

    static func generate(seed: UInt64) -> Generated {
        var r = Rand(state: seed)
        let grids = CaseFixtures.sampleZones.zones(at: .grid).map(\.code)
        var g = Generated()
        let from = t("2025-04-01 00:00")
        for i in 1...240 {
            let opened = from.addingTimeInterval(r.unit() * (juneStart.timeIntervalSince(from)))
            let severe = r.int(10) == 0
            var c = Case(id: Case.id(i), rule: severe ? .severity : .patrolReport, zone: grids[r.int(grids.count)], category: severe ? .fight : .dispute,
                         severity: severe ? .critical : .major, unit: "u", openedAt: opened,
                         dueAt: opened.addingTimeInterval((severe ? 1 : 30) * 86_400), explanation: "generated",
                         riskItemIDs: [], sources: ["s"], categories: [severe ? .fight : .dispute], drill: r.int(20) == 0)
            switch r.int(10) {
            case 0...1:
                c.state = [.new, .assigned, .inProgress, .onHold][r.int(4)]
            case 2:
                c.state = .falseAlarm
                c.closedAt = opened.addingTimeInterval(3600)
            default:
                let resolved = opened.addingTimeInterval((0.2 + r.unit() * 45) * 86_400)
                if resolved > now { c.state = .inProgress; break }
                c.state = r.int(2) == 0 ? .resolved : .closed
                c.resolvedAt = resolved
                c.outcome = "mediated_agreement"
                if r.int(3) == 0 { c.amountCNY = Double(r.int(200)) * 500 }
                c.satisfaction = [nil, "satisfied", "neutral", "dissatisfied"][r.int(4)]
            }
            g.cases.append(c)
            if r.int(4) == 0 { g.orders.append((c.id, opened.addingTimeInterval(r.unit() * 40 * 86_400))) }
        }
        // On the month's edges, in local time: 30 April 23:59:59 is April, 1 May 00:00 is May.
        g.cases.append(Case(id: Case.id(241), rule: .patrolReport, zone: grids[0], category: .dispute, severity: .major, unit: "u",
                            openedAt: t("2025-04-30 23:59").addingTimeInterval(59), dueAt: t("2025-05-30 23:59"), explanation: "edge",
                            riskItemIDs: [], sources: ["s"], categories: [.dispute]))
        g.cases.append(Case(id: Case.id(242), rule: .patrolReport, zone: grids[0], category: .dispute, severity: .major, unit: "u",
                            openedAt: mayStart, dueAt: mayStart.addingTimeInterval(30 * 86_400), explanation: "edge",
                            riskItemIDs: [], sources: ["s"], categories: [.dispute]))
        return g
    }

    /// The expected row of a group, from the generated values.
    static func expected(_ cases: [Case], orders: [(String, Date)]) -> MonthlyEvaluation.Row {
        var row = MonthlyEvaluation.Row(code: "", name: "")
        let inMay = { (d: Date?) in d.map { $0 >= mayStart && $0 < juneStart } ?? false }
        let live = cases.filter { !$0.drill }
        let opened = live.filter { inMay($0.openedAt) }
        row.opened = opened.count
        row.falseAlarms = opened.filter { $0.state == .falseAlarm }.count
        row.resolvedOfOpened = opened.filter { $0.state != .falseAlarm && ($0.resolvedAt.map { $0 < juneStart } ?? false) }.count
        let resolved = live.filter { inMay($0.resolvedAt) }
        row.resolved = resolved.count
        row.withinTarget = resolved.filter { $0.resolvedAt!.timeIntervalSince($0.openedAt) <= 30 * 86_400 }.count
        row.amountSettled = resolved.compactMap(\.amountCNY).reduce(0, +)
        row.rated = resolved.filter { $0.satisfaction != nil }.count
        row.satisfiedOrNeutral = resolved.filter { $0.satisfaction == "satisfied" || $0.satisfaction == "neutral" }.count
        let days = resolved.map { $0.resolvedAt!.timeIntervalSince($0.openedAt) / 86_400 }.sorted()
        if !days.isEmpty { row.medianDays = days.count % 2 == 1 ? days[days.count / 2] : (days[days.count / 2 - 1] + days[days.count / 2]) / 2 }
        row.overdue = live.filter { c in
            c.dueAt >= mayStart && c.dueAt < juneStart && c.state != .falseAlarm && (c.resolvedAt.map { $0 > c.dueAt } ?? true)
        }.count
        let ids = Set(live.map(\.id))
        row.supervisionOrders = orders.filter { ids.contains($0.0) && inMay($0.1) }.count
        return row
    }

    static func same(_ a: MonthlyEvaluation.Row, _ e: MonthlyEvaluation.Row, _ label: String) {
        #expect(a.opened == e.opened, "\(label) opened")
        #expect(a.falseAlarms == e.falseAlarms, "\(label) false alarms")
        #expect(a.resolvedOfOpened == e.resolvedOfOpened, "\(label) resolved of opened")
        #expect(a.resolved == e.resolved, "\(label) resolved")
        #expect(a.withinTarget == e.withinTarget, "\(label) within target")
        #expect(abs(a.amountSettled - e.amountSettled) < 0.001, "\(label) amount")
        #expect(a.rated == e.rated && a.satisfiedOrNeutral == e.satisfiedOrNeutral, "\(label) satisfaction")
        #expect(a.overdue == e.overdue, "\(label) overdue")
        #expect(a.supervisionOrders == e.supervisionOrders, "\(label) orders")
        switch (a.medianDays, e.medianDays) {
        case let (x?, y?): #expect(abs(x - y) < 1e-6, "\(label) median \(x) vs \(y)")
        case (nil, nil): break
        default: Issue.record("\(label) median \(String(describing: a.medianDays)) vs \(String(describing: e.medianDays))")
        }
    }

    /// A store holding the generated month (cases and supervision orders).
    static func store(_ g: Generated) throws -> DisputeStore {
        let store = try CaseFixtures.store()
        try store.writer.write { db in
            for c in g.cases { try DisputeStore.write(case: c, evidenceAt: c.openedAt, db: db) }
            for (n, (caseID, at)) in g.orders.enumerated() {
                let c = g.cases.first { $0.id == caseID }!
                try db.execute(sql: """
                    INSERT INTO slips(seq, id, kind, zone, category, severity, unit, issued_at, updated_at, anchor, state, case_id, text, occurrences, trigger)
                    VALUES (?, ?, 'supervision', ?, 'dispute', 2, 'u', ?, ?, ?, 'open', ?, 'x', 1, ?)
                    """, arguments: [n + 1, RiskEngine.slipID(.supervision, n + 1), c.zone, at.timeIntervalSince1970, at.timeIntervalSince1970,
                                     at.timeIntervalSince1970, caseID, "case:\(caseID):idle:\(n)"])
            }
        }
        return store
    }

    @Test(arguments: [UInt64(1), 2025, 77])
    func aGeneratedMonthMatchesIndependentFigures(seed: UInt64) throws {
        let g = Self.generate(seed: seed)
        let store = try Self.store(g)
        let eval = try store.writer.read { db in
            try MonthlyEvaluation.compute(year: 2025, month: 5, timeZone: CaseFixtures.shanghai, now: Self.now, sql: SQLiteReportSQL(db))
        }
        #expect(eval.start == Self.mayStart && eval.end == Self.juneStart)
        let index = CaseFixtures.sampleZones
        func ancestor(_ zone: String, _ level: ZoneLevel) -> String? {
            var code: String? = zone
            while let c = code, let z = index.zone(code: c) {
                if z.level == level { return z.code }
                code = z.parent
            }
            return nil
        }
        #expect(eval.streets.map(\.code) .sorted() == index.zones(at: .street).map(\.code).sorted())
        #expect(eval.communities.count == index.zones(at: .community).count)
        for row in eval.streets {
            Self.same(row, Self.expected(g.cases.filter { ancestor($0.zone, .street) == row.code }, orders: g.orders), row.code)
        }
        for row in eval.communities {
            Self.same(row, Self.expected(g.cases.filter { ancestor($0.zone, .community) == row.code }, orders: g.orders), row.code)
            #expect(row.parent == index.zone(code: row.code)?.parent)
        }
        Self.same(eval.total, Self.expected(g.cases, orders: g.orders), "total")
        #expect(eval.total.opened > 50 && eval.total.resolved > 50 && eval.total.overdue > 0 && eval.total.supervisionOrders > 0,
                "the generated month exercises every figure")
        // Ranks 1…n, ordered by resolution rate first.
        for rows in [eval.streets, eval.communities] {
            #expect(rows.map(\.rank) == Array(1...rows.count))
            let rates = rows.compactMap(\.resolutionRate)
            #expect(rates == rates.sorted(by: >))
        }
    }

    /// The report built from the same figures: tables, headline numbers, and well-formed SVG charts.
    @Test func theMonthlyReportRendersTheFigures() throws {
        let g = Self.generate(seed: 2025)
        let store = try Self.store(g)
        let report = try ReportCatalog.build("monthly", date: LocalDay("2025-05-17")!, context: ReportContext(timeZone: CaseFixtures.shanghai, now: Self.now), store: store)
        #expect(report.title == "月评比 Monthly evaluation 2025-05")
        #expect(report.period == "2025-05 (2025-05-01 – 2025-05-31), Asia/Shanghai")
        let total = Self.expected(g.cases, orders: g.orders)
        #expect(report.figure("opened") == .int(total.opened))
        #expect(report.figure("resolved") == .int(total.resolved))
        #expect(report.figure("overdue") == .int(total.overdue))
        #expect(report.figure("supervision_orders") == .int(total.supervisionOrders))
        #expect(report.figure("resolution_rate") == .percent(total.resolutionRate))
        #expect(report.figure("satisfaction_rate") == .percent(total.satisfactionRate))
        let index = CaseFixtures.sampleZones
        let streets = try #require(report.table("streets"))
        #expect(streets.rows.count == index.zones(at: .street).count)
        #expect(streets.rows.map { $0[2] } == (1...streets.rows.count).map { Report.Cell.int($0) })
        for street in index.zones(at: .street) {
            let mine = g.cases.filter { c in
                var code: String? = c.zone
                while let x = code, let z = index.zone(code: x) { if z.level == .street { return z.code == street.code }; code = z.parent }
                return false
            }
            let e = Self.expected(mine, orders: g.orders)
            #expect(streets.value(row: street.code, column: "opened") == .int(e.opened))
            #expect(streets.value(row: street.code, column: "resolved") == .int(e.resolved))
            #expect(streets.value(row: street.code, column: "overdue") == .int(e.overdue))
            #expect(streets.value(row: street.code, column: "supervision orders") == .int(e.supervisionOrders))
            #expect(streets.value(row: street.code, column: "unit") == .text(street.unit ?? ""))
        }
        #expect(report.table("communities")?.rows.count == index.zones(at: .community).count)

        let html = ReportRenderer.html(report)
        var svgs: [String] = []
        var rest = html[...]
        while let a = rest.range(of: "<svg "), let b = rest.range(of: "</svg>", range: a.upperBound..<rest.endIndex) {
            svgs.append(String(rest[a.lowerBound..<b.upperBound]))
            rest = rest[b.upperBound...]
        }
        #expect(svgs.count == report.sections.flatMap(\.charts).count)
        #expect(svgs.count == 4)
        for svg in svgs {
            let parser = XMLParser(data: Data(svg.utf8))
            #expect(parser.parse(), "SVG is not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
        #expect(ReportRenderer.markdown(report).contains("## Streets 街道"))
        #expect(ReportRenderer.csv(report).contains("\n# streets: Streets ranked 街道排名\ncode,名称,rank,unit,opened,resolved,"))
    }

    @Test func rankingBreaksTiesByOverdueThenOrdersThenMedian() {
        func row(_ code: String, rate: (Int, Int)?, overdue: Int = 0, orders: Int = 0, median: Double? = nil) -> MonthlyEvaluation.Row {
            var r = MonthlyEvaluation.Row(code: code, name: code)
            if let (done, of) = rate { r.opened = of; r.resolvedOfOpened = done }
            r.overdue = overdue
            r.supervisionOrders = orders
            r.medianDays = median
            return r
        }
        let ranked = MonthlyEvaluation.ranked([
            row("a", rate: nil), row("b", rate: (1, 2)), row("c", rate: (3, 4)), row("d", rate: (1, 2), overdue: 1),
            row("e", rate: (1, 2), orders: 2), row("f", rate: (1, 2), orders: 2, median: 3), row("g", rate: (1, 2), orders: 2, median: 9),
        ])
        #expect(ranked.map(\.code) == ["c", "b", "f", "g", "e", "d", "a"])
        #expect(ranked.map(\.rank) == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test func monthBoundsAreLocal() {
        let b = MonthlyEvaluation.bounds(year: 2025, month: 12, timeZone: CaseFixtures.shanghai)
        #expect(b?.start == Self.t("2025-12-01 00:00"))
        #expect(b?.end == Self.t("2026-01-01 00:00"))
        #expect(MonthlyEvaluation.bounds(year: 2025, month: 13, timeZone: CaseFixtures.shanghai) == nil)
    }
}
