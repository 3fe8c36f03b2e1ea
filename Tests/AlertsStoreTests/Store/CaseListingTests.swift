@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Cases and slips are listed with a fixed number of queries, and a case's lists
/// (co-units, sources, categories) come back as they were written.
@Suite("Case listing")
struct CaseListingTests {
    static let opened = Date(timeIntervalSince1970: 1_800_000_000)

    static func store(cases n: Int) throws -> DisputeStore {
        let store = try DisputeStore.inMemory()
        try store.writer.writeWithoutTransaction { db in
            // The linked risk items are not written: only the links are listed here.
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
            for k in 1...n {
                let c = Case(id: Case.id(k), rule: .patrolReport, zone: "Z-A", category: .dispute, severity: .major, unit: "街道",
                             leadUnit: "区人社局", coUnits: ["区总工会", "a|b"], openedAt: opened, dueAt: opened.addingTimeInterval(86_400),
                             explanation: "网格员上报纠纷", riskItemIDs: ["RI-\(k)-1", "RI-\(k)-2"], sources: ["dev-\(k)", "with|bar"],
                             categories: [.dispute, .intrusion])
                try DisputeStore.write(case: c, evidenceAt: opened, db: db)
            }
        }
        return store
    }

    /// The statements `body` runs on `db`.
    static func statements<T>(_ db: Database, _ body: () throws -> T) rethrows -> (T, [String]) {
        nonisolated(unsafe) var sql: [String] = []
        db.trace { sql.append($0.description) }
        defer { db.trace(options: [], nil) }
        let value = try body()
        return (value, sql)
    }

    @Test func aPageOfCasesIsTwoQueriesWhateverItsSize() throws {
        let store = try Self.store(cases: 30)
        var q = ListQuery()
        q.limit = 25
        let (page, sql) = try store.writer.read { db in try Self.statements(db) { try DisputeStore.cases(q, db: db) } }
        #expect(page.items.count == 25)
        #expect(sql.count == 2, "the cases, then their items together: \(sql)")
        let first = try #require(page.items.first)
        #expect(first.id == Case.id(30))
        #expect(first.riskItemIDs == ["RI-30-1", "RI-30-2"])
        #expect(first.coUnits == ["区总工会", "a|b"], "a '|' inside a value survives")
        #expect(first.sources == ["dev-30", "with|bar"])
        #expect(first.categories == [.dispute, .intrusion])
        let (all, sql2) = try store.writer.read { db in try Self.statements(db) { try DisputeStore.fetchCases(limit: 100, db: db) } }
        #expect(all.count == 30)
        #expect(sql2.count == 2)
        let stored = try store.writer.read { db in try String.fetchOne(db, sql: "SELECT sources FROM cases WHERE id = ?", arguments: [Case.id(1)]) }
        #expect(stored == #"["dev-1","with|bar"]"#)
    }

    @Test func oldPipeJoinedListsStillRead() {
        #expect(StoredList.decode("a|b") == ["a", "b"])
        #expect(StoredList.decode("") == [])
        #expect(StoredList.decode(nil) == [])
        #expect(StoredList.decode("[]") == [])
        #expect(StoredList.decode(StoredList.encode(["x|y", "[z]"])) == ["x|y", "[z]"])
    }
}
