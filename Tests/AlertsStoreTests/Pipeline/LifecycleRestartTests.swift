@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// Found by the fault tests (scripts/faults/faults.py, a restart while
/// ONVIF rules overlapped on one camera): a risk item that several tracked
/// objects hold open must close when the last of them ends, and a later
/// detection must open a new item, whether or not the hub restarted in
/// between. The store used to keep only the item's first lifecycle, and a
/// restart revived it even after its end: the item then stayed open for
/// good and swallowed every later detection of that camera and category.
@Suite("A restart keeps exactly the live lifecycles of a risk item")
struct LifecycleRestartTests {
    typealias O = OutcomeTableTests

    struct ItemRow: Equatable, CustomStringConvertible {
        var state: String, occurrences: Int, firstSeen: Double, lastSeen: Double, lifecycle: String?
        var description: String { "\(state) ×\(occurrences) \(firstSeen)–\(lastSeen) \(lifecycle ?? "-")" }
    }

    static func items(_ store: DisputeStore) throws -> [ItemRow] {
        try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT state, occurrences, first_seen, last_seen, lifecycle FROM risk_items ORDER BY first_seen").map {
                ItemRow(state: $0[0], occurrences: $0[1], firstSeen: $0[2], lastSeen: $0[3], lifecycle: $0[4])
            }
        }
    }

    /// Two people tracked in a zone of cam-A fold into one item; the first leaves, then
    /// the second; an hour later a third appears.
    static let twoObjects = [
        O.frigate("cam-A", "obj-1", "new", update: 3, 0),
        O.frigate("cam-A", "obj-2", "new", update: 3, 0.5),
        O.frigate("cam-A", "obj-1", "end", update: 4, 1),
        O.frigate("cam-A", "obj-2", "update", update: 4, 1.5),
        O.frigate("cam-A", "obj-2", "end", update: 5, 2),
        O.frigate("cam-A", "obj-3", "new", update: 3, 60),
        O.frigate("cam-A", "obj-3", "end", update: 4, 61),
    ]

    @Test("the item closes when its last object ends, with a restart at any point")
    func restartAtEveryPoint() throws {
        let (reference, running) = try ReviewFindingsTests.run(Self.twoObjects)
        let expected = try Self.items(reference)
        #expect(expected.map(\.state) == ["closed", "closed"], "sanity: two items, both closed")
        #expect(expected.map(\.occurrences) == [2, 1], "the two objects' arrivals, then the third")
        #expect(expected[0].lifecycle == "frigate:cam-A:obj-1", "a closed item names its first lifecycle")
        for restartAt in 1..<Self.twoObjects.count {
            let (store, restarted) = try ReviewFindingsTests.run(Self.twoObjects, restartAt: restartAt)
            #expect(try Self.items(store) == expected, "restart before message \(restartAt)")
            #expect(restarted == running, "restart before message \(restartAt)")
        }
    }

    @Test("while several objects hold it open, the store names the live ones")
    func storedFormNamesTheLiveLifecycles() throws {
        let (store, _) = try ReviewFindingsTests.run(Array(Self.twoObjects.prefix(3)))
        let item = try #require(try Self.items(store).first)
        #expect(item.state == "open")
        #expect(item.lifecycle == "frigate:cam-A:obj-1\u{1E}frigate:cam-A:obj-2", "the first lifecycle, then the live one")
        let (both, _) = try ReviewFindingsTests.run(Array(Self.twoObjects.prefix(2)))
        #expect(try Self.items(both).first?.lifecycle == "frigate:cam-A:obj-1\u{1E}frigate:cam-A:obj-1\u{1E}frigate:cam-A:obj-2")
        let (one, _) = try ReviewFindingsTests.run(Array(Self.twoObjects.prefix(1)))
        #expect(try Self.items(one).first?.lifecycle == "frigate:cam-A:obj-1", "one live lifecycle: stored as before")
    }
}
