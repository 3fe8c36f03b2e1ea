import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// The supervision reports' HTML, opened in a real browser (Chromium): the
/// page loads from a file with no network, and its charts are real SVG
/// elements in the rendered DOM, not text.
@Suite("Reports in a browser", .serialized)
struct ReportBrowserTests {
    @Test(arguments: ["daily", "weekly", "monthly"])
    func reportOpensInABrowserWithItsCharts(kind: String) async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ReportCLITests.store(dir)
        let out = dir.file("\(kind).html")
        let (status, message) = try runProcess(try patrolhubExecutable(), [
            "report", kind, "--date", "2025-03-03", "--store", store, "--format", "html", "-o", out, "--config", dir.file("none.yaml"),
        ])
        #expect(status == 0, "\(message)")

        let browser = try HeadlessBrowser()
        defer { browser.close() }
        try await browser.open("file://\(out)")
        let dom = try await browser.waitForDOM("the report's title and charts") { $0.contains("<h1") && $0.contains("<svg") }
        // Counted by the browser's own DOM, after parsing: charts are elements, with drawn shapes.
        let svgs = try await browser.evaluate("document.querySelectorAll('svg').length")
        let shapes = try await browser.evaluate("document.querySelectorAll('svg rect, svg path, svg circle, svg line, svg polyline').length")
        let title = try await browser.evaluate("document.querySelector('h1').textContent")
        #expect((svgs.doubleValue ?? 0) >= 1, "\(kind): no chart in \(dom.prefix(400))")
        #expect((shapes.doubleValue ?? 0) >= 1, "\(kind): charts without shapes")
        #expect(!(title.stringValue ?? "").isEmpty)
        // The Chinese of the title is drawn in a CJK font of the report's stack, not as boxes.
        let han = (title.stringValue ?? "").unicodeScalars.filter { (0x4E00...0x9FFF).contains($0.value) }.count
        #expect(han > 0, "\(kind): the title has Chinese: \(title)")
        let (glyphs, fonts) = try await browser.cjkGlyphs(of: "h1")
        #expect(glyphs >= han, "\(kind): \(han) Chinese characters of the title in a CJK font (install fonts-noto-cjk: make deps); fonts used: \(fonts)")
    }
}
