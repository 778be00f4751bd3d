import Engine
import Foundation
import TestSupport
import XCTest

/// The UNet and SegResNet fixtures of Fixtures/monai/make_monai_fixtures.py (MONAI 1.6.1,
/// float32, one thread). Weights are regenerated from their keys by the script's hash; the input
/// (a real CT crop) and MONAI's outputs are stored.
enum MONAIFixtures {
    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/monai/\(name)")
    }

    static func document(_ name: String) throws -> [String: JSONValue] {
        try XCTUnwrap(JSONValue.parse(Data(contentsOf: url("\(name).json"))).object)
    }

    static func expected(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: url("\(name).safetensors").path)
    }

    /// model.json and model.safetensors of case `name` in a fresh directory.
    static func modelDirectory(_ name: String, in testCase: XCTestCase) throws -> String {
        let doc = try document(name)
        let dir = try makeTemporaryDirectory(testCase)
        try JSONSerialization.data(withJSONObject: SwinFixtures.jsonObject(doc["model"]!), options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/model.json"))
        let architecture = try ModelDescription(path: dir + "/model.json").architecture
        let recipe = try XCTUnwrap(doc["recipe"]?.object)
        let entries: [SafetensorsWriter.Entry] = try architecture.parameterShapes.map { key, shape in
            let r = try XCTUnwrap(recipe[key]?.array?.compactMap(\.number), "no recipe for \(key)")
            return .float(key, shape, SwinFixtures.values(key, count: shape.reduce(1, *), scale: r[0], offset: r[1]))
        }
        try SafetensorsWriter.write(entries, to: dir + "/model.safetensors")
        return dir
    }
}

final class MONAINetsTests: XCTestCase {
    static let cases = ["unet_default", "unet_batch", "segresnet_default", "segresnet_deconv"]

    /// The architecture declares exactly MONAI's floating-point state_dict, in MONAI's order.
    func testStateDictMatchesMONAI() throws {
        for name in Self.cases {
            let doc = try MONAIFixtures.document(name)
            let model = try XCTUnwrap(doc["model"]?.object)
            let type = try XCTUnwrap(NetworkArchitectures.named(try XCTUnwrap(model["architecture"]?.string)))
            let architecture = try type.init(arguments: try XCTUnwrap(model["arguments"]?.object))
            let monai = try XCTUnwrap(doc["state_dict"]?.array).map { entry in
                "\(entry.array![0].string!) \(entry.array![1].array!.map { $0.int! })"
            }
            XCTAssertEqual(architecture.parameterShapes.map { "\($0.key) \($0.shape)" }, monai, name)
        }
    }

    /// Logits within 1e-4 of max|logit| and the class-1 target's input gradient within relative
    /// L2 1e-3 of MONAI float32.
    func testLogitsAndGradientMatchMONAI() throws {
        for name in Self.cases {
            let model = try SegmentationModel.load(directory: MONAIFixtures.modelDirectory(name, in: self))
            let expected = try MONAIFixtures.expected(name)
            let reference = try expected.tensor("logits")
            let plane = reference.count / reference.shape[0]
            // The mask comes from MONAI's argmax so that a float32 near-tie cannot change the seed.
            let classOne = (0..<plane).map { v in
                (0..<reference.shape[0]).max { reference.data[$0 * plane + v] < reference.data[$1 * plane + v] } == 1
            }
            let (logits, gradient) = model.network.forward(try expected.tensor("input")) { logits in
                var g = Tensor(zeros: logits.shape)
                for v in 0..<plane where classOne[v] { g.data[plane + v] = 1 }
                return g
            }
            XCTAssertEqual(logits.shape, reference.shape, name)
            let scale = reference.data.map { abs(Double($0)) }.max()!
            let logitError = maxAbsDifference(logits.data, reference.data) / scale
            XCTAssertLessThanOrEqual(logitError, ParityTolerance.logits, "\(name) logits")
            let gradientError = relativeL2Error(try XCTUnwrap(gradient).data, try expected.tensor("gradient").data)
            XCTAssertLessThanOrEqual(gradientError, ParityTolerance.gradientRelativeL2, "\(name) gradient")
            print("\(name): logits max error \(logitError) of max|logit|, gradient relative L2 \(gradientError)")
        }
    }

    /// Unsupported options are refused with a message naming the argument.
    func testUnsupportedArgumentsAreRefusedByName() {
        let unet: [String: JSONValue] = ["spatial_dims": .number(3), "in_channels": .number(1), "out_channels": .number(2),
                                         "channels": .array([.number(4), .number(8)]), "strides": .array([.number(2)])]
        XCTAssertNoThrow(try UNetArchitecture(arguments: unet))
        let refusals: [(String, JSONValue, String)] = [
            ("adn_ordering", .string("AN"), "adn_ordering"), ("norm", .string("GROUP"), "normalisation 'group'"),
            ("kernel_size", .number(4), "kernel_size"), ("spatial_dims", .number(2), "spatial_dims"),
            ("strides", .array([]), "strides"), ("act", .array([.string("PRELU"), .object(["num_parameters": .number(4)])]), "num_parameters"),
            ("up_kernel", .number(3), "'up_kernel'"),
        ]
        for (key, value, phrase) in refusals {
            var a = unet
            a[key] = value
            XCTAssertThrowsError(try UNetArchitecture(arguments: a), key) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(key): \(error)")
            }
        }
        let segRefusals: [(String, JSONValue, String)] = [
            ("upsample_mode", .string("pixelshuffle"), "upsample_mode 'pixelshuffle'"),
            ("norm", .string("INSTANCE"), "norm must be GROUP"),
            ("norm", .array([.string("GROUP"), .object(["num_groups": .number(3)])]), "num_groups 3"),
            ("blocks_up", .array([.number(1)]), "blocks_up"), ("act", .string("PRELU"), "prelu"),
            ("norm_name", .string("batch"), "norm_name"),
        ]
        for (key, value, phrase) in segRefusals {
            XCTAssertThrowsError(try SegResNetArchitecture(arguments: [key: value]), key) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(key): \(error)")
            }
        }
        XCTAssertEqual(try SegResNetArchitecture(arguments: [:]).roiProblem([96, 96, 96]), nil)
        XCTAssertNotNil(try SegResNetArchitecture(arguments: [:]).roiProblem([96, 96, 100]))
    }
}

/// The ops the MONAI networks add: PyTorch values (ops.safetensors), the naive twins and central
/// finite differences.
final class MONAIOpsTests: XCTestCase {
    /// Σ y·dy's input gradient with the script's hashed cotangent `key`.
    private func cotangent(_ key: String, _ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: SwinFixtures.values(key, count: shape.reduce(1, *), scale: 1, offset: 0))
    }

    private func hashed(_ key: String, _ shape: [Int], scale: Double, offset: Double) -> Tensor {
        Tensor(shape: shape, data: SwinFixtures.values(key, count: shape.reduce(1, *), scale: scale, offset: offset))
    }

    func testGroupNormMatchesPyTorchNaiveAndFiniteDifferences() throws {
        let torch = try MONAIFixtures.expected("ops")
        let norm = GroupNorm(groups: 3, channels: 6, eps: 1e-5,
                             weight: hashed("gn_weight", [6], scale: 0.3, offset: 1).data,
                             bias: hashed("gn_bias", [6], scale: 0.1, offset: 0).data)
        let x = hashed("gn_x", [6, 3, 4, 5], scale: 1, offset: 0.3)
        let y = norm.forward(x)
        KernelCheck.assertClose(y, try torch.tensor("groupnorm_y"), maxRelative: 1e-5, "group norm vs PyTorch")
        KernelCheck.assertClose(y, norm.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "group norm naive")
        let dy = cotangent("gn_dy", y.shape)
        let dx = norm.backwardInput(dy, input: x)
        KernelCheck.assertClose(dx, try torch.tensor("groupnorm_dx"), maxRelative: 1e-4, "group norm backward vs PyTorch")
        KernelCheck.assertClose(dx, norm.backwardInputNaive(dy, input: x), maxRelative: 1e-5, "group norm backward naive")
        var rng = KernelRNG(seed: 31)
        let small = rng.tensor([4, 2, 3, 2])
        let two = GroupNorm(groups: 2, channels: 4, weight: rng.floats(4, 0.5, 1.5), bias: rng.floats(4))
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: small, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceSmooth, "group norm",
            forward: { two.forward($0) }, backward: { g, x in two.backwardInput(g, input: x) })
    }

    func testTrilinearUpsampleMatchesPyTorchNaiveAndFiniteDifferences() throws {
        let torch = try MONAIFixtures.expected("ops")
        let up = TrilinearUpsample()
        let x = hashed("up_x", [2, 3, 4, 5], scale: 1, offset: 0)
        let y = up.forward(x)
        XCTAssertEqual(y.shape, [2, 6, 8, 10])
        KernelCheck.assertClose(y, try torch.tensor("upsample_y"), maxRelative: 1e-6, "upsample vs PyTorch")
        KernelCheck.assertClose(y, up.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "upsample naive")
        let dx = up.backwardInput(cotangent("up_dy", y.shape), inputShape: x.shape)
        KernelCheck.assertClose(dx, try torch.tensor("upsample_dx"), maxRelative: 1e-5, "upsample backward vs PyTorch")
        var rng = KernelRNG(seed: 5)
        let small = rng.tensor([1, 1, 3, 2])
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: small, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "upsample",
            forward: { up.forward($0) }, backward: { g, x in up.backwardInput(g, inputShape: x.shape) })
    }

    /// MONAI UNet's transposed convolution: k3, s2, p1, output padding 1 doubles every size.
    func testConvTransposeWithOutputPaddingMatchesPyTorchNaiveAndFiniteDifferences() throws {
        let torch = try MONAIFixtures.expected("ops")
        let deconv = ConvTranspose3d(inChannels: 3, outChannels: 2,
                                     geometry: ConvGeometry(kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]),
                                     outputPadding: [1, 1, 1],
                                     weight: hashed("deconv_weight", [3, 2, 3, 3, 3], scale: 0.2, offset: 0).data,
                                     bias: hashed("deconv_bias", [2], scale: 0.1, offset: 0).data)
        let x = hashed("deconv_x", [3, 3, 4, 2], scale: 1, offset: 0)
        let y = deconv.forward(x)
        XCTAssertEqual(y.shape, [2, 6, 8, 4])
        KernelCheck.assertClose(y, try torch.tensor("deconv_y"), maxRelative: 1e-5, "deconv vs PyTorch")
        KernelCheck.assertClose(y, deconv.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "deconv naive")
        let dy = cotangent("deconv_dy", y.shape)
        let dx = deconv.backwardInput(dy, inputShape: x.shape)
        KernelCheck.assertClose(dx, try torch.tensor("deconv_dx"), maxRelative: 1e-5, "deconv backward vs PyTorch")
        KernelCheck.assertClose(dx, deconv.backwardInputNaive(dy, inputShape: x.shape),
                                maxRelative: KernelTolerance.fastVsNaive, "deconv backward naive")
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "deconv output padding",
            forward: { deconv.forward($0) }, backward: { g, x in deconv.backwardInput(g, inputShape: x.shape) })
    }
}
