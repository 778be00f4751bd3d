import Engine
import Foundation
import TestSupport
import XCTest

/// nnU-Net's test-time mirroring against nnUNetPredictor(use_mirroring=True) and against PyTorch
/// autograd through the same mirrored average (Fixtures/nnunet/make_mirror_fixtures.py). The
/// folder's checkpoint allows axes (0, 2) only, so mirroring over every axis would not match.
final class NNUNetMirrorTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/nnunet/\(name)").path
    }

    private func folder() throws -> NNUNetFolder {
        try NNUNetFolder(path: try fixture("mirror/nnUNetTrainer__nnUNetPlans__3d_fullres"))
    }

    private func reference() throws -> SafetensorsFile {
        try SafetensorsFile(path: try fixture("expected_mirror.safetensors"))
    }

    /// The checkpoint's axes, nnUNetPredictor's float16 network-grid logits within 1e-4 relative
    /// L2, and label agreement ≥ 99.5 % with its output file on the 1.5 mm CT crop (resampled
    /// to 2.0 mm; 8 tiles × 4 passes).
    func testMirroredLogitsAndLabelsMatchNNUNetPredictor() throws {
        let expected = try reference()
        XCTAssertEqual(try folder().pipeline().mirrorAxes, [], "mirroring is off unless asked for")
        let pipeline = try folder().pipeline(mirror: true)
        XCTAssertEqual(pipeline.mirrorAxes, try expected.integers("axes"), "nnUNetPredictor.allowed_mirroring_axes")
        XCTAssertEqual(pipeline.mirrorAxes, [0, 2])

        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        let input = try pipeline.prepare(scan, scanPath: scanPath)
        XCTAssertEqual(input.shape, [36, 48, 42])
        let logits = try pipeline.networkLogits(input)
        let want = try expected.floats("logits")
        XCTAssertEqual(logits.count, want.count)
        let logitError = relativeL2Error(logits.map(Float.init), want)
        let equal = zip(logits, want).filter { Float($0) == $1 }.count
        print("nnU-Net mirrored logits vs nnUNetPredictor: relative L2 \(logitError), \(equal) of \(want.count) float16 values equal")
        XCTAssertLessThanOrEqual(logitError, 1e-4)
        // Without mirroring, or mirrored over every axis, the logits are far from nnU-Net's.
        for axes in [[], [0, 1, 2]] {
            let other = NNUNetPipeline(folder: pipeline.folder, network: pipeline.network, mirrorAxes: axes)
            let error = relativeL2Error(try other.networkLogits(input).map(Float.init), want)
            print("nnU-Net logits mirrored over \(axes) vs nnUNetPredictor over [0, 2]: relative L2 \(error)")
            XCTAssertGreaterThan(error, 100 * logitError, "\(axes)")
        }

        let labels = input.labelMapOnScan(pipeline.sourceLabels(input, logits: logits))
        let predicted = try NIfTI.readLabelMap(try fixture("mirror_predicted.nii.gz"))
        XCTAssertEqual(labels.grid.dims, predicted.grid.dims)
        let agree = Double(zip(labels.labels, predicted.labels).filter { $0 == $1 }.count) / Double(labels.labels.count)
        print("nnU-Net mirrored label agreement with nnUNetPredictor: \(agree)")
        XCTAssertGreaterThanOrEqual(agree, 0.995)
    }

    /// One tile (a 20×24×18 input padded to the 32³ patch): the mirrored stitched logits within
    /// 1e-4 and the gradients of the stitched sum and prob-weighted targets within 1e-3 relative
    /// L2 of PyTorch float64 autograd through the mirrored average.
    func testMirroredStitchedGradientOnOneTileMatchesPyTorch() throws {
        let expected = try reference()
        let input = try expected.tensor("input")
        let model = NNUNetModel(pipeline: try folder().pipeline(mirror: true), windowTarget: .stitched)
        XCTAssertEqual(model.tiling(Array(input.shape[1...])).starts, [[0, 0, 0]], "one tile")

        let logits = try model.logits(input, progress: nil, cancel: nil)
        let logitError = relativeL2Error(logits.data, try expected.floats("tile_logits"))
        XCTAssertLessThanOrEqual(logitError, 1e-4)
        let mask = try expected.integers("mask").map { Int32($0) }
        XCTAssertEqual(TargetFunction.argmax(logits), mask, "the mask is the argmax of the mirrored logits")

        var errors: [String: Double] = [:]
        for (name, rule) in [("grad_sum", TargetRule.sum), ("grad_prob", .probWeighted)] {
            let gradient = try model.targetGradient(input, target: SegmentTarget(classIndex: 2, rule: rule, mask: mask),
                                                    progress: nil, cancel: nil)
            errors[name] = relativeL2Error(gradient.data, try expected.floats(name))
            XCTAssertLessThanOrEqual(errors[name]!, 1e-3, name)
        }
        print("nnU-Net mirrored one-tile parity: logits \(logitError), grad_sum \(errors["grad_sum"]!), "
              + "grad_prob \(errors["grad_prob"]!) (relative L2)")
    }
}
