import Engine
import TestSupport
import XCTest

final class NormTests: XCTestCase {
    func testInstanceNormMatchesNaiveAndFiniteDifferences() {
        var rng = KernelRNG(seed: 20)
        for affine in [true, false] {
            let norm = InstanceNorm3d(channels: 3, eps: 1e-5,
                                      weight: affine ? rng.floats(3, 0.5, 1.5) : nil,
                                      bias: affine ? rng.floats(3) : nil)
            let x = rng.tensor([3, 3, 4, 5], -2, 3)
            let (y, cache) = norm.forward(x)
            KernelCheck.assertClose(y, norm.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "instance norm")
            let dy = rng.tensor(y.shape)
            KernelCheck.assertClose(norm.backwardInput(dy, cache: cache), norm.backwardInputNaive(dy, input: x),
                                    maxRelative: 1e-4, "instance norm backward")
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "instance norm",
                forward: { norm.forward($0).output },
                backward: { g, x in norm.backwardInput(g, cache: norm.forward(x).cache) })
        }
    }

    /// Values far from zero relative to their spread (mean 100, spread 0.025): rounding the mean
    /// to one Float shifted every x̂ by up to ulp(100)/σ, a 3e-4 relative error. The split mean
    /// keeps forward and backward at float32 accuracy; the gradient gets a large common part too.
    func testInstanceNormKeepsAccuracyFarFromZero() {
        var rng = KernelRNG(seed: 23)
        let norm = InstanceNorm3d(channels: 2, eps: 1e-5, weight: [1.3, 0.7], bias: [0.1, -0.2])
        let base = rng.tensor([2, 16, 16, 16], -1, 1)
        for offset: Float in [0, 10, 100] {
            let x = Tensor(shape: base.shape, data: base.data.map { offset + 0.025 * $0 })
            let (y, cache) = norm.forward(x)
            XCTAssertLessThanOrEqual(relativeL2Error(y.data, norm.forwardNaive(x).data), 1e-6, "forward, offset \(offset)")
            let dy = Tensor(shape: x.shape, data: rng.tensor(x.shape).data.map { offset + $0 })
            XCTAssertLessThanOrEqual(relativeL2Error(norm.backwardInput(dy, cache: cache).data,
                                                     norm.backwardInputNaive(dy, input: x).data), 1e-5,
                                     "backward, offset \(offset)")
        }
    }

    /// Without affine parameters every channel comes out with mean 0 and variance 1/(1 + ε/σ²).
    func testInstanceNormStatistics() {
        var rng = KernelRNG(seed: 21)
        let x = rng.tensor([2, 8, 8, 8], 5, 9)
        let y = InstanceNorm3d(channels: 2, eps: 0).forward(x).output
        for c in 0..<2 {
            let v = y.data[(c * 512)..<((c + 1) * 512)].map(Double.init)
            let mean = v.reduce(0, +) / 512
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 512
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(variance, 1, accuracy: 1e-4)
        }
    }

    func testBatchNormEvalMatchesFormulaAndFiniteDifferences() {
        var rng = KernelRNG(seed: 22)
        let weight = rng.floats(3, 0.5, 1.5), bias = rng.floats(3)
        let mean = rng.floats(3), variance = rng.floats(3, 0.2, 2)
        let bn = BatchNorm3d(channels: 3, eps: 1e-3, weight: weight, bias: bias, runningMean: mean, runningVar: variance)
        let x = rng.tensor([3, 2, 3, 4])
        KernelCheck.assertClose(bn.forward(x),
                                BatchNorm3d.forwardNaive(x, eps: 1e-3, weight: weight, bias: bias,
                                                         runningMean: mean, runningVar: variance),
                                maxRelative: KernelTolerance.fastVsNaive, "batch norm")
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "batch norm",
            forward: { bn.forward($0) }, backward: { g, _ in bn.backwardInput(g) })
        // A hand-computed voxel: (2 − 1)/√(3 + 1) · 4 + 0.5 = 2.5.
        let one = BatchNorm3d(channels: 1, eps: 1, weight: [4], bias: [0.5], runningMean: [1], runningVar: [3])
        XCTAssertEqual(one.forward(Tensor(shape: [1, 1, 1, 1], data: [2])).data, [2.5])
    }
}
