import Alerts
import Foundation

/// Draws `Report.Chart`s as standalone, well-formed SVG (an XML document of
/// its own: namespace, escaped text, no external references), for the HTML report.
enum SVGChart {
    static func render(_ chart: Report.Chart) -> String {
        switch chart {
        case .stackedBars(let title, let categories, let series): return stacked(title, categories, series)
        case .groupedBars(let title, let categories, let series): return grouped(title, categories, series)
        case .lines(let title, let labels, let series): return lines(title, labels, series)
        case .donut(let title, let slices, let centre): return donut(title, slices, centre)
        }
    }

    static func esc(_ s: String) -> String { ReportRenderer.esc(s) }
    static func f(_ d: Double) -> String { HubFormat.fixed(d, digits: 1) }

    static func open(_ w: Double, _ h: Double, _ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(w))\" height=\"\(f(h))\" viewBox=\"0 0 \(f(w)) \(f(h))\" role=\"img\" aria-label=\"\(esc(title))\" "
            + "font-family=\"\(ReportRenderer.cjkFontStack)\" font-size=\"11\"><title>\(esc(title))</title>"
            + "<text x=\"0\" y=\"14\" font-size=\"13\" font-weight=\"600\" fill=\"#1f2933\">\(esc(title))</text>"
    }

    static func legend(_ series: [Report.Series], y: Double) -> String {
        var x = 0.0
        var out = ""
        for s in series {
            out += "<rect x=\"\(f(x))\" y=\"\(f(y - 9))\" width=\"10\" height=\"10\" rx=\"2\" fill=\"\(esc(s.color))\"/>"
            out += "<text x=\"\(f(x + 14))\" y=\"\(f(y))\" fill=\"#52606d\">\(esc(s.name))</text>"
            x += 24 + Double(s.name.count) * 7.5
        }
        return out
    }

    /// Approximate text width (CJK characters are about twice as wide).
    static func width(_ s: String) -> Double { s.unicodeScalars.reduce(0) { $0 + ($1.value > 0x2E80 ? 11 : 6.2) } }

    static func stacked(_ title: String, _ categories: [String], _ series: [Report.Series]) -> String {
        let label = min(200, max(60, categories.map(width).max() ?? 60) + 8)
        let barArea = 420.0, row = 22.0, top = 44.0
        let w = label + barArea + 50, h = top + Double(max(categories.count, 1)) * row + 8
        let totals = categories.indices.map { i in series.reduce(0) { $0 + ($1.values.indices.contains(i) ? $1.values[i] : 0) } }
        let maxTotal = max(totals.max() ?? 0, 1)
        var out = open(w, h, title) + legend(series, y: 32)
        for (i, cat) in categories.enumerated() {
            let y = top + Double(i) * row
            out += "<text x=\"\(f(label - 6))\" y=\"\(f(y + 14))\" text-anchor=\"end\" fill=\"#1f2933\">\(esc(cat))</text>"
            var x = label
            for s in series {
                let v = s.values.indices.contains(i) ? s.values[i] : 0
                guard v > 0 else { continue }
                let bw = v / maxTotal * barArea
                out += "<rect x=\"\(f(x))\" y=\"\(f(y + 3))\" width=\"\(f(bw))\" height=\"\(f(row - 6))\" fill=\"\(esc(s.color))\"><title>\(esc("\(cat) · \(s.name): \(fmt(v))"))</title></rect>"
                x += bw
            }
            out += "<text x=\"\(f(x + 4))\" y=\"\(f(y + 14))\" fill=\"#52606d\">\(fmt(totals[i]))</text>"
        }
        return out + "</svg>"
    }

    static func grouped(_ title: String, _ categories: [String], _ series: [Report.Series]) -> String {
        let barW = 12.0, gap = 14.0, left = 36.0, top = 44.0, plotH = 160.0
        let group = Double(max(series.count, 1)) * barW + gap
        let w = max(360, left + Double(categories.count) * group + 10)
        let labelH = min(110, (categories.map(width).max() ?? 20) * 0.75 + 10)
        let h = top + plotH + labelH
        let maxV = max(series.flatMap(\.values).max() ?? 0, 1)
        var out = open(w, h, title) + legend(series, y: 32)
        out += axis(left: left, top: top, width: w - left - 4, height: plotH, max: maxV)
        for (i, cat) in categories.enumerated() {
            let gx = left + Double(i) * group + gap / 2
            for (k, s) in series.enumerated() {
                let v = s.values.indices.contains(i) ? s.values[i] : 0
                let bh = v / maxV * plotH
                out += "<rect x=\"\(f(gx + Double(k) * barW))\" y=\"\(f(top + plotH - bh))\" width=\"\(f(barW - 1))\" height=\"\(f(bh))\" fill=\"\(esc(s.color))\"><title>\(esc("\(cat) · \(s.name): \(fmt(v))"))</title></rect>"
            }
            let lx = gx + group / 2 - gap / 2
            out += "<text x=\"\(f(lx))\" y=\"\(f(top + plotH + 12))\" text-anchor=\"end\" transform=\"rotate(-40 \(f(lx)) \(f(top + plotH + 12)))\" fill=\"#1f2933\">\(esc(cat))</text>"
        }
        return out + "</svg>"
    }

    static func lines(_ title: String, _ labels: [String], _ series: [Report.Series]) -> String {
        let left = 36.0, top = 44.0, plotH = 150.0, step = 56.0
        let w = max(360, left + Double(max(labels.count - 1, 1)) * step + 40), h = top + plotH + 26
        let maxV = max(series.flatMap(\.values).max() ?? 0, 1)
        var out = open(w, h, title) + legend(series, y: 32)
        out += axis(left: left, top: top, width: w - left - 10, height: plotH, max: maxV)
        for (i, l) in labels.enumerated() {
            out += "<text x=\"\(f(left + 10 + Double(i) * step))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\" fill=\"#52606d\">\(esc(l))</text>"
        }
        for s in series {
            let pts = s.values.enumerated().map { "\(f(left + 10 + Double($0.offset) * step)),\(f(top + plotH - $0.element / maxV * plotH))" }
            out += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(esc(s.color))\" stroke-width=\"2.5\"/>"
            for (i, v) in s.values.enumerated() {
                out += "<circle cx=\"\(f(left + 10 + Double(i) * step))\" cy=\"\(f(top + plotH - v / maxV * plotH))\" r=\"3\" fill=\"\(esc(s.color))\"><title>\(esc("\(labels.indices.contains(i) ? labels[i] : "") · \(s.name): \(fmt(v))"))</title></circle>"
            }
        }
        return out + "</svg>"
    }

    static func donut(_ title: String, _ slices: [Report.Series], _ centre: String) -> String {
        let r = 60.0, cx = 80.0, cy = 110.0, stroke = 22.0
        let total = max(slices.reduce(0) { $0 + ($1.values.first ?? 0) }, 0)
        let circumference = 2 * Double.pi * r
        let w = 330.0, h = 200.0
        var out = open(w, h, title)
        out += "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"\(f(r))\" fill=\"none\" stroke=\"#e4e7eb\" stroke-width=\"\(f(stroke))\"/>"
        var offset = 0.0
        if total > 0 {
            for s in slices {
                let v = s.values.first ?? 0
                guard v > 0 else { continue }
                let len = v / total * circumference
                out += "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"\(f(r))\" fill=\"none\" stroke=\"\(esc(s.color))\" stroke-width=\"\(f(stroke))\" "
                    + "stroke-dasharray=\"\(f(len)) \(f(circumference - len))\" stroke-dashoffset=\"\(f(-offset))\" transform=\"rotate(-90 \(f(cx)) \(f(cy)))\">"
                    + "<title>\(esc("\(s.name): \(fmt(v))"))</title></circle>"
                offset += len
            }
        }
        out += "<text x=\"\(f(cx))\" y=\"\(f(cy + 7))\" text-anchor=\"middle\" font-size=\"20\" font-weight=\"600\" fill=\"#1f2933\">\(esc(centre))</text>"
        for (i, s) in slices.enumerated() {
            let y = 60 + Double(i) * 20
            out += "<rect x=\"170\" y=\"\(f(y - 10))\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(esc(s.color))\"/>"
            out += "<text x=\"188\" y=\"\(f(y))\" fill=\"#1f2933\">\(esc("\(s.name) \(fmt(s.values.first ?? 0))"))</text>"
        }
        return out + "</svg>"
    }

    static func axis(left: Double, top: Double, width: Double, height: Double, max: Double) -> String {
        var out = ""
        for k in 0...4 {
            let v = max * Double(k) / 4
            let y = top + height - Double(k) / 4 * height
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#e4e7eb\"/>"
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(y + 4))\" text-anchor=\"end\" fill=\"#7b8794\">\(fmt(v))</text>"
        }
        return out
    }

    static func fmt(_ v: Double) -> String { v.rounded() == v ? String(Int(v)) : HubFormat.fixed(v, digits: 1) }
}
