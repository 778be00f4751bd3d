import Engine
import Foundation
import TestSupport
import XCTest

/// nnU-Net v2 results folders of Fixtures/nnunet/make_nnunet_fixtures.py (random weights,
/// nnunetv2 2.8.1 networks): logits and input gradients on one tile against PyTorch (float64),
/// and every bad folder refused with the file named.
final class NNUNetTests: XCTestCase {
    static let configDir = "nnUNetTrainer__nnUNetPlans__3d_fullres"

    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/nnunet/\(name)/\(Self.configDir)").path
    }

    private func expected(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/expected_\(name).safetensors").path)
    }

    /// A writable copy of a fixture folder.
    private func copy(_ name: String) throws -> String {
        let dir = try makeTemporaryDirectory(self) + "/" + Self.configDir
        try FileManager.default.copyItem(atPath: try fixture(name), toPath: dir)
        return dir
    }

    private func edit(_ file: String, _ change: (inout [String: Any]) -> Void) throws {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: file))
    }

    /// Logits within 1e-4 and the gradient of Σ w·logits[1] within 1e-3 (relative L2).
    private func assertMatchesPyTorch(_ network: any SegmentationNetwork, _ name: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try expected(name)
        let input = try reference.tensor("input")
        let weights = try reference.tensor("weights")
        let wantLogits = try reference.tensor("logits")
        let (logits, gradient) = network.forward(input) { logits in
            var seed = Tensor(zeros: logits.shape)
            let plane = weights.count
            for i in 0..<plane { seed.data[plane + i] = weights.data[i] }
            return seed
        }
        XCTAssertEqual(logits.shape, wantLogits.shape, file: file, line: line)
        XCTAssertLessThanOrEqual(relativeL2Error(logits.data, wantLogits.data), 1e-4, "\(name) logits", file: file, line: line)
        let want = try reference.tensor("gradient")
        XCTAssertLessThanOrEqual(relativeL2Error(try XCTUnwrap(gradient).data, want.data), 1e-3, "\(name) gradient",
                                 file: file, line: line)
        XCTAssertEqual(network.forward(input).data, logits.data, "inference and gradient passes agree", file: file, line: line)
    }

    func testPlainConvUNetFoldEnsembleMatchesPyTorch() throws {
        let folder = try NNUNetFolder(path: try fixture("plain"))
        XCTAssertEqual(folder.classes, ["background", "liver", "spleen"])
        XCTAssertEqual(folder.configurationName, "3d_fullres")
        XCTAssertEqual(folder.patchSize, [8, 16, 16], "the child's patch overrides the parent's")
        XCTAssertEqual(folder.spacing, [3, 1, 1], "inherited from 3d_base")
        XCTAssertEqual(folder.availableFolds, ["0", "1"])
        XCTAssertEqual(folder.normalizationSchemes, ["CTNormalization"])
        XCTAssertEqual(folder.intensityProperties["percentile_99_5"], 1200)
        XCTAssertEqual(type(of: folder.architecture).name, "PlainConvUNet")
        try assertMatchesPyTorch(try folder.loadNetwork(), "plain")
        // Fold 0 alone is the network of the old-format plans.
        try assertMatchesPyTorch(try folder.loadNetwork(folds: ["0"]), "oldplans")
    }

    func testResidualEncoderUNetMatchesPyTorch() throws {
        let folder = try NNUNetFolder(path: try fixture("resenc"))
        XCTAssertEqual(type(of: folder.architecture).name, "ResidualEncoderUNet")
        let keys = Set(folder.architecture.parameterShapes.map(\.key))
        XCTAssertTrue(keys.contains("encoder.stages.0.blocks.0.skip.0.conv.weight"), "projection-only skip")
        XCTAssertTrue(keys.contains("encoder.stages.1.blocks.0.skip.1.conv.weight"), "pooled projecting skip")
        XCTAssertFalse(keys.contains { $0.hasPrefix("encoder.stages.2.blocks.0.skip") }, "pool-only skip has no weights")
        XCTAssertFalse(keys.contains("encoder.stages.1.blocks.0.skip.1.conv.bias"), "the projection has no bias")
        try assertMatchesPyTorch(try folder.loadNetwork(), "resenc")
    }

    func testOldFormatPlansBuildTheSameNetwork() throws {
        let folder = try NNUNetFolder(path: try fixture("oldplans"))
        let current = try NNUNetFolder(path: try fixture("plain"))
        XCTAssertEqual(folder.architecture.parameterShapes.map(\.key), current.architecture.parameterShapes.map(\.key))
        XCTAssertEqual(folder.architecture.parameterShapes.map(\.shape), current.architecture.parameterShapes.map(\.shape))
        try assertMatchesPyTorch(try folder.loadNetwork(), "oldplans")
    }

    func testDetection() throws {
        XCTAssertTrue(NNUNetFolder.isFolder(try fixture("plain")))
        XCTAssertFalse(NNUNetFolder.isFolder(try NetworkFixtures.directory("batch")))
    }

    // MARK: Bad folders

    private func problem(_ body: () throws -> Void) -> ModelError? {
        do {
            try body()
            XCTFail("expected an error")
            return nil
        } catch let error as ModelError {
            return error
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    func testMissingAndAbsentFolds() throws {
        let dir = try copy("plain")
        let folder = try NNUNetFolder(path: dir)
        let absent = try XCTUnwrap(problem { _ = try folder.loadNetwork(folds: ["0", "4"]) })
        XCTAssertEqual(absent.problem, "fold 4 is not present (present: 0, 1)")
        let best = try XCTUnwrap(problem { _ = try folder.loadNetwork(checkpoint: .best) })
        XCTAssertEqual(best.path, dir + "/fold_0/checkpoint_best.pth")
        XCTAssertEqual(best.problem, "checkpoint not found")
        try FileManager.default.removeItem(atPath: dir + "/fold_0")
        try FileManager.default.removeItem(atPath: dir + "/fold_1")
        let none = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir).loadNetwork() })
        XCTAssertEqual(none.problem, "no fold_N folder with weights")
    }

    func testPlansWithoutTheConfiguration() throws {
        let dir = try fixture("plain")
        let error = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir, configuration: "2d") })
        XCTAssertEqual(error.path, dir + "/plans.json")
        XCTAssertEqual(error.problem, "no configuration '2d' (plans has: 3d_base, 3d_fullres)")
    }

    func testUnsupportedNetworkClassIsNamed() throws {
        let dir = try copy("resenc")
        try edit(dir + "/plans.json") { plans in
            var configs = plans["configurations"] as! [String: Any]
            var c = configs["3d_fullres"] as! [String: Any]
            var arch = c["architecture"] as! [String: Any]
            arch["network_class_name"] = "dynamic_network_architectures.architectures.unet.ResidualUNet"
            c["architecture"] = arch
            configs["3d_fullres"] = c
            plans["configurations"] = configs
        }
        let error = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir) })
        XCTAssertTrue(error.problem.hasPrefix("network_class_name 'ResidualUNet' is not supported"), error.problem)
    }

    func testRegionBasedLabelsAreRefused() throws {
        let dir = try copy("plain")
        try edit(dir + "/dataset.json") { d in
            d["labels"] = ["background": 0, "whole_tumor": [1, 2], "core": 2]
            d["regions_class_order"] = [1, 2]
        }
        let error = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir) })
        XCTAssertEqual(error.path, dir + "/dataset.json")
        XCTAssertTrue(error.problem.hasPrefix("region-based labels"), error.problem)
    }

    func testClassesDifferingFromTheWeights() throws {
        let dir = try copy("plain")
        try edit(dir + "/dataset.json") { d in d["labels"] = ["background": 0, "liver": 1, "spleen": 2, "kidney": 3] }
        let error = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir).loadNetwork() })
        XCTAssertEqual(error.path, dir + "/fold_0/checkpoint_final.pth")
        XCTAssertEqual(error.problem, "the weights predict 3 classes (decoder.seg_layers.1.weight [3, 4, 1, 1, 1]) "
            + "but dataset.json lists 4 labels")
    }

    func testMismatchedTensorsAreListed() throws {
        let dir = try copy("plain")
        try edit(dir + "/plans.json") { plans in
            var configs = plans["configurations"] as! [String: Any]
            var c = configs["3d_base"] as! [String: Any]
            var arch = c["architecture"] as! [String: Any]
            var kw = arch["arch_kwargs"] as! [String: Any]
            kw["features_per_stage"] = [4, 8, 32]
            arch["arch_kwargs"] = kw
            c["architecture"] = arch
            configs["3d_base"] = c
            plans["configurations"] = configs
        }
        let error = try XCTUnwrap(problem { _ = try NNUNetFolder(path: dir).loadNetwork() })
        XCTAssertTrue(error.problem.contains("encoder.stages.2.0.convs.0.conv.weight: expected a floating-point tensor of shape [32, 8, 3, 3, 3], found F32 [16, 8, 3, 3, 3]"),
                      error.problem)
    }
}
