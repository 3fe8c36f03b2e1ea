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
import StoreTestSupport


/// March 2025 in Asia/Shanghai, generated and fed through the real pipeline
/// and scheduler with a moving clock; the expected figures are counted here
/// from the generated list, with plain epoch arithmetic (Shanghai is UTC+8
/// all year), not with the report code or the plan's slot arithmetic.
final class GeneratedMonth: @unchecked Sendable {
    enum Outcome: String { case onTime = "on_time", late, outside = "outside_radius", missed }

    struct Slot {
        var worker: String, zone: String, checkpoint: String
        var due: Double, graceEnds: Double
        var outcome: Outcome
        var checkin: Double?
        /// A reminder letter went out (missed, or late but declared missed first: by a tick, or by the device's next check-in).
        var letterAt: Double?
    }

    static let plan = """
        effective_from: 2025-03-01
        checkpoints:
          - {id: cp-1a, zone: Z-1, location: {lat: 29.6500, lon: 91.1300}}
          - {id: cp-1b, zone: Z-1, location: {lat: 29.6520, lon: 91.1320}}
          - {id: cp-2a, zone: Z-2, location: {lat: 29.6600, lon: 91.1400}}
          - {id: cp-3a, zone: Z-3, location: {lat: 29.6700, lon: 91.1500}}
          - {id: cp-3b, zone: Z-3, location: {lat: 29.6710, lon: 91.1510}}
        defaults: {grace_minutes: 10, early_minutes: 10, window_minutes: 60, radius_m: 50}
        routes:
          - {id: r1, device: dev-1, checkpoints: [cp-1a, {id: cp-1b, offset_minutes: 20}], schedule: {every_minutes: 120, from: "08:00", to: "16:00"}}
          - {id: r2, device: dev-2, checkpoints: [cp-2a], schedule: {times: ["09:30", "21:30"]}}
          - {id: r3, device: dev-3, checkpoints: [cp-3a, {id: cp-3b, offset_minutes: 15}], schedule: {times: ["23:30"], days: [mon, wed, fri]}}
        """
    static let location: [String: (Double, Double)] = ["cp-1a": (29.65, 91.13), "cp-1b": (29.652, 91.132), "cp-2a": (29.66, 91.14), "cp-3a": (29.67, 91.15), "cp-3b": (29.671, 91.151)]
    static let cameraZone = ["cam-1": "Z-1", "cam-2": "Z-1", "cam-3": "Z-2", "cam-4": "Z-3"]
    static let deviceWorker = ["dev-1": ("gw-1", "Z-1"), "dev-2": ("gw-2", "Z-2"), "dev-3": ("gw-3", "Z-3")]

    /// Local midnight of March `d` (d may run past 31 into April).
    static func midnight(_ d: Int) -> Double { 1_740_787_200 + Double(d - 1) * 86_400 - 28_800 }
    /// The scheduler ticks every 15 minutes of simulated time.
    static func nextTick(_ t: Double) -> Double { (t / 900).rounded(.up) * 900 }

    var slots: [Slot] = []
    var detections: [(camera: String, category: String, time: Double)] = []
    var sos: [(device: String, time: Double)] = []
    var messages: [(at: Double, message: InboxMessage)] = []
    let store: DisputeStore
    let harness: PatrolHarness

    init() throws {
        var rng = SeededRandom(seed: 20250301) // SplitMix64
        func checkinMessage(_ device: String, _ id: String, _ cp: String, _ t: Double, offsetLat: Double = 0) -> InboxMessage {
            let (lat, lon) = Self.location[cp]!
            let payload = #"{"id":"\#(id)","checkpoint":"\#(cp)","time":"\#(Date(timeIntervalSince1970: t).rfc3339)","method":"gps","location":{"lat":\#(lat + offsetLat),"lon":\#(lon)}}"#
            return InboxMessage(topic: "patrolhub/v1/device/\(device)/checkin", payload: Array(payload.utf8), receivedAt: Date(timeIntervalSince1970: t + 30))
        }
        var n = 0
        var slotDevices: [String] = []
        var unscheduled: [Double] = [] // dev-1's nightly visits
        for d in 1...31 {
            let m = Self.midnight(d)
            let weekday = (5 + d - 1) % 7 // 2025-03-01 is a Saturday; Monday = 0
            var due: [(device: String, cp: String, at: Double)] = []
            for h in [8, 10, 12, 14, 16] {
                due.append(("dev-1", "cp-1a", m + Double(h) * 3600))
                due.append(("dev-1", "cp-1b", m + Double(h) * 3600 + 1200))
            }
            due.append(("dev-2", "cp-2a", m + 9.5 * 3600))
            due.append(("dev-2", "cp-2a", m + 21.5 * 3600))
            if [0, 2, 4].contains(weekday) {
                due.append(("dev-3", "cp-3a", m + 23.5 * 3600))
                due.append(("dev-3", "cp-3b", m + 23.75 * 3600))
            }
            for s in due {
                let (worker, _) = Self.deviceWorker[s.device]!
                let zone = s.cp.hasPrefix("cp-1") ? "Z-1" : (s.cp.hasPrefix("cp-2") ? "Z-2" : "Z-3")
                let r = Double(rng.next() % 1000) / 1000
                let outcome: Outcome = r < 0.55 ? .onTime : (r < 0.70 ? .late : (r < 0.78 ? .outside : .missed))
                var slot = Slot(worker: worker, zone: zone, checkpoint: s.cp, due: s.at, graceEnds: s.at + 600, outcome: outcome)
                switch outcome {
                case .onTime: slot.checkin = s.at + Double(Int(rng.next() % 18) - 8) * 60
                case .late: slot.checkin = s.at + Double(11 + Int(rng.next() % 45)) * 60
                case .outside: slot.checkin = s.at + Double(Int(rng.next() % 14) - 5) * 60
                case .missed: break
                }
                if let c = slot.checkin {
                    n += 1
                    let msg = checkinMessage(s.device, "k-\(n)", s.cp, c, offsetLat: outcome == .outside ? 0.002 : 0)
                    messages.append((c + 30, msg))
                    if n % 10 == 0 { messages.append((c + 90, msg)) } // a redelivery
                }
                slots.append(slot)
                slotDevices.append(s.device)
            }
            // An unscheduled visit every night: recorded, never counted.
            n += 1
            unscheduled.append(m + 3 * 3600)
            messages.append((m + 3 * 3600 + 30, checkinMessage("dev-1", "k-\(n)", "cp-1a", m + 3 * 3600)))
            // Camera detections every two hours; a fight now and then.
            for k in 0..<12 {
                let index = (d - 1) * 12 + k
                let camera = "cam-\(1 + Int(rng.next() % 4))"
                let category = index % 9 == 0 ? "fight" : ["intrusion", "loitering", "illegal_parking", "garbage", "street_vending"][Int(rng.next() % 5)]
                let t = m + 300 + Double(k) * 7200 + Double(rng.next() % 5) * 60
                detections.append((camera, category, t))
                let payload = #"{"id":"e-\#(index)","type":"\#(category)","time":"\#(Date(timeIntervalSince1970: t).rfc3339)"}"#
                messages.append((t + 30, InboxMessage(topic: "patrolhub/v1/camera/\(camera)/event", payload: Array(payload.utf8), receivedAt: Date(timeIntervalSince1970: t + 30))))
            }
            if d % 3 == 0 {
                let device = "dev-\((d / 3) % 3 + 1)"
                let t = m + 13 * 3600 + 420
                sos.append((device, t))
                let payload = #"{"id":"s-\#(d)","time":"\#(Date(timeIntervalSince1970: t).rfc3339)","kind":"fall"}"#
                messages.append((t + 30, InboxMessage(topic: "patrolhub/v1/device/\(device)/sos", payload: Array(payload.utf8), receivedAt: Date(timeIntervalSince1970: t + 30))))
            }
        }
        // Who issues a slot's letter first, if anyone: the scheduler's next tick
        // after the grace (unless the slot's own check-in was processed by then),
        // or gap detection — the device's first check-in after the grace, if it
        // has an earlier one, processed 30 s after its event time (before the
        // check-in itself is applied: a late check-in's own slot is missed first).
        var checkins: [String: [Double]] = ["dev-1": unscheduled]
        for (slot, device) in zip(slots, slotDevices) { if let c = slot.checkin { checkins[device, default: []].append(c) } }
        for i in slots.indices {
            let slot = slots[i], times = (checkins[slotDevices[i]] ?? []).sorted()
            var candidates: [Double] = []
            let tick = Self.nextTick(slot.graceEnds)
            if slot.checkin.map({ $0 + 30 > tick }) ?? true { candidates.append(tick) }
            if let b = times.first(where: { $0 > slot.graceEnds }), times[0] < b, slot.checkin.map({ $0 >= b }) ?? true { candidates.append(b + 30) }
            slots[i].letterAt = candidates.min()
        }
        store = try DisputeStore.inMemory()
        harness = try PatrolHarness(store: store, planYAML: Self.plan, at: Date(timeIntervalSince1970: Self.midnight(1)))
        // Run it: messages at their processing time, ticks every 15 minutes (messages first at equal times).
        messages.sort { $0.at < $1.at }
        var i = 0
        var tick = Self.midnight(1)
        let end = Self.midnight(32) + 2 * 3600
        while tick <= end {
            while i < messages.count, messages[i].at <= tick {
                harness.clock.now = Date(timeIntervalSince1970: messages[i].at)
                try store.ingest([messages[i].message])
                try harness.processor.processPending(limit: 10)
                i += 1
            }
            harness.clock.now = Date(timeIntervalSince1970: tick)
            try harness.processor.tickPatrol()
            tick += 900
        }
    }

    func report(_ kind: String, _ day: String) throws -> Report {
        try ReportCatalog.build(kind, date: LocalDay(day)!, context: ReportContext(timeZone: PatrolHarness.tz, now: Date(timeIntervalSince1970: Self.midnight(33))), store: store)
    }

    static let shared = Result { try GeneratedMonth() }
}

@Suite("Reports over a generated month")
struct ReportTests {
    func month() throws -> GeneratedMonth { try GeneratedMonth.shared.get() }

    /// [due, on time, late, missed, outside radius] of some slots.
    static func counts(_ slots: [GeneratedMonth.Slot]) -> [Int] {
        [slots.count, slots.filter { $0.outcome == .onTime }.count, slots.filter { $0.outcome == .late }.count,
         slots.filter { $0.outcome == .missed }.count, slots.filter { $0.outcome == .outside }.count]
    }

    static func ints(_ row: [Report.Cell], _ range: Range<Int>) -> [Int] { row[range].map { $0.intValue ?? -1 } }

    @Test("Daily: every day of the month, per worker and grid, matches the generated slots")
    func daily() throws {
        let m = try month()
        #expect(m.slots.count > 380)
        for d in 1...31 {
            let day = "2025-03-\(d < 10 ? "0" : "")\(d)"
            let r = try m.report("daily", day)
            let today = m.slots.filter { $0.due >= GeneratedMonth.midnight(d) && $0.due < GeneratedMonth.midnight(d + 1) }
            let c = Self.counts(today)
            #expect([r.figure("due"), r.figure("on_time"), r.figure("late"), r.figure("missed"), r.figure("outside_radius")].map { $0?.intValue } == c.map { $0 }, "\(day)")
            #expect(r.figure("coverage") == .percent(Double(c[1] + c[2]) / Double(c[0])), "\(day)")
            let sosToday = m.sos.filter { $0.time >= GeneratedMonth.midnight(d) && $0.time < GeneratedMonth.midnight(d + 1) }
            #expect(r.figure("sos")?.intValue == sosToday.count)
            // The engine closes a device's SOS item when its next SOS comes (a new risk item): the last one per device stays open.
            func isOpen(_ x: (device: String, time: Double)) -> Bool { !m.sos.contains { $0.device == x.device && $0.time > x.time } }
            #expect(r.figure("open_sos")?.intValue == m.sos.filter(isOpen).count)

            let workers = try #require(r.table("by_worker"))
            #expect(workers.columns == ["worker", "device", "unit", "due", "on time", "late", "missed", "outside radius", "coverage", "SOS", "open SOS"])
            let expectedWorkers = Set(today.map(\.worker)).union(sosToday.map { GeneratedMonth.deviceWorker[$0.device]!.0 }).sorted()
            #expect(workers.rows.map { $0[0].text } == expectedWorkers, "\(day)")
            for row in workers.rows {
                let mine = today.filter { $0.worker == row[0].text }
                #expect(Self.ints(row, 3..<8) == Self.counts(mine), "\(day) \(row[0].text)")
                let sos = sosToday.filter { GeneratedMonth.deviceWorker[$0.device]!.0 == row[0].text }
                #expect(Self.ints(row, 9..<11) == [sos.count, sos.filter(isOpen).count], "\(day) \(row[0].text)")
            }
            let grids = try #require(r.table("by_grid"))
            for row in grids.rows {
                #expect(Self.ints(row, 2..<7) == Self.counts(today.filter { $0.zone == row[0].text }), "\(day) \(row[0].text)")
            }
            let missedRows = try #require(r.table("missed")).rows
            #expect(missedRows.count == today.filter { $0.letterAt != nil }.count, "\(day)")
            #expect(try #require(r.table("outside_radius")).rows.count == c[4])
        }
    }

    @Test("Weekly: items and outcomes by category, hotspots, change vs last week and coverage match the generated month")
    func weekly() throws {
        let m = try month()
        // Items: detections, SOS and missed_checkpoint items (one per letter), by first detection.
        var items: [(category: String, zone: String, source: String, time: Double)] = m.detections.map { ($0.category, GeneratedMonth.cameraZone[$0.camera]!, $0.camera, $0.time) }
        items += m.sos.map { ("sos", GeneratedMonth.deviceWorker[$0.device]!.1, $0.device, $0.time) }
        items += m.slots.filter { $0.letterAt != nil }.map { ("missed_checkpoint", $0.zone, "dev", $0.graceEnds) }
        for (monday, weekStart) in [(3, "2025-03-03"), (10, "2025-03-12"), (17, "2025-03-23"), (24, "2025-03-24")] {
            let r = try m.report("weekly", weekStart)
            let (s, e) = (GeneratedMonth.midnight(monday), GeneratedMonth.midnight(monday + 7))
            let (ls, le) = (s - 7 * 86_400, s)
            let this = items.filter { $0.time >= s && $0.time < e }, last = items.filter { $0.time >= ls && $0.time < le }
            #expect(r.figure("items")?.intValue == this.count)
            #expect(r.figure("items_change")?.intValue == this.count - last.count)
            #expect(r.figure("reminder_letters")?.intValue == m.slots.filter { ($0.letterAt ?? 0) >= s && ($0.letterAt ?? 0) < e }.count)
            let byCategory = try #require(r.table("by_category"))
            for category in Set(this.map(\.category)).union(last.map(\.category)) {
                let n = this.filter { $0.category == category }.count, p = last.filter { $0.category == category }.count
                #expect(byCategory.value(row: category, column: "items") == .int(n), "\(weekStart) \(category)")
                #expect(byCategory.value(row: category, column: "last week") == .int(p), "\(weekStart) \(category)")
                #expect(byCategory.value(row: category, column: "change") == .change(n - p), "\(weekStart) \(category)")
            }
            #expect(byCategory.rows.count == Set(this.map(\.category)).union(last.map(\.category)).count)
            // Every fight raised its own warning slip (fights are hours apart), issued 30 s after the event.
            let fights = m.detections.filter { $0.category == "fight" && $0.time + 30 >= s && $0.time + 30 < e }.count
            #expect(byCategory.value(row: "fight", column: "warning slips") == (fights + last.filter { $0.category == "fight" }.count > 0 ? .int(fights) : nil))
            // Hotspot cameras: items per camera this week, most first, ties by id.
            let perCamera = Dictionary(grouping: this.filter { $0.source.hasPrefix("cam-") }, by: \.source).mapValues(\.count)
            let ranked = perCamera.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            let cameras = try #require(r.table("hotspot_cameras"))
            #expect(cameras.rows.map { [$0[0].text, $0[3].text] } == ranked.map { [$0.key, String($0.value)] }, "\(weekStart)")
            // Hotspot grids: all items by zone.
            let perZone = Dictionary(grouping: this, by: \.zone).mapValues(\.count)
            #expect(try #require(r.table("hotspot_grids")).rows.map { [$0[0].text, $0[2].text] } == perZone.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { [$0.key, String($0.value)] })
            // Patrol coverage day by day.
            let patrol = try #require(r.table("patrol_by_day"))
            #expect(patrol.rows.count == 7)
            for (k, row) in patrol.rows.enumerated() {
                let day = m.slots.filter { $0.due >= s + Double(k) * 86_400 && $0.due < s + Double(k + 1) * 86_400 }
                let c = Self.counts(day)
                #expect(Self.ints(row, 1..<6) == [c[0], c[1] + c[2], c[2], c[3], c[4]], "\(weekStart) day \(k)")
            }
        }
    }

    @Test("All three forms render; the HTML's SVG charts are well-formed XML; CSV keeps raw numbers")
    func forms() throws {
        let m = try month()
        for (kind, day) in [("daily", "2025-03-12"), ("weekly", "2025-03-12")] {
            let r = try m.report(kind, day)
            let html = ReportRenderer.html(r)
            #expect(html.hasPrefix("<!DOCTYPE html>"))
            #expect(!html.contains("http://") || html.components(separatedBy: "http://").count - 1 == html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1,
                    "no external references but the SVG namespace")
            var svgs: [String] = []
            var rest = html[...]
            while let a = rest.range(of: "<svg "), let b = rest.range(of: "</svg>", range: a.upperBound..<rest.endIndex) {
                svgs.append(String(rest[a.lowerBound..<b.upperBound]))
                rest = rest[b.upperBound...]
            }
            #expect(svgs.count == r.sections.flatMap(\.charts).count)
            for svg in svgs {
                let parser = XMLParser(data: Data(svg.utf8))
                #expect(parser.parse(), "SVG is not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
            }
            #expect(svgs.contains { $0.contains("<rect") })
            let md = ReportRenderer.markdown(r)
            #expect(md.hasPrefix("# \(r.title)\n"))
            let csv = ReportRenderer.csv(r)
            for t in r.tables { #expect(csv.contains("\n# \(t.id): \(t.title)\n" + t.columns.joined(separator: ",") + "\n")) }
        }
        let daily = try m.report("daily", "2025-03-12")
        let gw1 = try #require(daily.table("by_worker")?.rows.first)
        let csv = ReportRenderer.csv(daily)
        #expect(csv.contains("\n" + gw1.map { ReportRenderer.csvField($0.raw) }.joined(separator: ",") + "\n"))
        #expect(csv.contains("coverage,coverage 覆盖率,0."))
    }

    @Test("The daily report of the four-slot morning, exactly")
    func exactDailyDocument() throws {
        let h = try PatrolHarness(store: DisputeStore.inMemory(), planYAML: PatrolHarness.fourStops, at: PatrolHarness.local("2025-03-03T08:00:00"))
        try h.tick(at: "2025-03-03T08:00:00")
        try h.process(at: "2025-03-03T09:05:30", [PatrolHarness.checkin("dev-1", id: "c-1", checkpoint: "cp-a", at: "2025-03-03T09:05:00", lat: 29.6501, lon: 91.1300)])
        try h.tick(at: "2025-03-03T09:26:00")
        try h.process(at: "2025-03-03T09:41:00", [PatrolHarness.checkin("dev-1", id: "c-2", checkpoint: "cp-b", at: "2025-03-03T09:40:00")])
        try h.process(at: "2025-03-03T09:46:30", [PatrolHarness.checkin("dev-1", id: "c-3", checkpoint: "cp-d", at: "2025-03-03T09:46:00", lat: 29.6530, lon: 91.1361)])
        try h.tick(at: "2025-03-03T10:00:00")
        let r = try ReportCatalog.build("daily", date: LocalDay("2025-03-03")!, context: ReportContext(timeZone: PatrolHarness.tz, now: PatrolHarness.local("2025-03-03T12:00:00")), store: h.store)
        #expect(ReportRenderer.markdown(r) == """
            # 日巡查报告 Daily patrol report 2025-03-03

            2025-03-03 (mon), Asia/Shanghai · generated 2025-03-03 12:00 +08:00 (Asia/Shanghai)

            | figure | value |
            |---|---:|
            | checkpoints due 应巡 | 4 |
            | on time 按时 | 1 |
            | late 迟到 | 1 (1 after a reminder) |
            | missed 漏巡 | 1 |
            | outside radius 位置异常 | 1 |
            | coverage 覆盖率 | 50.0 % |
            | SOS today 紧急求助 | 0 |
            | open SOS now 未处置 | 0 |

            ## Coverage 巡查覆盖

            ### By worker 按网格员

            | worker | device | unit | due | on time | late | missed | outside radius | coverage | SOS | open SOS |
            |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
            | gw-1 | dev-1 | 冲赛康社区居委会 | 4 | 1 | 1 | 1 | 1 | 50.0 % | 0 | 0 |

            ### By grid 按网格

            | grid | name | due | on time | late | missed | outside radius | coverage | SOS | open SOS |
            |---|---|---:|---:|---:|---:|---:|---:|---:|---:|
            | Z-1 |  | 4 | 1 | 1 | 1 | 1 | 50.0 % | 0 | 0 |

            ## Missed checkpoints 漏巡

            | due | worker | checkpoint | grid | grace until | reminder letter | outcome |
            |---|---|---|---|---|---|---|
            | 09:15 | gw-1 | cp-b | Z-1 | 09:25 | TX-00000001 | late at 09:40 |
            | 09:30 | gw-1 | cp-c | Z-1 | 09:40 | TX-00000002 | missed |

            ## Outside radius 位置异常

            | due | checked in | worker | checkpoint | grid | distance m |
            |---|---|---|---|---|---:|
            | 09:45 | 09:46 | gw-1 | cp-d | Z-1 | 300 |

            ---

            - A slot counts on the local day of its due time; due = slots decided so far (on time, late, missed, outside radius).
            - Coverage = (on time + late) / due. Outside radius: checked in within the window but farther than the checkpoint's radius; not covered, no reminder.
            - Late after a reminder: the slot was declared missed, then checked in within its window; its risk item and letter were closed.
            - SOS: risk items of category sos first seen that day (drills excluded); open = still open when the report was made.

            """)
    }

    @Test func unavailableAndUnknownReportsSayWhy() throws {
        let store = try DisputeStore.inMemory()
        let ctx = ReportContext(timeZone: PatrolHarness.tz)
        // Every kind is available now that the monthly evaluation (case supervision) is built.
        #expect(try ReportCatalog.build("monthly", date: LocalDay("2025-03-03")!, context: ctx, store: store).kind == "monthly")
        #expect(ReportCatalog.builders.map { $0.kind } == ReportCatalog.kinds)
        // An unknown kind is refused by the catalog itself, with the error it throws.
        let unknown = try #require(throws: HubError.self) {
            try ReportCatalog.build("yearly", date: LocalDay("2025-03-03")!, context: ctx, store: store)
        }
        #expect("\(unknown)" == "unknown report 'yearly' (one of: daily, weekly, monthly)")
    }
}
