@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts
import TestSupport

/// The safety rules of silences: SOS is never silenced, silences are
/// time-boxed, their strings bounded, and silencing everything takes a supervisor.
@Suite("Silence safety rules")
struct SilencePolicyTests {
    static func at(_ m: Double) -> Date { EngineFixtures.at(m) }

    static func silence(zone: String? = nil, category: Alerts.Category? = nil, source: String? = nil, drill: Bool? = nil,
                        minutes: Double = 60, comment: String = "maintenance", by: String = "op-7") -> Silence {
        Silence(id: "", zone: zone, category: category, source: source, drill: drill, startsAt: at(0), endsAt: at(minutes),
                createdBy: by, comment: comment, createdAt: at(0))
    }

    /// A store that knows district D with community Z-A below it.
    static func store() throws -> DisputeStore {
        let store = try DisputeStore.inMemory()
        try store.writer.write { db in
            try db.execute(sql: "INSERT INTO zones(code, name, level, parent) VALUES ('D', 'district', 'district', NULL), ('Z-A', 'community', 'community', 'D')")
        }
        return store
    }

    static func refusal(_ store: DisputeStore, _ s: Silence, policy: SilencePolicy = SilencePolicy(),
                        authority: SilenceAuthority = .operator) -> HubError? {
        do {
            try store.addSilence(s, policy: policy, authority: authority)
            return nil
        } catch let e as HubError {
            return e
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test("a silence starts at most 30 days ahead, and at most 1 000 have not ended at once")
    func silencesAreBoundedInNumberAndLeadTime() throws {
        let store = try Self.store()
        var far = Self.silence(zone: "Z-A")
        far.startsAt = Self.at(0).addingTimeInterval(SilencePolicy.maxLeadTime + 60)
        far.endsAt = far.startsAt.addingTimeInterval(60)
        let lead = try #require(Self.refusal(store, far))
        #expect(lead.field == "start")
        var near = far
        near.startsAt = Self.at(0).addingTimeInterval(SilencePolicy.maxLeadTime)
        near.endsAt = near.startsAt.addingTimeInterval(60)
        #expect(Self.refusal(store, near) == nil, "30 days ahead is fine")
        for i in 1..<SilencePolicy.maxUnended { try store.addSilence(Self.silence(zone: "Z-A", comment: "s\(i)")) }
        let full = try #require(Self.refusal(store, Self.silence(zone: "Z-A", comment: "one more")))
        #expect(full.field == "silence")
        #expect(full.message == "1000 silences have not ended yet; at most 1000 (expire the ones no longer needed)")
        // One ended: room for one more.
        #expect(try store.expireSilence(id: "JM-000002", by: "op-7", at: Self.at(1)))
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", comment: "one more").with(createdAt: Self.at(2))) == nil)
    }

    @Test("a silence starts at most 30 days before it is created: a past window, not year 1")
    func silencesLookBackAtMostThirtyDays() throws {
        let store = try Self.store()
        var past = Self.silence(zone: "Z-A")
        past.startsAt = Self.at(0).addingTimeInterval(-SilencePolicy.maxLookBack)
        past.endsAt = past.startsAt.addingTimeInterval(3600)
        #expect(Self.refusal(store, past) == nil, "the late events of last month's maintenance window can be muted")
        var ancient = past
        ancient.startsAt = Date(timeIntervalSince1970: -62_135_596_800) // 0001-01-01
        ancient.endsAt = ancient.startsAt.addingTimeInterval(3600)
        let refused = try #require(Self.refusal(store, ancient))
        #expect(refused.field == "start")
        #expect(refused.message.hasPrefix("a silence starts at most 30d before it is created"), "\(refused.message)")
        // A drill replayed on a past day (`drill --start`) silences its own events at their times.
        var replayed = Self.silence(zone: "Z-A", drill: true)
        replayed.startsAt = Self.at(0).addingTimeInterval(-90 * 86_400)
        replayed.endsAt = replayed.startsAt.addingTimeInterval(3600)
        #expect(Self.refusal(store, replayed) == nil, "a drill's silence may start further back")
    }

    @Test("a duration is plain digits and a unit: no exponent, sign, inf or nan")
    func durationsArePlainDigits() {
        #expect(DurationText.seconds("90s") == 90)
        #expect(DurationText.seconds("30m") == 1800)
        #expect(DurationText.seconds("1.5h") == 5400)
        #expect(DurationText.seconds("2d") == 172_800)
        for bad in ["1e3s", "1E3s", "+5m", "-5m", "infs", "nans", "0s", "0.0h", ".5h", "5.h", "1.2.3h", "s", "", "5", "5 m", " 5m", "5w",
                    "0x10s", "１０m", "1234567890123456s"] {
            #expect(DurationText.seconds(bad) == nil, "\(bad)")
        }
    }

    @Test func sosAndConfiguredCategoriesCannotBeSilenced() throws {
        let store = try Self.store()
        let sos = try #require(Self.refusal(store, Self.silence(category: .sos), authority: .supervisor))
        #expect(sos.field == "category")
        #expect(sos.message.contains("sos can never be silenced"))
        let policy = SilencePolicy(neverSilence: [.sos, .fireSmoke])
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", category: .fireSmoke), policy: policy)?.field == "category")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", category: .fireSmoke)) == nil, "not in the default list")
    }

    @Test func aSilenceLastsAtMostTheMaximum() throws {
        let store = try Self.store()
        let century = try #require(Self.refusal(store, Self.silence(zone: "Z-A", minutes: 100 * 365 * 1440), authority: .supervisor))
        #expect(century.field == "end")
        #expect(century.message.contains("at most 7d (silences.max_duration)"))
        #expect(century.message.contains("100 years"))
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", minutes: 7 * 1440)) == nil, "exactly the maximum is allowed")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", minutes: 7 * 1440 + 1))?.field == "end")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", minutes: 61), policy: SilencePolicy(maxDuration: 3600))?.field == "end")
    }

    @Test func stringsAreBoundedAndPlain() throws {
        let store = try Self.store()
        let long = try #require(Self.refusal(store, Self.silence(zone: "Z-A", comment: String(repeating: "x", count: 1 << 20))))
        #expect(long.field == "comment")
        #expect(long.message == "at most 500 characters, found 1048576")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", comment: String(repeating: "静", count: 500))) == nil, "characters, not bytes")
        let stacked = try #require(Self.refusal(store, Self.silence(zone: "Z-A", comment: "e" + String(repeating: "\u{0301}", count: 450_000))),
                                   "one grapheme cluster of 450 001 scalars is not one character")
        #expect(stacked.field == "comment")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", by: "x" + String(repeating: "\u{0301}", count: 300)))?.field == "created_by")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", comment: "line one\nline two\tok")) == nil)
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", comment: "bell\u{7}"))?.field == "comment")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", by: String(repeating: "a", count: 201)))?.field == "created_by")
        #expect(Self.refusal(store, Self.silence(zone: "Z-A", source: "cam\u{1b}[2J"))?.field == "source")
    }

    @Test func silencingEveryCategoryOverADistrictNeedsTheSupervisor() throws {
        let store = try Self.store()
        for broad in [Self.silence(drill: false), Self.silence(zone: "D")] {
            let refused = try #require(Self.refusal(store, broad))
            #expect(refused.field == "matchers")
            #expect(refused.message.contains("needs the supervisor role"))
            #expect(Self.refusal(store, broad, authority: .supervisor) == nil)
        }
        // Narrower silences are an operator's.
        #expect(Self.refusal(store, Self.silence(zone: "Z-A")) == nil, "a zone below the district")
        #expect(Self.refusal(store, Self.silence(category: .motion)) == nil, "one category everywhere")
        #expect(Self.refusal(store, Self.silence(drill: true)) == nil, "drill traffic only")
    }

    @Test func noSilenceMutesAnSOSNotEvenOneOnEveryCategory() {
        // As if stored before the rules existed, or created by a supervisor: every category, every zone.
        let everything = Silence(id: "JM-000001", drill: false, startsAt: Self.at(0), endsAt: Self.at(60 * 24 * 365 * 100),
                                 createdBy: "op", comment: "quiet", createdAt: Self.at(0))
        let sosSilence = Silence(id: "JM-000002", category: .sos, startsAt: Self.at(0), endsAt: Self.at(60),
                                 createdBy: "op", comment: "quiet", createdAt: Self.at(0))
        var e = SilenceTests.engine([everything, sosSilence])
        var sos = EngineFixtures.event("s", "dev-1", .sos, 5)
        sos.sourceKind = .device
        var fight = EngineFixtures.event("f", "cam-1", .fight, 5)
        fight.sourceKind = .camera
        var items: [String: RiskItem] = [:]
        var caseOpened = false
        for ev in [sos, fight] {
            for effect in e.handle(ev, now: ev.time) {
                if case .item(let i) = effect { items[i.category.rawValue] = i }
                if case .caseChanged(let c, _, _, true) = effect, c.rule == .sos { caseOpened = true }
            }
        }
        #expect(items["sos"]?.suppressedBy == nil)
        #expect(caseOpened, "the SOS still opens a case")
        #expect(items["fight"]?.suppressedBy == "silenced: JM-000001 by op: quiet", "the silence still mutes the rest")
    }
}

extension Silence {
    /// The same silence created at `at` (its window moved with it).
    func with(createdAt at: Date) -> Silence {
        var s = self
        let shift = at.timeIntervalSince(createdAt)
        s.createdAt = at
        s.startsAt = startsAt.addingTimeInterval(shift)
        s.endsAt = endsAt.addingTimeInterval(shift)
        return s
    }
}
