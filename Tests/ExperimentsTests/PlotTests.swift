import Foundation
import JSON
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Experiments

/// Fake run directories as the runner writes them: "alpha" (synthetic task, gold judge, every
/// stage), "beta" (real data: reward-model judge, no gold), "gamma" (SFT only, no eval.json).
/// Some fields are missing or null on purpose.
enum FakeRuns {
    static let alphaEval = """
    {"judge": "gold", "prompts": 200, "reference_gold": 1.9,
     "policies": [
      {"policy": "sft", "by_temperature": [
        {"temperature": 0.0, "n": 200, "win_rate": 0.41, "win_rate_ci": 0.06, "gold": 1.2, "gold_ci": 0.1, "rm_score": 0.3, "rm_score_ci": 0.1, "kl": 0.0, "kl_ci": 0.0, "length": 21.3, "length_ci": 0.5, "eos_rate": 0.97, "example": "a <b> & \\"c\\""},
        {"temperature": 0.7, "win_rate": 0.45, "win_rate_ci": null, "gold": 1.3, "kl": 0.0},
        {"temperature": 1.0, "win_rate": 0.38, "win_rate_ci": 0.07, "gold": 1.1, "kl": 0.0}]},
      {"policy": "ppo", "by_temperature": [
        {"temperature": 0.0, "win_rate": 0.62, "win_rate_ci": 0.06, "gold": 2.1, "kl": 3.2},
        {"temperature": 0.7, "win_rate": 0.66, "gold": 2.2, "kl": 4.1},
        {"temperature": 1.0, "win_rate": 0.58, "win_rate_ci": 0.07, "gold": 2.0, "kl": 5.5}]},
      {"policy": "dpo", "by_temperature": [
        {"temperature": 0.0, "win_rate": 0.55, "gold": null, "kl": 1.5},
        {"temperature": 0.7, "win_rate": null, "gold": 1.8, "kl": 2.0},
        {"temperature": 1.0, "win_rate": 0.52, "win_rate_ci": 0.08, "gold": 1.7, "kl": 2.6}]}],
     "frontier": [
      {"policy": "ppo", "step": 20, "temperature": 1.0, "n": 100, "win_rate": 0.5, "gold": 1.5, "kl": 1.0, "rm_score": 0.2},
      {"policy": "ppo", "step": 10, "temperature": 1.0, "gold": 1.3, "kl": 0.4},
      {"policy": "ppo", "step": 30, "temperature": 1.0, "gold": 1.8, "kl": 2.5},
      {"policy": "dpo", "step": 10, "temperature": 1.0, "gold": 1.4, "kl": 0.8},
      {"policy": "dpo", "step": 20, "temperature": 1.0, "gold": null, "kl": 1.6}]}
    """

    static let betaEval = """
    {"judge": "reward_model", "prompts": 100, "reference_gold": null,
     "policies": [
      {"policy": "sft", "by_temperature": [
        {"temperature": 0.0, "win_rate": 0.3, "win_rate_ci": 0.09, "rm_score": -0.2, "kl": 0.0},
        {"temperature": 1.0, "win_rate": 0.28, "win_rate_ci": 0.09, "rm_score": -0.3, "kl": 0.0}]},
      {"policy": "dpo", "by_temperature": [
        {"temperature": 0.0, "win_rate": 0.6, "win_rate_ci": 0.1, "rm_score": 0.4, "kl": 2.0},
        {"temperature": 1.0, "win_rate": 0.57, "rm_score": 0.35, "kl": 3.1}]}],
     "frontier": [
      {"policy": "dpo", "step": 50, "rm_score": 0.1, "kl": 1.2},
      {"policy": "dpo", "step": 100, "rm_score": 0.3, "kl": 2.4}]}
    """

    static func metricLines(_ stage: String, _ steps: ClosedRange<Int>, _ f: (Int) -> [String: Any]) -> [String] {
        steps.map { s in
            var d: [String: Any] = ["stage": stage, "step": s, "elapsed": Double(s) * 0.5]
            for (k, v) in f(s) { d[k] = v }
            return JSONValue(d).serialized(pretty: false)
        }
    }

    static func alphaMetrics() -> [String] {
        metricLines("pretrain", 1...60) { ["loss": 6.0 - 3.0 * log(Double($0)) / log(60) + 0.2 * sin(Double($0))] }
            + metricLines("sft", 1...30) { ["loss": 3.0 - Double($0) * 0.03, "tokens_per_s": 15000.0] }
            + metricLines("reward_model", 1...20) { s in
                var d: [String: Any] = ["loss": 0.69 - Double(s) * 0.01, "accuracy": 0.5 + Double(s) * 0.01]
                if s % 10 == 0 { d["eval/accuracy"] = 0.55 + Double(s) * 0.005 }
                return d
            }
            + metricLines("ppo", 1...12) { s in
                var d: [String: Any] = ["objective/scores": 0.1 * Double(s), "objective/rlhf_reward": 0.05 * Double(s)]
                d["objective/kl"] = s == 6 ? nil : 0.3 * Double(s) as Any?  // one step without KL
                return d
            }
            + metricLines("dpo", 1...25) { ["rewards/margins": 0.04 * Double($0), "rewards/accuracies": min(1, 0.5 + 0.02 * Double($0)), "loss": 0.6] }
            // Values the plots skip (metrics.jsonl writes a non-finite loss as null); a line that is not
            // JSON at all is an error of `rlhf compare` (RunInputTests).
            + ["{\"stage\": \"sft\", \"step\": 31, \"loss\": null}", "{\"stage\": \"sft\", \"step\": 32, \"loss\": \"abc\"}"]
    }

    static func betaMetrics() -> [String] {
        metricLines("sft", 1...10) { ["loss": 2.5 - Double($0) * 0.05] }
            + metricLines("dpo", 1...10) { s in
                var d: [String: Any] = ["rewards/margins": 0.03 * Double(s), "rewards/accuracies": 0.5 + 0.03 * Double(s)]
                if s % 5 == 0 { d["eval/rewards/accuracies"] = 0.5 + 0.02 * Double(s) }
                return d
            }
    }

    static func gammaMetrics() -> [String] {
        // Steps 5...8 logged twice (a resumed run): 8 distinct steps.
        metricLines("sft", 1...8) { ["loss": 3.0 - Double($0) * 0.1] } + metricLines("sft", 5...8) { ["loss": 2.9 - Double($0) * 0.1] }
    }

    static let alphaSummary = """
    {"name": "alpha", "finished": ["tokenizer", "pretrain", "sft", "reward_model", "ppo", "dpo", "eval"],
     "stages": {"pretrain": {"seconds": 30.2, "tokens_per_s": 20000, "final_loss": 4.5},
                "sft": {"seconds": 120.5, "tokens_per_s": 15000, "final_loss": 1.23, "steps": 30},
                "reward_model": {"seconds": 65},
                "ppo": {"seconds": 3725, "tokens_per_s": 800.4, "objective/scores": 1.2, "watch/judge_peak_step": 20,
                        "watch/kl_accelerating_step": 11, "watch/reward_judge_diverging_step": 26, "watch/length_drifting_step": 20},
                "dpo": {"seconds": null},
                "eval": {"seconds": 12}},
     "notes": {"data": "synthetic tl;dr"}}
    """
    static let betaSummary = """
    {"name": "beta", "stages": {"sft": {"seconds": 50, "tokens_per_s": 9000}, "dpo": {"seconds": 80, "tokens_per_s": 7000}, "eval": {"seconds": 5}}}
    """
    static let gammaSummary = """
    {"name": "gamma", "stages": {"sft": {"seconds": 10}}}
    """

    /// Writes the three runs under a new temporary directory; returns (root, [alpha, beta, gamma]).
    static func make() throws -> (URL, [URL]) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("plots-\(UUID().uuidString)")
        func run(_ name: String, summary: String, eval: String?, metrics: [String]) throws -> URL {
            let u = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
            try summary.write(to: u.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
            if let eval { try eval.write(to: u.appendingPathComponent("eval.json"), atomically: true, encoding: .utf8) }
            try (metrics.joined(separator: "\n") + "\n").write(to: u.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
            return u
        }
        let urls = [
            try run("alpha", summary: alphaSummary, eval: alphaEval, metrics: alphaMetrics()),
            try run("beta", summary: betaSummary, eval: betaEval, metrics: betaMetrics()),
            try run("gamma", summary: gammaSummary, eval: nil, metrics: gammaMetrics()),
        ]
        return (root, urls)
    }
}

/// An SVG parsed with Foundation's XMLParser: every element with its attributes, the text of
/// <text> elements, and the enclosing data-series and data-panel.
final class ParsedSVG: NSObject, XMLParserDelegate {
    struct Element {
        let name: String
        let attributes: [String: String]
        var text: String
        let series: String?
        let panel: String?
        var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }
    }

    private(set) var elements: [Element] = []
    private var stack: [Int] = []
    private var seriesStack: [String?] = []
    private var panelStack: [String?] = []
    private(set) var error: Error?

    init(_ text: String) {
        super.init()
        let p = XMLParser(data: Data(text.utf8))
        p.delegate = self
        if !p.parse() { error = p.parserError ?? NSError(domain: "xml", code: 1) }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        seriesStack.append(attributes["data-series"] ?? seriesStack.last ?? nil)
        panelStack.append(attributes["data-panel"] ?? panelStack.last ?? nil)
        elements.append(Element(name: name, attributes: attributes, text: "", series: seriesStack.last ?? nil, panel: panelStack.last ?? nil))
        stack.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = stack.last { elements[i].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
        seriesStack.removeLast()
        panelStack.removeLast()
    }

    func withClass(_ c: String, panel: String? = nil) -> [Element] {
        elements.filter { $0.classes.contains(c) && (panel == nil || $0.panel == panel) }
    }

    func texts(_ c: String, panel: String? = nil) -> [String] { withClass(c, panel: panel).map(\.text) }

    /// data-series label → number of point markers.
    func pointCounts(panel: String? = nil) -> [String: Int] {
        var out: [String: Int] = [:]
        for e in elements where e.name == "g" && e.attributes["data-series"] != nil && (panel == nil || e.panel == panel) {
            out[e.attributes["data-series"]!] = 0
        }
        for e in withClass("point", panel: panel) { out[e.series ?? "?", default: 0] += 1 }
        return out
    }

    var panels: [String] { elements.filter { $0.name == "g" && $0.attributes["data-panel"] != nil }.map { $0.attributes["data-panel"]! } }
}

final class PlotTests: XCTestCase {
    var root: URL!
    var runs: [Report.RunData] = []

    override func setUpWithError() throws {
        let (r, urls) = try FakeRuns.make()
        root = r
        runs = try urls.map { try Report.load($0) }
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> ParsedSVG {
        let p = ParsedSVG(svg)
        XCTAssertNil(p.error, "SVG is not well-formed XML: \(String(describing: p.error))", file: file, line: line)
        XCTAssertEqual(p.elements.first?.name, "svg", file: file, line: line)
        return p
    }

    /// No NaN/inf anywhere, and every geometric attribute is a plain finite number (or a list of them).
    func assertClean(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(svg.range(of: "nan", options: .caseInsensitive), "SVG contains nan", file: file, line: line)
        XCTAssertNil(svg.range(of: "inf", options: .caseInsensitive), "SVG contains inf", file: file, line: line)
        let p = ParsedSVG(svg)
        let numeric: Set<String> = ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height", "font-size", "stroke-width"]
        for e in p.elements {
            for (k, v) in e.attributes where numeric.contains(k) {
                XCTAssertNotNil(Double(v), "\(e.name) \(k)=\"\(v)\"", file: file, line: line)
                XCTAssertTrue(Double(v)?.isFinite ?? false, file: file, line: line)
            }
            if let pts = e.attributes["points"] {
                for n in pts.split(whereSeparator: { $0 == " " || $0 == "," }) {
                    XCTAssertTrue(Double(n)?.isFinite ?? false, "\(e.name) points has \(n)", file: file, line: line)
                }
            }
        }
    }

    /// Tick labels parse as numbers that are whole multiples of a 1/2/2.5/5 × 10^k step.
    func assertNiceTicks(_ labels: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThanOrEqual(labels.count, 2, file: file, line: line)
        let values = labels.map { l -> Double in
            if l.hasSuffix("k") { return (Double(l.dropLast()) ?? .nan) * 1e3 }
            if l.hasSuffix("M") { return (Double(l.dropLast()) ?? .nan) * 1e6 }
            return Double(l) ?? .nan
        }
        XCTAssertTrue(values.allSatisfy(\.isFinite), "tick labels \(labels)", file: file, line: line)
        guard values.count >= 2 else { return }
        let step = values[1] - values[0]
        XCTAssertGreaterThan(step, 0, file: file, line: line)
        let mantissa = step / pow(10, floor(log10(step)))
        XCTAssertTrue([1, 2, 2.5, 5, 10].contains { abs($0 - mantissa) < 1e-6 }, "step \(step) of \(labels)", file: file, line: line)
        for (a, b) in zip(values, values.dropFirst()) { XCTAssertEqual(b - a, step, accuracy: step * 1e-6, "\(labels)", file: file, line: line) }
        for v in values { XCTAssertEqual((v / step).rounded() * step, v, accuracy: step * 1e-6, file: file, line: line) }
    }

    // MARK: - Ticks

    func testTicksAreRoundNumbers() {
        let unit = Chart.ticks(0, 1, target: 5)
        XCTAssertEqual(unit.values, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(unit.labels, ["0", "0.25", "0.5", "0.75", "1"])

        let t = Chart.ticks(0.13, 9.7, target: 6)
        XCTAssertEqual(t.labels, ["0", "2", "4", "6", "8", "10"])
        XCTAssertLessThanOrEqual(t.lo, 0.13)
        XCTAssertGreaterThanOrEqual(t.hi, 9.7)

        XCTAssertEqual(Chart.ticks(-0.31, 0.42, target: 6).labels, ["-0.4", "-0.2", "0", "0.2", "0.4", "0.6"])
        XCTAssertEqual(Chart.ticks(0, 20000, target: 5).labels, ["0", "5k", "10k", "15k", "20k"])
        XCTAssertEqual(Chart.ticks(1, 7, target: 10, integer: true).step, 1)
        XCTAssertEqual(Chart.ticks(0, 0.003, target: 4).labels, ["0", "0.001", "0.002", "0.003"])
        // Degenerate and non-finite ranges still give an axis.
        let one = Chart.ticks(3, 3, target: 5)
        XCTAssertLessThan(one.lo, 3)
        XCTAssertGreaterThan(one.hi, 3)
        XCTAssertEqual(Chart.ticks(.nan, .infinity, target: 5).labels.first, "0")
        for (lo, hi, n) in [(0.0, 1.0, 5), (-3.7, 12.2, 7), (0.0013, 0.0091, 5), (120.0, 4567.0, 8), (0, 37.0, 4)] {
            let t = Chart.ticks(lo, hi, target: n)
            XCTAssertLessThanOrEqual(t.values.count, n + 2)
            assertNiceTicks(t.labels)
            XCTAssertFalse(t.labels.contains("-0"))
        }
    }

    /// Two runs of the same twelve policies must not be drawn alike: the palette has twelve
    /// colours, so series i and i + 12 share a colour and must differ in marker or dash.
    func testSeriesStylesStayDistinctPastThePalette() {
        let styles = (0..<144).map { Chart.Style.indexed($0) }
        for i in styles.indices { for j in (i + 1)..<styles.count { XCTAssertNotEqual(styles[i], styles[j], "series \(i) and \(j)") } }
        XCTAssertEqual(styles[0].color, styles[12].color)
        XCTAssertEqual(Array(styles.prefix(12)), (0..<12).map {
            Chart.Style(color: Chart.Style.palette[$0], marker: Chart.Marker.allCases[$0 % 6], dash: Chart.Style.dashes[$0 % 4])
        }, "the first pass through the palette as before")
    }

    func testSVGNumbersAndEscaping() {
        XCTAssertEqual(SVGWriter.num(.nan), "0")
        XCTAssertEqual(SVGWriter.num(-0.001), "0")
        XCTAssertEqual(SVGWriter.num(12.345), "12.35")
        XCTAssertEqual(SVGWriter.num(3), "3")
        XCTAssertEqual(SVGWriter.escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ")
    }

    // MARK: - Win rate

    func testWinRatePlot() throws {
        let fig = try XCTUnwrap(Plots.winRate(runs)).figure
        let svg = Chart.render(fig)
        let p = parse(svg)
        assertClean(svg)
        XCTAssertEqual(p.pointCounts(), ["alpha · sft": 3, "alpha · ppo": 3, "alpha · dpo": 2, "beta · sft": 2, "beta · dpo": 2])
        // The y axis is the win rate, 0 to 1 in quarters, with a dashed line at 0.5.
        XCTAssertEqual(p.texts("tick-y"), ["0", "0.25", "0.5", "0.75", "1"])
        assertNiceTicks(p.texts("tick-x"))
        XCTAssertEqual(p.withClass("reference-line").count, 1)
        XCTAssertEqual(p.texts("axis-label-x"), ["sampling temperature T"])
        XCTAssertEqual(p.texts("axis-label-y"), ["win rate vs. reference summaries"])
        // Error bars only where a CI exists (alpha: 2 + 2 + 1, beta: 2 + 1).
        XCTAssertEqual(p.withClass("errorbar").count, 8)
        let legend = p.texts("legend-label")
        for name in ["alpha · sft", "alpha · ppo", "alpha · dpo", "beta · sft", "beta · dpo"] { XCTAssertTrue(legend.contains(name), name) }
        XCTAssertTrue(p.texts("subtitle").first?.contains("gold (alpha), reward model (beta)") ?? false, "\(p.texts("subtitle"))")
        // Series keep distinct styles.
        let styles = fig.panels[0].series.map(\.style)
        for i in styles.indices { for j in styles.indices where j > i { XCTAssertNotEqual(styles[i], styles[j]) } }
    }

    func testNoPlotsWithoutData() {
        let gamma = [runs[2]]
        XCTAssertNil(Plots.winRate(gamma))
        XCTAssertNil(Plots.frontier(gamma))
        XCTAssertNotNil(Plots.learningCurves(gamma))
    }

    // MARK: - Frontier

    func testFrontierMixedJudgesGetOnePanelPerScale() throws {
        let fig = try XCTUnwrap(Plots.frontier(runs)).figure
        let svg = Chart.render(fig)
        let p = parse(svg)
        assertClean(svg)
        XCTAssertEqual(p.panels, ["gold", "rm_score"])
        // Snapshots (null gold skipped) in step order, then the final T = 1 row as a big marker.
        XCTAssertEqual(p.pointCounts(panel: "gold"), ["alpha · sft": 1, "alpha · ppo": 4, "alpha · dpo": 2])
        XCTAssertEqual(p.pointCounts(panel: "rm_score"), ["beta · sft": 1, "beta · dpo": 3])
        XCTAssertEqual(p.withClass("big").count, 5)
        let ppo = try XCTUnwrap(fig.panels[0].series.first { $0.label == "alpha · ppo" })
        XCTAssertEqual(ppo.points.map(\.x), [0.4, 1.0, 2.5, 5.5])
        XCTAssertEqual(ppo.points.map(\.big), [false, false, false, true])
        XCTAssertEqual(p.texts("axis-label-y"), ["gold reward (judge score)", "reward-model score"])
        XCTAssertEqual(p.texts("axis-label-x").first, "KL(π‖π_SFT), nats per sequence")
        XCTAssertEqual(p.withClass("reference-line", panel: "gold").count, 1)  // reference summaries' gold 1.9
        let legend = p.texts("legend-label")
        for name in ["alpha · sft", "alpha · ppo", "alpha · dpo", "beta · sft", "beta · dpo", "final policy (T = 1)"] {
            XCTAssertTrue(legend.contains(name), name)
        }
        // KL axes start at 0.
        XCTAssertEqual(p.texts("tick-x", panel: "gold").first, "0")
        for panel in ["gold", "rm_score"] {
            assertNiceTicks(p.texts("tick-x", panel: panel))
            assertNiceTicks(p.texts("tick-y", panel: panel))
        }
    }

    /// KL from 0.2 to 180 (PPO without KL penalty beside penalized runs): a symlog axis with ticks
    /// at 0 and powers of ten, evenly spaced per decade; the quickstart's KLs stay linear.
    func testFrontierKLSpanningDecadesGetsASymlogAxis() throws {
        XCTAssertEqual(Plots.klAxisSymlog([0, 0.3, 0.8, 1.2, 2.5, 180]), 0.1)
        XCTAssertNil(Plots.klAxisSymlog([0, 0.4, 1.0, 2.5, 5.5]))
        let series = [Chart.Series(label: "kl0", style: .indexed(0), points: [0.2, 3, 40, 180].map { Chart.Point(x: $0, y: 1) }),
                      Chart.Series(label: "kl0.1", style: .indexed(1), points: [0, 0.5, 0.9].map { Chart.Point(x: $0, y: 2) })]
        let panel = Chart.Panel(xLabel: "KL", yLabel: "gold", series: series, xIncludesZero: true, xSymlog: 0.1, id: "p")
        let svg = Chart.render(Chart.Figure(title: "t", panels: [panel], legend: []))
        assertClean(svg)
        let p = parse(svg)
        let ticks = p.withClass("tick-x")
        let labels = ticks.map(\.text)
        for l in ["0", "1", "10", "100"] { XCTAssertTrue(labels.contains(l), "\(labels)") }
        let x = Dictionary(uniqueKeysWithValues: ticks.compactMap { t in Double(t.attributes["x"] ?? "").map { (t.text, $0) } })
        let decade1 = try XCTUnwrap(x["10"]) - XCTUnwrap(x["1"]), decade2 = try XCTUnwrap(x["100"]) - XCTUnwrap(x["10"])
        XCTAssertGreaterThan(decade1, 30)
        // log10(1 + x/0.1): decades are evenly spaced far above the threshold, slightly less near it.
        let expected = (Foundation.log10(101.0) - Foundation.log10(11.0)) / (Foundation.log10(1001.0) - Foundation.log10(101.0))
        XCTAssertEqual(decade1 / decade2, expected, accuracy: 0.01, "decades are not spaced as the symlog transform")
        // Points sit where their value falls between the ticks: 40 between 10 and 100 (circles: series kl0).
        let dots = p.withClass("point", panel: "p").compactMap { Double($0.attributes["cx"] ?? "") }.sorted()
        XCTAssertEqual(dots.count, 4)
        guard dots.count == 4 else { return }
        let at40 = dots[2]
        XCTAssertEqual((at40 - x["10"]!) / decade2, Foundation.log10(401.0 / 101.0), accuracy: 0.01)
    }

    func testFrontierRealDataUsesRewardModelScore() throws {
        let (fig, caption) = try XCTUnwrap(Plots.frontier([runs[1]]))
        let p = parse(Chart.render(fig))
        XCTAssertEqual(p.panels, ["rm_score"])
        XCTAssertEqual(p.texts("axis-label-y"), ["reward-model score"])
        XCTAssertTrue(fig.title.hasPrefix("Reward-model score"))
        XCTAssertTrue(caption.contains("Reward-model score"))
        XCTAssertEqual(p.withClass("reference-line").count, 0)
    }

    // MARK: - Learning curves

    func testLearningCurvesHaveOnlyPanelsWithData() throws {
        let svg = Chart.render(try XCTUnwrap(Plots.learningCurves(runs)).figure)
        let p = parse(svg)
        assertClean(svg)
        XCTAssertEqual(p.panels, ["pretrain:loss", "sft:loss", "reward_model:loss", "reward_model:eval/accuracy",
                                  "ppo:objective/scores", "ppo:objective/kl", "dpo:rewards/margins", "dpo:rewards/accuracies",
                                  "dpo:eval/rewards/accuracies"])
        XCTAssertEqual(p.pointCounts(panel: "sft:loss"), ["alpha": 30, "beta": 10, "gamma": 8])
        XCTAssertEqual(p.pointCounts(panel: "ppo:objective/kl"), ["alpha": 11])
        XCTAssertEqual(p.pointCounts(panel: "reward_model:eval/accuracy"), ["alpha": 2])
        XCTAssertEqual(p.pointCounts(panel: "dpo:eval/rewards/accuracies"), ["beta": 2])
        // 60 pretrain steps: drawn raw + smoothed, no markers.
        XCTAssertEqual(p.pointCounts(panel: "pretrain:loss"), ["alpha": 0])
        XCTAssertEqual(p.withClass("smoothed", panel: "pretrain:loss").count, 1)
        XCTAssertEqual(p.texts("tick-y", panel: "dpo:rewards/accuracies"), ["0", "0.25", "0.5", "0.75", "1"])
        XCTAssertEqual(Set(p.texts("legend-label")), ["alpha", "beta", "gamma"])
        for panel in p.panels {
            assertNiceTicks(p.texts("tick-x", panel: panel))
            assertNiceTicks(p.texts("tick-y", panel: panel))
            XCTAssertTrue(p.texts("tick-x", panel: panel).allSatisfy { !$0.contains(".") }, "steps are whole numbers")
        }

        let only = parse(Chart.render(try XCTUnwrap(Plots.learningCurves([runs[2]])).figure))
        XCTAssertEqual(only.panels, ["sft:loss"])
        XCTAssertEqual(only.pointCounts(), ["gamma": 8])
    }

    // MARK: - Layout

    /// Tick labels of one axis never overlap, and the legend sits outside every plot area.
    func testTextDoesNotOverlap() throws {
        for fig in [Plots.winRate(runs), Plots.frontier(runs), Plots.learningCurves(runs)].compactMap({ $0?.figure }) {
            let p = parse(Chart.render(fig))
            for panel in p.panels {
                let xs = p.withClass("tick-x", panel: panel)
                for (a, b) in zip(xs, xs.dropFirst()) {
                    let gap = Double(b.attributes["x"]!)! - Double(a.attributes["x"]!)!
                    let need = (SVGWriter.textWidth(a.text, size: Chart.tickSize) + SVGWriter.textWidth(b.text, size: Chart.tickSize)) / 2
                    XCTAssertGreaterThan(gap, need + 4, "\(fig.title) \(panel): x ticks \(a.text), \(b.text)")
                }
                let ys = p.withClass("tick-y", panel: panel).map { Double($0.attributes["y"]!)! }
                for (a, b) in zip(ys, ys.dropFirst()) { XCTAssertGreaterThan(abs(a - b), Chart.tickSize + 2, "\(fig.title) \(panel): y ticks") }
            }
            let width = Double(p.elements[0].attributes["width"]!)!
            let plotRight = p.elements.filter { $0.classes.contains("tick-x") }.map { Double($0.attributes["x"]!)! }.max() ?? 0
            let titleBottom = Double(p.withClass("subtitle").last?.attributes["y"] ?? "0")!
            let firstPanelTop = p.withClass("panel-title").map { Double($0.attributes["y"]!)! - Chart.panelTitleSize }.min()
            for label in p.withClass("legend-label") {
                let x = Double(label.attributes["x"]!)!, y = Double(label.attributes["y"]!)!
                XCTAssertLessThanOrEqual(x + SVGWriter.textWidth(label.text, size: Chart.legendSize), width, "\(fig.title): legend clipped")
                if fig.legendOnTop {
                    XCTAssertGreaterThan(y - Chart.legendSize, titleBottom, "\(fig.title): legend over the subtitle")
                    if let top = firstPanelTop { XCTAssertLessThan(y + 4, top, "\(fig.title): legend over a panel") }
                } else {
                    XCTAssertGreaterThan(x - 40, plotRight, "\(fig.title): legend over the plot")
                }
            }
        }
    }

    func testHostileNamesAndEmptyValuesStayValid() throws {
        let dir = root.appendingPathComponent("weird")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try #"{"name": "a<b>&\"c\" 'd'", "stages": {}}"#.write(to: dir.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        try #"{"judge": null, "policies": [{"policy": "p&q", "by_temperature": [{"temperature": 1.0, "win_rate": 1.0, "win_rate_ci": 0.5, "kl": 0.5, "gold": 2}, {"temperature": null, "win_rate": 0.2}]}, {"policy": null}, {}], "frontier": [{"policy": "p&q", "kl": 1e308, "gold": -1e308}, {"step": 3}]}"#
            .write(to: dir.appendingPathComponent("eval.json"), atomically: true, encoding: .utf8)
        // A run's label is its directory's path; a hostile one must stay valid SVG too.
        let weird = try Report.load(dir, label: "a<b>&\"c\" 'd'")
        for fig in [Plots.winRate([weird]), Plots.frontier([weird])].compactMap({ $0?.figure }) {
            let svg = Chart.render(fig)
            _ = parse(svg)
            assertClean(svg)
            XCTAssertTrue(svg.contains("a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos; · p&amp;q"))
        }
        XCTAssertEqual(ParsedSVG(Chart.render(try XCTUnwrap(Plots.winRate([weird])).figure)).pointCounts().values.first, 1)
    }

    func testDuplicateRunNamesStayDistinct() throws {
        // Two runs of one config (the same "name") in directories of the same name: the labels
        // take as many parent directories as it takes to tell them apart.
        let other = root.appendingPathComponent("elsewhere/alpha")
        try FileManager.default.createDirectory(at: other.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: runs[0].url, to: other)
        let urls = [runs[0].url, other]
        XCTAssertEqual(PairedComparison.labels(urls), [root.lastPathComponent + "/alpha", "elsewhere/alpha"])
        let table = try Report.compare(runs: urls, out: root.appendingPathComponent("cmp"))
        XCTAssertTrue(table.contains(root.lastPathComponent + "/alpha ") && table.contains("elsewhere/alpha "), table)
    }
}
