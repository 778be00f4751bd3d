import Engine
import XCTest

final class IntegratedGradientsTests: XCTestCase {
    func testOfficialQuadratureIsInclusiveLinspaceWithEqualWeights() {
        let (alphas, weights) = IntegratedGradients.quadrature(steps: 20, scheme: .official)
        XCTAssertEqual(alphas.count, 20)
        XCTAssertEqual(alphas.first, 0)
        XCTAssertEqual(alphas.last, 1)
        XCTAssertEqual(alphas[1], 1.0 / 19, accuracy: 1e-15)
        XCTAssertTrue(weights.allSatisfy { $0 == 1.0 / 20 })
    }

    func testGaussLegendreIntegratesHighDegreePolynomialsExactly() {
        for m in [1, 2, 5, 20] {
            let (t, w) = IntegratedGradients.quadrature(steps: m, scheme: .gaussLegendre)
            XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-13)
            XCTAssertTrue(t.allSatisfy { $0 > 0 && $0 < 1 })
            // ∫₀¹ α^d dα = 1/(d+1) for every d ≤ 2m − 1.
            for d in 0...(2 * m - 1) {
                let q = zip(t, w).reduce(0.0) { $0 + $1.1 * pow($1.0, Double(d)) }
                XCTAssertEqual(q, 1 / Double(d + 1), accuracy: 1e-12, "m=\(m) d=\(d)")
            }
        }
    }

    func testLinearModelIsComplete() throws {
        let x = rampInput(3, 2, 2)
        let n = x.count
        let w = (0..<n).map { Float($0 % 4) - 1 }
        let model = LinearModel(w: w, bias: [Float](repeating: 0.5, count: n))
        let mask = (0..<n).map { Int32($0 % 2) }
        let ig = IntegratedGradients(steps: 7, baseline: .value(0.2))
        let r = try ig.attribute(x, model: model, target: SegmentTarget(classIndex: 1, mask: mask),
                                 progress: nil, cancel: nil)
        for v in 0..<n {
            let expected = mask[v] == 1 ? w[v] * (x.data[v] - 0.2) : 0
            XCTAssertEqual(r.map.data[v], expected, accuracy: 1e-6)
        }
        XCTAssertEqual(r.completenessDelta!, 0, accuracy: 1e-5)
    }

    func testQuadraticModelHasClosedFormAttribution() throws {
        // ∇T(αx) = 2aαx on the mask; the official weights average α to exactly 1/2, so
        // A = a·x² and the scheme is complete for quadratics.
        let x = rampInput(2, 2, 3)
        let n = x.count
        let a = (0..<n).map { Float($0 + 1) / 6 }
        let model = PowerModel(a: a, power: 2)
        let r = try IntegratedGradients(steps: 20).attribute(
            x, model: model, target: SegmentTarget(classIndex: 1, mask: [Int32](repeating: 1, count: n)),
            progress: nil, cancel: nil)
        for v in 0..<n { XCTAssertEqual(r.map.data[v], a[v] * x.data[v] * x.data[v], accuracy: 1e-5) }
        XCTAssertEqual(r.completenessDelta!, 0, accuracy: 1e-4)
    }

    func testCubicModelExposesTheOfficialSchemeBiasAndGaussLegendreRemovesIt() throws {
        // Official: mean of α_k² = (2m − 1)/(6(m − 1)) instead of 1/3, so Σa = 3·that·T(x).
        let x = rampInput(2, 3, 2)
        let n = x.count
        let model = PowerModel(a: [Float](repeating: 1, count: n), power: 3)
        let target = SegmentTarget(classIndex: 1, mask: [Int32](repeating: 1, count: n))
        let t = x.data.reduce(0.0) { $0 + pow(Double($1), 3) }
        let official = try IntegratedGradients(steps: 20).attribute(x, model: model, target: target,
                                                                   progress: nil, cancel: nil)
        let factor = 3 * 39.0 / 114.0
        XCTAssertEqual(official.targetValue!, t, accuracy: 1e-4)
        XCTAssertEqual(official.baselineValue!, 0, accuracy: 1e-12)
        XCTAssertEqual(official.completenessDelta!, (factor - 1) * t, accuracy: 1e-4)
        let gl = try IntegratedGradients(steps: 3, scheme: .gaussLegendre).attribute(
            x, model: model, target: target, progress: nil, cancel: nil)
        XCTAssertEqual(gl.completenessDelta!, 0, accuracy: 1e-4)
        for v in 0..<n { XCTAssertEqual(gl.map.data[v], pow(x.data[v], 3), accuracy: 1e-5) }
    }

    func testMinBaselineAndFixedCleanMask() throws {
        // Threshold 0.5 splits the input; along the path from the min baseline most voxels fall
        // below it, but the clean mask must stay fixed.
        let x = rampInput(2, 2, 2)
        let n = x.count
        let model = LinearModel(w: [Float](repeating: 1, count: n), bias: [Float](repeating: 0, count: n), threshold: 0.5)
        let r = try IntegratedGradients(steps: 4, baseline: .min).attribute(
            x, model: model, target: SegmentTarget(classIndex: 1), progress: nil, cancel: nil)
        let lo = x.data.min()!
        for v in 0..<n {
            XCTAssertEqual(r.map.data[v], x.data[v] > 0.5 ? x.data[v] - lo : 0, accuracy: 1e-6)
        }
        XCTAssertEqual(r.completenessDelta!, 0, accuracy: 1e-5)
    }
}
