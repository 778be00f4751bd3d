import Engine
import XCTest

// Tiny analytic models whose attributions are known in closed form. Each has two classes:
// z_0(v) = threshold (a constant "background" logit) and z_1(v) = f(x(v)), so the predicted
// mask is {v : f(x(v)) > threshold}. Gradients follow ExplainableModel's contract: the given
// mask, or the model's own argmax when the target has none.

/// z_1(v) = w(v)·x(v) + bias(v).
struct LinearModel: ExplainableModel {
    var w: [Float]
    var bias: [Float]
    var threshold: Float = 0
    var classCount: Int { 2 }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        let n = input.count
        var z = [Float](repeating: threshold, count: 2 * n)
        for v in 0..<n { z[n + v] = w[v] * input.data[v] + bias[v] }
        return Tensor(shape: [2] + input.shape.dropFirst(), data: z)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        let z = try logits(input, progress: nil, cancel: nil)
        let mask = target.mask ?? TargetFunction.argmax(z)
        let weights = ruleWeights(logits: z, mask: mask, target: target)
        return Tensor(shape: input.shape, data: (0..<input.count).map { Float(weights[$0]) * w[$0] })
    }
}

/// z_1(v) = a(v)·x(v)^p for p = 2 or 3: IG's path integrand is polynomial in α.
struct PowerModel: ExplainableModel {
    var a: [Float]
    var power: Int
    var threshold: Float = 0
    var classCount: Int { 2 }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        let n = input.count
        var z = [Float](repeating: threshold, count: 2 * n)
        for v in 0..<n { z[n + v] = a[v] * pow(input.data[v], Float(power)) }
        return Tensor(shape: [2] + input.shape.dropFirst(), data: z)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        let z = try logits(input, progress: nil, cancel: nil)
        let mask = target.mask ?? TargetFunction.argmax(z)
        let weights = ruleWeights(logits: z, mask: mask, target: target)
        return Tensor(shape: input.shape, data: (0..<input.count).map {
            Float(weights[$0]) * Float(power) * a[$0] * pow(input.data[$0], Float(power - 1))
        })
    }
}

/// Per-voxel weights of z_c in the target (METHOD.md §1.2), constants in backprop.
func ruleWeights(logits z: Tensor, mask: [Int32], target: SegmentTarget) -> [Double] {
    let n = mask.count
    let inMask = mask.map { $0 == Int32(target.classIndex) ? 1.0 : 0.0 }
    switch target.rule {
    case .sum: return inMask
    case .mean:
        let count = inMask.reduce(0, +)
        return inMask.map { count > 0 ? $0 / count : 0 }
    case .probWeighted:
        let c = target.classIndex
        let p = (0..<n).map { v -> Double in
            let logits = (0..<z.shape[0]).map { Double(z.data[$0 * n + v]) }
            let m = logits.max()!
            return exp(logits[c] - m) / logits.reduce(0) { $0 + exp($1 - m) } * inMask[v]
        }
        let total = p.reduce(0, +)
        return p.map { total > 0 ? $0 / total : 0 }
    }
}

/// A small deterministic input in (0.1, 1.1) on shape [1, ni, nj, nk].
func rampInput(_ ni: Int, _ nj: Int, _ nk: Int) -> Tensor {
    let n = ni * nj * nk
    return Tensor(shape: [1, ni, nj, nk], data: (0..<n).map { 0.1 + Float(($0 * 37) % n) / Float(n) })
}

final class AttributionTests: XCTestCase {
    func testSeededGeneratorMatchesReferenceXoshiroStream() {
        // Reference: xoshiro256** seeded with four SplitMix64 outputs from seed 42, computed
        // independently in Python.
        var rng = SeededGenerator(seed: 42)
        XCTAssertEqual([rng.next(), rng.next(), rng.next()],
                       [1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009])
    }

    func testNormalsHaveUnitVarianceAndSubsetsAreDistinct() {
        var rng = SeededGenerator(seed: 7)
        let n = 20000
        let z = (0..<n).map { _ in rng.normal() }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        // Standard errors: mean 1/√n ≈ 0.007, variance √(2/n) ≈ 0.01; allow 4 of them.
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.04)
        for (k, total) in [(5, 1000), (700, 1000), (1000, 1000)] {
            let s = rng.sample(k, from: total)
            XCTAssertEqual(Set(s).count, k)
            XCTAssertTrue(s.allSatisfy { $0 >= 0 && $0 < total })
        }
    }

    func testFactoryBuildsEveryKindAndRejectsBadOptions() throws {
        for kind in AttributionMethodKind.allCases {
            XCTAssertEqual(try AttributionMethods.make(kind, options: AttributionOptions()).kind, kind)
        }
        var bad = AttributionOptions()
        bad.steps = 0
        XCTAssertThrowsError(try AttributionMethods.make(.integratedGradients, options: bad))
        bad = AttributionOptions()
        bad.samples = 1
        XCTAssertThrowsError(try AttributionMethods.make(.kernelshap, options: bad))
        XCTAssertEqual(Baseline(argument: "min"), .min)
        XCTAssertEqual(Baseline(argument: "-0.5"), .value(-0.5))
        XCTAssertNil(Baseline(argument: "nan"))
        XCTAssertNil(Baseline(argument: "black"))
    }

    func testTargetValueRulesOnKnownLogits() {
        // Two classes, three voxels: z_0 = [0, 0, 0], z_1 = [1, 2, −1]; class 1 is predicted at v0, v1.
        let z = Tensor(shape: [2, 3, 1, 1], data: [0, 0, 0, 1, 2, -1])
        let mask = TargetFunction.argmax(z)
        XCTAssertEqual(mask, [1, 1, 0])
        XCTAssertEqual(TargetFunction.value(logits: z, classIndex: 1, rule: .sum, mask: mask), 3, accuracy: 1e-12)
        XCTAssertEqual(TargetFunction.value(logits: z, classIndex: 1, rule: .mean, mask: mask), 1.5, accuracy: 1e-12)
        let p1 = 1 / (1 + exp(-1.0)), p2 = 1 / (1 + exp(-2.0))
        XCTAssertEqual(TargetFunction.value(logits: z, classIndex: 1, rule: .probWeighted, mask: mask),
                       (p1 * 1 + p2 * 2) / (p1 + p2), accuracy: 1e-12)
        XCTAssertEqual(TargetFunction.sumValues(logits: z, mask: mask), [0, 3])
        // An empty mask gives a zero target, not a NaN.
        XCTAssertEqual(TargetFunction.value(logits: z, classIndex: 1, rule: .mean, mask: [0, 0, 0]), 0)
    }

    func testGradientAndInputXGradientOnLinearModel() throws {
        let x = rampInput(2, 3, 2)
        let n = x.count
        let w = (0..<n).map { Float($0 % 5) - 1.5 }
        let model = LinearModel(w: w, bias: [Float](repeating: 0.3, count: n))
        let mask = (0..<n).map { Int32($0 % 3 == 0 ? 0 : 1) }
        let target = SegmentTarget(classIndex: 1, mask: mask)
        let g = try VanillaGradient().attribute(x, model: model, target: target, progress: nil, cancel: nil).map
        let ixg = try InputXGradient().attribute(x, model: model, target: target, progress: nil, cancel: nil).map
        for v in 0..<n {
            let expected: Float = mask[v] == 1 ? w[v] : 0
            XCTAssertEqual(g.data[v], expected)
            XCTAssertEqual(ixg.data[v], expected * x.data[v], accuracy: 1e-6)
        }
    }

    func testSmoothGradReplaysItsNoiseAndFixesTheMask() throws {
        let x = rampInput(2, 2, 3)
        let n = x.count
        let a = (0..<n).map { 0.5 + Float($0) / 4 }
        // Threshold 0.3 puts part of the input outside the clean mask; noise must not move it.
        let model = PowerModel(a: a, power: 2, threshold: 0.3)
        let target = SegmentTarget(classIndex: 1)
        let sg = SmoothGrad(samples: 5, noiseLevel: 0.1, seed: 11)
        let map = try sg.attribute(x, model: model, target: target, progress: nil, cancel: nil).map

        let clean = TargetFunction.argmax(try model.logits(x, progress: nil, cancel: nil))
        XCTAssertTrue(clean.contains(0) && clean.contains(1), "fixture must have both classes")
        let sigma = 0.1 * Double(x.data.max()! - x.data.min()!)
        var rng = SeededGenerator(seed: 11)
        var expected = [Double](repeating: 0, count: n)
        for _ in 0..<5 {
            for v in 0..<n {
                let xv = Double(x.data[v] + Float(sigma * rng.normal()))
                if clean[v] == 1 { expected[v] += 2 * Double(a[v]) * xv / 5 }
            }
        }
        for v in 0..<n { XCTAssertEqual(Double(map.data[v]), expected[v], accuracy: 1e-5) }
        let other = try SmoothGrad(samples: 5, noiseLevel: 0.1, seed: 12)
            .attribute(x, model: model, target: target, progress: nil, cancel: nil).map
        XCTAssertNotEqual(other.data, map.data)
    }

    func testCancellationStopsAMethod() {
        let x = rampInput(2, 2, 2)
        let model = LinearModel(w: [Float](repeating: 1, count: 8), bias: [Float](repeating: 0, count: 8))
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try IntegratedGradients().attribute(
            x, model: model, target: SegmentTarget(classIndex: 1), progress: nil, cancel: token)) {
            XCTAssertTrue($0 is CancellationError)
        }
    }
}
