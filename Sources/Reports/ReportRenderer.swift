import Alerts
import Foundation

/// The output forms of `patrolhub report … --format`.
public enum ReportFormat: String, Sendable, CaseIterable {
    case md, csv, html
}

/// Renders a `Report` as Markdown, CSV or a self-contained HTML page.
public enum ReportRenderer {
    /// The report in `format`.
    public static func render(_ report: Report, as format: ReportFormat) -> String {
        switch format {
        case .md: return markdown(report)
        case .csv: return csv(report)
        case .html: return html(report)
        }
    }

    /// The fonts a page or chart names for its Chinese text, first the CJK fonts dispatch PCs have:
    /// Noto Sans CJK / Source Han Sans (Debian's `fonts-noto-cjk`), WenQuanYi, Microsoft YaHei (Windows),
    /// PingFang (macOS); a browser without any of them still falls back to a CJK font through `sans-serif`.
    public static let cjkFontStack = #"'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif"#

    /// When the report was made, in its zone with the offset: `2025-03-03 12:00 +08:00 (Asia/Shanghai)`.
    static func generatedText(_ report: Report) -> String {
        HubFormat.minuteWithOffset(report.generatedAt, in: report.timeZone) + " (\(report.timeZone.identifier))"
    }

    // MARK: Markdown

    /// Headline figures as a list, then each section's tables as Markdown tables (charts left out).
    public static func markdown(_ r: Report) -> String {
        var out = "# \(r.title)\n\n\(r.period) · generated \(generatedText(r))\n\n"
        if !r.figures.isEmpty {
            out += "| figure | value |\n|---|---:|\n"
            for f in r.figures { out += "| \(md(f.label)) | \(md(f.value.text))\(f.note.map { " (\(md($0)))" } ?? "") |\n" }
            out += "\n"
        }
        for s in r.sections {
            out += "## \(s.title)\n\n"
            for t in s.tables {
                if t.title != s.title { out += "### \(t.title)\n\n" }
                guard !t.rows.isEmpty else { out += "_\(t.empty)_\n\n"; continue }
                out += "| " + t.columns.map(md).joined(separator: " | ") + " |\n"
                out += "|" + t.rows[0].map { if case .text = $0 { return "---|" } else { return "---:|" } }.joined() + "\n"
                for row in t.rows { out += "| " + row.map { md($0.text) }.joined(separator: " | ") + " |\n" }
                out += "\n"
            }
        }
        if !r.notes.isEmpty { out += "---\n\n" + r.notes.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        return out
    }

    static func md(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }

    // MARK: CSV

    /// One block per table: a `# id: title` line, the header, the rows, a blank
    /// line. The figures come first as the block `summary` (`key,label,value`).
    /// Numbers are raw (a percentage as a fraction 0…1), so a spreadsheet can sum them.
    public static func csv(_ r: Report) -> String {
        var out = "# \(r.kind): \(r.title) — \(r.period)\n\n# summary\nkey,label,value\n"
        for f in r.figures { out += [f.key, f.label, f.value.raw].map(csvField).joined(separator: ",") + "\n" }
        for t in r.tables {
            out += "\n# \(t.id): \(t.title)\n"
            out += t.columns.map(csvField).joined(separator: ",") + "\n"
            for row in t.rows { out += row.map { csvField($0.raw) }.joined(separator: ",") + "\n" }
        }
        return out
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || s.hasPrefix("#")
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: HTML

    /// A single page, no external assets: inline CSS and one inline SVG per chart.
    public static func html(_ r: Report) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="zh-CN"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(esc(r.title))</title>
            <style>
            body{font-family:\(cjkFontStack);margin:0;background:#f4f6f8;color:#1f2933}
            header{background:#0b3d91;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:6px 0 0;opacity:.85;font-size:13px}
            main{padding:20px 28px;max-width:1200px}
            .figures{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:18px}
            .fig{background:#fff;border-radius:8px;padding:12px 16px;min-width:130px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
            .fig .v{font-size:26px;font-weight:600}.fig .l{font-size:12px;color:#52606d}.fig .n{font-size:11px;color:#7b8794}
            section{background:#fff;border-radius:8px;padding:14px 18px;margin-bottom:18px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
            section h2{margin:0 0 10px;font-size:17px}.charts{display:flex;flex-wrap:wrap;gap:16px}
            table{border-collapse:collapse;font-size:13px;margin:8px 0 4px;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e4e7eb;text-align:left}
            td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:6px 0}
            .empty{color:#7b8794;font-style:italic}footer{font-size:12px;color:#52606d;padding:0 28px 24px}
            </style></head><body>
            <header><h1>\(esc(r.title))</h1><p>\(esc(r.period)) · generated \(esc(generatedText(r)))</p></header>
            <main>

            """
        if !r.figures.isEmpty {
            out += "<div class=\"figures\">"
            for f in r.figures {
                out += "<div class=\"fig\"><div class=\"v\">\(esc(f.value.text))</div><div class=\"l\">\(esc(f.label))</div>"
                if let n = f.note { out += "<div class=\"n\">\(esc(n))</div>" }
                out += "</div>"
            }
            out += "</div>\n"
        }
        for s in r.sections {
            out += "<section><h2>\(esc(s.title))</h2>\n"
            if !s.charts.isEmpty {
                out += "<div class=\"charts\">" + s.charts.map(SVGChart.render).joined(separator: "\n") + "</div>\n"
            }
            for t in s.tables {
                guard !t.rows.isEmpty else { out += "<p class=\"empty\">\(esc(t.title)): \(esc(t.empty))</p>\n"; continue }
                out += "<table><caption>\(esc(t.title))</caption><thead><tr>"
                let numeric = t.rows[0].map { if case .text = $0 { return false } else { return true } }
                for (i, c) in t.columns.enumerated() { out += "<th\(numeric[i] ? " class=\"n\"" : "")>\(esc(c))</th>" }
                out += "</tr></thead><tbody>"
                for row in t.rows {
                    out += "<tr>" + row.enumerated().map { "<td\(numeric[$0.offset] ? " class=\"n\"" : "")>\(esc($0.element.text))</td>" }.joined() + "</tr>"
                }
                out += "</tbody></table>\n"
            }
            out += "</section>\n"
        }
        out += "</main>\n"
        if !r.notes.isEmpty { out += "<footer><ul>" + r.notes.map { "<li>\(esc($0))</li>" }.joined() + "</ul></footer>\n" }
        out += "</body></html>\n"
        return out
    }

    /// Escapes text for HTML and XML (SVG) content and attributes.
    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters are not allowed in XML 1.0.
                if ch.value < 0x20 && ch != "\n" && ch != "\t" { continue }
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
