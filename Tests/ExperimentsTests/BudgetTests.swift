import Foundation
import JSON
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Experiments

/// `rlhf compare` at equal budget: snapshots placed by preference labels, FLOPs and KL, and the
/// win rate of each method at the largest budget every method reached.
final class BudgetTests: XCTestCase {
    /// One run with three methods. Costs by hand:
    /// - ppo (reward model; snapshots at 1 and 2, final policy at 3): labels 40 (the reward
    ///   model's) at every step; FLOPs 500·s of its own + 100 (preferences) + 1000 (reward model)
    ///   = 1600, 2100, 2600; KL 0.5, 3, 6; win 0.5, 0.6, 0.7.
    /// - dpo (snapshots at 2 and 4 = its last step): labels 40 (its data set), FLOPs 10·s + 100
    ///   = 120, 140; KL 1, 2; win 0.55, 0.6.
    /// - online_dpo (simulated labelers, 32 labels over 4 steps; snapshot at 2, final policy at 4):
    ///   labels 16, 32; FLOPs 50·s = 100, 200 (no upstream stage); KL 0.8, 1.5; win 0.52, 0.58.
    static func run() throws -> Report.RunData {
        let summary = try JSONParser.parse("""
        {"stages": {"preferences": {"cost/flops": 100}, "reward_model": {"cost/labels": 40, "cost/flops": 1000},
                    "ppo": {"iterations": 3}, "dpo": {"steps": 4, "cost/labels": 40},
                    "online_dpo": {"steps": 4, "cost/labels": 32}}}
        """)
        let config = try JSONParser.parse(#"{"ppo": {"reward": "reward_model"}, "dpo": {}, "online_dpo": {"judge": "labelers"}}"#)
        let eval = try JSONParser.parse("""
        {"judge": "gold", "policies": [
          {"policy": "sft", "by_temperature": [{"temperature": 1.0, "win_rate": 0.3, "kl": 0}]},
          {"policy": "ppo", "by_temperature": [{"temperature": 0.0, "win_rate": 0.9, "kl": 9}, {"temperature": 1.0, "win_rate": 0.7, "win_rate_ci": 0.04, "kl": 6}]},
          {"policy": "dpo", "by_temperature": [{"temperature": 1.0, "win_rate": 0.6, "kl": 2}]},
          {"policy": "online_dpo", "by_temperature": [{"temperature": 1.0, "win_rate": 0.58, "win_rate_ci": 0.05, "kl": 1.5}]}],
         "frontier": [
          {"policy": "ppo", "step": 2, "win_rate": 0.6, "kl": 3},
          {"policy": "ppo", "step": 1, "win_rate": 0.5, "kl": 0.5},
          {"policy": "dpo", "step": 2, "win_rate": 0.55, "kl": 1},
          {"policy": "dpo", "step": 4, "win_rate": 0.6, "kl": 2},
          {"policy": "online_dpo", "step": 2, "win_rate": 0.52, "kl": 0.8}]}
        """)
        var metrics: [JSONValue] = []
        for (stage, steps, perStep) in [("ppo", 3, 500.0), ("dpo", 4, 10.0), ("online_dpo", 4, 50.0)] {
            for s in 1...steps {
                metrics.append(JSONValue(["stage": stage, "step": s, "cost/flops": perStep * Double(s), "elapsed": 1.0]))
            }
        }
        return Report.RunData(url: URL(fileURLWithPath: "/runs/r"), name: "r", summary: summary, eval: eval, config: config, metrics: metrics)
    }

    func testCostsOfEachSnapshot() throws {
        let curves = Budget.curves([try Self.run()])
        XCTAssertEqual(curves.map(\.label), ["r · ppo", "r · dpo", "r · online_dpo"], "SFT has no budget curve")
        let ppo = curves[0].points, dpo = curves[1].points, online = curves[2].points
        XCTAssertEqual(ppo.map(\.step), [1, 2, 3], "snapshots in step order, then the final policy")
        XCTAssertEqual(ppo.map(\.labels), [40, 40, 40])
        XCTAssertEqual(ppo.map(\.flops), [1600, 2100, 2600])
        XCTAssertEqual(ppo.map(\.kl), [0.5, 3, 6])
        XCTAssertEqual(ppo.map(\.win), [0.5, 0.6, 0.7])
        XCTAssertEqual(ppo.last?.winCI, 0.04, "the final policy's row at T = 1")
        XCTAssertEqual(dpo.map(\.step), [2, 4], "a snapshot at the last step is the final policy")
        XCTAssertEqual(dpo.map(\.labels), [40, 40])
        XCTAssertEqual(dpo.map(\.flops), [120, 140])
        XCTAssertEqual(online.map(\.step), [2, 4])
        XCTAssertEqual(online.map(\.labels), [16, 32])
        XCTAssertEqual(online.map(\.flops), [100, 200])
    }

    func testTableAtEqualBudget() throws {
        let curves = Budget.curves([try Self.run()])
        XCTAssertEqual(Budget.commonBudget(curves, .labels), 32)
        XCTAssertEqual(Budget.commonBudget(curves, .flops), 140)
        XCTAssertEqual(Budget.commonBudget(curves, .kl), 1.5)
        let table = try XCTUnwrap(Budget.table(curves))
        XCTAssertEqual(table.header, ["run · policy", "win @ ≤ 32 labels", "step", "win @ ≤ 140 FLOP", "step", "win @ KL ≤ 1.50", "step"])
        XCTAssertEqual(table.rows, [
            // ppo: 40 labels from its first snapshot on; 1600 FLOPs already; KL 0.5 at step 1, then 3.
            ["r · ppo", "-", "-", "-", "-", "0.500", "1"],
            // dpo: 40 labels before its first step; 140 FLOPs at step 4; KL 1 at step 2, then 2.
            ["r · dpo", "-", "-", "0.600", "4", "0.550", "2"],
            // online DPO: 32 labels and KL 1.5 at its final step 4; 100 FLOPs at step 2, then 200.
            ["r · online_dpo", "0.580±0.05", "4", "0.520", "2", "0.580±0.05", "4"],
        ])
        // KL is read in step order: the last snapshot before the curve first exceeds the budget.
        let wandering = Budget.Curve(label: "w", styleIndex: 0, points: [
            Budget.Point(step: 1, kl: 1, win: 0.1), Budget.Point(step: 2, kl: 3, win: 0.2), Budget.Point(step: 3, kl: 1.2, win: 0.3)])
        XCTAssertEqual(Budget.read(wandering, .kl, at: 2)?.step, 1)
        XCTAssertNil(Budget.read(wandering, .kl, at: 0.5))
        XCTAssertNil(Budget.table([wandering]), "one method: nothing to match")
        XCTAssertEqual(Budget.describe(.flops, 2.41e12), "≤ 2.41 TFLOP")
    }

    func testPlotsHaveOneSeriesPerMethodOnEachAxis() throws {
        let fig = try XCTUnwrap(Budget.figure([try Self.run()])).figure
        let svg = Chart.render(fig)
        let p = ParsedSVG(svg)
        XCTAssertNil(p.error)
        XCTAssertEqual(p.panels, ["budget-labels", "budget-flops", "budget-kl"])
        for panel in p.panels {
            XCTAssertEqual(p.pointCounts(panel: panel), ["r · ppo": 3, "r · dpo": 2, "r · online_dpo": 2], panel)
        }
        XCTAssertEqual(p.texts("axis-label-x"), ["preference labels used (pairs)", "training + inference FLOPs (kFLOP)", "KL(π‖π_SFT), nats per sequence"])
        XCTAssertEqual(Set(p.texts("axis-label-y")), ["win rate vs. reference (T = 1)"])
        let legend = p.texts("legend-label")
        for name in ["r · ppo", "r · dpo", "r · online_dpo"] { XCTAssertTrue(legend.contains(name), "\(legend)") }
        // The colours and markers are the policy's in the other plots (index in eval.json order, SFT first).
        XCTAssertEqual(fig.panels[0].series.map(\.style), [1, 2, 3].map { Chart.Style.indexed($0) })
        XCTAssertNil(Budget.figure([Report.RunData(url: URL(fileURLWithPath: "/x"), name: "x", summary: .object([]), eval: nil, config: nil, metrics: [])]))
    }

    func testReplicateReadsSharedStagesFromItsSet() throws {
        // A replicate (seed-S) ran only the methods: the reward model's labels and FLOPs come from
        // the set's directory, named by init_from.
        let set = FileManager.default.temporaryDirectory.appendingPathComponent("budget-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: set) }
        try #"{"stages": {"preferences": {"cost/flops": 100}, "reward_model": {"cost/labels": 40, "cost/flops": 1000}}}"#
            .write(to: set.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        let full = try Self.run()
        guard case .object(var stages) = full.summary["stages"]! else { return XCTFail() }
        stages.removeAll { ["preferences", "reward_model"].contains($0.0) }
        guard case .object(var config) = full.config! else { return XCTFail() }
        config.append(("init_from", .string(set.path)))
        let child = Report.RunData(url: full.url, name: "r", summary: .object([("stages", .object(stages))]), eval: full.eval,
                                   config: .object(config), metrics: full.metrics)
        XCTAssertEqual(Budget.curves([child]), Budget.curves([full]))
    }
}
