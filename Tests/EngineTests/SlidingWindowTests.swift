import Engine
import Foundation
import TestSupport
import XCTest

/// Collects progress reports (they may come from any thread).
final class ProgressRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var reported: [Double] = []
    func record(_ p: Double) { lock.withLock { reported.append(p) } }
    var values: [Double] { lock.withLock { reported } }
}

final class SlidingWindowTests: XCTestCase {
    /// Window starts worked out from monai.data.utils.dense_patch_slices.
    func testPlanMatchesMONAIPlacement() {
        let a = SlidingWindowPlan(imageSize: [24, 20, 12], roiSize: [16, 16, 16], overlap: 0.25)
        XCTAssertEqual(a.padBefore, [0, 0, 2])
        XCTAssertEqual(a.paddedSize, [24, 20, 16])
        XCTAssertEqual(a.starts, [[0, 0, 0], [0, 4, 0], [8, 0, 0], [8, 4, 0]])
        // Step 48 = ⌊96·0.5⌋; the last start is pulled back from 144 to 104.
        let b = SlidingWindowPlan(imageSize: [200, 96, 100], roiSize: [96, 96, 96], overlap: 0.5)
        XCTAssertEqual(Set(b.starts.map { $0[0] }), [0, 48, 96, 104])
        XCTAssertEqual(Set(b.starts.map { $0[1] }), [0])
        XCTAssertEqual(Set(b.starts.map { $0[2] }), [0, 4])
        XCTAssertEqual(b.starts.count, 8)
        // Odd padding: 5 more voxels → 2 before, 3 after.
        XCTAssertEqual(SlidingWindowPlan(imageSize: [11, 16, 16], roiSize: [16, 16, 16], overlap: 0.25).padBefore, [2, 0, 0])
    }

    func testStitchedLogitsMatchMONAI() throws {
        for variant in NetworkFixtures.variants {
            let model = try SegmentationModel.load(directory: NetworkFixtures.directory(variant))
            let expected = try NetworkFixtures.expected(variant)
            let reference = try expected.tensor("window_logits")
            let recorder = ProgressRecorder()
            let logits = try model.logits(try expected.tensor("window_input"),
                                          progress: { recorder.record($0) }, cancel: nil)
            let reported = recorder.values
            XCTAssertEqual(logits.shape, reference.shape)
            let scale = reference.data.map { abs(Double($0)) }.max()!
            XCTAssertLessThanOrEqual(maxAbsDifference(logits.data, reference.data), ParityTolerance.logits * scale, variant)
            XCTAssertEqual(reported.last, 1)
            XCTAssertEqual(reported, reported.sorted())
        }
    }

    func testPerWindowGradientMatchesAgg2ExpReference() throws {
        for variant in NetworkFixtures.variants {
            let model = try SegmentationModel.load(directory: NetworkFixtures.directory(variant))
            let expected = try NetworkFixtures.expected(variant)
            let c = try XCTUnwrap(Int(expected.metadata["target_class"] ?? ""))
            let input = try expected.tensor("window_input")
            let sum = try model.targetGradient(input, target: SegmentTarget(classIndex: c), progress: nil, cancel: nil)
            XCTAssertLessThanOrEqual(relativeL2Error(sum.data, try expected.tensor("window_gradient_sum").data),
                                     ParityTolerance.gradientRelativeL2, "\(variant) sum, window argmax")
            // Fixed mask: the stitched prediction of the clean input.
            let logits = try expected.tensor("window_logits")
            let labels = SegmentationModel.labels(logits, grid: Grid(dims: Array(logits.shape[1...]), affine: .identity))
            let mask = cOrder(labels)
            let weighted = try model.targetGradient(input, target: SegmentTarget(classIndex: c, rule: .probWeighted, mask: mask),
                                                    progress: nil, cancel: nil)
            XCTAssertLessThanOrEqual(relativeL2Error(weighted.data, try expected.tensor("window_gradient_weighted").data),
                                     ParityTolerance.gradientRelativeL2, "\(variant) prob-weighted, fixed mask")
        }
    }

    /// The mean rule is the sum rule divided by the window's mask size; with one window
    /// covering the whole input that is one global factor.
    func testMeanRuleScalesSumRule() throws {
        let model = try SegmentationModel.load(directory: NetworkFixtures.directory("batch"))
        let input = Tensor(shape: [1, 16, 16, 16], data: (0..<4096).map { Float(($0 * 37) % 101) / 100 })
        let logits = model.network.forward(input)
        let labels = SegmentationModel.labels(logits, grid: Grid(dims: [16, 16, 16], affine: .identity))
        let c = Int(labels.labels.max()!)
        let count = Float(labels.labels.filter { $0 == Int32(c) }.count)
        let sum = try model.targetGradient(input, target: SegmentTarget(classIndex: c, rule: .sum), progress: nil, cancel: nil)
        let mean = try model.targetGradient(input, target: SegmentTarget(classIndex: c, rule: .mean), progress: nil, cancel: nil)
        XCTAssertLessThanOrEqual(relativeL2Error(mean.data.map { $0 * count }, sum.data), 1e-5)
        XCTAssertGreaterThan(sum.data.map { abs($0) }.max()!, 0)
    }

    func testEmptyMaskGivesZeroGradientAndCancellationStops() throws {
        let model = try SegmentationModel.load(directory: NetworkFixtures.directory("batch"))
        let input = try NetworkFixtures.expected("batch").tensor("window_input")
        let mask = [Int32](repeating: 0, count: input.count)
        let g = try model.targetGradient(input, target: SegmentTarget(classIndex: 1, mask: mask), progress: nil, cancel: nil)
        XCTAssertEqual(g.data.filter { $0 != 0 }.count, 0)
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try model.logits(input, progress: nil, cancel: token)) { XCTAssertTrue($0 is CancellationError) }
    }

    /// Labels in C order ([I, J, K], K fastest), as SegmentTarget.mask expects.
    private func cOrder(_ labels: LabelMap) -> [Int32] {
        let (ni, nj, nk) = (labels.grid.dims[0], labels.grid.dims[1], labels.grid.dims[2])
        var out = [Int32](repeating: 0, count: labels.labels.count)
        for i in 0..<ni { for j in 0..<nj { for k in 0..<nk { out[(i * nj + j) * nk + k] = labels[i, j, k] } } }
        return out
    }
}
