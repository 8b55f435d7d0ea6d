import Foundation
import XCTest
@testable import Experiments

final class ReportTests: XCTestCase {
    var root: URL!
    var urls: [URL] = []

    override func setUpWithError() throws {
        (root, urls) = try FakeRuns.make()
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    func read(_ u: URL) throws -> String { try String(contentsOf: u, encoding: .utf8) }

    func testCompareWritesReportAndPlots() throws {
        let out = root.appendingPathComponent("report")
        let text = try Report.compare(runs: urls, out: out)
        XCTAssertTrue(text.contains("report: \(out.appendingPathComponent("report.md").path)"))
        let md = try read(out.appendingPathComponent("report.md"))
        for file in [Plots.winRateFile, Plots.frontierFile, Plots.learningCurvesFile] {
            let svg = try read(out.appendingPathComponent(file))
            XCTAssertNil(ParsedSVG(svg).error, file)
            XCTAssertTrue(md.contains("](\(file))"), "report.md embeds \(file)")
        }
        XCTAssertTrue(md.contains("![Win rate against the reference summaries](winrate_vs_temperature.svg)"))
        // The table is still there.
        XCTAssertTrue(md.contains("| run | policy | key hyperparameters |"))
        // The headline columns say at which temperature they were measured.
        XCTAssertTrue(text.contains("gold@T=1.00") && text.contains("kl@T=1.00"), text)
        // One section per run, with stage times and throughput.
        for name in ["### alpha", "### beta", "### gamma"] { XCTAssertTrue(md.contains(name), name) }
        XCTAssertTrue(md.contains("| sft | 2 min 01 s | 15000 |"), md)
        XCTAssertTrue(md.contains("| ppo | 1 h 02 min | 800 |"))
        XCTAssertTrue(md.contains("| reward_model | 1 min 05 s | - |"))
        XCTAssertTrue(md.contains("| dpo | - | - |"))
        XCTAssertTrue(md.contains("| pretrain | 30.2 s | 20000 | final_loss 4.5 |"))
        XCTAssertTrue(md.contains("Evaluation: judge gold on 200 held-out prompts; reference summaries score 1.900 (gold); 5 training snapshots evaluated."))
        XCTAssertTrue(md.contains("Evaluation: judge reward model on 100 held-out prompts; 2 training snapshots evaluated."))
        XCTAssertTrue(md.contains("No eval.json: this run was not evaluated."))
        XCTAssertTrue(md.contains("- data: synthetic tl;dr"))
        // The reward-hacking watch: each sign's first step against the judge's peak, for the one
        // stage that has them; its keys stay out of the stage's final metrics.
        XCTAssertTrue(md.contains("| run | stage | judge peak | kl accelerating | entropy collapsing | length drifting | reward judge diverging |"), md)
        XCTAssertTrue(md.contains("| alpha | ppo | 20 | 11 (9 before) | - | 20 (at the peak) | 26 (6 after) |"), md)
        XCTAssertEqual(md.components(separatedBy: "| judge peak |").count, 2, "one watch table")
        XCTAssertTrue(md.contains("| ppo | 1 h 02 min | 800 | objective/scores 1.2 |"), md)
        XCTAssertFalse(md.contains("No win rate"))
        XCTAssertFalse(md.lowercased().contains("nan"))
    }

    func testRunWithoutEvalGetsLearningCurvesOnly() throws {
        let out = root.appendingPathComponent("gamma-report")
        _ = try Report.compare(runs: [urls[2]], out: out)
        let md = try read(out.appendingPathComponent("report.md"))
        let fm = FileManager.default
        XCTAssertFalse(fm.fileExists(atPath: out.appendingPathComponent(Plots.winRateFile).path))
        XCTAssertFalse(fm.fileExists(atPath: out.appendingPathComponent(Plots.frontierFile).path))
        XCTAssertTrue(fm.fileExists(atPath: out.appendingPathComponent(Plots.learningCurvesFile).path))
        XCTAssertTrue(md.contains("](learning_curves.svg)"))
        XCTAssertFalse(md.contains("](winrate_vs_temperature.svg)"))
        XCTAssertTrue(md.contains("No win rate against temperature or reward against KL plot: no run has an eval.json"))
        XCTAssertTrue(md.contains("| sft | 10.0 s | - |"))
        XCTAssertTrue(md.contains("| total | 10.0 s | | |"))
    }

    func testPlotsOfAnEarlierCompareAreReplaced() throws {
        let out = root.appendingPathComponent("shared")
        _ = try Report.compare(runs: urls, out: out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(Plots.winRateFile).path))
        _ = try Report.compare(runs: [urls[2]], out: out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent(Plots.winRateFile).path),
                       "a win-rate plot from another comparison would sit next to this report")
    }

    func testDefaultReportDirectoryIsInsideTheFirstRun() throws {
        _ = try Report.compare(runs: [urls[1]], out: nil)
        let dir = urls[1].appendingPathComponent("report")
        for f in ["report.md", Plots.winRateFile, Plots.frontierFile, Plots.learningCurvesFile] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
    }

    func testDurations() {
        XCTAssertEqual(ReportWriter.duration(45.24), "45.2 s")
        XCTAssertEqual(ReportWriter.duration(125), "2 min 05 s")
        XCTAssertEqual(ReportWriter.duration(3725), "1 h 02 min")
        XCTAssertEqual(ReportWriter.duration(.nan), "-")
    }

    func testWinScoreCountsNearTiesAsHalf() {
        XCTAssertEqual(winScore(3.6, 3.5, tie: 0.1), 0.5)      // within the margin (inclusive)
        XCTAssertEqual(winScore(3.62, 3.5, tie: 0.1), 1)
        XCTAssertEqual(winScore(3.38, 3.5, tie: 0.1), 0)
        XCTAssertEqual(winScore(3.5, 3.5, tie: 0), 0.5)        // strict comparison: only exact ties
        XCTAssertEqual(winScore(3.5001, 3.5, tie: 0), 1)
    }
}
