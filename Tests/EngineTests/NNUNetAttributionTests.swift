import Engine
import Foundation
import TestSupport
import XCTest

/// Attribution through nnU-Net's sliding window (Fixtures/nnunet/make_stitched_fixtures.py:
/// nnU-Net's blending redone in PyTorch float64 with autograd), and IG completeness of the two
/// window targets with overlapping windows.
final class NNUNetAttributionTests: XCTestCase {
    private func plainModel(_ windowTarget: WindowTarget = .stitched) throws -> NNUNetModel {
        let path = try XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/plain/nnUNetTrainer__nnUNetPlans__3d_fullres").path
        return NNUNetModel(pipeline: try NNUNetFolder(path: path).pipeline(tileStep: 0.5), windowTarget: windowTarget)
    }

    private func reference() throws -> SafetensorsFile {
        try SafetensorsFile(path: XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/expected_stitched.safetensors").path)
    }

    /// Logits within 1e-4 (relative L2) and the gradients of the stitched (sum, prob-weighted)
    /// and per-window targets within 1e-3 relative L2 of PyTorch.
    func testStitchedAndPerWindowGradientsMatchPyTorch() throws {
        let expected = try reference()
        let input = try expected.tensor("input")
        var model = try plainModel()
        let tiles = model.tiling(Array(input.shape[1...]))
        XCTAssertEqual(tiles.starts, try expected.integers("tiles").chunked(3), "nnU-Net's tile starts")
        XCTAssertEqual(tiles.padded, [8, 27, 22], "axis 0 padded to the patch")

        let logits = try model.logits(input, progress: nil, cancel: nil)
        XCTAssertLessThanOrEqual(relativeL2Error(logits.data, try expected.tensor("logits").data), 1e-4)
        let mask = try expected.tensor("mask").data.map { Int32($0) }
        XCTAssertEqual(TargetFunction.value(logits: logits, classIndex: 1, rule: .sum, mask: mask),
                       Double(try expected.tensor("target_sum").data[0]), accuracy: 1e-4 * 41.2)

        let sum = try model.targetGradient(input, target: SegmentTarget(classIndex: 1, rule: .sum, mask: mask),
                                           progress: nil, cancel: nil)
        XCTAssertLessThanOrEqual(relativeL2Error(sum.data, try expected.tensor("grad_sum").data), 1e-3, "stitched sum")
        let prob = try model.targetGradient(input, target: SegmentTarget(classIndex: 1, rule: .probWeighted, mask: mask),
                                            progress: nil, cancel: nil)
        XCTAssertLessThanOrEqual(relativeL2Error(prob.data, try expected.tensor("grad_prob").data), 1e-3,
                                 "stitched prob-weighted")
        model.windowTarget = .perWindow
        let window = try model.targetGradient(input, target: SegmentTarget(classIndex: 1, rule: .sum, mask: mask),
                                              progress: nil, cancel: nil)
        XCTAssertLessThanOrEqual(relativeL2Error(window.data, try expected.tensor("grad_perwindow").data), 1e-3,
                                 "per-window sum")
    }

    /// |Σ IG − (T(x) − T(x′))| / |T(x) − T(x′)| with Gauss–Legendre (`nodes`) from `baseline`
    /// to `input`, the mask fixed to the clean prediction.
    private func completeness(_ model: any ExplainableModel, input: Tensor, baseline: Tensor, classIndex c: Int,
                              nodes: Int) throws -> Double {
        let mask = TargetFunction.argmax(try model.logits(input, progress: nil, cancel: nil))
        let target = SegmentTarget(classIndex: c, mask: mask)
        let (alphas, weights) = IntegratedGradients.quadrature(steps: nodes, scheme: .gaussLegendre)
        var sum = 0.0
        for (alpha, w) in zip(alphas, weights) {
            let point = Tensor(shape: input.shape, data: zip(input.data, baseline.data).map { $1 + Float(alpha) * ($0 - $1) })
            let g = try model.targetGradient(point, target: target, progress: nil, cancel: nil)
            for v in 0..<g.count { sum += w * Double(g.data[v]) * Double(input.data[v] - baseline.data[v]) }
        }
        let t = try model.targetValues([input, baseline], target: target, mask: mask, cancel: nil)
        return abs(sum - (t[0] - t[1])) / abs(t[0] - t[1])
    }

    /// With overlapping windows the stitched target satisfies completeness (up to quadrature
    /// error); the per-window target does not, since its gradient is not that of T(x). Measured
    /// for nnU-Net's Gaussian blending (6 tiles, 64 nodes: LeakyReLU and InstanceNorm kinks slow
    /// the convergence) and MONAI's constant blending (4 windows, 16 nodes).
    ///
    /// nnU-Net's baseline is not constant: InstanceNorm right after the first convolution makes
    /// T(x′ + α(x − x′)) with a constant x′ flat for α ≫ √ε/σ, so the whole change of T sits in a
    /// sliver of the path near α = 0 that the quadrature does not resolve (both targets then miss
    /// completeness by the same amount, printed below).
    func testIntegratedGradientsCompletenessByWindowTarget() throws {
        let input = try reference().tensor("input")
        let reversed = Tensor(shape: input.shape, data: input.data.reversed())
        let nnStitched = try completeness(try plainModel(.stitched), input: input, baseline: reversed, classIndex: 1, nodes: 64)
        let nnWindow = try completeness(try plainModel(.perWindow), input: input, baseline: reversed, classIndex: 1, nodes: 64)
        let zeros = Tensor(zeros: input.shape)
        let nnZeroStitched = try completeness(try plainModel(.stitched), input: input, baseline: zeros, classIndex: 1, nodes: 16)

        var monai = try SegmentationModel.load(directory: NetworkFixtures.directory("batch"))
        let window = try NetworkFixtures.expected("batch").tensor("window_input")
        XCTAssertEqual(monai.plan(imageSize: Array(window.shape[1...])).starts.count, 4, "overlapping windows")
        let monaiZeros = Tensor(zeros: window.shape)
        monai.windowTarget = .stitched
        let monaiStitched = try completeness(monai, input: window, baseline: monaiZeros, classIndex: 2, nodes: 16)
        monai.windowTarget = .perWindow
        let monaiWindow = try completeness(monai, input: window, baseline: monaiZeros, classIndex: 2, nodes: 16)
        print(String(format: "IG completeness |delta|/|T(x)-T(x')|: nnU-Net (reversed-input baseline) stitched %.2e, "
                     + "per-window %.2e; nnU-Net zero baseline stitched %.2e; MONAI (zero baseline) stitched %.2e, "
                     + "per-window %.2e", nnStitched, nnWindow, nnZeroStitched, monaiStitched, monaiWindow))
        XCTAssertLessThanOrEqual(nnStitched, 1e-2)
        XCTAssertLessThanOrEqual(monaiStitched, 1e-2)
        XCTAssertGreaterThan(nnWindow, 10 * nnStitched)
        XCTAssertGreaterThan(monaiWindow, 10 * monaiStitched)
    }

    /// The network grid carries nnU-Net's permutation and crop: values round-trip to the scan
    /// grid, and each network voxel sits at the world position of the scan voxel it came from.
    func testNetworkGridMapsBackToTheScan() throws {
        let path = try XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/ct/nnUNetTrainer__nnUNetPlans__3d_fullres").path
        let pipeline = try NNUNetFolder(path: path).pipeline()
        // transpose_forward [0, 2, 1]; zeros on two faces are cropped away.
        let affine = Affine(rowMajor: [-3, 0, 0, 40, 0, 3, 0, -20, 0, 0, 3, 7, 0, 0, 0, 1])
        let scan = makeVolume(dims: [9, 7, 5], affine: affine) { i, j, k in i == 0 || k == 4 ? 0 : Float(1 + i + 10 * j + 100 * k) }
        let input = try pipeline.prepare(scan, scanPath: "scan")
        XCTAssertEqual(input.shape, [4, 8, 7], "(z, x, y) after the crop of i = 0 and k = 4")
        let grid = input.grid
        let ids = (0..<input.tensor.count).map(Float.init)
        let back = input.onScanGrid(ids)
        XCTAssertEqual(back.grid.dims, scan.grid.dims)
        for (n, id) in back.voxels.enumerated() where id != 0 || n == scan.grid.index(1, 0, 0) {
            let (i, j, k) = (n % 9, (n / 9) % 7, n / 63)
            let v = Int(id)
            let (a, b, c) = (v / 56, (v / 7) % 8, v % 7)
            let world = grid.world(Double(a), Double(b), Double(c))
            let want = scan.grid.world(Double(i), Double(j), Double(k))
            XCTAssertEqual(world.x, want.x, accuracy: 1e-9)
            XCTAssertEqual(world.y, want.y, accuracy: 1e-9)
            XCTAssertEqual(world.z, want.z, accuracy: 1e-9)
        }
        let labels = LabelMap(grid: scan.grid, labels: scan.voxels.map { Int32($0) })
        XCTAssertEqual(input.fromScanGrid(labels), input.fromSource(labels.labels))
        XCTAssertEqual(input.toSource(input.fromSource(labels.labels), fill: 0), labels.labels,
                       "every non-zero voxel survives the crop")
    }
}

private extension Array where Element == Int {
    func chunked(_ n: Int) -> [[Int]] { stride(from: 0, to: count, by: n).map { Array(self[$0..<($0 + n)]) } }
}

/// Multi-part models (Fixtures/nnunet/make_parts_fixtures.py): the union of classes and
/// TotalSegmentator's merge, later parts overwriting where their label is non-zero.
final class NNUNetPartsTests: XCTestCase {
    private func part(_ name: String) throws -> NNUNetModel {
        let path = try XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/parts/\(name)/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres").path
        return NNUNetModel(pipeline: try NNUNetFolder(path: path).pipeline(folds: ["0"], tileStep: 0.8))
    }

    func testUnionAndMergeFollowTotalSegmentator() throws {
        let a = try part("Dataset291_TotalSegmentator_part1_fixture")
        let b = try part("Dataset292_TotalSegmentator_part2_fixture")
        let parts = try NNUNetParts(parts: [a, b])
        XCTAssertEqual(parts.classes, ["background", "liver", "spleen", "kidney_left", "vertebrae_L1", "rib_left_1"])
        XCTAssertEqual(parts.table, [[0, 1, 2, 3], [0, 4, 5]])
        // Part 2 wins where it is non-zero; part 1 stays where part 2 says background.
        let merged = parts.merge([[0, 1, 2, 3, 1, 0], [0, 0, 1, 2, 2, 1]])
        XCTAssertEqual(merged, [0, 1, 4, 5, 5, 4])
        XCTAssertTrue(parts.part(predicting: 4)! == (1, 1))
        XCTAssertTrue(parts.part(predicting: 3)! == (0, 3))
        XCTAssertNil(parts.part(predicting: 0))
        XCTAssertEqual(parts.labels([0, 1, 4, 5, 3], inPart: 1), [0, 0, 1, 2, 0])
        XCTAssertEqual(parts.labels([0, 1, 4, 5, 3], inPart: 0), [0, 1, 0, 0, 3])

        XCTAssertThrowsError(try NNUNetParts(parts: [a, a])) { error in
            let message = (error as? ModelError).map { "\($0)" } ?? ""
            XCTAssertTrue(message.contains("class 'liver' is also predicted by the part"), message)
        }
    }
}
