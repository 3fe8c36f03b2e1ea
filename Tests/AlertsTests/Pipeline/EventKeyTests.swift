import Testing
@testable import Alerts

/// `EventKey` compares and hashes bytes, as the store's unique index does.
@Suite("Event keys")
struct EventKeyTests {
    @Test("keys are equal when their UTF-8 bytes are, not when Unicode calls them equivalent")
    func bytewise() {
        let composed = EventKey("cam-1|caf\u{E9}"), decomposed = EventKey("cam-1|cafe\u{301}")
        #expect("caf\u{E9}" == "cafe\u{301}", "String equality is canonical equivalence")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        #expect(EventKey("cam-1|a") == EventKey("cam-1|" + "a"))
        #expect(EventKey("") == EventKey(""))
        #expect(EventKey("ab") != EventKey("abc"))
        #expect(EventKey("abd") != EventKey("abc"))
        let long = String(repeating: "\u{4E2D}", count: 300)
        #expect(EventKey(long) == EventKey(String(long)))
        #expect(EventKey(long).hashValue == EventKey(String(long)).hashValue)
    }
}
