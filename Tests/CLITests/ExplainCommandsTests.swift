import Engine
import Foundation
import TestSupport
import XCTest

/// End-to-end runs of explain / aggregate / merge / global / evaluate on the tiny batch-norm
/// parity model (Fixtures/network/batch) and a small synthetic CT, so they stay fast.
final class ExplainCommandsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures")
    static let model = fixtures.appendingPathComponent("network/batch").path

    /// A 24×20×12 CT at the model's 1.5 mm spacing in RAS, smooth HU structure plus noise.
    func makeScan(_ dir: String, name: String, seed: UInt64) throws -> String {
        var rng = SeededGenerator(seed: seed)
        let grid = Grid(dims: [24, 20, 12], affine: .scaling([1.5, 1.5, 1.5], origin: [-10, 5, 3]))
        var voxels = [Float](repeating: 0, count: grid.voxelCount)
        for k in 0..<12 {
            for j in 0..<20 {
                for i in 0..<24 {
                    let r = (Double(i - 12) * Double(i - 12) + Double(j - 10) * Double(j - 10)).squareRoot()
                    voxels[grid.index(i, j, k)] = Float(r < 6 ? 300 : -700) + Float(200 * rng.normal())
                }
            }
        }
        let path = dir + "/" + name
        try NIfTI.write(Volume(grid: grid, voxels: voxels), to: path)
        return path
    }

    func testExplainWritesMapRankingAndRow() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try makeScan(dir, name: "ct.nii.gz", seed: 1)
        let r = try runAgg2Exp(["explain", scan, "--model", Self.model, "--target", "organ",
                                "--method", "integrated-gradients", "--steps", "4",
                                "--out", dir + "/a.nii.gz", "--json", dir + "/r.json", "--csv", dir + "/m.csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let map = try NIfTI.readVolume(dir + "/a.nii.gz")
        XCTAssertEqual(map.grid.dims, [24, 20, 12])
        XCTAssertTrue(map.grid.affine.isClose(to: .scaling([1.5, 1.5, 1.5], origin: [-10, 5, 3])))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r.json"))) as? [String: Any])
        XCTAssertEqual((object["target"] as? [String: Any])?["name"] as? String, "organ")
        let segments = try XCTUnwrap(object["segments"] as? [[String: Any]])
        let masses = segments.compactMap { $0["mass"] as? Double }
        XCTAssertEqual(masses, masses.sorted(by: >))
        XCTAssertEqual(masses.reduce(0, +), 1, accuracy: 1e-9)
        XCTAssertNotNil(object["completeness_delta"] as? Double)
        // The CSV row and the map agree: mass in "organ" recomputed from the written map.
        let table = try ResultsTable.read(URL(fileURLWithPath: dir + "/m.csv"))
        XCTAssertEqual(table.patients, ["ct"])
        let organ = try XCTUnwrap(segments.first { $0["name"] as? String == "organ" }?["mass"] as? Double)
        XCTAssertEqual(try XCTUnwrap(table.column("organ_explanation_in_organ_mass")?.first ?? nil), organ, accuracy: 1e-12)
    }

    func testBadInputsGiveClearErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try makeScan(dir, name: "ct.nii.gz", seed: 2)
        let unknown = try runAgg2Exp(["explain", scan, "--model", Self.model, "--target", "liver", "--method", "gradient"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("unknown target \"liver\"; valid targets: background, organ, vessel"), unknown.stderr)

        let shard = try runAgg2Exp(["aggregate", scan, "--model", Self.model, "--method", "gradient",
                                    "--csv", dir + "/o.csv", "--shard", "3/2"])
        XCTAssertNotEqual(shard.status, 0)
        XCTAssertTrue(shard.stderr.contains("\"3/2\" is not a shard"), shard.stderr)

        // An RoI map on another grid.
        let roi = dir + "/roi.nii.gz"
        try NIfTI.write(LabelMap(grid: Grid(dims: [24, 20, 11], affine: .scaling([1.5, 1.5, 1.5])),
                                 labels: [Int32](repeating: 1, count: 24 * 20 * 11)), to: roi)
        let mismatch = try runAgg2Exp(["explain", scan, "--model", Self.model, "--target", "organ",
                                       "--method", "gradient", "--roi", roi])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(mismatch.stderr.contains("is not on the grid of scan"), mismatch.stderr)
    }

    func testEmptyTargetMaskIsReportedAsUndefined() throws {
        let dir = try makeTemporaryDirectory(self)
        // Uniform air: find a class the model does not predict anywhere.
        let grid = Grid(dims: [16, 16, 12], affine: .scaling([1.5, 1.5, 1.5]))
        let scan = dir + "/air.nii.gz"
        try NIfTI.write(Volume(grid: grid, voxels: [Float](repeating: -1000, count: grid.voxelCount)), to: scan)
        let seg = try runAgg2Exp(["explain", scan, "--model", Self.model, "--target", "all", "--method", "gradient",
                                  "--csv", dir + "/all.csv"])
        XCTAssertEqual(seg.status, 0, seg.stderr)
        let table = try ResultsTable.read(URL(fileURLWithPath: dir + "/all.csv"))
        let absent = try XCTUnwrap(["background", "organ", "vessel"].first { name in
            table.column("\(name)_explanation_in_\(name)_mean")?.first ?? nil == nil
        }, "a uniform scan leaves some class unpredicted")
        let r = try runAgg2Exp(["explain", scan, "--model", Self.model, "--target", absent, "--method", "gradient",
                                "--json", dir + "/e.json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("has no predicted voxels"), r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/e.json"))) as? [String: Any])
        let segments = try XCTUnwrap(object["segments"] as? [[String: Any]])
        XCTAssertTrue(segments.allSatisfy { $0["mass"] is NSNull })
    }

    func testShardedAggregateMergesToTheUnshardedRunAndGlobalReadsIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let scans = try (1...3).map { try makeScan(dir, name: "s\($0).nii.gz", seed: UInt64($0)) }
        let gt = dir + "/{id}_gt.nii.gz"
        for (n, s) in scans.enumerated() {
            // Ground truth = the model's own segmentation, so Dice is 1 for every predicted class.
            let r = try runAgg2Exp(["segment", s, "--model", Self.model, "--out", dir + "/s\(n + 1)_gt.nii.gz"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        func aggregate(_ extra: [String], _ out: String) throws {
            let r = try runAgg2Exp(["aggregate"] + scans + ["--model", Self.model, "--method", "input-x-gradient",
                                                           "--ground-truth", gt,
                                                           "--csv", out] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        try aggregate([], dir + "/all.csv")
        try aggregate(["--shard", "0/2"], dir + "/p0.csv")
        try aggregate(["--shard", "1/2"], dir + "/p1.csv")
        let merge = try runAgg2Exp(["merge", dir + "/p1.csv", dir + "/p0.csv", "--csv", dir + "/merged.csv"])
        XCTAssertEqual(merge.status, 0, merge.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/merged.csv", encoding: .utf8),
                       try String(contentsOfFile: dir + "/all.csv", encoding: .utf8))
        let table = try ResultsTable.read(URL(fileURLWithPath: dir + "/all.csv"))
        XCTAssertEqual(table.patients, ["s1", "s2", "s3"])
        XCTAssertTrue((table.column("organ_dice") ?? []).allSatisfy { $0 == nil || $0 == 1 })
        let global = try runAgg2Exp(["global", dir + "/all.csv", "--json", dir + "/g.json"])
        XCTAssertEqual(global.status, 0, global.stderr)
        XCTAssertTrue(global.stdout.contains("target organ"), global.stdout)
        // SLURM array variables shard without flags.
        let slurm = try runAgg2Exp(["aggregate"] + scans + ["--model", Self.model, "--method", "input-x-gradient",
                                                           "--csv", dir + "/slurm.csv"],
                                   environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"])
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
        XCTAssertEqual(try ResultsTable.read(URL(fileURLWithPath: dir + "/slurm.csv")).patients, ["s2", "s3"])
    }

    /// `evaluate` against Quantus 0.6.0 (Fixtures/evaluate/make_quantus_reference.py): the same 16³ CT and
    /// model, attributions recomputed with torch autograd, metrics by Quantus with the engine's random draws
    /// replayed into it. Faithfulness and sensitivity agree to float32 rounding of the logits and maps
    /// (measured ≤ 1e-7; tolerance 1e-5). Complexity is a voxel count / N: it may differ only by the voxels
    /// the script finds within 1e-4 of the 0.1 threshold (0 or 1 per map), which float32 may put either side.
    /// KernelSHAP and occlusion are not here: Quantus has no twin of their attributions, and the metric
    /// code is the same for every method.
    func testEvaluateMatchesQuantus() throws {
        let dir = try makeTemporaryDirectory(self)
        let fixture = Self.fixtures.appendingPathComponent("evaluate")
        let reference = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: fixture.appendingPathComponent("quantus.json"))) as? [String: Any])
        let arguments = try XCTUnwrap(reference["arguments"] as? [String])
        let expected = try XCTUnwrap(reference["results"] as? [[String: Any]])
        let r = try runAgg2Exp(["evaluate", fixture.appendingPathComponent("ct.nii.gz").path, "--model", Self.model]
                               + arguments + ["--json", dir + "/e.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("target ") }, ["target organ", "target vessel"])
        XCTAssertEqual(lines.filter { $0.hasPrefix("gradient ") }.count, 3) // mean + two targets
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/e.json"))) as? [String: Any])
        let results = try XCTUnwrap(object["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, expected.count)
        let voxels = try XCTUnwrap(reference["voxels"] as? Int)
        for (row, want) in zip(results, expected) {
            let label = "\(want["method"] ?? "?") → \(want["target"] ?? "?")"
            XCTAssertEqual(row["method"] as? String, want["method"] as? String)
            XCTAssertEqual(row["target"] as? String, want["target"] as? String)
            for metric in ["faithfulness", "sensitivity"] {
                XCTAssertEqual(try XCTUnwrap(row[metric] as? Double), try XCTUnwrap(want[metric] as? Double),
                               accuracy: 1e-5, "\(metric) of \(label)")
            }
            let count = try XCTUnwrap(row["complexity"] as? Double) * Double(voxels)
            let near = try XCTUnwrap(want["complexity_near_threshold"] as? Int)
            XCTAssertEqual(count, Double(try XCTUnwrap(want["complexity_count"] as? Int)), accuracy: Double(near) + 1e-6,
                           "complexity of \(label)")
        }
        let summary = try XCTUnwrap(object["summary"] as? [String: [String: Any]])
        XCTAssertEqual(Set(summary.keys), ["gradient", "input-x-gradient", "integrated-gradients", "smoothgrad"])
        let gradientRows = expected.filter { $0["method"] as? String == "gradient" }
        let meanFaithfulness = gradientRows.compactMap { $0["faithfulness"] as? Double }.reduce(0, +) / 2
        XCTAssertEqual(try XCTUnwrap(summary["gradient"]?["faithfulness"] as? Double), meanFaithfulness, accuracy: 1e-5)
    }
}
