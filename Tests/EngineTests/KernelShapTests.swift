import Engine
import XCTest

/// z_1(v) = x(v)·g(x) with g = Σ_u c_u x_u: T = (Σ_{M} x)·g couples every pair of regions,
/// so its Shapley values are not simply per-region sums.
struct InteractionModel: ExplainableModel {
    var c: [Float]
    var classCount: Int { 2 }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        let n = input.count
        var g: Float = 0
        for v in 0..<n { g += c[v] * input.data[v] }
        var z = [Float](repeating: 0, count: 2 * n)
        for v in 0..<n { z[n + v] = input.data[v] * g }
        return Tensor(shape: [2] + input.shape.dropFirst(), data: z)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        // ∂T/∂x_j = [j∈M]·g + c_j·Σ_M x (sum rule).
        let mask = target.mask ?? [Int32](repeating: 1, count: input.count)
        let n = input.count
        var g: Float = 0, s: Float = 0
        for v in 0..<n {
            g += c[v] * input.data[v]
            if mask[v] == Int32(target.classIndex) { s += input.data[v] }
        }
        return Tensor(shape: input.shape, data: (0..<n).map {
            (mask[$0] == Int32(target.classIndex) ? g : 0) + c[$0] * s
        })
    }
}

/// Exact Shapley values by the combinatorial formula over all 2^M coalitions, removed
/// features set to 0 — independent of the regression used by KernelSHAP.
func exactShapley(model: any ExplainableModel, input: Tensor, features: [Int32], mask: [Int32],
                  classIndex: Int) throws -> [Int32: Double] {
    let ids = Array(Set(features)).sorted()
    let m = ids.count
    func value(_ subset: Int) throws -> Double {
        var x = input
        for v in 0..<x.count where subset & (1 << ids.firstIndex(of: features[v])!) == 0 { x.data[v] = 0 }
        let z = try model.logits(x, progress: nil, cancel: nil)
        return TargetFunction.value(logits: z, classIndex: classIndex, rule: .sum, mask: mask)
    }
    var values = [Double]()
    for s in 0..<(1 << m) { values.append(try value(s)) }
    func factorial(_ k: Int) -> Double { k <= 1 ? 1 : Double(k) * factorial(k - 1) }
    var out: [Int32: Double] = [:]
    for (f, id) in ids.enumerated() {
        var phi = 0.0
        for s in 0..<(1 << m) where s & (1 << f) == 0 {
            let k = s.nonzeroBitCount
            phi += factorial(k) * factorial(m - k - 1) / factorial(m) * (values[s | (1 << f)] - values[s])
        }
        out[id] = phi
    }
    return out
}

final class KernelShapTests: XCTestCase {
    func testOfficialCubeConstruction() throws {
        // min dim 15 // int(512^(1/3)) = 15 // 7 = 2 (floating point gives 7, not 8).
        let dims = [15, 16, 17]
        let mask = try KernelShap.cubeFeatures(dims: dims, components: 512)
        let side = 2
        let (ci, cj, ck) = (8, 8, 9) // ceil(15/2), ceil(16/2), ceil(17/2)
        for (i, j, k) in [(0, 0, 0), (0, 0, 16), (1, 3, 5), (14, 15, 16), (7, 2, 9)] {
            let cube = ((i / side) * cj + j / side) * ck + k / side
            XCTAssertEqual(mask[(i * dims[1] + j) * dims[2] + k], Int32(cube % 512), "voxel \(i),\(j),\(k)")
        }
        XCTAssertEqual(ci * cj * ck, 576)
        XCTAssertEqual(Set(mask).count, 512, "576 cubes wrap onto 512 ids")
        XCTAssertThrowsError(try KernelShap.cubeFeatures(dims: [6, 8, 8], components: 512))
    }

    func testAdditiveModelGivesExactRegionSums() throws {
        // Linear logits are additive over features: φ_f = Σ_{v∈f∩M} w·x exactly, for any
        // full-rank coalition sample.
        let x = rampInput(3, 2, 2)
        let n = x.count
        let w = (0..<n).map { Float($0 % 3) + 0.5 }
        let model = LinearModel(w: w, bias: [Float](repeating: 0.2, count: n))
        let mask = (0..<n).map { Int32($0 < 8 ? 1 : 0) }
        let features = (0..<n).map { Int32($0 / 3) } // four features of three voxels
        let values = try KernelShap(samples: 60, seed: 3).shapleyValues(
            x, model: model, featureMask: features, mask: mask, classes: [1], rule: .sum,
            progress: nil, cancel: nil)[0]
        for f in Int32(0)..<4 {
            var expected = 0.0
            for v in 0..<n where features[v] == f && mask[v] == 1 { expected += Double(w[v] * x.data[v]) }
            XCTAssertEqual(values[f]!, expected, accuracy: 1e-4, "feature \(f)")
        }
    }

    func testInteractionModelRecoversExactShapleyValues() throws {
        let x = rampInput(3, 3, 1)
        let n = x.count
        let model = InteractionModel(c: (0..<n).map { Float($0 % 4) - 1 })
        let mask = [Int32](repeating: 1, count: n)
        let features: [Int32] = [0, 0, 1, 1, 1, 2, 2, 3, 3]
        let exact = try exactShapley(model: model, input: x, features: features, mask: mask, classIndex: 1)
        let estimate = try KernelShap(samples: 30000, seed: 42).shapleyValues(
            x, model: model, featureMask: features, mask: mask, classes: [1], rule: .sum,
            progress: nil, cancel: nil)[0]
        let scale = exact.values.map(abs).max()!
        // Efficiency holds exactly (the endpoints carry weight 10⁶); the split between
        // features converges with the coalition sample (repeated coalitions are evaluated once,
        // so many samples are cheap): within 3% of the largest value at 30000.
        let t = try TargetFunction.value(logits: model.logits(x, progress: nil, cancel: nil),
                                         classIndex: 1, rule: .sum, mask: mask)
        XCTAssertEqual(estimate.values.reduce(0, +), t, accuracy: 1e-3 * abs(t))
        for (f, phi) in exact {
            XCTAssertEqual(estimate[f]!, phi, accuracy: 0.03 * scale, "feature \(f)")
        }
        XCTAssertGreaterThan(abs(exact[2]! - exact[3]!), 0.05 * scale, "fixture must have distinct values")
    }

    func testAttributeOnSegmentsFillsEachSegmentWithItsValueAndIsSeeded() throws {
        let x = rampInput(2, 3, 2)
        let n = x.count
        let w = [Float](repeating: 1, count: n)
        let model = LinearModel(w: w, bias: [Float](repeating: 0, count: n), threshold: 0.6)
        let shap = KernelShap(samples: 20, features: .segments, seed: 5)
        let r1 = try shap.attribute(x, model: model, target: SegmentTarget(classIndex: 1), progress: nil, cancel: nil)
        let r2 = try shap.attribute(x, model: model, target: SegmentTarget(classIndex: 1), progress: nil, cancel: nil)
        XCTAssertEqual(r1.map.data, r2.map.data)
        // Two features (the predicted segments 0 and 1). Removing segment 1 zeroes the target;
        // removing segment 0 changes nothing, so φ_1 = T and φ_0 = 0.
        let t = x.data.filter { $0 > 0.6 }.reduce(0.0) { $0 + Double($1) }
        for v in 0..<n {
            XCTAssertEqual(Double(r1.map.data[v]), x.data[v] > 0.6 ? t : 0, accuracy: 1e-4)
        }
    }
}
