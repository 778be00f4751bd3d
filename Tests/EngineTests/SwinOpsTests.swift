import CKernels
import Engine
import Foundation
import XCTest

/// The token ops SwinUNETR is composed of, each three ways: fast vs naive twin, backward vs
/// central finite differences, and exact values where the op is a permutation.
final class SwinOpsTests: XCTestCase {
    func testLayerNormWithAndWithoutAffine() {
        var rng = KernelRNG(seed: 11)
        let x = rng.tensor([5, 6], -2, 2)
        let affine = LayerNorm(width: 6, weight: rng.floats(6, 0.5, 1.5), bias: rng.floats(6))
        for (norm, name) in [(affine, "affine"), (LayerNorm(width: 6), "plain")] {
            KernelCheck.assertClose(norm.forward(x), norm.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, name)
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "layer norm \(name)",
                forward: { norm.forward($0) }, backward: { norm.backwardInput($0, input: $1) })
        }
    }

    func testLinearMatchesNaiveAndFiniteDifferences() {
        var rng = KernelRNG(seed: 12)
        let x = rng.tensor([7, 5])
        for bias in [true, false] {
            let layer = Linear(inFeatures: 5, outFeatures: 3, weight: rng.floats(15), bias: bias ? rng.floats(3) : nil)
            KernelCheck.assertClose(layer.forward(x), layer.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "linear")
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "linear",
                forward: { layer.forward($0) }, backward: { g, _ in layer.backwardInput(g) })
        }
    }

    func testExactGELU() {
        var rng = KernelRNG(seed: 13)
        let x = rng.tensor([4, 9], -4, 4)
        KernelCheck.assertClose(GELU.forward(x), GELU.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "gelu")
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "gelu",
            forward: { GELU.forward($0) }, backward: { GELU.backwardInput($0, input: $1) })
        // GELU(1) = Φ(1) = 0.841344746…; the tanh approximation gives 0.841192.
        XCTAssertEqual(GELU.forward(Tensor(shape: [1], data: [1])).data[0], 0.8413447, accuracy: 1e-7)
    }

    func testChannelLayoutRoundTrip() {
        var rng = KernelRNG(seed: 14)
        let x = rng.tensor([3, 2, 4, 5])
        let last = ChannelLayout.toChannelsLast(x)
        XCTAssertEqual(last.shape, [2, 4, 5, 3])
        // Element (c, d, h, w) lands at (d, h, w, c).
        let lastIndex: Int = ((1 * 4 + 2) * 5 + 3) * 3 + 2
        let firstIndex: Int = ((2 * 2 + 1) * 4 + 2) * 5 + 3
        XCTAssertEqual(last.data[lastIndex], x.data[firstIndex])
        XCTAssertEqual(ChannelLayout.toChannelsFirst(last), x)
    }

    /// pad → roll(−s) → partition as one gather equals the three literal steps, for a padded,
    /// a mixed-clamp and an unshifted layout; reverse undoes it on the real tokens.
    func testWindowPartitionGatherEqualsPadRollPartition() {
        var rng = KernelRNG(seed: 15)
        for (dims, window, shift) in [([5, 6, 7], [3, 4, 7], [1, 2, 3]), ([4, 8, 12], [4, 7, 7], [0, 3, 3]),
                                      ([6, 6, 6], [3, 3, 3], [0, 0, 0])] {
            let c = 2
            let x = rng.tensor(dims + [c])
            let gather = SwinGeometry.partition(dims: dims, window: window, shift: shift)
            let padded = SwinGeometry.padded(dims: dims, window: window)
            let literal = SwinGeometry.partitionNaive(
                SwinGeometry.rollNaive(SwinGeometry.padNaive(x, to: padded), by: shift.map { -$0 }), window: window)
            XCTAssertEqual(gather.forward(x).data, literal.data, "\(dims) \(window) \(shift)")
            XCTAssertEqual(gather.forwardNaive(x).data, literal.data)
            let back = SwinGeometry.reverse(dims: dims, window: window, shift: shift).forward(literal)
            XCTAssertEqual(back.data, x.data)
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "partition",
                forward: { Tensor(shape: [gather.index.count, c], data: gather.forward($0).data) },
                backward: { g, _ in Tensor(shape: dims + [c], data: gather.backwardInput(g, width: c).data) })
        }
    }

    /// MONAI `compute_mask` regions on a padded grid of 10 with window 5, shift 2: 0 below 5, 1 below
    /// 8, 2 from 8; an unshifted axis is region 2 throughout.
    func testShiftRegionsFollowComputeMask() {
        let labels = SwinGeometry.regions(dims: [10, 1, 3], window: [5, 1, 3], shift: [2, 0, 0])
        // Window 0 holds d = 0…4 (region 0), window 1 holds d = 5…9: 5, 6, 7 → 1 and 8, 9 → 2.
        let perToken = labels.map { Int($0) / 9 }
        XCTAssertEqual(perToken.count, 30)
        XCTAssertEqual(perToken[0..<15].allSatisfy { $0 == 0 }, true)
        XCTAssertEqual(Array(perToken[15..<30]), [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
        XCTAssertTrue(labels.allSatisfy { Int($0) % 9 == 8 }, "unshifted axes are region 2")
    }

    func testRelativePositionIndexAndClampedQuirk() {
        let index = SwinGeometry.relativePositionIndex(window: [7, 7, 7])
        XCTAssertEqual(index.count, 343 * 343)
        let zeroOffset: Int = 6 * 169 + 6 * 13 + 6
        XCTAssertEqual(index[0], zeroOffset)            // Δ = 0
        XCTAssertEqual(index[342], 0)                             // token 0 vs (6, 6, 6): Δ = −6 on every axis
        XCTAssertEqual(index.max(), 2196)
        // A clamped window of 8 tokens reads index[:8, :8]: token 7 is (0, 1, 0) of the 7³ window.
        let table = (0..<(2197 * 2)).map { Float($0) }
        let bias = SwinGeometry.bias(table: table, heads: 2, index: index, configuredTokens: 343, tokens: 8)
        XCTAssertEqual(bias[7], Float(index[7] * 2))              // head 0, (0, 7)
        let headOneRowSeven: Int = 64 + 7 * 8
        XCTAssertEqual(bias[headOneRowSeven], Float(index[7 * 343] * 2 + 1))  // head 1, (7, 0)
        let expectedSeven: Int = 6 * 169 + 5 * 13 + 6
        XCTAssertEqual(index[7], expectedSeven)
    }

    /// Patch merging reads the 2×2×2 sub-voxels in each order's slots, zero past an odd edge; the
    /// legacy order reads two sub-grids twice, and its backward adds both gradients.
    func testPatchMergingOrders() {
        let dims = [3, 2, 2]
        let x = Tensor(shape: dims + [1], data: (0..<12).map { Float($0 + 1) })
        func token0(_ order: SwinGeometry.MergeOrder) -> [Float] {
            Array(SwinGeometry.merging(dims: dims, order: order).forward(x).data[0..<8])
        }
        // Voxel (a, b, c) holds 1 + (a·2 + b)·2 + c.
        XCTAssertEqual(token0(.merging), [1, 5, 3, 2, 7, 6, 4, 8])
        XCTAssertEqual(token0(.mergingLegacy), [1, 5, 3, 2, 6, 3, 2, 8])
        XCTAssertEqual(token0(.mergingV2), [1, 2, 3, 4, 5, 6, 7, 8])
        // The second output token along D covers d = 2 only; d = 3 is zero padding.
        let second = Array(SwinGeometry.merging(dims: dims, order: .mergingV2).forward(x).data[8..<16])
        XCTAssertEqual(second, [9, 10, 11, 12, 0, 0, 0, 0])
        let legacy = SwinGeometry.merging(dims: dims, order: .mergingLegacy)
        let ones = Tensor(shape: [legacy.index.count, 1], data: [Float](repeating: 1, count: legacy.index.count))
        let g = legacy.backwardInput(ones, width: 1)
        XCTAssertEqual(g.data[2], 2)   // (0, 1, 0) is read by slots 2 and 5
        XCTAssertEqual(g.data[6], 0)   // (1, 1, 0) is never read
    }

    /// Attention vs the Double reference written as MONAI computes it, with and without the
    /// shift mask, and its backward vs finite differences.
    func testWindowAttentionMatchesNaiveAndFiniteDifferences() {
        var rng = KernelRNG(seed: 16)
        let (heads, hd, n, windows) = (2, 3, 4, 3)
        let bias = rng.floats(heads * n * n)
        let qkv = rng.tensor([windows * n, 3 * heads * hd])
        let regions: [Int32] = [0, 0, 1, 1, 2, 2, 2, 5]
        for (r, name) in [(nil, "unshifted"), (regions, "masked")] as [([Int32]?, String)] {
            let attention = WindowAttention(heads: heads, headDim: hd, tokens: n, bias: bias, regions: r,
                                            windowsPerImage: r == nil ? windows : 2)
            KernelCheck.assertClose(attention.forward(qkv), attention.forwardNaive(qkv),
                                    maxRelative: KernelTolerance.fastVsNaive, name)
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: qkv, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "attention \(name)",
                forward: { attention.forward($0) }, backward: { attention.backwardInput($0, qkv: $1) })
        }
    }
    // MARK: The attention softmax kernel (`ck_attention_softmax`, `ck_exp_nonpositive`)

    /// e^x on `count` values; `reference` selects the scalar path.
    private func attentionExp(_ x: [Float], reference: Bool = false) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        ck_exp_nonpositive(reference ? 1 : 0, x, &y, x.count)
        return y
    }

    /// Distance from the exact value in units in the last place of floats in its binade.
    private func ulpError(_ y: Float, _ exact: Double) -> Double {
        let nearest = Float(exact)
        return abs(Double(y) - exact) / Double(exact < Double(nearest) ? nearest.nextDown.ulp : nearest.ulp)
    }

    /// The exp against Double `exp` on a dense sweep of [−104, 0] (every 2⁻¹⁴ and the floats
    /// next to 0): ≤ 2 ulp where e^x is a normal float, exactly 0 where it is not, never subnormal;
    /// the scalar path gives the same bits, and so does each value alone (the tail path).
    func testAttentionExpMatchesDoubleReference() {
        var x = (0...(104 << 14)).map { -Float($0) / Float(1 << 14) }
        x += (-40 ... -1).flatMap { k in (0..<64).map { -Float(sign: .plus, exponent: k, significand: 1 + Float($0) / 64) } }
        x += [-Float.leastNonzeroMagnitude, -Float.leastNormalMagnitude, -87.33654, -87.336548, -1e30, -.infinity]
        let y = attentionExp(x)
        var worst = 0.0, flushed = 0
        var wrong: [String] = []
        for (xi, yi) in zip(x, y) {
            let exact = exp(Double(xi))
            if exact < Double(Float.leastNormalMagnitude) {
                if yi == 0 { flushed += 1 } else { wrong.append("e^\(xi) = \(yi), not 0") }
            } else if !yi.isNormal {
                wrong.append("e^\(xi) = \(yi), not a normal float")
            } else {
                worst = max(worst, ulpError(yi, exact))
            }
        }
        XCTAssertEqual(wrong, [])
        XCTAssertGreaterThan(flushed, 100_000, "the sweep covers the flushed range")
        XCTAssertLessThanOrEqual(worst, 2, "max ulp error")
        XCTAssertGreaterThan(worst, 0.4, "the sweep reaches the rounding error")
        XCTAssertEqual(attentionExp([0, -0.0]), [1, 1])
        XCTAssertTrue(attentionExp([.nan])[0].isNaN)
        XCTAssertEqual(attentionExp(x, reference: true).map(\.bitPattern), y.map(\.bitPattern), "scalar path")
        let alone = stride(from: 0, to: x.count, by: 397).map { attentionExp([x[$0]])[0].bitPattern }
        XCTAssertEqual(alone, stride(from: 0, to: x.count, by: 397).map { y[$0].bitPattern }, "tail lanes")
    }

    /// n × n scores, bias and regions with 3 labels; logits within ±8 put masked scores on both
    /// sides of the exp's floor (−87.3).
    private func randomScores(_ n: Int, seed: UInt64) -> (p: [Float], bias: [Float], regions: [Int32]) {
        var rng = KernelRNG(seed: seed)
        let regions = (0..<n).map { t in t < 3 ? Int32(t) : Int32(rng.next() % 3) }
        return (rng.floats(n * n, -6, 6), rng.floats(n * n, -2, 2), regions)
    }

    /// Bias + mask + row softmax and its backward against the same formulas in Double, on rows
    /// of 343 (a 7³ window), 27 and 5 tokens (vector tails of 7, 3 and 5), with and without the
    /// shift mask; the scalar path gives the same bits.
    func testAttentionSoftmaxMatchesDoubleReference() {
        let mask = WindowAttention.maskValue
        for (n, seed) in [(343, 21), (27, 22), (5, 23)] as [(Int, UInt64)] {
            let (scores, bias, labels) = randomScores(n, seed: seed)
            for regions in [nil, labels] {
                var p = scores
                if let regions { ck_attention_softmax(0, &p, bias, regions, mask, Int32(n)) }
                else { ck_attention_softmax(0, &p, bias, nil, mask, Int32(n)) }
                var worst = 0.0, masked = 0, outside = 0
                for i in 0..<n {
                    let x = (0..<n).map { t -> Double in
                        let other = regions.map { $0[t] != $0[i] } ?? false
                        if other { masked += 1 }
                        return Double(scores[i * n + t]) + Double(bias[i * n + t]) + (other ? Double(mask) : 0)
                    }
                    let e = x.map { exp($0 - x.max()!) }, total = e.reduce(0, +)
                    for t in 0..<n {
                        let exact = e[t] / total, got = Double(p[i * n + t])
                        // Relative where e is far from the floor, absolute (subnormal size) near and below it.
                        if exact > 1e-30 { worst = max(worst, abs(got - exact) / exact) }
                        else if abs(got - exact) > 1e-37 { outside += 1 }
                    }
                }
                XCTAssertLessThan(worst, 5e-6, "n \(n) masked \(regions != nil): max relative error")
                XCTAssertEqual(outside, 0, "n \(n): tiny probabilities off by more than 1e-37")
                XCTAssertEqual(masked > 0, regions != nil)
                var reference = scores
                if let regions { ck_attention_softmax(1, &reference, bias, regions, mask, Int32(n)) }
                else { ck_attention_softmax(1, &reference, bias, nil, mask, Int32(n)) }
                XCTAssertEqual(reference.map(\.bitPattern), p.map(\.bitPattern), "n \(n): scalar path")

                // dS = P ⊙ (dP − rowsum(P ⊙ dP)).
                var rng = KernelRNG(seed: seed + 100)
                let dp = rng.floats(n * n)
                var ds = dp, dsReference = dp
                ck_softmax_backward(0, p, &ds, Int32(n))
                ck_softmax_backward(1, p, &dsReference, Int32(n))
                XCTAssertEqual(dsReference.map(\.bitPattern), ds.map(\.bitPattern), "n \(n): backward scalar path")
                var backwardError = 0.0
                for i in 0..<n {
                    let row = (i * n)..<((i + 1) * n)
                    let dot = row.reduce(0.0) { $0 + Double(p[$1]) * Double(dp[$1]) }
                    for j in row { backwardError = max(backwardError, abs(Double(ds[j]) - Double(p[j]) * (Double(dp[j]) - dot))) }
                }
                XCTAssertLessThan(backwardError, 1e-6, "n \(n): backward vs Double")
            }
        }
    }

    /// A row's logits shifted by whole vectors (8 tokens) inside a row of masked tokens, into the
    /// tail too, give the same bits: each value meets the same exp and the same lane partial sum,
    /// and the masked tokens' e^x is exactly 0.
    func testAttentionSoftmaxIsTranslationInvariant() {
        var rng = KernelRNG(seed: 24)
        for (n, width) in [(343, 23), (27, 11)] {
            let logits = rng.floats(width, -3, 3), logitBias = rng.floats(width, -1, 1)
            var rows: [[Float]] = []
            for offset in stride(from: 0, through: n - width, by: 8) {
                // Row `offset` of an n × n problem: its block of tokens is region 0, the rest region 1.
                var p = rng.floats(n * n, -3, 3), bias = rng.floats(n * n, -1, 1)
                let regions = (0..<n).map { Int32(offset..<(offset + width) ~= $0 ? 0 : 1) }
                let row = offset * n
                for j in 0..<width { (p[row + offset + j], bias[row + offset + j]) = (logits[j], logitBias[j]) }
                ck_attention_softmax(0, &p, bias, regions, WindowAttention.maskValue, Int32(n))
                let probabilities = Array(p[row..<(row + n)])
                XCTAssertTrue(probabilities.enumerated().allSatisfy { regions[$0.offset] == 0 || $0.element == 0 },
                              "n \(n) offset \(offset): masked tokens get exactly 0")
                rows.append(Array(probabilities[offset..<(offset + width)]))
            }
            XCTAssertEqual(rows.count, (n - width) / 8 + 1)
            XCTAssertEqual((n - width) % 8, 0, "the last offset ends at the row's end")
            for (k, row) in rows.enumerated() {
                XCTAssertEqual(row.map(\.bitPattern), rows[0].map(\.bitPattern), "n \(n): offset \(8 * k)")
            }
        }
    }
}
