import Engine
import Foundation
import TestSupport
import XCTest

final class SegmentCommandTests: XCTestCase {
    /// The small batch-norm model of the engine's parity fixtures (1.5 mm RAS, ROI 16³, 3 classes).
    private let fixtureModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/network/batch").path

    private func writeScan(_ dir: String) throws -> (path: String, volume: Volume) {
        let affine = Affine.scaling([1.5, 1.5, 1.5], origin: [-10, 20, 5])
        let scan = makeVolume(dims: [20, 18, 12], affine: affine) { i, j, k in
            Float((i * 37 + j * 11 + k * 5) % 200) * 10 - 1000
        }
        let path = dir + "/ct.nii.gz"
        try NIfTI.write(scan, to: path)
        return (path, scan)
    }

    func testWritesLabelMapInModelGrid() throws {
        let dir = try makeTemporaryDirectory(self)
        let (scanPath, _) = try writeScan(dir)
        let out = dir + "/seg.nii.gz"
        let result = try runAgg2Exp(["segment", scanPath, "--model", fixtureModel, "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "", "no progress output when stderr is not a terminal")
        let written = try NIfTI.readLabelMap(out)
        let model = try SegmentationModel.load(directory: fixtureModel)
        let input = model.preprocess(try NIfTI.readVolume(scanPath))
        let expected = try model.predict(input, progress: nil, cancel: nil).labels
        XCTAssertEqual(written.grid.dims, input.grid.dims)
        assertAffineClose(written.grid.affine, input.grid.affine, tol: 1e-4)
        XCTAssertEqual(written.labels, expected.labels)
        XCTAssertGreaterThan(Set(written.labels).count, 1)
    }

    func testBadModelDirectoryFailsWithNamedFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let (scanPath, _) = try writeScan(dir)
        let missing = dir + "/no-model"
        let result = try runAgg2Exp(["segment", scanPath, "--model", missing, "--out", dir + "/seg.nii.gz"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(missing) && result.stderr.contains("model directory not found"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/seg.nii.gz"))

        let model = dir + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixtureModel + "/model.safetensors", toPath: model + "/model.safetensors")
        let json = try String(contentsOfFile: fixtureModel + "/model.json", encoding: .utf8)
            .replacingOccurrences(of: "\"roi_size\": [\n      16,", with: "\"roi_size\": [\n      20,")
        try json.write(toFile: model + "/model.json", atomically: true, encoding: .utf8)
        let roi = try runAgg2Exp(["segment", scanPath, "--model", model, "--out", dir + "/seg.nii.gz"])
        XCTAssertNotEqual(roi.status, 0)
        XCTAssertTrue(roi.stderr.contains(model + "/model.json") && roi.stderr.contains("divisible by 16"), roi.stderr)
    }
}
