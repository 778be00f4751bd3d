import Engine
import Foundation
import XCTest

/// Deterministic generator for test tensors (SplitMix64).
struct KernelRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in uniform(lo, hi) })
    }
    mutating func floats(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(lo, hi) }
    }
}

/// Comparison helpers with named tolerances.
enum KernelCheck {
    /// ‖a − b‖₂ / ‖b‖₂.
    static func relativeL2(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape)
        var num = 0.0, den = 0.0
        for i in 0..<a.count {
            let d = Double(a.data[i]) - Double(b.data[i])
            num += d * d
            den += Double(b.data[i]) * Double(b.data[i])
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// max |a − b| / max |b|.
    static func relativeMax(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape)
        var diff = 0.0, scale = 0.0
        for i in 0..<a.count {
            diff = max(diff, abs(Double(a.data[i]) - Double(b.data[i])))
            scale = max(scale, abs(Double(b.data[i])))
        }
        return diff / max(scale, 1e-300)
    }

    static func assertClose(_ a: Tensor, _ b: Tensor, maxRelative tolerance: Double, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        let err = relativeMax(a, b)
        XCTAssertLessThanOrEqual(err, tolerance, "\(what): max relative error \(err)", file: file, line: line)
    }

    /// Checks `backward` against central differences of L(x) = Σ r·f(x) for a fixed random r.
    /// Every input element is perturbed, so keep shapes tiny.
    static func assertGradientMatchesFiniteDifferences(
        input x: Tensor, step h: Float, tolerance: Double, _ what: String, seed: UInt64 = 99,
        forward f: (Tensor) -> Tensor, backward: (_ outputGradient: Tensor, _ input: Tensor) -> Tensor,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = KernelRNG(seed: seed)
        let y = f(x)
        let r = rng.tensor(y.shape)
        func loss(_ t: Tensor) -> Double {
            let out = f(t)
            return zip(out.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let analytic = backward(r, x)
        var numeric = Tensor(zeros: x.shape)
        var probe = x
        for i in 0..<x.count {
            let v = x.data[i]
            probe.data[i] = v + h
            let plus = loss(probe)
            probe.data[i] = v - h
            let minus = loss(probe)
            probe.data[i] = v
            numeric.data[i] = Float((plus - minus) / (2 * Double(h)))
        }
        let err = relativeL2(analytic, numeric)
        XCTAssertLessThanOrEqual(err, tolerance, "\(what): relative L2 vs finite differences \(err)",
                                 file: file, line: line)
    }
}

/// Tolerances per op. Fast paths reorder Float sums (sgemm blocking, SIMD lanes), so they agree
/// with the naive twins to a few Float ulps of the largest output; finite differences in Float
/// carry O(ε·|y|/h) noise, so they get looser bounds, looser still where the op has kinks.
enum KernelTolerance {
    /// Fast vs naive, any op: a few ulps of the output's largest magnitude times the sum length.
    static let fastVsNaive = 1e-5
    /// Piecewise-linear ops (conv, pool, activations) vs central differences with h = 1e-2.
    static let finiteDifferenceLinear = 2e-3
    /// Smooth nonlinear ops (normalisation, softmax) vs central differences with h = 1e-2.
    static let finiteDifferenceSmooth = 5e-3
}

final class KernelTests: XCTestCase {
    func testActivationsMatchReferenceAndFiniteDifferences() {
        var rng = KernelRNG(seed: 1)
        // Inputs kept away from the kink at 0 so that ±h never crosses it.
        var x = rng.tensor([2, 3, 2, 4])
        for i in 0..<x.count { x.data[i] += x.data[i] >= 0 ? 0.05 : -0.05 }
        let acts: [(Activation, String)] = [(.relu, "relu"), (.leakyReLU(negativeSlope: 0.1), "leaky"),
                                            (.prelu(weights: [0.25]), "prelu shared"),
                                            (.prelu(weights: [0.3, -0.2]), "prelu per channel")]
        for (act, name) in acts {
            KernelCheck.assertClose(act.forward(x), act.forwardNaive(x), maxRelative: 0, name)
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, name,
                forward: { act.forward($0) }, backward: { act.backwardInput($0, input: $1) })
        }
        // Exact values: LeakyReLU(−2) = −0.2 with slope 0.1; PReLU per channel uses the channel's slope.
        let t = Tensor(shape: [2, 1, 1, 1], data: [-2, -2])
        XCTAssertEqual(Activation.leakyReLU(negativeSlope: 0.1).forward(t).data, [-0.2, -0.2])
        XCTAssertEqual(Activation.prelu(weights: [0.5, 2]).forward(t).data, [-1, -4])
        XCTAssertEqual(Activation.relu.forward(t).data, [0, 0])
    }

    func testSoftmaxMatchesReferenceAndFiniteDifferences() {
        var rng = KernelRNG(seed: 2)
        let z = rng.tensor([4, 2, 3, 2], -3, 3)
        let s = ChannelOps.softmax(z)
        KernelCheck.assertClose(s, ChannelOps.softmaxNaive(z), maxRelative: KernelTolerance.fastVsNaive, "softmax")
        for v in 0..<12 {
            let total = (0..<4).reduce(Float(0)) { $0 + s.data[$1 * 12 + v] }
            XCTAssertEqual(total, 1, accuracy: 1e-6)
        }
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: z, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "softmax",
            forward: { ChannelOps.softmax($0) },
            backward: { ChannelOps.softmaxBackward($0, softmax: ChannelOps.softmax($1)) })
    }

    func testReplicatePadCopiesTheLastSliceAndColumn() {
        var rng = KernelRNG(seed: 3)
        let x = rng.tensor([2, 2, 3, 2])
        let padded = ChannelOps.replicatePadEnd(x, to: [3, 3, 3])
        XCTAssertEqual(padded.shape, [2, 3, 3, 3])
        // The new last slice along D copies slice 1, the new column along W copies column 1.
        func at(_ t: Tensor, _ c: Int, _ z: Int, _ y: Int, _ w: Int) -> Float {
            let s = t.shape
            let index: Int = ((c * s[1] + z) * s[2] + y) * s[3] + w
            return t.data[index]
        }
        XCTAssertEqual(at(padded, 0, 2, 1, 0), at(x, 0, 1, 1, 0))
        XCTAssertEqual(at(padded, 1, 0, 2, 2), at(x, 1, 0, 2, 1))
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "replicate pad",
            forward: { ChannelOps.replicatePadEnd($0, to: [3, 3, 3]) },
            backward: { g, x in ChannelOps.replicatePadEndBackward(g, inputShape: x.shape) })
    }
}
