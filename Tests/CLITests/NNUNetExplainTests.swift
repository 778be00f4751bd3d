import Engine
import Foundation
import TestSupport
import XCTest

/// `explain`, `aggregate` and `segment --grid` with an nnU-Net results folder as --model (the
/// `ct` fixture of EngineTests/Fixtures/nnunet/make_nnunet_fixtures.py: 3 mm, transpose_forward
/// [0, 2, 1], patch 40×48×32) on a small synthetic 3 mm CT whose i = 0 face is zero (cropped).
final class NNUNetExplainTests: XCTestCase {
    private let ctFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet/ct/nnUNetTrainer__nnUNetPlans__3d_fullres").path
    private let affine = Affine(rowMajor: [-3, 0, 0, 60, 0, -3, 0, 40, 0, 0, 3, -70, 0, 0, 0, 1])

    /// 40×30×50 voxels: network grid (z, x, y) = 50×39×30 after the crop, two tiles along z.
    private func makeScan(_ dir: String) throws -> String {
        var rng = SeededGenerator(seed: 7)
        let scan = makeVolume(dims: [40, 30, 50], affine: affine) { i, j, k in
            guard i > 0 else { return 0 }
            let r = (Double(i - 20) * Double(i - 20) + Double(j - 15) * Double(j - 15)).squareRoot()
            return Float(r < 8 ? 400 : (r < 13 ? 40 : -800)) + Float(100 * rng.normal()) + Float(k)
        }
        let path = dir + "/ct.nii.gz"
        try NIfTI.write(scan, to: path)
        return path
    }

    /// The engine's own stitched gradient of class 1 over nnU-Net's label map, network grid.
    private func engineGradient(_ scan: String, windowTarget: WindowTarget) throws -> (NNUNetInput, Tensor) {
        let model = NNUNetModel(pipeline: try NNUNetFolder(path: ctFolder).pipeline(), windowTarget: windowTarget)
        let input = try model.pipeline.prepare(try NIfTI.readVolume(scan), scanPath: scan)
        let labels = try model.pipeline.networkLabels(input)
        let g = try model.targetGradient(input.tensor, target: SegmentTarget(classIndex: 1, mask: labels),
                                         progress: nil, cancel: nil)
        return (input, g)
    }

    func testExplainWritesTheMapOnTheScanOrTheNetworkGrid() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try makeScan(dir)
        let onScan = try runAgg2Exp(["explain", scan, "--model", ctFolder, "--target", "soft", "--method", "gradient",
                                     "--out", dir + "/scan.nii.gz", "--csv", dir + "/explain.csv"])
        XCTAssertEqual(onScan.status, 0, onScan.stderr)
        XCTAssertTrue(onScan.stdout.contains("gradient · target soft"), onScan.stdout)
        let onModel = try runAgg2Exp(["explain", scan, "--model", ctFolder, "--target", "soft", "--method", "gradient",
                                      "--grid", "model", "--out", dir + "/model.nii.gz"])
        XCTAssertEqual(onModel.status, 0, onModel.stderr)

        let (input, want) = try engineGradient(scan, windowTarget: .stitched)
        let model = try NIfTI.readVolume(dir + "/model.nii.gz")
        XCTAssertEqual(model.grid.dims, [50, 39, 30])
        assertAffineClose(model.grid.affine, input.grid.affine, tol: 1e-4)
        XCTAssertEqual(maxAbsDifference(Tensor(volume: model).data, want.data), 0, "the map is the engine's gradient")
        let scanMap = try NIfTI.readVolume(dir + "/scan.nii.gz")
        XCTAssertEqual(scanMap.grid.dims, [40, 30, 50])
        assertAffineClose(scanMap.grid.affine, affine, tol: 1e-4)
        XCTAssertEqual(scanMap.voxels, input.toSource(want.data, fill: 0), "pasted back on the scan")
        XCTAssertTrue(scanMap.voxels.contains { $0 != 0 })

        // aggregate gives explain's row.
        let batch = try runAgg2Exp(["aggregate", scan, "--model", ctFolder, "--targets", "soft", "--method", "gradient",
                                    "--csv", dir + "/aggregate.csv"])
        XCTAssertEqual(batch.status, 0, batch.stderr)
        let a = try ResultsTable.read(URL(fileURLWithPath: dir + "/aggregate.csv"))
        let e = try ResultsTable.read(URL(fileURLWithPath: dir + "/explain.csv"))
        XCTAssertEqual(a.columns, e.columns)
        let column = "soft_explanation_in_bone_mass"
        XCTAssertNotNil(try XCTUnwrap(a.column(column)?.first ?? nil))
        for name in a.columns where name != "patient" {
            let (x, y) = (a.column(name)?.first ?? nil, e.column(name)?.first ?? nil)
            XCTAssertEqual(x == nil, y == nil, name)
            if let x, let y { XCTAssertEqual(x, y, accuracy: 1e-12, name) }
        }
    }

    func testWindowTargetAndGridOptions() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = try makeScan(dir)
        let perWindow = try runAgg2Exp(["explain", scan, "--model", ctFolder, "--target", "soft", "--method", "gradient",
                                        "--window-target", "per-window", "--grid", "model", "--out", dir + "/w.nii.gz"])
        XCTAssertEqual(perWindow.status, 0, perWindow.stderr)
        let (_, want) = try engineGradient(scan, windowTarget: .perWindow)
        XCTAssertEqual(maxAbsDifference(Tensor(volume: try NIfTI.readVolume(dir + "/w.nii.gz")).data, want.data), 0)

        let segScan = dir + "/seg.nii.gz", segModel = dir + "/seg_model.nii.gz"
        XCTAssertEqual(try runAgg2Exp(["segment", scan, "--model", ctFolder, "--out", segScan]).status, 0)
        let r = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--grid", "model", "--out", segModel])
        XCTAssertEqual(r.status, 0, r.stderr)
        let full = try NIfTI.readLabelMap(segScan), network = try NIfTI.readLabelMap(segModel)
        XCTAssertEqual(network.grid.dims, [50, 39, 30])
        for label in [Int32(1), 2] {
            XCTAssertEqual(full.labels.filter { $0 == label }.count, network.labels.filter { $0 == label }.count)
        }

        let bad = try runAgg2Exp(["explain", scan, "--model", ctFolder, "--target", "soft", "--method", "gradient",
                                  "--window-target", "blended"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--window-target must be one of per-window, stitched"), bad.stderr)
        let grid = try runAgg2Exp(["segment", scan, "--model", ctFolder, "--grid", "network", "--out", dir + "/x.nii.gz"])
        XCTAssertEqual(grid.status, 64, grid.stderr)
        let monai = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EngineTests/Fixtures/network/batch").path
        let scanGrid = try runAgg2Exp(["segment", scan, "--model", monai, "--grid", "scan", "--out", dir + "/y.nii.gz"])
        XCTAssertEqual(scanGrid.status, 64, scanGrid.stderr)
        XCTAssertTrue(scanGrid.stderr.contains("--grid scan needs an nnU-Net results folder"), scanGrid.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.nii.gz"))
    }
}

/// A two-part TotalSegmentator-style model (EngineTests/Fixtures/nnunet/make_parts_fixtures.py)
/// on a crop of the sample CT.
final class NNUNetPartsCommandTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")
    private var partFolders: [String] {
        ["Dataset291_TotalSegmentator_part1_fixture", "Dataset292_TotalSegmentator_part2_fixture"].map {
            fixtures.appendingPathComponent("parts/\($0)/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres").path
        }
    }

    /// segment merges the parts as TotalSegmentator does (≥ 99.5 % of voxels equal to its
    /// reference); explain takes a part-2 target through part 2 over the merged map.
    func testSegmentAndExplainThroughTheParts() throws {
        let dir = try makeTemporaryDirectory(self)
        let scan = fixtures.appendingPathComponent("parts_ct.nii.gz").path
        let models = partFolders.flatMap { ["--model", $0] }
        let seg = try runAgg2Exp(["segment", scan, "--out", dir + "/seg.nii.gz"] + models)
        XCTAssertEqual(seg.status, 0, seg.stderr)
        let written = try NIfTI.readLabelMap(dir + "/seg.nii.gz")
        let reference = try NIfTI.readLabelMap(fixtures.appendingPathComponent("parts_predicted.nii.gz").path)
        XCTAssertEqual(written.grid.dims, reference.grid.dims)
        let agree = Double(zip(written.labels, reference.labels).filter { $0 == $1 }.count) / Double(written.labels.count)
        print(String(format: "multi-part segment agreement with TotalSegmentator's merge: %.4f%%", 100 * agree))
        XCTAssertGreaterThanOrEqual(agree, 0.995)
        XCTAssertTrue(Set(written.labels).isSuperset(of: [1, 4, 5]), "both parts present after the merge")

        let explain = try runAgg2Exp(["explain", scan, "--target", "vertebrae_L1", "--method", "gradient",
                                      "--grid", "model", "--out", dir + "/a.nii.gz"] + models)
        XCTAssertEqual(explain.status, 0, explain.stderr)
        let parts = try NNUNetParts(parts: partFolders.map {
            NNUNetModel(pipeline: try NNUNetFolder(path: $0).pipeline(folds: ["0"], tileStep: 0.8))
        })
        let volume = try NIfTI.readVolume(scan)
        let inputs = try parts.parts.map { try $0.pipeline.prepareAsTotalSegmentator(volume, scanPath: scan) }
        let merged = parts.merge(try zip(parts.parts, inputs).map { try $0.pipeline.networkLabels($1) })
        let mask = parts.labels(merged, inPart: 1)
        let want = try parts.parts[1].targetGradient(inputs[1].tensor, target: SegmentTarget(classIndex: 1, mask: mask),
                                                     progress: nil, cancel: nil)
        XCTAssertEqual(maxAbsDifference(Tensor(volume: try NIfTI.readVolume(dir + "/a.nii.gz")).data, want.data), 0)
        let voxels = merged.filter { $0 == 4 }.count
        XCTAssertTrue(explain.stdout.contains("target vertebrae_L1 (\(voxels) voxels"), explain.stdout)
        XCTAssertTrue(explain.stdout.contains("rib_left_1") && explain.stdout.contains("liver"), "merged segments ranked")
    }
}
