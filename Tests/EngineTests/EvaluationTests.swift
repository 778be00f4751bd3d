import Engine
import XCTest

final class EvaluationTests: XCTestCase {
    func testDiceAndIoUFollowMONAIWithBackgroundIncluded() throws {
        let prediction: [Int32] = [0, 0, 1, 1, 1, 2, 0, 3]
        let truth: [Int32] = [0, 1, 1, 1, 0, 0, 0, 0]
        let q = try SegmentationQuality.perClass(prediction: prediction, truth: truth, classes: 4)
        // Background: P = {0,1,6}, G = {0,4,5,6,7}, P∩G = {0,6} → Dice 4/8, IoU 2/6.
        XCTAssertEqual(q[0].dice!, 0.5, accuracy: 1e-15)
        XCTAssertEqual(q[0].iou!, 2.0 / 6, accuracy: 1e-15)
        // Class 1: P = {2,3,4}, G = {1,2,3} → Dice 4/6, IoU 2/4.
        XCTAssertEqual(q[1].dice!, 4.0 / 6, accuracy: 1e-15)
        XCTAssertEqual(q[1].iou!, 0.5, accuracy: 1e-15)
        // Classes absent from the ground truth are undefined (MONAI ignore_empty → NaN).
        XCTAssertEqual(q[2], ClassQuality(dice: nil, iou: nil))
        XCTAssertEqual(q[3], ClassQuality(dice: nil, iou: nil))
        let missed = try SegmentationQuality.perClass(prediction: [0, 0], truth: [0, 1], classes: 2)
        XCTAssertEqual(missed[1], ClassQuality(dice: 0, iou: 0))
        XCTAssertThrowsError(try SegmentationQuality.perClass(prediction: [0], truth: [0, 1], classes: 2))
    }

    func testPearsonAndEffectiveComplexity() {
        XCTAssertEqual(pearsonCorrelation([1, 2, 3], [2, 4, 6])!, 1, accuracy: 1e-15)
        XCTAssertEqual(pearsonCorrelation([1, 2, 3], [3, 1, 2])!, -0.5, accuracy: 1e-15)
        XCTAssertNil(pearsonCorrelation([1, 1, 1], [1, 2, 3]))
        // |a| / max|a| = [0.05, 0.1, 0.5, 1, 0.2]: strictly above 0.1 → 3 of 5.
        XCTAssertEqual(effectiveComplexity([0.5, -1, 5, -10, 2]), 0.6)
        XCTAssertNil(effectiveComplexity([0, 0]))
    }

    /// Class 1 wins everywhere for any input in [0, 2] (bias 10), so each T uses the full mask
    /// and Δ = Σ_{subset} w·(x − min x) exactly.
    func linearSetup() -> (LinearModel, Tensor) {
        let x = rampInput(4, 3, 2)
        let n = x.count
        let w = (0..<n).map { 0.5 + Float(($0 * 5) % 7) }
        return (LinearModel(w: w, bias: [Float](repeating: 10, count: n)), x)
    }

    func testFaithfulnessIsOneForTheExactDecompositionAndSharedAcrossMethods() throws {
        let (model, x) = linearSetup()
        let metric = FaithfulnessCorrelation(subsetSize: 5, runs: 30, seed: 9)
        let subsets = try metric.subsets(voxelCount: x.count)
        XCTAssertEqual(subsets, try metric.subsets(voxelCount: x.count), "subsets are reproducible and shared")
        XCTAssertTrue(subsets.allSatisfy { Set($0).count == 5 })
        let both = try metric.predictionDeltas(model: model, input: x, classes: [1, 0], subsets: subsets,
                                               progress: nil, cancel: nil)
        let deltas = both[0]
        // Class 0 is never predicted, so its target and every Δ are 0.
        XCTAssertEqual(both[1], [Double](repeating: 0, count: 30))
        let lo = x.data.min()!
        let exact = (0..<x.count).map { model.w[$0] * (x.data[$0] - lo) }
        XCTAssertEqual(FaithfulnessCorrelation.score(attribution: exact, subsets: subsets, deltas: deltas)!, 1, accuracy: 1e-9)
        XCTAssertEqual(FaithfulnessCorrelation.score(attribution: exact.map { -$0 }, subsets: subsets, deltas: deltas)!,
                       -1, accuracy: 1e-9)
        let flat = [Float](repeating: 1, count: x.count)
        XCTAssertNil(FaithfulnessCorrelation.score(attribution: flat, subsets: subsets, deltas: deltas))
        XCTAssertThrowsError(try FaithfulnessCorrelation(subsetSize: 1000).subsets(voxelCount: x.count))
    }

    func testAvgSensitivityIsZeroForConstantGradientsAndReplaysItsNoise() throws {
        let (model, x) = linearSetup()
        let target = SegmentTarget(classIndex: 1, mask: [Int32](repeating: 1, count: x.count))
        let metric = AvgSensitivity(samples: 3, bound: 0.1, seed: 4)
        let g = try VanillaGradient().attribute(x, model: model, target: target, progress: nil, cancel: nil).map
        XCTAssertEqual(try metric.score(method: VanillaGradient(), model: model, input: x, target: target,
                                        reference: g, progress: nil, cancel: nil)!, 0, accuracy: 1e-12)
        let ixg = try InputXGradient().attribute(x, model: model, target: target, progress: nil, cancel: nil).map
        let score = try metric.score(method: InputXGradient(), model: model, input: x, target: target,
                                     reference: ixg, progress: nil, cancel: nil)!
        // Replay: a = w·x and a_i = w·(x + u_i), each divided by its max |·|.
        func normalised(_ a: [Float]) -> [Float] { let m = a.map(abs).max()!; return a.map { $0 / m } }
        let a = normalised(ixg.data)
        let norm = a.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        var rng = SeededGenerator(seed: 4)
        var expected = 0.0
        for _ in 0..<3 {
            let xi = x.data.map { $0 + Float((2 * rng.uniform() - 1) * 0.1) }
            let b = normalised((0..<x.count).map { model.w[$0] * xi[$0] })
            expected += zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot() / norm / 3
        }
        XCTAssertEqual(score, expected, accuracy: 1e-6)
        XCTAssertGreaterThan(score, 0.001)
    }
}
