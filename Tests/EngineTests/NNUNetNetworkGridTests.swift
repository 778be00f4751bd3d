import Engine
import Foundation
import TestSupport
import XCTest

/// The network grid's geometry and the CT shown on it, against nibabel, nnunetv2 2.8.1 and
/// scipy pushing index ramps through the same steps (Fixtures/nnunet/make_view_geometry.py):
/// nnU-Net's transpose, crop and resampling to 2 mm, and TotalSegmentator's RAS zoom to 3 mm.
final class NNUNetNetworkGridTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/nnunet/\(name)").path
    }

    private func reference(_ name: String) throws -> (dims: [Int], voxels: [[Int]], ras: [[Double]], hu: [Double]) {
        let json = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: try fixture("view_geometry.json"))))
            .object?[name]?.object)
        return (try XCTUnwrap(json["dims"]?.array).map { $0.int! },
                try XCTUnwrap(json["voxels"]?.array).map { $0.array!.map { $0.int! } },
                try XCTUnwrap(json["ras"]?.array).map { $0.array!.map { $0.number! } },
                try XCTUnwrap(json["hu"]?.array).map { $0.number! })
    }

    /// Every sampled voxel lies where the reference puts it (≤ 1e-3 mm) and shows its HU.
    private func check(_ input: NNUNetInput, image: Volume, case name: String, huTolerance: Double) throws {
        let want = try reference(name)
        XCTAssertEqual(input.shape, want.dims, name)
        XCTAssertEqual(image.grid.dims, want.dims, name)
        var (worstMM, worstHU) = (0.0, 0.0)
        for (v, (ras, hu)) in zip(want.voxels, zip(want.ras, want.hu)) {
            let w = input.grid.world(Double(v[0]), Double(v[1]), Double(v[2]))
            let error = [w.x - ras[0], w.y - ras[1], w.z - ras[2]].map(abs).max()!
            XCTAssertLessThanOrEqual(error, 1e-3, "\(name) voxel \(v): \(w) vs \(ras)")
            XCTAssertEqual(Double(image[v[0], v[1], v[2]]), hu, accuracy: huTolerance, "\(name) HU at \(v)")
            worstMM = max(worstMM, error)
            worstHU = max(worstHU, abs(Double(image[v[0], v[1], v[2]]) - hu))
        }
        print(String(format: "network grid %@: %d voxels, max position error %.2g mm, max HU error %.2g",
                     name, want.voxels.count, worstMM, worstHU))
    }

    func testNNUNetGridIsWhereNNUNetSamplesTheScan() throws {
        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        let pipeline = try NNUNetFolder(path: try fixture("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres")).pipeline()
        let input = try pipeline.prepare(scan, scanPath: scanPath)
        XCTAssertNotNil(input.resampled, "the case resamples")
        try check(input, image: try pipeline.networkImage(scan, input: input), case: "nnunet", huTolerance: 1e-2)
        try checkMap(scan, pipeline: pipeline, input: input, case: "nnunet", huTolerance: 1e-2)
    }

    /// A map on the scan's grid (here the CT × 1e-3) reaches the network grid as the CT does.
    private func checkMap(_ scan: Volume, pipeline: NNUNetPipeline, input: NNUNetInput, case name: String,
                          huTolerance: Double) throws {
        let map = try pipeline.networkMap(Volume(grid: scan.grid, voxels: scan.voxels.map { $0 * 1e-3 }), input: input)
        XCTAssertTrue(map.grid.matches(input.grid), name)
        let want = try reference(name)
        for (v, hu) in zip(want.voxels, want.hu) {
            XCTAssertEqual(Double(map[v[0], v[1], v[2]]), hu * 1e-3, accuracy: huTolerance * 1e-3, "\(name) map at \(v)")
        }
    }

    func testTotalSegmentatorGridIsWhereItsZoomSamplesTheScan() throws {
        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        let folder = "parts/Dataset291_TotalSegmentator_part1_fixture/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres"
        let pipeline = try NNUNetFolder(path: try fixture(folder)).pipeline(folds: ["0"], tileStep: 0.8)
        let input = try pipeline.prepareAsTotalSegmentator(scan, scanPath: scanPath)
        // TotalSegmentator's own affine for the zoomed grid (columns / zoom) is off by up to a
        // third of a voxel at the far corner here; the grid must not be.
        let approximate = input.source.affine.apply(SIMD3(Double(input.source.dims[0] - 1), 0, 0))
        let exact = input.sourceAffine.apply(SIMD3(Double(input.source.dims[0] - 1), 0, 0))
        XCTAssertGreaterThan(abs(approximate.x - exact.x), 0.1)
        // The int32-truncated HU, exact up to float rounding at integer boundaries.
        try check(input, image: try pipeline.networkImage(scan, input: input), case: "totalsegmentator", huTolerance: 1)
        // A map keeps its fractions: the CT × 1e-3 would truncate to 0 nearly everywhere.
        try checkMap(scan, pipeline: pipeline, input: input, case: "totalsegmentator", huTolerance: 1)
    }
}
