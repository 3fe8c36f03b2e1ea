import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// The live board, rendered by headless Chromium against a live hub.
@Suite("Live board in a real browser", .serialized)
struct BoardBrowserTests {
    /// How many times `needle` occurs in `haystack`.
    func count(_ needle: String, in haystack: String) -> Int { haystack.components(separatedBy: needle).count - 1 }

    @Test("the board draws every grid, colours the ones with open risk, lists the feed and the open cases, and shows the most urgent case's explanation and actions")
    func boardRenders() async throws {
        try await DispatchFixture.run { f in
            let url = "http://127.0.0.1:\(f.port)/"
            let page = try await TestHTTPClient(port: f.port).get("/")
            #expect(page.status == 200)
            #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
            #expect(!page.text.contains("http://") || !page.text.contains("src=\"http"), "no external assets")
            #expect(!page.text.contains("<script src") && !page.text.contains("<link "))

            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open(url)
            let dom = try await browser.waitForDOM("the map, the feed and a case's detail") {
                $0.contains("data-loaded=\"true\"") && $0.contains("data-stream=\"live\"") && $0.contains("id=\"explanation\"")
            }
            if let dump = ProcessInfo.processInfo.environment["PATROLHUB_BOARD_DUMP"] {
                try? dom.write(toFile: dump + ".html", atomically: true, encoding: .utf8)
                try? await browser.screenshot().write(to: URL(fileURLWithPath: dump + ".png"))
            }
            let index = try #require(f.hub.hub.placer.zones)
            let grids = index.zones.filter { $0.level == .grid }
            #expect(count("class=\"zone", in: dom) == grids.count, "one shape per grid")
            for g in grids { #expect(dom.contains("data-zone=\"\(g.code)\""), "grid \(g.code) drawn") }
            #expect(dom.contains("data-outline=\"\(f.streetB)\""), "street outlines drawn")
            // Grid A: a fight (severity 1) open; grid B: intrusion (3) and a case of severity 3.
            #expect(Self.shape(of: f.gridA.code, in: dom)?.contains("sev1") == true, "grid A coloured as severity 1: \(Self.shape(of: f.gridA.code, in: dom) ?? "missing")")
            #expect(Self.shape(of: f.gridB.code, in: dom)?.contains("sev3") == true, "grid B coloured as severity 3: \(Self.shape(of: f.gridB.code, in: dom) ?? "missing")")
            let quiet = try #require(grids.first { $0.code != f.gridA.code && $0.code != f.gridB.code })
            #expect(Self.shape(of: quiet.code, in: dom)?.contains("sev") == false, "a grid without open risk is not coloured")

            // The feed: every risk item, both slips, the open cases.
            for item in try f.store.riskItems() { #expect(dom.contains("data-kind=\"risk_item\" data-id=\"\(item.id)\""), "feed row for \(item.id)") }
            #expect(count("data-kind=\"slip\"", in: dom) == 2)
            #expect(dom.contains("data-kind=\"case\" data-id=\"AJ-00000001\"") && dom.contains("data-kind=\"case\" data-id=\"AJ-00000101\""))
            #expect(!dom.contains("data-kind=\"case\" data-id=\"AJ-00000102\""), "a resolved case is not in the open list")
            // Open cases, most urgent first; its detail with the explanation and the actions.
            #expect(dom.contains("class=\"row case-row selected\" data-id=\"AJ-00000001\""))
            #expect(dom.contains("data-case=\"AJ-00000001\""))
            let explanation = try #require(try await f.store.writer.read { db in try DisputeStore.fetchCase(id: "AJ-00000001", db: db) }?.explanation)
            #expect(!explanation.isEmpty)
            #expect(dom.contains(Self.htmlEscaped(explanation)), "the explanation: \(explanation)")
            for action in ["acknowledge", "assign", "start", "hold", "resolve", "close", "false-alarm", "reopen"] {
                #expect(dom.contains("data-action=\"\(action)\""), "action \(action)")
            }
            #expect(dom.contains("打架斗殴"), "Chinese category names")
            #expect(dom.contains("data-stream=\"live\""), "the stream connected")
        }
    }

    @Test("a change made while the board is open arrives through the stream as a new feed row")
    func boardReceivesLiveChange() async throws {
        try await DispatchFixture.run { f in
            let url = "http://127.0.0.1:\(f.port)/"
            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open(url)
            let before = try await browser.waitForDOM("the board loaded, its stream live, case 1 shown") {
                $0.contains("data-loaded=\"true\"") && $0.contains("data-stream=\"live\"") && $0.contains("data-case=\"AJ-00000001\"")
            }
            #expect(!before.contains("data-kind=\"transition\""), "no transition before the change")
            // An operator acknowledges case 1 (the case row and its transition, as the lifecycle writes them).
            var c1 = try #require(try await f.store.writer.read { db in try DisputeStore.fetchCase(id: "AJ-00000001", db: db) })
            c1.state = .acknowledged
            try f.acknowledge(c1, at: Date(), by: "desk-9")
            let transitionID = try await f.store.writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM case_transitions") } ?? 0
            let dom = try await browser.waitForDOM("the transition's feed row") { $0.contains("data-kind=\"transition\" data-id=\"\(transitionID)\"") }
            // A new risk item through the pipeline: a feed row and the zone's colour, without reloading.
            try await f.pub.publishAll([(eventTopic(f.cameraB), cameraEvent("board-live-fire", type: "fire_smoke", time: Date().addingTimeInterval(-20)))])
            let fire = try await browser.waitForDOM("the fire's feed row and grid B turning severity 1") {
                $0.contains("烟火 fire_smoke") && (BoardBrowserTests.shape(of: f.gridB.code, in: $0)?.contains("sev1") ?? false)
            }
            #expect(fire.contains("data-kind=\"slip\""))
            #expect(dom.contains("data-kind=\"transition\" data-id=\"\(transitionID)\""), "the transition's feed row")
            #expect(dom.contains("desk-9"))
        }
    }

    @Test("an operator acts from the board: allowed actions only, the transition recorded with the author, a refusal shown")
    func operatorActsFromTheBoard() async throws {
        try await DispatchFixture.run { f in
            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open("http://127.0.0.1:\(f.port)/")
            try await browser.waitForDOM("case 1's detail") { $0.contains("data-case=\"AJ-00000001\"") && $0.contains("data-stream=\"live\"") }
            func disabled(_ action: String) async throws -> JSONValue {
                try await browser.evaluate("document.querySelector('#actions [data-action=\"\(action)\"]').disabled")
            }
            // A new case: acknowledge, assign and false-alarm only.
            #expect(try await disabled("acknowledge") == .bool(false))
            #expect(try await disabled("assign") == .bool(false))
            #expect(try await disabled("resolve") == .bool(true))
            #expect(try await disabled("close") == .bool(true))

            _ = try await browser.evaluate("document.getElementById('act-by').value = 'desk-5'; document.getElementById('act-note').value = '已受理'; document.querySelector('#actions [data-action=\"acknowledge\"]').click(); true")
            let dom = try await browser.waitForDOM("the case acknowledged in its detail and its history") {
                $0.contains("data-case=\"AJ-00000001\"") && $0.contains("data-transition=") && $0.contains("已确认 acknowledged")
            }
            #expect(dom.contains("desk-5"))
            let last = try #require(try await f.store.writer.read { db in try DisputeStore.transitions(caseID: "AJ-00000001", db: db) }.last)
            #expect(last.actor == "desk-5")
            #expect(last.to == "acknowledged")
            #expect(last.note == "已受理")
            #expect(try await disabled("acknowledge") == .bool(true), "the buttons follow the new state")
            #expect(try await disabled("assign") == .bool(false))

            // An action the lifecycle refuses (sent past the disabled button): the server's reason is shown.
            _ = try await browser.evaluate("act('AJ-00000001', 'close'); true")
            let refused = try await browser.waitForDOM("the refusal") { $0.contains("id=\"actionmsg\" class=\"err\"") }
            #expect(refused.contains("未执行 refused:"))
            #expect(try await f.store.writer.read { db in try DisputeStore.fetchCase(id: "AJ-00000001", db: db) }?.state == .acknowledged)
        }
    }

    @Test("with a token file the board asks for a token, and with one (#token=) reads the API and the stream")
    func boardWithTokens() async throws {
        try await DispatchFixture.run(tokens: HTTPStreamAndAccessTests.tokens) { f in
            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open("http://127.0.0.1:\(f.port)/")
            try await browser.waitForDOM("the token prompt") { $0.contains("id=\"tokenbar\" class=\"show\"") }
            try await browser.open("http://127.0.0.1:\(f.port)/#token=viewer-token-0123456789abcdefghij")
            let dom = try await browser.waitForDOM("the board loaded with the token, its stream live") {
                $0.contains("data-loaded=\"true\"") && $0.contains("data-stream=\"live\"") && $0.contains("data-case=\"AJ-00000001\"")
            }
            #expect(!dom.contains("id=\"tokenbar\" class=\"show\""))
            #expect(try await browser.evaluate("localStorage.getItem('patrolhub.token')") == .string("viewer-token-0123456789abcdefghij"))
            #expect(try await browser.evaluate("location.hash") == .string(""), "the token leaves the address bar")
        }
    }

    /// Text as the DOM serialises it.
    static func htmlEscaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The opening tag of a grid's shape.
    static func shape(of code: String, in dom: String) -> String? {
        guard let r = dom.range(of: "<path[^>]*data-zone=\"\(NSRegularExpression.escapedPattern(for: code))\"[^>]*>", options: .regularExpression) else { return nil }
        return String(dom[r])
    }
}
