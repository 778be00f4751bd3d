import Engine
import Foundation
import TestSupport
import XCTest

/// Every bad model directory gives one clear error naming the file at fault.
final class ModelDirectoryTests: XCTestCase {
    /// A writable copy of the small batch-norm fixture model.
    private func copyOfFixture() throws -> String {
        let dir = try makeTemporaryDirectory(self) + "/model"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = try NetworkFixtures.directory("batch")
        for name in [ModelDirectory.descriptionFile, ModelDirectory.weightsFile] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: dir + "/" + name)
        }
        return dir
    }

    private func editJSON(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let path = dir + "/model.json"
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    private func loadError(_ dir: String, file: StaticString = #filePath, line: UInt = #line) -> ModelError? {
        do {
            _ = try SegmentationModel.load(directory: dir)
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch let error as ModelError {
            return error
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
            return nil
        }
    }

    func testFixtureLoadsWithItsConfiguration() throws {
        let model = try SegmentationModel.load(directory: try copyOfFixture())
        XCTAssertEqual(model.classes, ["background", "organ", "vessel"])
        XCTAssertEqual(model.classCount, 3)
        XCTAssertEqual(model.roiSize, [16, 16, 16])
        XCTAssertEqual(model.overlap, 0.25)
        XCTAssertEqual(model.preprocessing.orientation, "RAS")
        XCTAssertEqual(model.preprocessing.spacing, [1.5, 1.5, 1.5])
        XCTAssertEqual(model.preprocessing.intensity, IntensityWindow(aMin: -1024, aMax: 1024, bMin: 0, bMax: 1, clip: true))
    }

    func testMissingDirectory() throws {
        let dir = try makeTemporaryDirectory(self) + "/nowhere"
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, dir)
        XCTAssertTrue(error.problem.contains("not found"))
    }

    func testMalformedJSON() throws {
        let dir = try copyOfFixture()
        try Data("{\"format\": \"agg2exp-model/1\", ".utf8).write(to: URL(fileURLWithPath: dir + "/model.json"))
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, dir + "/model.json")
        XCTAssertTrue(error.problem.contains("malformed JSON"), error.problem)
    }

    func testUnknownArchitecture() throws {
        let dir = try copyOfFixture()
        try editJSON(dir) { $0["architecture"] = "UNETR" }
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, dir + "/model.json")
        XCTAssertEqual(error.problem, "unknown architecture 'UNETR' (supported: BasicUNet, SwinUNETR, UNet, SegResNet)")
    }

    func testUnsupportedUpsample() throws {
        let dir = try copyOfFixture()
        try editJSON(dir) { o in
            var args = o["arguments"] as! [String: Any]
            args["upsample"] = "pixelshuffle"
            o["arguments"] = args
        }
        XCTAssertEqual(try XCTUnwrap(loadError(dir)).problem,
                       "BasicUNet arguments: upsample 'pixelshuffle' is not supported; only 'deconv' is")
    }

    func testTruncatedWeights() throws {
        let dir = try copyOfFixture()
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, path)
        XCTAssertTrue(error.problem.contains("outside the file"), error.problem)
        try data.prefix(100).write(to: URL(fileURLWithPath: path))
        XCTAssertTrue(try XCTUnwrap(loadError(dir)).problem.contains("truncated"))
    }

    func testHeaderPointingOutsideFile() throws {
        let dir = try copyOfFixture()
        let path = dir + "/model.safetensors"
        try writeTestSafetensors([("final_conv.bias", "F32", [3], float32Bytes([1, 2, 3]))], to: path,
                                 headerOverride: "{\"final_conv.bias\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [100, 112]}}")
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, path)
        XCTAssertTrue(error.problem.contains("'final_conv.bias' data_offsets [100, 112] point outside the file"), error.problem)
    }

    /// Missing, unexpected and mis-shaped tensors all appear in one error.
    func testWrongTensorsListedTogether() throws {
        let dir = try copyOfFixture()
        let path = dir + "/model.safetensors"
        let file = try SafetensorsFile(path: path)
        var tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] = []
        for name in file.floatingPointNames where name != "down_2.convs.conv_0.conv.weight" {
            var values = try file.floats(name)
            var shape = file.entries[name]!.shape
            if name == "upcat_3.upsample.deconv.bias" { shape = [shape[0] + 1]; values.append(0) }
            tensors.append((name, "F32", shape, float32Bytes(values)))
        }
        tensors.append(("extra.weight", "F32", [2], float32Bytes([1, 2])))
        tensors.append(("down_1.convs.conv_0.adn.N.num_batches_tracked", "I64", [], withUnsafeBytes(of: Int64(3), Array.init)))
        try writeTestSafetensors(tensors, to: path)
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, path)
        XCTAssertTrue(error.problem.contains("missing down_2.convs.conv_0.conv.weight (expected [8, 6, 3, 3, 3])"), error.problem)
        XCTAssertTrue(error.problem.contains("wrong shape for upcat_3.upsample.deconv.bias: expected [5], found [6]"), error.problem)
        XCTAssertTrue(error.problem.contains("unexpected extra.weight (found [2])"), error.problem)
        XCTAssertFalse(error.problem.contains("num_batches_tracked"), error.problem)
    }

    func testClassCountDisagreesWithWeights() throws {
        let dir = try copyOfFixture()
        try editJSON(dir) { o in
            var args = o["arguments"] as! [String: Any]
            args["out_channels"] = 2
            o["arguments"] = args
            o["classes"] = ["background", "organ"]
        }
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, dir + "/model.safetensors")
        XCTAssertEqual(error.problem, "the weights have 3 output classes (final_conv.weight [3, 4, 1, 1, 1]) "
            + "but model.json lists 2 classes")
        try editJSON(dir) { $0["classes"] = ["a", "b", "c"] }
        XCTAssertTrue(try XCTUnwrap(loadError(dir)).problem.contains("classes lists 3 names but the network has 2 output channels"))
    }

    func testROINotDivisibleBy16() throws {
        let dir = try copyOfFixture()
        try editJSON(dir) { $0["inference"] = ["roi_size": [16, 24, 16], "overlap": 0.25] }
        let error = try XCTUnwrap(loadError(dir))
        XCTAssertEqual(error.path, dir + "/model.json")
        XCTAssertTrue(error.problem.contains("divisible by 16"), error.problem)
    }

    func testOtherSchemaErrors() throws {
        let cases: [((inout [String: Any]) -> Void, String)] = [
            ({ $0["format"] = "agg2exp-model/2" }, "unsupported format 'agg2exp-model/2'"),
            ({ $0["classes"] = [] }, "\"classes\" must be a non-empty list of names"),
            ({ $0["preprocessing"] = ["orientation": "RAR", "spacing": [1, 1, 1], "intensity": [:]] }, "orientation"),
            ({ $0["inference"] = ["roi_size": [16, 16, 16], "overlap": 1.0] }, "overlap 1.0 must be in [0, 0.9]"),
            ({ $0["extra"] = 1 }, "unknown key 'extra'"),
        ]
        for (edit, message) in cases {
            let dir = try copyOfFixture()
            try editJSON(dir, edit)
            let problem = try XCTUnwrap(loadError(dir)).problem
            XCTAssertTrue(problem.contains(message), "\(problem) should contain \(message)")
        }
    }
}
