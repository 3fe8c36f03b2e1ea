import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// The board's dead-letter panel in headless Chromium: counts by reason and
/// by source, and a source an attacker wrote (a camera id of markup in its
/// topic) shown as text, never run as HTML.
@Suite("Dead-letter panel in a real browser", .serialized)
struct DeadLetterBoardTests {
    @Test("the panel counts dead letters by reason (in Chinese) and by source; a hostile source name stays text")
    func panelCountsAndEscapes() async throws {
        try await DispatchFixture.run { f in
            let hostile = "<img src=x onerror=window.__pwned=1>"
            let now = Date().timeIntervalSince1970
            try await f.store.writer.write { db in
                for (key, topic) in [("b1", "patrolhub/v1/camera/\(hostile)/event"), ("b2", "patrolhub/v1/camera/cam-404/event"), ("b3", "patrolhub/v1/camera/cam-404/event")] {
                    try db.execute(sql: """
                        INSERT INTO dead_letters(inbox_key, reason, detail, topic, payload, size, received_at, created_at) VALUES (?, 'unknown_source', '', ?, x'7b7d', 2, ?, ?)
                        """, arguments: [key, topic, now, now])
                }
            }
            try f.store.labelDeadLetterSources(router: TopicRouter())
            let total = try f.store.deadLetterCounts().byReason.reduce(0) { $0 + $1.1 }

            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open("http://127.0.0.1:\(f.port)/")
            let dom = try await browser.waitForDOM("the dead-letter panel filled") { $0.contains("data-dead-letters=\"\(total)\"") }
            #expect(dom.contains("未登记设备 unknown_source"), "the reason in Chinese")
            #expect(dom.contains("待处理 pending \(total)"))
            let sources = try await browser.evaluate("Array.from(document.querySelectorAll('#dlsources li')).map(li => li.textContent).join('|')")
            #expect(sources.stringValue?.contains("cam-4042") == true, "cam-404 counted twice: \(sources)")
            #expect(sources.stringValue?.contains(hostile + "1") == true, "the hostile name as text: \(sources)")
            #expect(try await browser.evaluate("document.querySelectorAll('#deadletters img').length") == .number(0), "no element made from it")
            #expect(try await browser.evaluate("window.__pwned === undefined") == .bool(true), "nothing it carries ran")
        }
    }
}
