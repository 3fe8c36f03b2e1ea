import Alerts
@testable import AlertsStore
import Foundation
import Testing
@testable import PatrolHub

/// The board as a dispatch PC shows it: Chinese text drawn in a CJK font (not
/// as boxes), every time in the hub's zone whatever the browser's own, and the
/// sample banner when the hub runs the sample config.
@Suite("Live board: CJK fonts, the hub's clock, the sample banner", .serialized)
struct BoardFontAndClockBrowserTests {
    /// Where the test keeps its screenshot: `$PATROLHUB_TEST_ARTEFACTS`, else `.build/test-artefacts` of the package.
    static var artefacts: String {
        ProcessInfo.processInfo.environment["PATROLHUB_TEST_ARTEFACTS"]
            ?? packageRoot.appendingPathComponent(".build/test-artefacts").path
    }

    @Test("Chinese text is drawn in a CJK font of the stack, times are the hub's (+08:00) in a browser in New York, and the sample banner shows")
    func cjkFontsClockAndBanner() async throws {
        try await DispatchFixture.run(configure: { $0.sample = true }) { f in
            let browser = try HeadlessBrowser(environment: ["TZ": "America/New_York"])
            defer { browser.close() }
            try await browser.open("http://127.0.0.1:\(f.port)/")
            let dom = try await browser.waitForDOM("the lists loaded and a case's detail") {
                $0.contains("data-loaded=\"true\"") && $0.contains("id=\"explanation\"")
            }

            // The screenshot, kept as the test's artefact.
            try FileManager.default.createDirectory(atPath: Self.artefacts, withIntermediateDirectories: true)
            let shot = (Self.artefacts as NSString).appendingPathComponent("board-cjk.png")
            let png = try await browser.screenshot()
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG screenshot")
            try png.write(to: URL(fileURLWithPath: shot))
            print("board screenshot: \(shot)")

            // The fonts Chromium drew the title's glyphs with: the 6 CJK characters of 指挥调度大屏
            // in a CJK font of the stack, not a fallback's missing-glyph box.
            let (glyphs, fonts) = try await browser.cjkGlyphs(of: "header h1")
            #expect(glyphs >= 6, "the title's Chinese glyphs in a CJK font (install fonts-noto-cjk: make deps); fonts used: \(fonts); screenshot \(shot)")

            // The same in widths: six CJK glyphs of 20 px are 120 px wide in a CJK font (each is one em);
            // drawn as missing-glyph boxes of a Latin fallback font they are narrower.
            let width = try await browser.evaluate("""
                (() => { const c = document.createElement("canvas").getContext("2d");
                  c.font = "20px " + getComputedStyle(document.body).fontFamily; return c.measureText("指挥调度大屏").width; })()
                """).doubleValue ?? 0
            #expect(abs(width - 120) < 0.5, "six CJK glyphs of 20 px in a CJK font are 120 px wide, found \(width)")

            // The page names the stack (what a Windows or macOS PC picks its CJK font from).
            let family = try await browser.evaluate("getComputedStyle(document.body).fontFamily").stringValue ?? ""
            #expect(family.hasPrefix(#""Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC""#), "\(family)")

            // The browser's own zone is New York; the page shows the hub's (Asia/Shanghai, +08:00).
            #expect(try await browser.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone").stringValue == "America/New_York")
            let clock = try await browser.evaluate("document.getElementById('clock').textContent").stringValue ?? ""
            #expect(clock.range(of: #"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+08:00$"#, options: .regularExpression) != nil, "the header clock: \(clock)")
            let opened = try #require(try await f.store.writer.read { db in try DisputeStore.fetchCase(id: "AJ-00000001", db: db) }?.openedAt)
            let shanghai = LocalTime(TimeZone(identifier: "Asia/Shanghai")!)
            #expect(dom.contains(shanghai(opened)), "the case's opening time as the CLI prints it: \(shanghai(opened))")

            // The sample banner.
            #expect(dom.contains("data-sample=\"true\""))
            #expect(try await browser.evaluate("getComputedStyle(document.getElementById('samplebanner')).display").stringValue == "block")
        }
    }

    @Test("a hub on a district's own config shows no sample banner")
    func noBannerWithoutTheSampleKey() async throws {
        try await DispatchFixture.run { f in
            let browser = try HeadlessBrowser()
            defer { browser.close() }
            try await browser.open("http://127.0.0.1:\(f.port)/")
            let dom = try await browser.waitForDOM("the lists loaded") { $0.contains("data-loaded=\"true\"") }
            #expect(!dom.contains("data-sample="))
            #expect(try await browser.evaluate("getComputedStyle(document.getElementById('samplebanner')).display").stringValue == "none")
        }
    }
}
