import Engine
import Foundation
import TestSupport
import XCTest

/// Swift attributions on the network parity models against Captum / PyTorch references
/// (Fixtures/attribution/make_attribution_fixtures.py). Tolerance: relative L2 ≤ 1e-3, the
/// network gradients' own parity tolerance.
///
/// Gradient and input×gradient are compared with float64 references. Integrated gradients is
/// compared with PyTorch computing the same integral in float32, Swift's precision, and also
/// with the float64 integral: on the instance-norm model the zero-baseline end of the path is
/// ill-conditioned (exactly tied max-pool windows, activations at their kink), so float32
/// PyTorch itself lands 1.4e-3 (official scheme) and 3.9e-3 (Gauss–Legendre) from float64;
/// Swift must be no further from float64 than that (and within 1e-3 where PyTorch is).
/// Gauss–Legendre's first node (α ≈ 0.003) sits in that ill-conditioned end, where the two
/// float32 results differ from each other by 3.9e-3, so only its float64 bound is checked
/// (Swift: 1.2e-3 from float64).
final class AttributionParityTests: XCTestCase {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    func load(_ variant: String) throws -> (SegmentationModel, SafetensorsFile, SegmentTarget, Tensor) {
        let model = try SegmentationModel.load(directory: Self.fixtures.appendingPathComponent("network/\(variant)").path)
        let file = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("attribution/\(variant).safetensors").path)
        let c = try XCTUnwrap(Int(file.metadata["target_class"] ?? ""))
        let mask = try file.integers("mask").map { Int32($0) }
        return (model, file, SegmentTarget(classIndex: c, mask: mask), try file.tensor("input"))
    }

    func check(_ variant: String) throws {
        let (model, file, target, input) = try load(variant)
        // The fixed mask is the Swift model's own clean prediction too.
        XCTAssertEqual(TargetFunction.argmax(try model.logits(input, progress: nil, cancel: nil)), target.mask)
        let cases: [(AttributionMethodKind, String, IntegrationScheme)] = [
            (.gradient, "gradient", .official), (.inputXGradient, "input_x_gradient", .official),
            (.integratedGradients, "ig_official", .official), (.integratedGradients, "ig_gauss_legendre", .gaussLegendre),
        ]
        for (kind, name, scheme) in cases {
            var options = AttributionOptions()
            options.scheme = scheme
            let map = try AttributionMethods.make(kind, options: options)
                .attribute(input, model: model, target: target, progress: nil, cancel: nil).map
            let error = relativeL2Error(map.data, try file.floats(name))
            guard kind == .integratedGradients else {
                XCTAssertLessThanOrEqual(error, 1e-3, "\(variant) \(name)")
                continue
            }
            if scheme == .official {
                XCTAssertLessThanOrEqual(relativeL2Error(map.data, try file.floats("\(name)_float32")), 1e-3,
                                         "\(variant) \(name) against float32 PyTorch")
            }
            let pytorchError = try XCTUnwrap(Double(file.metadata["\(name)_float32_error"] ?? ""))
            XCTAssertLessThanOrEqual(error, max(1e-3, 1.1 * pytorchError),
                                     "\(variant) \(name) against float64 (float32 PyTorch: \(pytorchError))")
        }
    }

    func testInstanceNormModelMatchesCaptum() throws { try check("instance") }

    func testBatchNormModelMatchesCaptum() throws { try check("batch") }

    func testIGCompletenessOnTheBatchNormModel() throws {
        // A single-window input: the per-window target equals the stitched one, so the official
        // 20-step scheme should be complete to within 1% of T(x) − T(0).
        let (model, file, target, _) = try load("batch")
        let input = try file.tensor("small_input")
        let mask = try file.integers("small_mask").map { Int32($0) }
        let r = try IntegratedGradients(steps: 20).attribute(
            input, model: model, target: SegmentTarget(classIndex: target.classIndex, mask: mask), progress: nil, cancel: nil)
        let reference = try file.floats("small_target") // T(x), T(0) from PyTorch
        XCTAssertEqual(r.targetValue!, Double(reference[0]), accuracy: 1e-3 * abs(Double(reference[0])) + 1e-4)
        XCTAssertEqual(r.baselineValue!, Double(reference[1]), accuracy: 1e-3 * abs(Double(reference[1])) + 1e-4)
        let span = r.targetValue! - r.baselineValue!
        XCTAssertLessThanOrEqual(abs(r.completenessDelta!), 0.01 * abs(span), "delta \(r.completenessDelta!) of \(span)")
        XCTAssertLessThanOrEqual(relativeL2Error(r.map.data, try file.floats("small_ig_official")), 1e-3)
    }

    /// Official-scheme IG from a zero baseline on a real CT crop (Fixtures/attribution/
    /// make_real_ct_ig_fixture.py), 8 and 20 steps, against PyTorch float32. At α = 0 every
    /// interior window of the first max-pool is an exact tie (the script asserts it in PyTorch) and
    /// that term carries over 99% of the IG norm, so this holds only if identical receptive fields
    /// give identical convolution outputs and ties break to the first element, as in PyTorch.
    func testZeroBaselineIGOnARealCTMatchesPyTorch() throws {
        let model = try SegmentationModel.load(directory: Self.fixtures.appendingPathComponent("network/instance").path)
        let file = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("attribution/real_ct_ig.safetensors").path)
        XCTAssertEqual(file.metadata["tied_windows"], "1.0")
        let c = try XCTUnwrap(Int(file.metadata["target_class"] ?? ""))
        let mask = try file.integers("mask").map { Int32($0) }
        let input = try file.tensor("input")
        XCTAssertEqual(TargetFunction.argmax(try model.logits(input, progress: nil, cancel: nil)), mask)
        for steps in [8, 20] {
            let map = try IntegratedGradients(steps: steps).attribute(
                input, model: model, target: SegmentTarget(classIndex: c, mask: mask), progress: nil, cancel: nil).map
            let error = relativeL2Error(map.data, try file.floats("ig\(steps)_float32"))
            XCTAssertLessThanOrEqual(error, 5e-3, "\(steps) steps")
            print("real-CT zero-baseline IG, \(steps) steps: relative L2 \(error) from PyTorch float32 "
                  + "(PyTorch float32 from float64: \(file.metadata["ig\(steps)_float32_error"] ?? "?"))")
        }
    }
}
