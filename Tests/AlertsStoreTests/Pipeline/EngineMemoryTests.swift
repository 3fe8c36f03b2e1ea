@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

/// The engine's memory grows with open state, never with events processed
/// (docs/MEMORY.md): a steady mix whose open state is bounded keeps every
/// counted structure bounded however long it runs.
@Suite("Engine memory: bounded by open state, not by events processed")
struct EngineMemoryTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    /// Event time between two events: 2 s, so a day of event time (the open items'
    /// horizon) is 43 200 events.
    static let step: TimeInterval = 2

    /// Event `n` of a steady district: 20 cameras at a time in 5 zones, replaced every
    /// 2 hours by the next ones (new ids, as cameras are swapped or re-registered),
    /// detections of five categories, Frigate objects that start and end, cameras
    /// that go offline and come back, and grid workers' dispute reports (cases).
    static func event(_ n: Int) -> NormalizedEvent {
        let time = t0.addingTimeInterval(Double(n) * step)
        let generation = n / 3600
        let camera = "cam-\(generation)-\(n % 20)"
        switch n % 100 {
        case 0:
            return NormalizedEvent(key: "st-\(n)", kind: .cameraStatus(.offline), sourceKind: .camera, source: camera, category: .cameraOffline, time: time)
        case 20:
            // The camera that went offline at case 0 comes back.
            return NormalizedEvent(key: "st-\(n)", kind: .cameraStatus(.online), sourceKind: .camera, source: "cam-\(generation)-\((n - 20) % 20)",
                                   category: .cameraOffline, time: time)
        case 30:
            return NormalizedEvent(key: "rp-\(n)", sourceKind: .device, source: "dev-\(n % 7)", category: .dispute, time: time, format: "device")
        case 40..<44:
            // A Frigate object: new, two updates, end.
            let frigate = "cam-\(generation)-0"
            return NormalizedEvent(key: "fr-\(n)", kind: n % 100 == 43 ? .end : .detection, sourceKind: .camera, source: frigate,
                                   category: .intrusion, time: time, lifecycle: "frigate:\(frigate):obj-\(n / 100)", format: "frigate")
        default:
            let categories: [Category] = [.intrusion, .loitering, .garbage, .motion, .crowdGathering]
            return NormalizedEvent(key: "ev-\(n)", sourceKind: .camera, source: camera, category: categories[(n / 20) % 5], time: time)
        }
    }

    @Test func countedStateDoesNotGrowBetweenTwoPhasesOfASteadyMix() {
        var engine = RiskEngine(rules: RuleSet(), place: { e in
            // Stable zones (not hashValue, which is seeded per process).
            Placement(zone: "Z\(e.source.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xffff } % 5)", unit: "U")
        })
        // Phase 1 runs past every horizon (a day of open items, the windows), so what
        // is held at its end is the steady state; phase 2 is as long again.
        let phase = 60_000
        var effects: [EngineEffect] = []
        var slips = 0, cases = 0
        // The largest of each count over a phase: a structure trimmed in steps (at each
        // sweep, or when it doubles) moves up and down; one that grows with events climbs.
        func run(_ range: Range<Int>) -> RiskEngine.StateCounts {
            var high = RiskEngine.StateCounts()
            for n in range {
                if n % 100 == 0 { high = high.max(engine.stateCounts) }
                effects.removeAll(keepingCapacity: true)
                let e = Self.event(n)
                engine.handle(e, now: e.time, into: &effects)
                for effect in effects {
                    if case .slip(_, _, true) = effect { slips += 1 }
                    if case .caseChanged(_, _, _, true) = effect { cases += 1 }
                }
            }
            return high
        }
        let first = run(0..<phase)
        let second = run(phase..<2 * phase)
        // The mix makes outcomes all along (it is not a mix the rules ignore).
        #expect(slips > 100)
        #expect(cases > 0)
        #expect(first.openItems > 0 && first.caseEvidence > 0 && first.occurrences > 0)
        // Between the phases each count may move with the mix, within a tenth; growing with
        // events processed would double them (the second phase is as long as the first).
        let pairs: [(String, Int, Int)] = [
            ("open items", first.openItems, second.openItems), ("lifecycle sets", first.itemLifecycleSets, second.itemLifecycleSets),
            ("lifecycles", first.lifecycles, second.lifecycles), ("windows", first.windows, second.windows),
            ("occurrences", first.occurrences, second.occurrences), ("slip members", first.slipMembers, second.slipMembers),
            ("camera status", first.cameraStatus, second.cameraStatus), ("recently closed", first.recentlyClosed, second.recentlyClosed),
            ("case evidence", first.caseEvidence, second.caseEvidence), ("active cases", first.activeCases, second.activeCases),
            ("earlier episodes", first.earlierEpisodes, second.earlierEpisodes), ("status times", first.statusTimes, second.statusTimes),
            ("total", first.total, second.total),
        ]
        for (name, a, b) in pairs {
            #expect(b <= a + a / 10 + 8, "\(name): at most \(a) in phase 1, \(b) in phase 2 (\(first) → \(second))")
        }
    }

    /// A camera `online` mutes nothing, so it needs no entry: the status map holds the cameras not online.
    @Test func onlineCamerasHoldNoStatusEntry() {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        for n in 0..<1000 {
            let status: CameraStatus = n % 2 == 0 ? .offline : .online
            _ = engine.handle(NormalizedEvent(key: "s\(n)", kind: .cameraStatus(status), sourceKind: .camera, source: "cam-\(n / 2)",
                                              category: .cameraOffline, time: Self.t0.addingTimeInterval(Double(n))), now: Self.t0)
        }
        #expect(engine.stateCounts.cameraStatus == 0)
        _ = engine.handle(NormalizedEvent(key: "off", kind: .cameraStatus(.offline), sourceKind: .camera, source: "cam-X",
                                          category: .cameraOffline, time: Self.t0.addingTimeInterval(2000)), now: Self.t0)
        let muted = engine.handle(NormalizedEvent(key: "d", sourceKind: .camera, source: "cam-X", category: .intrusion,
                                                  time: Self.t0.addingTimeInterval(2001)), now: Self.t0)
        #expect(muted.contains { if case .item(let i) = $0 { i.suppressedBy?.hasPrefix("inhibited") == true } else { false } })
        #expect(engine.stateCounts.cameraStatus == 1)
    }

    /// Beyond `limits.max_open_items` (a flood of distinct sources within the day), the
    /// items seen least recently are forgotten: the engine holds at most the cap.
    @Test func openItemsStayUnderTheCap() {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        engine.maxOpenItems = 1000
        var high = 0
        for n in 0..<5000 {
            _ = engine.handle(NormalizedEvent(key: "e\(n)", sourceKind: .camera, source: "src-\(n)", category: .garbage,
                                              time: Self.t0.addingTimeInterval(Double(n))), now: Self.t0)
            high = max(high, engine.openItems.count)
        }
        #expect(high <= 1001)
        // The newest are kept: the last source's item folds its next event.
        let again = engine.handle(NormalizedEvent(key: "again", sourceKind: .camera, source: "src-4999", category: .garbage,
                                                  time: Self.t0.addingTimeInterval(5000)), now: Self.t0)
        #expect(again.contains { if case .item(let i) = $0 { i.occurrences == 2 } else { false } })
    }

    /// An item the engine forgets is closed, not left open in the store for ever: a
    /// quiet day closes it (an effect the store writes), except an SOS, which stays open
    /// until the device's next SOS; items forgotten beyond the cap close as well.
    @Test func forgottenItemsCloseExceptAnSOS() {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        _ = engine.handle(NormalizedEvent(key: "g", sourceKind: .camera, source: "cam-1", category: .garbage, time: Self.t0), now: Self.t0)
        _ = engine.handle(NormalizedEvent(key: "s", sourceKind: .device, source: "dev-1", category: .sos, time: Self.t0), now: Self.t0)
        var closed: [Category] = []
        // Two days of another camera's events: the sweeps run as event time passes.
        for n in 1...200 {
            for effect in engine.handle(NormalizedEvent(key: "o\(n)", sourceKind: .camera, source: "cam-2", category: .loitering,
                                                        time: Self.t0.addingTimeInterval(Double(n) * 900)), now: Self.t0) {
                if case .item(let i) = effect, i.state == .closed, i.source != "cam-2" { closed.append(i.category) }
            }
        }
        #expect(closed == [.garbage])
        #expect(engine.openItems.values.map(\.category).sorted { $0.rawValue < $1.rawValue } == [.loitering, .sos])

        var capped = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        capped.maxOpenItems = 1000
        var closedByCap = 0
        for n in 0..<3000 {
            for effect in capped.handle(NormalizedEvent(key: "e\(n)", sourceKind: .camera, source: "src-\(n)", category: .garbage,
                                                        time: Self.t0.addingTimeInterval(Double(n))), now: Self.t0) {
                if case .item(let i) = effect, i.state == .closed { closedByCap += 1 }
            }
        }
        // Every item the engine no longer holds was closed by an effect.
        #expect(closedByCap == 3000 - capped.openItems.count)
    }
}

/// A group window holds its window plus the lateness bound of events: a flood into one
/// window is capped at `limits.max_window_occurrences` (the newest are kept).
@Suite("Engine memory: a flooded window keeps at most its cap")
struct WindowCapTests {
    @Test func fortyThousandEventsInTenMinutesKeepTheNewestTenThousand() {
        var engine = RiskEngine(rules: RuleSet(), place: { _ in Placement(zone: "G1") })
        var high = 0
        var slips = 0
        for n in 0..<40_000 {
            let t = EngineMemoryTests.t0.addingTimeInterval(Double(n) * 0.015)
            for effect in engine.handle(NormalizedEvent(key: "e\(n)", sourceKind: .camera, source: "cam-\(n % 50)", category: .garbage, time: t), now: t) {
                if case .slip(_, _, true) = effect { slips += 1 }
            }
            high = max(high, engine.stateCounts.occurrences)
        }
        #expect(high <= engine.maxWindowOccurrences + RiskEngine.trimEvery)
        #expect(high >= engine.maxWindowOccurrences)
        #expect(slips >= 1)
    }
}

/// `store.memory_mib` sizes every connection's page cache and the store file's map.
@Suite("Store memory budget")
struct StoreMemoryBudgetTests {
    @Test func theBudgetIsSplitAcrossTheConnections() throws {
        let dir = NSTemporaryDirectory() + "patrolhub-budget-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DisputeStore(path: dir + "/s.sqlite", memoryMiB: 64)
        let budget = DisputeStore.MemoryBudget(mib: 64)
        #expect(try store.writer.write { try Int.fetchOne($0, sql: "PRAGMA cache_size") } == -budget.storeWriterCacheKiB)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA cache_size") } == -budget.storeReaderCacheKiB)
        #expect(try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA mmap_size") } == 0)
        #expect(try store.inboxWriter.write { try Int.fetchOne($0, sql: "PRAGMA cache_size") } == -budget.inboxWriterCacheKiB)
        #expect(try store.inboxWriter.read { try Int.fetchOne($0, sql: "PRAGMA cache_size") } == -budget.inboxReaderCacheKiB)
        #expect((store.writer as? DatabasePool)?.configuration.maximumReaderCount == budget.storeReaders)
        // Every cache at its fullest and the map stay within the budget, leaving room for the connections' own overhead.
        for mib in [64, 256, 1024, 65_536] {
            let b = DisputeStore.MemoryBudget(mib: mib)
            #expect(b.cachesAndMapKiB <= mib * 1024 * 9 / 10, "\(mib) MiB: caches and map take \(b.cachesAndMapKiB) KiB")
        }
        #expect(DisputeStore.MemoryBudget(mib: 256).storeWriterCacheKiB == 96 * 1024)
        #expect(DisputeStore.MemoryBudget(mib: 256).storeMapBytes == 64 << 20)
    }
}

extension RiskEngine.StateCounts {
    /// Each count the larger of the two.
    func max(_ o: Self) -> Self {
        var m = self
        m.openItems = Swift.max(openItems, o.openItems)
        m.itemLifecycleSets = Swift.max(itemLifecycleSets, o.itemLifecycleSets)
        m.lifecycles = Swift.max(lifecycles, o.lifecycles)
        m.nestedLifecycles = Swift.max(nestedLifecycles, o.nestedLifecycles)
        m.windows = Swift.max(windows, o.windows)
        m.occurrences = Swift.max(occurrences, o.occurrences)
        m.activeSlips = Swift.max(activeSlips, o.activeSlips)
        m.slipMembers = Swift.max(slipMembers, o.slipMembers)
        m.cameraStatus = Swift.max(cameraStatus, o.cameraStatus)
        m.recentlyClosed = Swift.max(recentlyClosed, o.recentlyClosed)
        m.caseEvidence = Swift.max(caseEvidence, o.caseEvidence)
        m.activeCases = Swift.max(activeCases, o.activeCases)
        m.earlierEpisodes = Swift.max(earlierEpisodes, o.earlierEpisodes)
        m.statusTimes = Swift.max(statusTimes, o.statusTimes)
        return m
    }
}
