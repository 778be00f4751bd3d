import Engine
import Foundation
import XCTest

/// Ops the nnU-Net networks add: fast vs naive twin, backward vs central finite differences, and
/// values PyTorch gives (`torch.nn.AvgPool3d`, computed by hand below for a ramp).
final class NNUNetOpsTests: XCTestCase {
    func testAvgPoolMatchesNaiveAndFiniteDifferences() {
        var rng = KernelRNG(seed: 21)
        // Odd sizes: the trailing voxels that fill no window are dropped (floor), as in PyTorch.
        for (shape, kernel) in [([2, 4, 6, 5], [2, 2, 2]), ([3, 3, 4, 4], [1, 2, 2]), ([1, 5, 3, 7], [2, 1, 3])] {
            let pool = AvgPool3d(kernel: kernel)
            let x = rng.tensor(shape)
            XCTAssertEqual(pool.outputShape(shape), [shape[0]] + (0..<3).map { shape[$0 + 1] / kernel[$0] })
            KernelCheck.assertClose(pool.forward(x), pool.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "avg pool")
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "avg pool \(kernel)",
                forward: { pool.forward($0) }, backward: { g, _ in pool.backwardInput(g, inputShape: shape) })
        }
    }

    /// A ramp x[d, h, w] = 100d + 10h + w pooled 2×2×2: each window's mean is the ramp at its centre.
    func testAvgPoolOfARamp() {
        var x = Tensor(zeros: [1, 2, 4, 4])
        for d in 0..<2 { for h in 0..<4 { for w in 0..<4 { x.data[(d * 4 + h) * 4 + w] = Float(100 * d + 10 * h + w) } } }
        let y = AvgPool3d(kernel: [2, 2, 2]).forward(x)
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.data, [55.5, 57.5, 75.5, 77.5])
    }
}
