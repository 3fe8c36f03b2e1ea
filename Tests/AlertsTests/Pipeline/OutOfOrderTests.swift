import Foundation
import Simulation
import Testing
@testable import Alerts
import TestSupport

/// Events that arrive after newer ones of the same source (a camera or an NVR
/// uploading what it buffered while offline): an earlier episode does not
/// close the open item, and an older camera status does not undo a newer one.
@Suite("Events out of order: earlier episodes and stale statuses")
struct OutOfOrderTests {
    static func camera(_ id: String, _ cam: String, _ cat: Alerts.Category, _ m: Double) -> NormalizedEvent {
        CaseOpeningTests.camera(id, cam, cat, m)
    }

    static func status(_ id: String, _ cam: String, _ status: CameraStatus, _ m: Double) -> NormalizedEvent {
        NormalizedEvent(key: "status:\(cam):\(id)", kind: .cameraStatus(status), sourceKind: .camera, source: cam,
                        category: status.healthCategory ?? .other, time: CaseOpeningTests.at(m))
    }

    @Test("Events from an earlier episode, between current ones, make one closed item; the current item stays open")
    func anEarlierEpisodeDoesNotCloseTheOpenItem() {
        // The dedup window is 2 minutes: minute 10 and minute 6.5 are separate episodes.
        let events = [
            Self.camera("a", "cam-1", .wrongWay, 10), Self.camera("b", "cam-1", .wrongWay, 6.5),
            Self.camera("c", "cam-1", .wrongWay, 10.1), Self.camera("d", "cam-1", .wrongWay, 6.6),
            Self.camera("e", "cam-1", .wrongWay, 10.2),
        ]
        let r = CaseOpeningTests.run(events)
        let items = r.items.values.sorted { $0.firstSeen < $1.firstSeen }
        #expect(items.count == 2, "\(items.map { ($0.id, $0.state, $0.firstSeen) })")
        #expect(items.map(\.state) == [.closed, .open])
        #expect(items.map(\.occurrences) == [2, 3])
        #expect(items.first?.firstSeen == CaseOpeningTests.at(6.5) && items.first?.lastSeen == CaseOpeningTests.at(6.6))
        #expect(items.last?.firstSeen == CaseOpeningTests.at(10) && items.last?.lastSeen == CaseOpeningTests.at(10.2))
    }

    @Test("A late event (beyond the lateness) does not close the open item either")
    func aLateEventDoesNotCloseTheOpenItem() {
        let r = CaseOpeningTests.run([Self.camera("a", "cam-1", .intrusion, 60), Self.camera("b", "cam-1", .intrusion, 0),
                                      Self.camera("c", "cam-1", .intrusion, 60.5)])
        let open = r.items.values.filter { $0.state == .open }
        #expect(open.count == 1 && open.first?.occurrences == 2, "\(r.items.values.map { ($0.id, $0.state, $0.occurrences) })")
        #expect(r.items.count == 2)
    }

    @Test("An `online` older than the camera's `offline` neither closes the health item nor unmutes the camera")
    func aStaleStatusChangesNothing() {
        let r = CaseOpeningTests.run([
            Self.status("1", "cam-1", .offline, 10), Self.status("2", "cam-1", .online, 8),
            Self.camera("f", "cam-1", .fight, 11),
        ])
        let health = r.items.values.filter { $0.category == .cameraOffline }
        #expect(health.count == 1 && health.first?.state == .open, "\(health)")
        let fight = r.items.values.filter { $0.category == .fight }
        #expect(fight.count == 1 && fight.first?.suppressedBy?.hasPrefix("inhibited: camera cam-1 is offline") == true, "\(fight)")
    }

    @Test("A newer `online` still closes the health item and unmutes the camera")
    func aNewerStatusApplies() {
        let r = CaseOpeningTests.run([
            Self.status("1", "cam-1", .offline, 10), Self.status("2", "cam-1", .online, 12),
            Self.camera("f", "cam-1", .fight, 13),
        ])
        #expect(r.items.values.filter { $0.category == .cameraOffline }.map(\.state) == [.closed])
        #expect(r.items.values.filter { $0.category == .fight }.first?.suppressedBy == nil)
    }
}

/// A group window's occurrence list stays sorted by time as events come out of order.
@Suite("A window's occurrences, recorded out of order")
struct WindowOccurrenceOrderTests {
    @Test("an occurrence older than the newest goes where a stable sort would put it: after every one at or before its time")
    func insertedWhereAStableSortPutsIt() {
        // A new seed each run, named by a failure so that it can be replayed.
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SeededRandom(seed: seed)
        for round in 0..<200 {
            var list: [RiskEngine.Occurrence] = []
            var expected: [RiskEngine.Occurrence] = []
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            for i in 0..<Int.random(in: 1...120, using: &random) {
                // Few distinct times: ties are common, and their order is the arrival order.
                let o = RiskEngine.Occurrence(time: base.addingTimeInterval(Double(Int.random(in: 0..<20, using: &random))), itemID: "RI-\(round)-\(i)")
                RiskEngine.record(o, in: &list, horizon: base) // nothing is before the horizon
                expected.append(o)
                expected.sort { $0.time < $1.time } // Swift's sort is stable
                #expect(list == expected, "seed \(seed), round \(round), occurrence \(i)")
            }
        }
    }

    @Test("occurrences before the horizon are trimmed once 64 are held and 32 of them are before it")
    func trimmedBeforeTheHorizon() {
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        func at(_ s: Double) -> Date { base.addingTimeInterval(s) }
        var list: [RiskEngine.Occurrence] = []
        for i in 0..<63 { RiskEngine.record(.init(time: at(Double(i)), itemID: "RI-\(i)"), in: &list, horizon: at(50)) }
        #expect(list.count == 63, "fewer than 64: nothing trimmed")
        // The 64th, out of order: inserted, then everything before the horizon goes.
        RiskEngine.record(.init(time: at(55.5), itemID: "RI-late"), in: &list, horizon: at(50))
        #expect(list.map(\.itemID) == (50...55).map { "RI-\($0)" } + ["RI-late"] + (56...62).map { "RI-\($0)" })
    }
}
