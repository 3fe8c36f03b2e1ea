import Alerts
import Foundation
import Testing
@testable import PatrolHub
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13's acceptance test of `make demo`: the command of the Makefile's
/// `demo` target runs (on a free port, in a folder of its own), its drill
/// prints a score, and then its board, opened in headless Chromium, shows
/// Chinese text in a CJK font, the dead-letter panel counting the drill's
/// broken messages, and a change the looping scenario brings while the test
/// watches. The screenshot stays as `.build/test-artefacts/demo-board.png`.
@Suite("make demo's board in a real browser", .serialized)
struct DemoBoardBrowserTests {
    /// The arguments the Makefile's `demo` target gives `patrolhub` (its recipe,
    /// `.build/debug/patrolhub demo … $(DEMO_ARGS)`, without the executable and `$(DEMO_ARGS)`).
    static func makeDemoArguments() throws -> [String] {
        let makefile = try String(contentsOf: packageRoot.appendingPathComponent("Makefile"), encoding: .utf8)
        let lines = makefile.split(separator: "\n", omittingEmptySubsequences: false)
        guard let target = lines.firstIndex(where: { $0.hasPrefix("demo:") }), target + 1 < lines.count else {
            throw TestFailure("the Makefile has no demo target")
        }
        let words = lines[target + 1].split(separator: " ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard words.first == ".build/debug/patrolhub", words.last == "$(DEMO_ARGS)" else {
            throw TestFailure("the demo recipe is not `.build/debug/patrolhub … $(DEMO_ARGS)`: \(lines[target + 1])")
        }
        return Array(words.dropFirst().dropLast())
    }

    /// The dead letters the demo lists after its drill (`  REASON  TOPIC: DETAIL` lines under `dead letters:`).
    static func drillDeadLetterReasons(_ output: String) -> [String] {
        guard let start = output.range(of: "\ndead letters:\n") else { return [] }
        return output[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
            .prefix { $0.hasPrefix("  ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    @Test("the board of `make demo` after its drill: Chinese in a CJK font, the dead-letter panel, a live change from the looping scenario")
    func demoBoard() async throws {
        let arguments = try Self.makeDemoArguments()
        #expect(arguments == ["demo", "--config", "config/patrolhub.yaml", "--serve"], "the command this test runs is make demo's")

        let dir = TempDir("patrolhub-demo-board")
        defer { dir.cleanup() }
        let port = try EmbeddedBroker.freePort()
        // make demo's command with DEMO_ARGS set: a free port, and a data folder of the test's own
        // (the demo wipes its data folder at start; data/demo may hold a user's last demo).
        let run = try DemoProcess(arguments + ["--http", "127.0.0.1:\(port)", "--data-dir", dir.file("data")], dir: dir)
        let demo = run.process
        func output() -> String { run.output() }

        // The drill's score line, then the demo saying it stays up. Generous: a loaded 2-core machine.
        try await waitUntil("the drill's score and the demo staying up", timeout: 900) {
            try run.checkRunning()
            return output().contains("The hub keeps running")
        }
        let text = output()
        let score = text.split(separator: "\n").first { $0.range(of: #"^(PASSED|FAILED): .* score \d+/100$"#, options: .regularExpression) != nil }
        #expect(score != nil, "the drill's score line: \(text)")
        print("demo drill: \(score ?? "no score line")")
        let board = "http://127.0.0.1:\(port)/"
        #expect(text.contains("The hub keeps running: live board \(board)"), "\(text)")
        let store = dir.file("data/patrolhub.sqlite")
        let receivedAfterDrill = try #require(storeStatus(store)).inboxReceived
        let drillDeadLetters = Self.drillDeadLetterReasons(text)
        #expect(!drillDeadLetters.isEmpty, "the demo's scenario sends broken messages: its dead letters are listed after the drill:\n\(text)")

        let browser = try HeadlessBrowser()
        defer { browser.close() }
        try await browser.open(board)
        try await browser.waitForDOM("the lists, the live stream and the dead-letter panel loaded", timeout: 300) {
            $0.contains("data-loaded=\"true\"") && $0.contains("data-stream=\"live\"") && $0.contains("data-dead-letters=\"")
        }

        // Chinese text in a CJK font of the stack, not missing-glyph boxes: the title (指挥调度大屏)
        // and the dead-letter panel's heading (死信), by the fonts Chromium drew them with and by width.
        let (titleGlyphs, titleFonts) = try await browser.cjkGlyphs(of: "header h1")
        #expect(titleGlyphs >= 6, "the title's six Chinese glyphs in a CJK font (install fonts-noto-cjk: make deps); fonts used: \(titleFonts)")
        let (panelGlyphs, panelFonts) = try await browser.cjkGlyphs(of: "#deadletters h2")
        #expect(panelGlyphs >= 2, "死信 in a CJK font; fonts used: \(panelFonts)")
        let width = try await browser.evaluate("""
            (() => { const c = document.createElement("canvas").getContext("2d");
              c.font = "20px " + getComputedStyle(document.body).fontFamily; return c.measureText("指挥调度大屏").width; })()
            """).doubleValue ?? 0
        #expect(abs(width - 120) < 0.5, "six CJK glyphs of 20 px in a CJK font are 120 px wide (boxes of a Latin fallback are narrower), found \(width)")

        // The dead-letter panel, shown, counting at least the drill's dead letters, each reason listed.
        let shown = try await browser.evaluate("""
            (() => { const p = document.getElementById("deadletters"); const r = p.getBoundingClientRect();
              return getComputedStyle(p).display !== "none" && r.width > 0 && r.height > 0; })()
            """)
        #expect(shown == .bool(true), "the dead-letter panel is on the page")
        // One read of the panel (it refreshes every 10 s, and the loop sends broken messages too).
        let panel = try await browser.evaluate("""
            ({ total: Number(document.body.dataset.deadLetters), count: document.getElementById("dlcount").textContent,
               reasons: Array.from(document.querySelectorAll("#dlreasons li")).map((li) => li.textContent).join("|") })
            """)
        let total = Int(panel["total"]?.doubleValue ?? -1)
        let reasons = panel["reasons"]?.stringValue ?? ""
        #expect(total >= drillDeadLetters.count, "the panel counts \(total) pending; the drill left \(drillDeadLetters.count): \(drillDeadLetters)")
        #expect(panel["count"]?.stringValue == "待处理 pending \(total)", "\(panel.serialized)")
        for reason in Set(drillDeadLetters) {
            #expect(reasons.contains(reason), "the panel lists the reason \(reason): \(reasons)")
        }

        // A live change: from now on, count the rows the event stream adds to the feed (a
        // risk item is made only from a message, so one is the looping scenario's).
        let firstRow = try await browser.evaluate("(() => { const li = document.querySelector('#feed li'); return li ? li.dataset.kind + ':' + li.dataset.id + '@' + li.querySelector('time').getAttribute('datetime') : ''; })()").stringValue ?? ""
        _ = try await browser.evaluate("""
            (() => { window.__streamRows = [];
              new MutationObserver((changes) => { for (const c of changes) for (const n of c.addedNodes)
                if (n.classList && n.classList.contains("fresh")) window.__streamRows.push(n.dataset.kind + ":" + n.dataset.id + "@" + n.querySelector("time").getAttribute("datetime")); })
                .observe(document.getElementById("feed"), { childList: true }); return true; })()
            """)
        var added: [String] = []
        let deadline = Date().addingTimeInterval(900)
        while added.isEmpty {
            guard demo.isRunning else { throw TestFailure("the demo exited (\(demo.terminationStatus)): \(output().suffix(3000))") }
            guard Date() < deadline else {
                throw TestFailure("timed out after 900 s waiting for a risk item from the looping scenario on the board; demo output:\n\(output().suffix(3000))")
            }
            try await Task.sleep(for: .milliseconds(500))
            let rows = try await browser.evaluate("window.__streamRows.join('\\n')").stringValue ?? ""
            added = rows.split(separator: "\n").map(String.init).filter { $0.hasPrefix("risk_item:") }
        }
        let newFirst = try await browser.evaluate("(() => { const li = document.querySelector('#feed li'); return li.dataset.kind + ':' + li.dataset.id + '@' + li.querySelector('time').getAttribute('datetime'); })()").stringValue ?? ""
        #expect(newFirst != firstRow, "the feed's top row changed: \(firstRow) → \(newFirst)")
        #expect(try await browser.evaluate("document.body.dataset.stream").stringValue == "live")
        #expect((storeStatus(store)?.inboxReceived ?? 0) > receivedAfterDrill, "the looping scenario's messages arrived after the drill")
        print("demo board: live rows after the drill: \(added.prefix(5))")

        // The screenshot, kept as the test's artefact.
        try FileManager.default.createDirectory(atPath: BoardFontAndClockBrowserTests.artefacts, withIntermediateDirectories: true)
        let shot = (BoardFontAndClockBrowserTests.artefacts as NSString).appendingPathComponent("demo-board.png")
        let png = try await browser.screenshot()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG screenshot")
        try png.write(to: URL(fileURLWithPath: shot))
        print("demo board screenshot: \(shot)")

        // Ctrl-C ends the demo.
        kill(demo.processIdentifier, SIGINT)
        let stopBy = Date().addingTimeInterval(120)
        while demo.isRunning, Date() < stopBy { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!demo.isRunning, "the demo stops on Ctrl-C: \(output().suffix(2000))")
    }
}
