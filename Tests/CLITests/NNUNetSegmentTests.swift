import Engine
import Foundation
import TestSupport
import XCTest

/// `segment --model` on an nnU-Net v2 results folder (the engine fixtures of
/// EngineTests/Fixtures/nnunet/make_nnunet_fixtures.py).
final class NNUNetSegmentTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")

    private var ctFolder: String { fixtures.appendingPathComponent("ct/nnUNetTrainer__nnUNetPlans__3d_fullres").path }

    /// The label map is on the scan's grid and agrees with nnUNetPredictor's file (≥ 99.5 %).
    func testSegmentWritesNNUNetsLabelMapOnTheScanGrid() throws {
        let scan = try XCTUnwrap(SampleData.scanPath)
        let out = try makeTemporaryDirectory(self) + "/seg.nii.gz"
        let result = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        let written = try NIfTI.readLabelMap(out)
        let reference = try NIfTI.readLabelMap(fixtures.appendingPathComponent("ct_predicted.nii.gz").path)
        let input = try NIfTI.readVolume(scan)
        XCTAssertEqual(written.grid.dims, input.grid.dims)
        assertAffineClose(written.grid.affine, input.grid.affine, tol: 1e-4)
        let agree = Double(zip(written.labels, reference.labels).filter { $0 == $1 }.count) / Double(written.labels.count)
        XCTAssertGreaterThanOrEqual(agree, 0.995)
    }

    func testBadNNUNetOptions() throws {
        let scan = try XCTUnwrap(SampleData.scanPath)
        let dir = try makeTemporaryDirectory(self)
        let out = dir + "/seg.nii.gz"
        let absent = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--folds", "0,3", "--out", out])
        XCTAssertEqual(absent.status, 1)
        XCTAssertTrue(absent.stderr.contains(ctFolder) && absent.stderr.contains("fold 3 is not present (present: 0)"),
                      absent.stderr)
        let config = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--configuration", "2d", "--out", out])
        XCTAssertEqual(config.status, 1)
        XCTAssertTrue(config.stderr.contains(ctFolder + "/plans.json") && config.stderr.contains("no configuration '2d'"),
                      config.stderr)
        let checkpoint = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--checkpoint", "latest", "--out", out])
        XCTAssertEqual(checkpoint.status, 64, checkpoint.stderr)
        let monai = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EngineTests/Fixtures/network/batch").path
        let misplaced = try runAgg2Exp(["segment", scan, "--model", monai, "--folds", "0", "--out", out])
        XCTAssertEqual(misplaced.status, 64, misplaced.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}

extension NNUNetSegmentTests {
    /// --pipeline totalsegmentator on a 3 mm model: the zoom is the identity, so the labels are
    /// the plain pipeline's with tile step 0.8; the run is checked against the engine call.
    func testTotalSegmentatorPipelineMatchesTheEngine() throws {
        let scan = try XCTUnwrap(SampleData.scanPath)
        let out = try makeTemporaryDirectory(self) + "/seg.nii.gz"
        let result = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--pipeline", "totalsegmentator", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        let pipeline = try NNUNetFolder(path: ctFolder).pipeline(folds: ["0"], tileStep: 0.8)
        let volume = try NIfTI.readVolume(scan)
        let want = try pipeline.segmentAsTotalSegmentator(volume, scanPath: scan)
        XCTAssertEqual(try NIfTI.readLabelMap(out).labels, want.labels)
        let bad = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--pipeline", "monai", "--out", out + "2"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
    }
}
