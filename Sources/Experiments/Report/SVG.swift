import Foundation

/// A minimal SVG writer: every number written is finite and short, every text is XML-escaped.
struct SVGWriter {
    let width: Double
    let height: Double
    private(set) var elements: [String] = []
    private var clips = 0

    static let fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// A coordinate with at most two decimals; never "nan"/"inf" (a non-finite value becomes 0).
    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        var r = (v * 100).rounded() / 100
        if r == 0 { r = 0 }  // no "-0"
        if r == r.rounded(), abs(r) < 1e15 { return String(Int64(r)) }
        var s = String(format: "%.2f", r)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 allows no other control characters.
                if c.value < 0x20 || (c.value >= 0x7F && c.value < 0xA0) || c.value == 0xFFFE || c.value == 0xFFFF {
                    out += " "
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }

    static func attributes(_ a: [(String, String)]) -> String { a.map { " \($0.0)=\"\(escape($0.1))\"" }.joined() }

    mutating func raw(_ s: String) { elements.append(s) }
    mutating func open(_ tag: String, _ a: [(String, String)] = []) { raw("<\(tag)\(Self.attributes(a))>") }
    mutating func close(_ tag: String) { raw("</\(tag)>") }
    mutating func element(_ tag: String, _ a: [(String, String)]) { raw("<\(tag)\(Self.attributes(a))/>") }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil, extra: [(String, String)] = []) {
        var a: [(String, String)] = [("x1", Self.num(x1)), ("y1", Self.num(y1)), ("x2", Self.num(x2)), ("y2", Self.num(y2)),
                                     ("stroke", stroke), ("stroke-width", Self.num(width))]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("line", a + extra)
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double, dash: String? = nil,
                           opacity: Double = 1, extra: [(String, String)] = []) {
        let pts = points.filter { $0.0.isFinite && $0.1.isFinite }
        guard pts.count >= 2 else { return }
        var a: [(String, String)] = [("points", pts.map { "\(Self.num($0.0)),\(Self.num($0.1))" }.joined(separator: " ")),
                                     ("fill", "none"), ("stroke", stroke), ("stroke-width", Self.num(width)),
                                     ("stroke-linejoin", "round"), ("stroke-linecap", "round")]
        if let dash { a.append(("stroke-dasharray", dash)) }
        if opacity < 1 { a.append(("stroke-opacity", Self.num(opacity))) }
        element("polyline", a + extra)
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String? = nil,
                       extra: [(String, String)] = []) {
        var a: [(String, String)] = [("x", Self.num(x)), ("y", Self.num(y)), ("width", Self.num(max(0, w))),
                                     ("height", Self.num(max(0, h))), ("fill", fill)]
        if let stroke { a += [("stroke", stroke), ("stroke-width", "1")] }
        element("rect", a + extra)
    }

    /// Text with its baseline at `y`; `rotate` turns it about (x, y) (−90: reads bottom to top).
    mutating func text(_ s: String, x: Double, y: Double, size: Double, anchor: String = "start", bold: Bool = false,
                       fill: String = "#222", rotate: Double? = nil, extra: [(String, String)] = []) {
        var a: [(String, String)] = [("x", Self.num(x)), ("y", Self.num(y)), ("font-size", Self.num(size)), ("fill", fill)]
        if anchor != "start" { a.append(("text-anchor", anchor)) }
        if bold { a.append(("font-weight", "bold")) }
        if let rotate { a.append(("transform", "rotate(\(Self.num(rotate)) \(Self.num(x)) \(Self.num(y)))")) }
        raw("<text\(Self.attributes(a + extra))>\(Self.escape(s))</text>")
    }

    /// A filled marker centred on (x, y) with "radius" r.
    mutating func marker(_ shape: Chart.Marker, x: Double, y: Double, r: Double, fill: String, stroke: String = "white",
                         strokeWidth: Double = 1, extra: [(String, String)] = []) {
        guard x.isFinite, y.isFinite else { return }
        let common: [(String, String)] = [("fill", fill), ("stroke", stroke), ("stroke-width", Self.num(strokeWidth))] + extra
        func polygon(_ pts: [(Double, Double)]) {
            element("polygon", [("points", pts.map { "\(Self.num(x + $0.0 * r)),\(Self.num(y + $0.1 * r))" }.joined(separator: " "))] + common)
        }
        switch shape {
        case .circle:
            element("circle", [("cx", Self.num(x)), ("cy", Self.num(y)), ("r", Self.num(r))] + common)
        case .square:
            let h = r * 0.88
            element("rect", [("x", Self.num(x - h)), ("y", Self.num(y - h)), ("width", Self.num(2 * h)), ("height", Self.num(2 * h))] + common)
        case .triangle: polygon([(0, -1.2), (1.1, 0.8), (-1.1, 0.8)])
        case .triangleDown: polygon([(0, 1.2), (1.1, -0.8), (-1.1, -0.8)])
        case .diamond: polygon([(0, -1.3), (1.05, 0), (0, 1.3), (-1.05, 0)])
        case .hexagon:
            let corners: [(Double, Double)] = (0..<6).map { k -> (Double, Double) in
                let a: Double = Double(k) * Double.pi / 3
                return (1.1 * cos(a), 1.1 * sin(a))
            }
            polygon(corners)
        }
    }

    /// A clip rectangle; returns the value for a `clip-path` attribute.
    mutating func clip(_ x: Double, _ y: Double, _ w: Double, _ h: Double) -> String {
        clips += 1
        let id = "clip\(clips)"
        raw("<defs><clipPath id=\"\(id)\"><rect x=\"\(Self.num(x))\" y=\"\(Self.num(y))\" width=\"\(Self.num(w))\" height=\"\(Self.num(h))\"/></clipPath></defs>")
        return "url(#\(id))"
    }

    var document: String {
        let w = Self.num(width), h = Self.num(height)
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" font-family=\"\(Self.fontFamily)\">\n"
            + "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"white\"/>\n"
            + elements.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Approximate rendered width of `s` (DejaVu Sans metrics, slightly generous so that
    /// Helvetica/Arial fit too).
    static func textWidth(_ s: String, size: Double, bold: Bool = false) -> Double {
        var em = 0.0
        for c in s.unicodeScalars {
            switch c {
            case "i", "l", "j", "'", "|", "!", ".", ",", ":", ";", "·", "‖": em += 0.30
            case " ", "f", "t", "r", "(", ")", "[", "]", "/", "\\", "-", "I": em += 0.42
            case "m", "w", "M", "W", "%", "@": em += 0.98
            case "=", "+", "<", ">", "~", "≤", "≥", "±": em += 0.84
            case "A"..."Z": em += 0.74
            case "0"..."9": em += 0.64
            default: em += c.value > 0x2000 ? 0.8 : 0.62
            }
        }
        return em * size * (bold ? 1.1 : 1.0) * 1.04
    }

    /// `s`, shortened with "…" so that it fits in `width`.
    static func fit(_ s: String, size: Double, width: Double, bold: Bool = false) -> String {
        if textWidth(s, size: size, bold: bold) <= width { return s }
        var chars = Array(s)
        while !chars.isEmpty && textWidth(String(chars) + "…", size: size, bold: bold) > width { chars.removeLast() }
        return String(chars) + "…"
    }
}

/// Line/scatter charts with axes, nice ticks, labels, a legend, and small multiples, rendered to SVG.
enum Chart {
    enum Marker: CaseIterable { case circle, square, triangle, diamond, triangleDown, hexagon }

    /// Colour (Okabe–Ito, colour-blind safe), marker and dash pattern; the three cycle with
    /// different periods so that series stay distinct in greyscale.
    struct Style: Equatable {
        var color: String
        var marker: Marker
        var dash: String?

        static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255",
                              "#999933", "#332288", "#661100", "#44AA99"]
        static let dashes: [String?] = [nil, "7 3", "2 2.5", "9 3 2 3"]

        /// Marker and dash move one step further at each pass through the palette: their periods
        /// (6 and 4) divide the palette's 12, so series i and i + 12 (the same policies of a second
        /// run with twelve series each) were drawn alike. Distinct for the first 144 indices.
        static func indexed(_ i: Int) -> Style {
            let i = max(0, i), j = i + i / palette.count
            return Style(color: palette[i % palette.count], marker: Marker.allCases[j % Marker.allCases.count],
                         dash: dashes[j % dashes.count])
        }
    }

    struct Point {
        var x: Double
        var y: Double
        var yErr: Double? = nil
        /// Drawn with a larger marker and a dark outline.
        var big = false
    }

    struct Series {
        var label: String
        var style: Style
        var points: [Point]
    }

    /// A horizontal dashed grey line at `y`, named in the legend.
    struct ReferenceLine {
        var y: Double
        var label: String
    }

    struct Panel {
        var title = ""
        var xLabel: String
        var yLabel: String
        var series: [Series]
        var xDomain: (Double, Double)? = nil
        var yDomain: (Double, Double)? = nil
        var xIncludesZero = false
        /// A symmetric-log x axis, sign(x)·log10(1 + |x|/L), linear within ±L and logarithmic
        /// beyond (matplotlib's "symlog"): for values spanning decades, zero included. nil: linear.
        var xSymlog: Double? = nil
        var yIncludesZero = false
        var xInteger = false
        var yTickTarget: Int? = nil
        var referenceLines: [ReferenceLine] = []
        /// Shifts series sideways by a few pixels so that error bars at shared x values stay apart.
        var dodge = false
        /// Series longer than `smoothThreshold` are drawn raw (faint) and EMA-smoothed (bold), without markers.
        var smoothLong = false
        /// An identifier written as `data-panel`.
        var id = ""

        var hasData: Bool { series.contains { s in s.points.contains { $0.x.isFinite && $0.y.isFinite } } }
    }

    static let smoothThreshold = 40

    enum LegendKind { case series, referenceLine, marker(big: Bool) }

    struct LegendEntry {
        var label: String
        var style: Style
        var kind: LegendKind
    }

    struct Figure {
        var title: String
        var subtitle = ""
        var panels: [Panel]
        var columns = 1
        var panelWidth = 600.0
        var panelHeight = 400.0
        var legend: [LegendEntry]
        /// Legend in rows under the title (small multiples) instead of a column right of the plots.
        var legendOnTop = false
    }

    // MARK: - Ticks

    struct Ticks {
        var lo: Double
        var hi: Double
        var step: Double
        var values: [Double]
        var labels: [String]
    }

    /// Round tick values (steps 1, 2, 2.5, 5 × 10^k) covering [lo, hi]: the finest such step with at
    /// most `target` ticks, or the next finer one (at most `target` + 2 ticks) when that wastes much
    /// less of the axis. The axis range becomes the outer ticks.
    static func ticks(_ lo0: Double, _ hi0: Double, target: Int, integer: Bool = false) -> Ticks {
        var lo = lo0, hi = hi0
        if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
        if lo > hi { swap(&lo, &hi) }
        if hi - lo <= 1e-12 * max(1, abs(lo)) {
            var d = lo == 0 ? 1 : abs(lo) * 0.1
            if integer { d = max(d, 1) }
            lo -= d
            hi += d
        }
        let target = max(2, target)
        let raw = (hi - lo) / Double(target - 1)
        var e = floor(log10(raw)) - 1
        var finer: Ticks? = nil
        func coverage(_ t: Ticks) -> Double { (hi - lo) / (t.hi - t.lo) }
        for _ in 0..<8 {
            for m in [1.0, 2.0, 2.5, 5.0] {
                let step = m * pow(10, e)
                if integer && (step < 1 || step != step.rounded()) { continue }
                let a = floor(lo / step + 1e-9) * step, b = ceil(hi / step - 1e-9) * step
                let n = Int(((b - a) / step).rounded()) + 1
                if n > target + 2 { continue }
                let values = (0..<n).map { k -> Double in
                    let v = a + Double(k) * step
                    return abs(v) < step * 1e-6 ? 0 : v
                }
                let t = Ticks(lo: a, hi: b, step: step, values: values, labels: labels(values, step: step))
                if n <= target {
                    if let f = finer, coverage(f) > coverage(t) + 0.1 { return f }
                    return t
                }
                finer = t
            }
            e += 1
        }
        return Ticks(lo: lo, hi: hi, step: hi - lo, values: [lo, hi], labels: labels([lo, hi], step: hi - lo))
    }

    static func symlog(_ v: Double, _ L: Double) -> Double { (v < 0 ? -1 : 1) * log10(1 + abs(v) / L) }
    static func symlogInverse(_ u: Double, _ L: Double) -> Double { (u < 0 ? -1 : 1) * (pow(10, abs(u)) - 1) * L }

    /// Ticks of a symlog axis whose transformed range is [lo, hi]: 0 and m·10^k (|v| ≥ L) for the
    /// densest mantissa set among {1, 2, 5}, {1, 3}, {1} that gives at most `target` ticks.
    /// Values are in the transformed space; labels are the data values.
    static func symlogTicks(_ lo: Double, _ hi: Double, L: Double, target: Int) -> Ticks {
        let dlo = symlogInverse(lo, L), dhi = symlogInverse(hi, L)
        var best: [Double] = []
        for mantissas in [[1.0, 2, 5], [1.0, 3], [1.0]] {
            var vals: [Double] = dlo <= 0 && dhi >= 0 ? [0] : []
            for k in -6...9 {
                for m in mantissas {
                    let v = m * pow(10, Double(k))
                    if v < L * 0.999 { continue }
                    if v <= dhi * 1.0001 { vals.append(v) }
                    if -v >= dlo * 1.0001 { vals.append(-v) }
                }
            }
            vals.sort()
            best = vals
            if vals.count <= max(2, target) { break }
        }
        if best.count < 2 {      // a range within ±L: round data values, placed through the transform
            let t = ticks(dlo, dhi, target: target)
            let u = t.values.map { symlog($0, L) }
            return Ticks(lo: min(lo, u.first ?? lo), hi: max(hi, u.last ?? hi), step: 0, values: u, labels: t.labels)
        }
        let u = best.map { symlog($0, L) }
        let text = best.map { v -> String in
            let a = abs(v)
            var t = a >= 1e6 ? String(format: "%gM", a / 1e6) : a >= 1e4 ? String(format: "%gk", a / 1e3) : String(format: "%g", a)
            if v < 0 { t = "-" + t }
            return t
        }
        return Ticks(lo: min(lo, u.first!), hi: max(hi, u.last!), step: 0, values: u, labels: text)
    }

    /// Tick labels with as many decimals as the step needs, no trailing zeros, "k"/"M" for large values.
    static func labels(_ values: [Double], step: Double) -> [String] {
        let top = values.map { abs($0) }.max() ?? 0
        var scale = 1.0, suffix = ""
        if top >= 1e6 && step >= 1e5 { scale = 1e6; suffix = "M" } else if top >= 1e4 && step >= 1e3 { scale = 1e3; suffix = "k" }
        let s = step / scale
        var decimals = 0
        while decimals < 8 {
            let m = s * pow(10, Double(decimals))
            if abs(m - m.rounded()) < 1e-6 * max(1, abs(m)) { break }
            decimals += 1
        }
        return values.map { v in
            var t = String(format: "%.\(decimals)f", v / scale)
            if t.contains(".") {
                while t.hasSuffix("0") { t.removeLast() }
                if t.hasSuffix(".") { t.removeLast() }
            }
            if t == "-0" { t = "0" }
            return t + (t == "0" ? "" : suffix)
        }
    }

    /// Exponential moving average with TensorBoard's debiasing.
    static func smooth(_ ys: [Double], weight: Double) -> [Double] {
        var last = 0.0, out: [Double] = []
        for (i, y) in ys.enumerated() {
            last = last * weight + (1 - weight) * y
            out.append(last / (1 - pow(weight, Double(i + 1))))
        }
        return out
    }

    // MARK: - Rendering

    /// Word-wraps `s` into at most `maxLines` lines of `width`; the last line is shortened with "…" if needed.
    static func wrap(_ s: String, size: Double, width: Double, maxLines: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in s.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
            let candidate = current.isEmpty ? word : current + " " + word
            if current.isEmpty || SVGWriter.textWidth(candidate, size: size) <= width {
                current = candidate
            } else {
                lines.append(current)
                current = word
            }
        }
        if !current.isEmpty { lines.append(current) }
        if lines.count > maxLines {
            lines = Array(lines.prefix(maxLines - 1)) + [lines[(maxLines - 1)...].joined(separator: " ")]
        }
        return lines.map { SVGWriter.fit($0, size: size, width: width) }
    }

    static let tickSize = 11.0, labelSize = 12.0, panelTitleSize = 13.0, titleSize = 17.0, subtitleSize = 12.0, legendSize = 12.0
    static let grey = "#555555"

    static func render(_ f: Figure) -> String {
        let pad = 16.0, gap = 18.0, legendRow = 20.0, sampleWidth = 32.0
        let panels = f.panels
        let cols = max(1, min(f.columns, panels.count))
        let rows = max(1, (panels.count + cols - 1) / cols)
        let gridW = Double(cols) * f.panelWidth + Double(cols - 1) * gap
        let gridH = Double(rows) * f.panelHeight + Double(rows - 1) * gap

        let maxLegendLabel = 320.0
        let entries = f.legend.map { e in (e, SVGWriter.fit(e.label, size: legendSize, width: maxLegendLabel)) }
        let labelW = entries.map { SVGWriter.textWidth($0.1, size: legendSize) }

        let rightLegendW = 12 + sampleWidth + 8 + (labelW.max() ?? 0) + 12
        let width = pad + gridW + pad + (entries.isEmpty || f.legendOnTop ? 0 : 20 + rightLegendW)
        let subtitleLines = wrap(f.subtitle, size: subtitleSize, width: width - 2 * pad, maxLines: 3)
        var headerH = pad + titleSize + 6
        if !subtitleLines.isEmpty { headerH += Double(subtitleLines.count) * (subtitleSize + 4) + 4 }
        var legendBox = (x: 0.0, y: 0.0, w: 0.0, h: 0.0)
        var legendPositions: [(Double, Double)] = []
        var gridTop = headerH + 4
        if !entries.isEmpty {
            if f.legendOnTop {
                var x = 0.0, y = 0.0
                for w in labelW {
                    let itemW = sampleWidth + 8 + w + 22
                    if x > 0 && x + itemW > gridW { x = 0; y += legendRow }
                    legendPositions.append((pad + x, headerH + 10 + y))
                    x += itemW
                }
                legendBox = (pad, headerH, gridW, y + legendRow + 4)
                gridTop = headerH + legendBox.h + 10
            } else {
                legendBox = (pad + gridW + 20, gridTop + 8, rightLegendW, 8 + Double(entries.count) * legendRow + 4)
                for i in entries.indices { legendPositions.append((legendBox.x + 12, legendBox.y + 8 + Double(i) * legendRow)) }
            }
        }
        let height = max(gridTop + gridH, legendBox.y + legendBox.h) + pad

        var svg = SVGWriter(width: width, height: height)
        svg.text(SVGWriter.fit(f.title, size: titleSize, width: width - 2 * pad, bold: true), x: pad, y: pad + titleSize - 2,
                 size: titleSize, bold: true, extra: [("class", "title")])
        for (k, line) in subtitleLines.enumerated() {
            svg.text(line, x: pad, y: pad + titleSize + 6 + Double(k + 1) * subtitleSize + Double(k) * 4,
                     size: subtitleSize, fill: grey, extra: [("class", "subtitle")])
        }

        for (i, p) in panels.enumerated() {
            let c = i % cols, r = i / cols
            drawPanel(p, into: &svg, x: pad + Double(c) * (f.panelWidth + gap), y: gridTop + Double(r) * (f.panelHeight + gap),
                      w: f.panelWidth, h: f.panelHeight)
        }

        if !entries.isEmpty {
            svg.open("g", [("class", "legend")])
            if !f.legendOnTop { svg.rect(legendBox.x, legendBox.y, legendBox.w, legendBox.h, fill: "white", stroke: "#cccccc") }
            for (i, (e, label)) in entries.enumerated() {
                let (x, top) = legendPositions[i]
                let cy = top + legendRow / 2
                switch e.kind {
                case .series:
                    svg.line(x, cy, x + sampleWidth, cy, stroke: e.style.color, width: 2, dash: e.style.dash)
                    svg.marker(e.style.marker, x: x + sampleWidth / 2, y: cy, r: 4.5, fill: e.style.color)
                case .referenceLine:
                    svg.line(x, cy, x + sampleWidth, cy, stroke: grey, width: 1.3, dash: "6 4")
                case .marker(let big):
                    svg.marker(e.style.marker, x: x + sampleWidth / 2, y: cy, r: big ? 7 : 4, fill: e.style.color,
                               stroke: big ? "#222222" : "white", strokeWidth: big ? 1.3 : 1)
                }
                svg.text(label, x: x + sampleWidth + 8, y: cy + legendSize * 0.36, size: legendSize, extra: [("class", "legend-label")])
            }
            svg.close("g")
        }
        return svg.document
    }

    static func drawPanel(_ p: Panel, into svg: inout SVGWriter, x x0: Double, y y0: Double, w: Double, h: Double) {
        let inner = 8.0  // data never touches the axes
        let plotTop = y0 + (p.title.isEmpty ? 8 : panelTitleSize + 14)
        let plotBottom = y0 + h - 42
        let plotH = plotBottom - plotTop

        var xs: [Double] = [], ys: [Double] = []
        for s in p.series {
            for pt in s.points where pt.x.isFinite && pt.y.isFinite {
                xs.append(pt.x)
                ys.append(pt.y)
                if let e = pt.yErr, e.isFinite, e > 0 { ys += [pt.y - e, pt.y + e] }
            }
        }
        ys += p.referenceLines.map(\.y).filter(\.isFinite)
        if p.xIncludesZero { xs.append(0) }
        // On a symlog axis every x below is in the transformed space.
        let tx: (Double) -> Double = p.xSymlog.map { L in { symlog($0, L) } } ?? { $0 }
        xs = xs.map(tx)
        if p.yIncludesZero { ys.append(0) }
        let xr = p.xDomain.map { (tx($0.0), tx($0.1)) } ?? (xs.min() ?? 0, xs.max() ?? 1)
        let yr = p.yDomain ?? (ys.min() ?? 0, ys.max() ?? 1)

        let yt = ticks(yr.0, yr.1, target: p.yTickTarget ?? max(3, min(8, Int(plotH / 30))))
        let yLabelW = yt.labels.map { SVGWriter.textWidth($0, size: tickSize) }.max() ?? 0
        let yAxisTitleX = x0 + 14
        let plotLeft = yAxisTitleX + 8 + yLabelW + 8

        // x ticks: as many as fit without their labels touching.
        func xTicks(_ target: Int) -> Ticks {
            if let L = p.xSymlog { return symlogTicks(xr.0, xr.1, L: L, target: target) }
            return ticks(xr.0, xr.1, target: target, integer: p.xInteger)
        }
        var xt = xTicks(2)
        var plotRight = x0 + w - 12
        let maxTarget = max(2, min(10, Int((plotRight - plotLeft) / 55)))
        for target in stride(from: maxTarget, through: 2, by: -1) {
            let t = xTicks(target)
            let widest = t.labels.map { SVGWriter.textWidth($0, size: tickSize) }.max() ?? 0
            let lastHalf = SVGWriter.textWidth(t.labels.last ?? "", size: tickSize) / 2
            let right = min(x0 + w - 12, x0 + w - lastHalf + inner - 2)
            let spacing = (right - plotLeft - 2 * inner) / Double(max(1, t.values.count - 1))
            if spacing >= widest + 12 || target == 2 { xt = t; plotRight = right; break }
        }
        let plotW = plotRight - plotLeft

        let drawn = p.series.filter { s in s.points.contains { $0.x.isFinite && $0.y.isFinite } }
        // Sideways offsets: at most a third of the smallest gap between x values; the outermost
        // series stay inside the plot area.
        var dodge = 0.0
        if p.dodge && drawn.count > 1 {
            let scale = (plotW - 2 * inner) / (xt.hi - xt.lo)
            let ux = Array(Set(xs)).sorted()
            let minGap = zip(ux.dropFirst(), ux).map { ($0 - $1) * scale }.min() ?? plotW
            dodge = min(7, minGap / 3 / Double(drawn.count))
        }
        let xInner = inner + dodge * Double(drawn.count - 1) / 2
        func sx(_ v: Double) -> Double { plotLeft + xInner + (tx(v) - xt.lo) / (xt.hi - xt.lo) * (plotW - 2 * xInner) }
        func sy(_ v: Double) -> Double { plotBottom - inner - (v - yt.lo) / (yt.hi - yt.lo) * (plotH - 2 * inner) }

        svg.open("g", [("class", "panel"), ("data-panel", p.id.isEmpty ? p.title : p.id)])
        if !p.title.isEmpty {
            svg.text(SVGWriter.fit(p.title, size: panelTitleSize, width: w - 4, bold: true), x: (plotLeft + plotRight) / 2,
                     y: y0 + panelTitleSize, size: panelTitleSize, anchor: "middle", bold: true, extra: [("class", "panel-title")])
        }
        // Grid, axes, ticks.
        for (v, label) in zip(yt.values, yt.labels) {
            let y = sy(v)
            svg.line(plotLeft, y, plotRight, y, stroke: "#e6e6e6")
            svg.line(plotLeft - 5, y, plotLeft, y, stroke: "#444444")
            svg.text(label, x: plotLeft - 8, y: y + tickSize * 0.35, size: tickSize, anchor: "end", fill: "#333", extra: [("class", "tick-y")])
        }
        for (v, label) in zip(xt.values, xt.labels) {
            let x = plotLeft + xInner + (v - xt.lo) / (xt.hi - xt.lo) * (plotW - 2 * xInner)   // tick values are transformed
            svg.line(x, plotTop, x, plotBottom, stroke: "#e6e6e6")
            svg.line(x, plotBottom, x, plotBottom + 5, stroke: "#444444")
            svg.text(label, x: x, y: plotBottom + 17, size: tickSize, anchor: "middle", fill: "#333", extra: [("class", "tick-x")])
        }
        svg.line(plotLeft, plotTop, plotLeft, plotBottom, stroke: "#444444")
        svg.line(plotLeft, plotBottom, plotRight, plotBottom, stroke: "#444444")
        svg.text(SVGWriter.fit(p.xLabel, size: labelSize, width: plotW), x: (plotLeft + plotRight) / 2, y: plotBottom + 35,
                 size: labelSize, anchor: "middle", extra: [("class", "axis-label-x")])
        svg.text(SVGWriter.fit(p.yLabel, size: labelSize, width: plotH), x: yAxisTitleX, y: (plotTop + plotBottom) / 2,
                 size: labelSize, anchor: "middle", rotate: -90, extra: [("class", "axis-label-y")])

        // Data, clipped to the plot area.
        let clip = svg.clip(plotLeft + 1, plotTop - 2, plotW + 2, plotH + 2)
        svg.open("g", [("clip-path", clip)])
        for r in p.referenceLines where r.y.isFinite {
            svg.line(plotLeft, sy(r.y), plotRight, sy(r.y), stroke: grey, width: 1.3, dash: "6 4", extra: [("class", "reference-line")])
        }
        for (k, s) in drawn.enumerated() {
            let dx = (Double(k) - Double(drawn.count - 1) / 2) * dodge
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            svg.open("g", [("class", "series"), ("data-series", s.label)])
            let xy = pts.map { (sx($0.x) + dx, sy($0.y)) }
            if p.smoothLong && pts.count > smoothThreshold {
                let weight = min(0.97, max(0, 1 - 8 / Double(pts.count)))
                let sm = smooth(pts.map(\.y), weight: weight)
                svg.polyline(xy, stroke: s.style.color, width: 1, opacity: 0.28)
                svg.polyline(zip(xy, sm).map { ($0.0.0, sy($0.1)) }, stroke: s.style.color, width: 2.2, dash: s.style.dash,
                             extra: [("class", "smoothed")])
            } else {
                svg.polyline(xy, stroke: s.style.color, width: 1.8, dash: s.style.dash)
                for (pt, (x, _)) in zip(pts, xy) {
                    guard let e = pt.yErr, e.isFinite, e > 0 else { continue }
                    let a = sy(pt.y - e), b = sy(pt.y + e)
                    svg.line(x, a, x, b, stroke: s.style.color, width: 1.3, extra: [("class", "errorbar")])
                    svg.line(x - 3.5, a, x + 3.5, a, stroke: s.style.color, width: 1.3)
                    svg.line(x - 3.5, b, x + 3.5, b, stroke: s.style.color, width: 1.3)
                }
                let small = pts.count > 15 ? 3.0 : 4.5
                for (pt, (x, y)) in zip(pts, xy) {
                    svg.marker(s.style.marker, x: x, y: y, r: pt.big ? 7.5 : small, fill: s.style.color,
                               stroke: pt.big ? "#222222" : "white", strokeWidth: pt.big ? 1.3 : 1,
                               extra: [("class", pt.big ? "point big" : "point")] + (pt.big ? [("fill-opacity", "0.85")] : []))
                }
            }
            svg.close("g")
        }
        svg.close("g")
        svg.close("g")
    }
}
