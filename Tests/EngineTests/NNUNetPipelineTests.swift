import Engine
import Foundation
import TestSupport
import XCTest

/// nnU-Net's inference pipeline against nnUNetPredictor (Fixtures/nnunet/make_nnunet_fixtures.py:
/// device cpu, no mirroring, step 0.5) on the sample CT, and its tiling and Gaussian rules against
/// nnunetv2's own functions.
final class NNUNetPipelineTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/nnunet/\(name)").path
    }

    private func rules() throws -> [String: JSONValue] {
        try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: try fixture("pipeline_rules.json")))).object)
    }

    func testTileStartsRoundHalfToEvenAsNNUNet() throws {
        for c in try XCTUnwrap(rules()["steps"]?.array) {
            let o = try XCTUnwrap(c.object)
            let size = o["size"]!.array!.map { $0.int! }, patch = o["patch"]!.array!.map { $0.int! }
            let want = o["starts"]!.array!.map { $0.array!.map { $0.int! } }
            for axis in size.indices {
                XCTAssertEqual(NNUNetPipeline.tileStarts(size: size[axis], patch: patch[axis], step: o["step"]!.number!),
                               want[axis], "\(size) \(patch)")
            }
        }
    }

    func testGaussianImportanceIsNNUNetsFloat16Map() throws {
        let r = try rules()
        let want = try XCTUnwrap(r["gaussian_6_8_5"]?.array).map { Float($0.number!) }
        XCTAssertEqual(NNUNetPipeline.gaussian([6, 8, 5]).map(Float.init), want)
        let big = NNUNetPipeline.gaussian([40, 48, 32])
        XCTAssertEqual(big.reduce(0.0) { $0 + Double($1) }, r["gaussian_40_48_32_sum"]!.number!, accuracy: 1e-3)
        XCTAssertEqual(Double(big.min()!), r["gaussian_40_48_32_min"]!.number!)
    }

    private func agreement(_ a: LabelMap, _ b: LabelMap) -> Double {
        Double(zip(a.labels, b.labels).filter { $0 == $1 }.count) / Double(a.labels.count)
    }

    /// Label agreement ≥ 99.5 % with nnUNetPredictor's output file, on the scan's own grid.
    func testSegmentAgreesWithNNUNetPredictor() throws {
        let scanPath = try XCTUnwrap(SampleData.scanPath)
        let scan = try NIfTI.readVolume(scanPath)
        let pipeline = try NNUNetFolder(path: try fixture("ct/nnUNetTrainer__nnUNetPlans__3d_fullres")).pipeline()
        let labels = try pipeline.segment(scan, scanPath: scanPath)
        let reference = try NIfTI.readLabelMap(try fixture("ct_predicted.nii.gz"))
        XCTAssertEqual(labels.grid.dims, reference.grid.dims)
        let agree = agreement(labels, reference)
        XCTAssertGreaterThanOrEqual(agree, 0.995, "agreement \(agree)")
        print("nnU-Net sample CT label agreement: \(agree)")

        // The same CT with zeros outside a cylinder: crop_to_nonzero crops, the outside stays 0.
        var masked = scan
        let (ni, nj) = (scan.grid.dims[0], scan.grid.dims[1])
        for k in 0..<scan.grid.dims[2] { for j in 0..<nj { for i in 0..<ni {
            let (x, y) = (Double(i) - Double(ni) / 2, Double(j) - Double(nj) / 2)
            if x * x + y * y >= (0.45 * Double(ni)) * (0.45 * Double(ni)) { masked.voxels[i + ni * (j + nj * k)] = 0 }
        }}}
        let maskedLabels = try pipeline.segment(masked, scanPath: "masked")
        let maskedReference = try NIfTI.readLabelMap(try fixture("ct_masked_predicted.nii.gz"))
        let maskedAgree = agreement(maskedLabels, maskedReference)
        XCTAssertGreaterThanOrEqual(maskedAgree, 0.995, "masked agreement \(maskedAgree)")
        print("nnU-Net masked CT label agreement: \(maskedAgree)")
    }
}

/// TotalSegmentator's resampling around nnU-Net against scipy (make_nnunet_fixtures.py ts_prestep).
final class TotalSegmentatorTests: XCTestCase {
    func testPreStepMatchesScipyZoomOnTheSampleCT() throws {
        let reference = try SafetensorsFile(path: XCTUnwrap(Bundle.module.resourceURL)
            .appendingPathComponent("Fixtures/nnunet/ts_prestep.safetensors").path)
        let scan = try NIfTI.readVolume(try XCTUnwrap(SampleData.scanPath))
        let prepared = TotalSegmentator.preprocess(scan, spacing: [1.5, 1.5, 1.5])
        XCTAssertEqual(prepared.grid.dims, try reference.integers("shape"))
        assertAllClose(prepared.grid.spacing, [1.5, 1.5, 1.5], absTol: 1e-9)
        let slices = try reference.integers("slices")
        let (ni, nj) = (prepared.grid.dims[0], prepared.grid.dims[1])
        var equal = 0, within1 = 0
        for (n, k) in try reference.integers("k").enumerated() {
            for j in 0..<nj { for i in 0..<ni {
                let want = slices[(n * ni + i) * nj + j]
                let got = Int(prepared.voxels[i + ni * (j + nj * k)])
                if got == want { equal += 1 } else if abs(got - want) <= 1 { within1 += 1 }
            }}
        }
        let total = slices.count
        XCTAssertGreaterThanOrEqual(Double(equal) / Double(total), 0.9999, "\(total - equal) of \(total) differ")
        XCTAssertEqual(equal + within1, total, "every voxel within 1 HU")
    }

    func testRestoreReturnsTheScanGrid() throws {
        // A scan in LPS at 3 mm: labels made on the 1.5 mm RAS grid come back on the scan's grid,
        // and a label map that is constant along each RAS axis band survives the round trip.
        let affine = Affine(rowMajor: [-3, 0, 0, 10, 0, -3, 0, 20, 0, 0, 3, -5, 0, 0, 0, 1])
        let scan = makeVolume(dims: [10, 8, 6], affine: affine) { i, _, _ in Float(i) }
        let prepared = TotalSegmentator.preprocess(scan, spacing: [1.5, 1.5, 1.5])
        XCTAssertEqual(prepared.grid.dims, [20, 16, 12])
        XCTAssertEqual(Orientation.code(for: prepared.grid.affine), "RAS")
        let labels = LabelMap(grid: prepared.grid, labels: prepared.voxels.map { $0 >= 4.5 ? 1 : 0 })
        let restored = TotalSegmentator.restore(labels, to: scan)
        XCTAssertEqual(restored.grid, scan.grid)
        XCTAssertEqual(restored.labels, scan.voxels.map { $0 >= 4.5 ? 1 : 0 })
    }

    func testFolderNameDetection() {
        XCTAssertTrue(TotalSegmentator.isTotalSegmentatorFolder(
            "/home/u/.totalsegmentator/nnunet/results/Dataset291_TotalSegmentator_part1_organs_1559subj/"
                + "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres"))
        XCTAssertFalse(TotalSegmentator.isTotalSegmentatorFolder("/data/Dataset999_Fixture/nnUNetTrainer__nnUNetPlans__3d_fullres"))
    }
}
