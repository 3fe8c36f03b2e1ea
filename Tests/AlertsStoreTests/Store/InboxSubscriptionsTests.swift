@testable import AlertsStore
import Foundation
import Testing

/// The filters the ingest session subscribed, remembered in the inbox file so that
/// those a new configuration drops (a shared group left) are unsubscribed on connect.
@Suite("Remembered MQTT subscriptions")
struct InboxSubscriptionsTests {
    @Test func filtersDroppedByTheConfigurationAreReturnedUntilForgotten() throws {
        let store = try DisputeStore.inMemory()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let plain = ["p/camera/+/event", "frigate/events"]
        let old = plain.map { "$share/old/\($0)" }, new = plain.map { "$share/new/\($0)" }
        #expect(try store.rememberSubscriptions(plain, now: t0).isEmpty, "a new inbox remembers nothing")
        #expect(try store.rememberSubscriptions(old, now: t0).sorted() == plain.sorted(), "joining: the plain filters are stale")
        #expect(try store.rememberSubscriptions(new, now: t0.addingTimeInterval(60)).sorted() == (old + plain).sorted(),
                "leaving old for new: the old group's filters are stale")
        // Unsubscribing again is harmless: a stale filter is returned at every start until it is forgotten.
        let later = t0.addingTimeInterval(86_400)
        #expect(try store.rememberSubscriptions(new, now: later).sorted() == (old + plain).sorted())
        let forgotten = t0.addingTimeInterval(DisputeStore.staleSubscriptionDays * 86_400 + 61)
        #expect(try store.rememberSubscriptions(new, now: forgotten).isEmpty)
        #expect(try store.rememberSubscriptions(plain, now: forgotten) == new.sorted(), "leaving the group: its filters are stale")
    }

    @Test("a filter subscribed for months is still unsubscribed for 30 days after the configuration drops it")
    func longSubscribedFilterIsUnsubscribedAfterItIsDropped() throws {
        let store = try DisputeStore.inMemory()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let old = ["$share/old/p/camera/+/event"], new = ["$share/new/p/camera/+/event"]
        #expect(try store.rememberSubscriptions(old, now: t0).isEmpty)
        let change = t0.addingTimeInterval(40 * 86_400) // the hub ran 40 days in group old, then restarts in new
        #expect(try store.rememberSubscriptions(new, now: change) == old)
        #expect(try store.rememberSubscriptions(new, now: change.addingTimeInterval(29 * 86_400)) == old)
        #expect(try store.rememberSubscriptions(new, now: change.addingTimeInterval(31 * 86_400)).isEmpty, "forgotten 30 days after it was dropped")
        // Configured again, then dropped again: a new 30 days.
        #expect(try store.rememberSubscriptions(old, now: change.addingTimeInterval(32 * 86_400)) == new)
        #expect(try store.rememberSubscriptions(new, now: change.addingTimeInterval(100 * 86_400)) == old)
    }
}
