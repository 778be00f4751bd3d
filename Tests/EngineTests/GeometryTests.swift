import Engine
import Foundation
import TestSupport
import XCTest

/// Which transform a file's geometry comes from (sform, qform or pixdim), table-driven over the
/// header situations users hit.
final class GeometryTests: XCTestCase {
    private struct Case {
        let name: String
        let sformCode: Int32
        let qformCode: Int32
        let srow: [Double]
        let quatern: [Double]
        let qfac: Double
        let pixdim: [Double]
        let expectedSource: AffineSource
        let expected: [Double]
        let code: String
    }

    private static let cases: [Case] = [
        Case(name: "sform and qform: sform wins", sformCode: 1, qformCode: 1,
             srow: [2, 0, 0, -10, 0, 2, 0, -20, 0, 0, 4, -30], quatern: [0, 0, 1], qfac: 1, pixdim: [2, 2, 4],
             expectedSource: .sform, expected: [2, 0, 0, -10, 0, 2, 0, -20, 0, 0, 4, -30], code: "RAS"),
        // Quaternion (0,0,1) is 180° about z: i → −x, j → −y, i.e. LPS, offsets from qoffset.
        Case(name: "no sform: qform (LPS)", sformCode: 0, qformCode: 1,
             srow: [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], quatern: [0, 0, 1], qfac: 1, pixdim: [0.5, 0.75, 3],
             expectedSource: .qform, expected: [-0.5, 0, 0, 5, 0, -0.75, 0, 6, 0, 0, 3, 7], code: "LPS"),
        // qfac −1 flips the third axis.
        Case(name: "no sform: qform with qfac −1", sformCode: 0, qformCode: 2,
             srow: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], quatern: [0, 0, 0], qfac: -1, pixdim: [1, 1, 2],
             expectedSource: .qform, expected: [1, 0, 0, 5, 0, 1, 0, 6, 0, 0, -2, 7], code: "RAI"),
        Case(name: "no qform: sform (oblique)", sformCode: 4, qformCode: 0,
             srow: [0.866025, -0.5, 0, 1, 0.5, 0.866025, 0, 2, 0, 0, 1, 3], quatern: [0, 0, 0], qfac: 1, pixdim: [1, 1, 1],
             expectedSource: .sform, expected: [0.866025, -0.5, 0, 1, 0.5, 0.866025, 0, 2, 0, 0, 1, 3], code: "RAS"),
        Case(name: "neither: pixdim scaling (anisotropic)", sformCode: 0, qformCode: 0,
             srow: [5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 5, 0], quatern: [0, 0, 1], qfac: 1, pixdim: [0.7, 0.7, 5],
             expectedSource: .pixdim, expected: [0.7, 0, 0, 0, 0, 0.7, 0, 0, 0, 0, 5, 0], code: "RAS"),
    ]

    func testAffineChoice() throws {
        let dir = try makeTemporaryDirectory(self)
        for (n, c) in Self.cases.enumerated() {
            var raw = RawNIfTI()
            raw.setFloatData(Array(repeating: 0, count: 8))
            raw.sformCode = c.sformCode
            raw.qformCode = c.qformCode
            raw.srow = c.srow
            raw.quatern = c.quatern
            raw.qoffset = [5, 6, 7]
            raw.pixdim = [c.qfac] + c.pixdim + [0, 0, 0, 0]
            let path = "\(dir)/case\(n).nii"
            try raw.write(to: path)
            let h = try NIfTI.readHeader(path)
            XCTAssertEqual(h.affineSource, c.expectedSource, c.name)
            assertAffineClose(h.affine, Affine(rowMajor: c.expected + [0, 0, 0, 1]), tol: 1e-6)
            XCTAssertEqual(Orientation.code(for: h.affine), c.code, c.name)
            XCTAssertEqual(h.sformCode, Int(c.sformCode))
            XCTAssertEqual(h.qformCode, Int(c.qformCode))
        }
    }

    func testVoxelWorldRoundTrip() throws {
        let a = Affine(rowMajor: [0, 0, 2, 10, -1.5, 0, 0, 20, 0, 3, 0, 30, 0, 0, 0, 1])
        let grid = Grid(dims: [4, 5, 6], affine: a)
        let w = grid.world(1, 2, 3)
        XCTAssertEqual([w.x, w.y, w.z], [16, 18.5, 36])
        let back = try XCTUnwrap(grid.voxel(atWorld: w))
        assertAllClose([back.x, back.y, back.z], [1, 2, 3], absTol: 1e-12)
        assertAllClose(grid.spacing, [1.5, 3, 2], absTol: 1e-12)
    }

    func testLabelMapOffGridNamesBothFilesAndGrids() {
        let scan = Grid(dims: [4, 4, 4], affine: .scaling([1, 1, 2]))
        let onGrid = makeLabelMap(dims: [4, 4, 4], affine: .scaling([1, 1, 2])) { _, _, _ in 1 }
        XCTAssertNoThrow(try onGrid.ensureOnGrid(of: scan, labelPath: "seg.nii.gz", scanPath: "ct.nii.gz"))
        let shifted = makeLabelMap(dims: [4, 4, 4], affine: .scaling([1, 1, 2], origin: [0, 0, 0.5])) { _, _, _ in 1 }
        let resized = makeLabelMap(dims: [4, 4, 3], affine: .scaling([1, 1, 2])) { _, _, _ in 1 }
        for labels in [shifted, resized] {
            XCTAssertThrowsError(try labels.ensureOnGrid(of: scan, labelPath: "seg.nii.gz", scanPath: "ct.nii.gz")) { e in
                let text = String(describing: e)
                XCTAssertTrue(text.contains("seg.nii.gz") && text.contains("ct.nii.gz"), text)
                XCTAssertTrue(text.contains("dims 4×4×4"), text)
                XCTAssertTrue(text.contains(labels.grid.dims == [4, 4, 3] ? "dims 4×4×3" : "origin (0, 0, 0.5)"), text)
            }
        }
    }
}
