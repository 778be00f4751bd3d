import Engine
import Foundation
import TestSupport
import XCTest

/// `segment`, `explain` and `evaluate` on a real CT that nnU-Net resamples (the `resample_iso`
/// folder of EngineTests/Fixtures/nnunet/make_resampling_fixtures.py: plans spacing 2.0 mm,
/// scan 1.5 mm).
final class NNUNetResamplingCommandTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")

    /// A 1.5 mm CT that nnU-Net resamples to the plans' 2.0 mm (make_resampling_fixtures.py):
    /// `segment` writes nnUNetPredictor's label map on the scan's grid, `--grid model` the argmax
    /// on the resampled network grid; `explain --out` brings the map back with order 1, as nnU-Net
    /// brings back its logits.
    func testSegmentAndExplainOnAScanThatNNUNetResamples() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = fixtures.appendingPathComponent("resample_ct.nii.gz").path
        let folder = fixtures.appendingPathComponent("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres").path
        let result = try runAgg2Exp(["segment", scan, "--model", folder, "--out", dir + "/seg.nii.gz"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let written = try NIfTI.readLabelMap(dir + "/seg.nii.gz")
        let reference = try NIfTI.readLabelMap(fixtures.appendingPathComponent("resample_iso_predicted.nii.gz").path)
        XCTAssertEqual(written.grid.dims, reference.grid.dims)
        let agree = Double(zip(written.labels, reference.labels).filter { $0 == $1 }.count) / Double(written.labels.count)
        XCTAssertGreaterThanOrEqual(agree, 0.995)

        let pipeline = try NNUNetFolder(path: folder).pipeline()
        let volume = try NIfTI.readVolume(scan)
        let input = try pipeline.prepare(volume, scanPath: scan)
        let onModel = try runAgg2Exp(["segment", scan, "--model", folder, "--grid", "model", "--out", dir + "/net.nii.gz"])
        XCTAssertEqual(onModel.status, 0, onModel.stderr)
        let network = try NIfTI.readLabelMap(dir + "/net.nii.gz")
        XCTAssertEqual(network.grid.dims, input.grid.dims)
        assertAffineClose(network.grid.affine, input.grid.affine, tol: 1e-4)
        let labels = try pipeline.networkLabels(input)
        XCTAssertEqual(Tensor(shape: input.tensor.shape, data: labels.map(Float.init)).volume(channel: 0, grid: input.grid)
            .voxels.map { Int32($0) }, network.labels)

        let explained = try runAgg2Exp(["explain", scan, "--model", folder, "--target", "soft", "--method", "gradient",
                                        "--out", dir + "/grad.nii.gz"])
        XCTAssertEqual(explained.status, 0, explained.stderr)
        let model = NNUNetModel(pipeline: pipeline)
        let gradient = try model.targetGradient(input.tensor, target: SegmentTarget(classIndex: 1, mask: labels),
                                                progress: nil, cancel: nil)
        let map = try NIfTI.readVolume(dir + "/grad.nii.gz")
        XCTAssertEqual(map.grid.dims, volume.grid.dims)
        XCTAssertEqual(maxAbsDifference(map.voxels, input.onScanGrid(gradient.data).voxels), 0)
        XCTAssertTrue(map.voxels.contains { $0 != 0 })
    }

    /// `evaluate` with an nnU-Net folder: the metrics of the network-grid gradient over nnU-Net's
    /// label map, equal to the engine's metric functions on the same NNUNetModel (those functions
    /// are checked against Quantus in ExplainCommandsTests).
    func testEvaluateWithAnNNUNetFolder() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = fixtures.appendingPathComponent("resample_ct.nii.gz").path
        let folder = fixtures.appendingPathComponent("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres").path
        let r = try runAgg2Exp(["evaluate", scan, "--model", folder, "--methods", "gradient", "--targets", "soft",
                                "--runs", "4", "--subset-size", "500", "--sensitivity-samples", "1",
                                "--json", dir + "/e.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/e.json")))
            as? [String: Any])
        let row = try XCTUnwrap((object["results"] as? [[String: Any]])?.first)

        let pipeline = try NNUNetFolder(path: folder).pipeline()
        let model = NNUNetModel(pipeline: pipeline)
        let input = try pipeline.prepare(try NIfTI.readVolume(scan), scanPath: scan)
        let labels = try pipeline.networkLabels(input)
        let target = SegmentTarget(classIndex: 1, mask: labels)
        let gradient = try AttributionMethods.make(.gradient, options: AttributionOptions())
        let map = try gradient.attribute(input.tensor, model: model, target: target, progress: nil, cancel: nil).map
        let faithfulness = FaithfulnessCorrelation(subsetSize: 500, runs: 4)
        let subsets = try faithfulness.subsets(voxelCount: input.tensor.count)
        let deltas = try faithfulness.predictionDeltas(model: model, input: input.tensor, classes: [1], subsets: subsets,
                                                       progress: nil, cancel: nil)[0]
        let want = try XCTUnwrap(FaithfulnessCorrelation.score(attribution: map.data, subsets: subsets, deltas: deltas))
        XCTAssertEqual(try XCTUnwrap(row["faithfulness"] as? Double), want, accuracy: 1e-12)
        let sensitivity = try XCTUnwrap(try AvgSensitivity(samples: 1).score(method: gradient, model: model, input: input.tensor,
                                                                             target: target, reference: map,
                                                                             progress: nil, cancel: nil))
        XCTAssertEqual(try XCTUnwrap(row["sensitivity"] as? Double), sensitivity, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(row["complexity"] as? Double), try XCTUnwrap(effectiveComplexity(map.data)),
                       accuracy: 1e-12)

        // nnU-Net options need an nnU-Net folder; an absent fold is named.
        let sample = try XCTUnwrap(SampleData.modelDirectory)
        let usage = try runAgg2Exp(["evaluate", scan, "--model", sample, "--methods", "gradient", "--targets", "1",
                                    "--folds", "0"])
        XCTAssertEqual(usage.status, 64, usage.stderr)
        let absent = try runAgg2Exp(["evaluate", scan, "--model", folder, "--methods", "gradient", "--targets", "soft",
                                     "--folds", "2"])
        XCTAssertEqual(absent.status, 1)
        XCTAssertTrue(absent.stderr.contains("fold 2 is not present (present: 0)"), absent.stderr)
    }
}
