import Engine
import Foundation
import TestSupport
import XCTest

/// `segment` and `explain` on MONAI UNet and SegResNet model directories
/// (EngineTests/Fixtures/monai/make_monai_fixtures.py: tiny random-weight networks, a 3 mm crop
/// of the sample CT, and MONAI's own sliding-window label maps of it).
final class MONAINetsCommandTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/monai")
    private var scan: String { fixtures.appendingPathComponent("ct.nii.gz").path }

    /// The fixture directory with model.json naming `"weights": "model.pth"` and only that file.
    private func pthDirectory(_ name: String) throws -> String {
        let source = fixtures.appendingPathComponent(name).path
        let dir = try makeTemporaryDirectory(self) + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/model.pth", toPath: dir + "/model.pth")
        var model = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/model.json")))
            as? [String: Any])
        model["weights"] = "model.pth"
        try JSONSerialization.data(withJSONObject: model).write(to: URL(fileURLWithPath: dir + "/model.json"))
        return dir
    }

    /// MONAI's label map, [I, J, K] in C order, in NIfTI order (i fastest).
    private func monaiLabels(_ name: String) throws -> [Int] {
        let file = try SafetensorsFile(path: fixtures.appendingPathComponent("\(name)_labels.safetensors").path)
        let shape = try XCTUnwrap(file.entries["labels"]?.shape)
        let values = try file.integers("labels")
        var out = [Int](repeating: 0, count: values.count)
        for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] {
            out[i + shape[0] * (j + shape[1] * k)] = values[(i * shape[1] + j) * shape[2] + k]
        } } }
        return out
    }

    /// Both weight formats segment the scan to the same labels, which agree with MONAI's
    /// sliding_window_inference argmax on ≥ 99.9 % of voxels (random weights leave near-ties).
    func testSegmentMatchesMONAIWithSafetensorsAndPth() throws {
        for name in ["tiny_unet", "tiny_segresnet"] {
            let dir = try makeTemporaryDirectory(self)
            let reference = try monaiLabels(name)
            XCTAssertGreaterThan(Set(reference).count, 1, "\(name): MONAI predicts one class only")
            var maps: [[Int]] = []
            for model in [fixtures.appendingPathComponent(name).path, try pthDirectory(name)] {
                let out = dir + "/seg\(maps.count).nii.gz"
                let result = try runAgg2Exp(["segment", scan, "--model", model, "--out", out])
                XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
                let written = try NIfTI.readLabelMap(out)
                XCTAssertEqual(written.grid.dims, [40, 36, 24], name)
                maps.append(written.labels.map { Int($0) })
            }
            XCTAssertEqual(maps[0], maps[1], "\(name): safetensors and .pth weights disagree")
            let agree = Double(zip(maps[0], reference).filter { $0 == $1 }.count) / Double(reference.count)
            XCTAssertGreaterThanOrEqual(agree, 0.999, name)
            print("\(name): label agreement with MONAI \(agree)")
        }
    }

    /// `explain` runs end to end on both networks and both weight formats give the same map.
    func testExplainWritesTheSameMapFromSafetensorsAndPth() throws {
        for (name, target) in [("tiny_unet", "class1"), ("tiny_segresnet", "class1")] {
            let dir = try makeTemporaryDirectory(self)
            var maps: [[Float]] = []
            for model in [fixtures.appendingPathComponent(name).path, try pthDirectory(name)] {
                let out = dir + "/map\(maps.count).nii.gz", json = dir + "/r\(maps.count).json"
                let result = try runAgg2Exp(["explain", scan, "--model", model, "--target", target,
                                             "--method", "gradient", "--out", out, "--json", json])
                XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
                let map = try NIfTI.readVolume(out)
                XCTAssertEqual(map.grid.dims, [40, 36, 24], name)
                XCTAssertGreaterThan(map.voxels.map { abs($0) }.max() ?? 0, 0, "\(name): the attribution map is zero")
                let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
                    as? [String: Any])
                let masses = try XCTUnwrap(report["segments"] as? [[String: Any]]).compactMap { $0["mass"] as? Double }
                XCTAssertEqual(masses.reduce(0, +), 1, accuracy: 1e-9, name)
                maps.append(map.voxels)
            }
            XCTAssertEqual(maps[0], maps[1], "\(name): safetensors and .pth weights disagree")
        }
    }

    /// A model.json argument the engine does not implement fails with the file and argument named.
    func testUnsupportedArgumentNamesFileAndArgument() throws {
        let dir = try makeTemporaryDirectory(self) + "/model"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = fixtures.appendingPathComponent("tiny_segresnet").path
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
        let json = try String(contentsOfFile: source + "/model.json", encoding: .utf8)
            .replacingOccurrences(of: "\"init_filters\"", with: "\"upsample_mode\": \"pixelshuffle\", \"init_filters\"")
        try json.write(toFile: dir + "/model.json", atomically: true, encoding: .utf8)
        let out = dir + "/seg.nii.gz"
        let result = try runAgg2Exp(["segment", scan, "--model", dir, "--out", out])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains(dir + "/model.json") && result.stderr.contains("upsample_mode 'pixelshuffle'"),
                      result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
