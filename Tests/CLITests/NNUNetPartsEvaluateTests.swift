import Engine
import Foundation
import TestSupport
import XCTest

/// `evaluate` with the two-part TotalSegmentator-style model (EngineTests/Fixtures/nnunet/
/// make_parts_fixtures.py) on a 1.5 mm crop of a real CT that TotalSegmentator's pre-step zooms
/// to 3 mm (one tile per part).
final class NNUNetPartsEvaluateTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")
    private var partFolders: [String] {
        ["Dataset291_TotalSegmentator_part1_fixture", "Dataset292_TotalSegmentator_part2_fixture"].map {
            fixtures.appendingPathComponent("parts/\($0)/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres").path
        }
    }

    private func evaluate(_ models: [String], targets: String, dir: String, name: String) throws -> [String: [String: Double]] {
        let scan = fixtures.appendingPathComponent("resample_ct.nii.gz").path
        let json = dir + "/\(name).json"
        let r = try runAgg2Exp(["evaluate", scan, "--methods", "gradient", "--targets", targets, "--runs", "4",
                                "--subset-size", "300", "--sensitivity-samples", "1", "--json", json]
                               + models.flatMap { ["--model", $0] })
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
            as? [String: Any])
        var out: [String: [String: Double]] = [:]
        for row in try XCTUnwrap(object["results"] as? [[String: Any]]) {
            let target = try XCTUnwrap(row["target"] as? String)
            out[target] = ["faithfulness", "sensitivity", "complexity"].reduce(into: [:]) { $0[$1] = row[$1] as? Double }
        }
        return out
    }

    /// A class of the last part: nothing overwrites it, so the two-part results are part 2's own.
    /// A class of the first part: its mask is the merged map's, and the values are the engine's
    /// metrics through part 1 with that mask.
    func testEachTargetIsEvaluatedThroughThePartThatPredictsIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let both = try evaluate(partFolders, targets: "vertebrae_L1,liver", dir: dir, name: "both")
        let alone = try evaluate([partFolders[1]], targets: "vertebrae_L1", dir: dir, name: "alone")
        let vertebra = try XCTUnwrap(both["vertebrae_L1"]), own = try XCTUnwrap(alone["vertebrae_L1"])
        for metric in ["faithfulness", "sensitivity", "complexity"] {
            XCTAssertEqual(try XCTUnwrap(vertebra[metric]), try XCTUnwrap(own[metric]), accuracy: 1e-12, metric)
        }

        let scanPath = fixtures.appendingPathComponent("resample_ct.nii.gz").path
        let scan = try NIfTI.readVolume(scanPath)
        let parts = try NNUNetParts(parts: partFolders.map {
            NNUNetModel(pipeline: try NNUNetFolder(path: $0).pipeline(folds: ["0"], tileStep: 0.8))
        })
        let inputs = try parts.parts.map { try $0.pipeline.prepareAsTotalSegmentator(scan, scanPath: scanPath) }
        let merged = parts.merge(try zip(parts.parts, inputs).map { try $0.pipeline.networkLabels($1) })
        let mask = parts.labels(merged, inPart: 0)
        XCTAssertNotEqual(mask, try parts.parts[0].pipeline.networkLabels(inputs[0]),
                          "part 2 overwrites part 1 somewhere, so the merged mask matters")
        let (model, input) = (parts.parts[0], inputs[0].tensor)
        let target = SegmentTarget(classIndex: 1, mask: mask)
        let gradient = try AttributionMethods.make(.gradient, options: AttributionOptions())
        let map = try gradient.attribute(input, model: model, target: target, progress: nil, cancel: nil).map
        let faithfulness = FaithfulnessCorrelation(subsetSize: 300, runs: 4)
        let subsets = try faithfulness.subsets(voxelCount: input.count)
        let deltas = try faithfulness.predictionDeltas(model: model, input: input, classes: [1], subsets: subsets,
                                                       progress: nil, cancel: nil)[0]
        let liver = try XCTUnwrap(both["liver"])
        XCTAssertEqual(try XCTUnwrap(liver["faithfulness"]),
                       try XCTUnwrap(FaithfulnessCorrelation.score(attribution: map.data, subsets: subsets, deltas: deltas)),
                       accuracy: 1e-12)
        let sensitivity = try AvgSensitivity(samples: 1).score(method: gradient, model: model, input: input, target: target,
                                                               reference: map, progress: nil, cancel: nil)
        XCTAssertEqual(try XCTUnwrap(liver["sensitivity"]), try XCTUnwrap(sensitivity), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(liver["complexity"]), try XCTUnwrap(effectiveComplexity(map.data)), accuracy: 1e-12)

        let help = try runAgg2Exp(["evaluate", "--help"])
        XCTAssertTrue(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("through the part that predicts it"),
                      help.stdout)
    }
}
