import Engine
import Foundation
import TestSupport
import XCTest

/// The committed MONAI fixtures (Fixtures/make_network_fixtures.py).
enum NetworkFixtures {
    static let variants = ["instance", "batch"]

    static func directory(_ variant: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/network/\(variant)").path
    }

    static func expected(_ variant: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: directory(variant) + "/expected.safetensors")
    }

    /// Input tensors are stored [1, D, H, W]; every other float tensor is [C, D, H, W].
    static func tensor(_ file: SafetensorsFile, _ name: String) throws -> Tensor { try file.tensor(name) }
}

/// Parity tolerances required of the engine against MONAI in float64: logits within
/// 1e-4 × max|logit| (float32 accumulation over ~10⁴-term sums), input gradients within a
/// relative L2 error of 1e-3.
enum ParityTolerance {
    static let logits = 1e-4
    static let gradientRelativeL2 = 1e-3
}

final class BasicUNetTests: XCTestCase {
    func testStateDictKeysMatchMONAI() throws {
        // The fixture safetensors are MONAI's own state_dict: every floating-point key must be
        // one the architecture expects, with the same shape, and nothing may be left over.
        for variant in NetworkFixtures.variants {
            let dir = try NetworkFixtures.directory(variant)
            let description = try ModelDescription(path: dir + "/model.json")
            let file = try SafetensorsFile(path: dir + "/model.safetensors")
            let expected = description.architecture.parameterShapes
            XCTAssertEqual(expected.map(\.key).sorted(), file.floatingPointNames, variant)
            for (key, shape) in expected { XCTAssertEqual(file.entries[key]?.shape, shape, key) }
        }
        let keys = try BasicUNetArchitecture(arguments: [:]).parameterShapes.map(\.key)
        for key in ["conv_0.conv_0.conv.weight", "down_1.convs.conv_0.adn.N.weight", "upcat_4.upsample.deconv.weight",
                    "upcat_1.convs.conv_1.conv.bias", "final_conv.weight"] {
            XCTAssertTrue(keys.contains(key), key)
        }
    }

    func testDirectForwardMatchesMONAI() throws {
        for variant in NetworkFixtures.variants {
            let model = try SegmentationModel.load(directory: NetworkFixtures.directory(variant))
            let expected = try NetworkFixtures.expected(variant)
            let input = try expected.tensor("direct_input")
            let reference = try expected.tensor("direct_logits")
            let logits = model.network.forward(input)
            XCTAssertEqual(logits.shape, reference.shape)
            let scale = reference.data.map { abs(Double($0)) }.max()!
            XCTAssertLessThanOrEqual(maxAbsDifference(logits.data, reference.data), ParityTolerance.logits * scale, variant)
        }
    }

    func testDirectSegmentGradientMatchesMONAI() throws {
        for variant in NetworkFixtures.variants {
            let model = try SegmentationModel.load(directory: NetworkFixtures.directory(variant))
            let expected = try NetworkFixtures.expected(variant)
            let c = try XCTUnwrap(Int(expected.metadata["target_class"] ?? ""))
            let input = try expected.tensor("direct_input")
            let labels = try expected.integers("direct_labels")
            var predicted: [Int] = []
            let (_, gradient) = model.network.forward(input) { logits in
                let plane = logits.count / logits.shape[0]
                predicted = (0..<plane).map { v in
                    (0..<logits.shape[0]).max { logits.data[$0 * plane + v] < logits.data[$1 * plane + v] }!
                }
                var g = Tensor(zeros: logits.shape)
                for v in 0..<plane where predicted[v] == c { g.data[c * plane + v] = 1 }
                return g
            }
            // The fixture keeps every voxel well away from a tie for class c, so the masks agree.
            XCTAssertEqual(predicted.map { $0 == c }, labels.map { $0 == c }, variant)
            let reference = try expected.tensor("direct_gradient")
            let g = try XCTUnwrap(gradient)
            XCTAssertEqual(g.shape, reference.shape)
            XCTAssertLessThanOrEqual(relativeL2Error(g.data, reference.data), ParityTolerance.gradientRelativeL2, variant)
        }
    }

    func testEmptyTargetSkipsBackward() throws {
        let model = try SegmentationModel.load(directory: NetworkFixtures.directory("batch"))
        let input = try NetworkFixtures.expected("batch").tensor("direct_input")
        let (logits, gradient) = model.network.forward(input) { _ in nil }
        XCTAssertNil(gradient)
        XCTAssertEqual(logits, model.network.forward(input))
    }

    func testUnsupportedArgumentsAreRejected() {
        let cases: [([String: JSONValue], String)] = [
            (["upsample": .string("pixelshuffle")], "upsample 'pixelshuffle' is not supported; only 'deconv' is"),
            (["upsample": .string("nontrainable")], "upsample 'nontrainable' is not supported; only 'deconv' is"),
            (["act": .string("gelu")], "activation 'gelu' is not supported"),
            (["norm": .array([.string("group"), .object(["num_groups": .number(2)])])], "normalisation 'group' is not supported"),
            (["spatial_dims": .number(2)], "spatial_dims 2 is not supported"),
            (["features": .array([.number(8)])], "features must be six positive integers"),
            (["kernel_size": .number(3)], "BasicUNet has no argument 'kernel_size'"),
            (["act": .array([.string("LeakyReLU"), .object(["slope": .number(0.1)])])], "leakyrelu argument 'slope'"),
        ]
        for (arguments, message) in cases {
            XCTAssertThrowsError(try BasicUNetArchitecture(arguments: arguments)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should contain \(message)")
            }
        }
    }

    func testArgumentFormsAndDefaults() throws {
        // Bare names and MONAI defaults: instance norm without affine has no N parameters;
        // batch norm keeps running statistics; PReLU adds one slope per block.
        let bare = try BasicUNetArchitecture(arguments: ["norm": .string("instance"), "act": .string("relu"),
                                                        "features": .array([2, 2, 2, 2, 2, 2].map { .number($0) })])
        XCTAssertFalse(bare.parameterShapes.contains { $0.key.contains(".adn.N.") })
        XCTAssertEqual(bare.outputChannels, 2)
        let batch = try BasicUNetArchitecture(arguments: ["norm": .string("BATCH"), "act": .string("PReLU"),
                                                         "bias": .bool(false)])
        let keys = Set(batch.parameterShapes.map(\.key))
        XCTAssertTrue(keys.contains("conv_0.conv_0.adn.N.running_var"))
        XCTAssertTrue(keys.contains("down_2.convs.conv_1.adn.A.weight"))
        XCTAssertFalse(keys.contains("conv_0.conv_0.conv.bias"))
        XCTAssertTrue(keys.contains("final_conv.bias"))
        XCTAssertEqual(batch.features, [32, 32, 64, 128, 256, 32])
        XCTAssertNil(batch.roiProblem([96, 96, 96]))
        XCTAssertNotNil(batch.roiProblem([96, 96, 100]))
    }
}
