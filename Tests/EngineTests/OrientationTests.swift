import Engine
import Foundation
import TestSupport
import XCTest

/// Orientation codes against nibabel's `aff2axcodes` answers, and exact reorientation.
final class OrientationTests: XCTestCase {
    private static let c30 = cos(Double.pi / 6), s30 = sin(Double.pi / 6)
    private static let c50 = cos(50 * Double.pi / 180), s50 = sin(50 * Double.pi / 180)

    /// (name, 3×3 linear part row-major, code nibabel.orientations.aff2axcodes gives).
    private static let table: [(String, [Double], String)] = [
        ("RAS identity", [1, 0, 0, 0, 1, 0, 0, 0, 1], "RAS"),
        ("LPS (DICOM/ITK)", [-1, 0, 0, 0, -1, 0, 0, 0, 1], "LPS"),
        ("LAS (radiological)", [-1, 0, 0, 0, 1, 0, 0, 0, 1], "LAS"),
        ("PSR permuted", [0, 0, 1, -1, 0, 0, 0, 1, 0], "PSR"),
        ("oblique 30° about z", [c30, -s30, 0, s30, c30, 0, 0, 0, 1], "RAS"),
        ("oblique 50° about z", [c50, -s50, 0, s50, c50, 0, 0, 0, 1], "ALS"),
        ("anisotropic 0.7×0.7×5 flipped x", [-0.7, 0, 0, 0, 0.7, 0, 0, 0, 5], "LAS"),
        ("anisotropic sheared", [0.7, 0, 2, 0, -0.7, 0, 0, 0, 5], "RPS"),
    ]

    private func affine(_ linear: [Double], origin: [Double] = [12, -7, 30]) -> Affine {
        Affine(rowMajor: [linear[0], linear[1], linear[2], origin[0],
                          linear[3], linear[4], linear[5], origin[1],
                          linear[6], linear[7], linear[8], origin[2], 0, 0, 0, 1])
    }

    func testCodesMatchNibabel() {
        for (name, linear, expected) in Self.table {
            XCTAssertEqual(Orientation.code(for: affine(linear)), expected, name)
        }
    }

    /// After reorientation every voxel keeps its value at the same world position, and the new
    /// affine has the requested code.
    func testReorientationPreservesWorldPositionOfEveryVoxel() throws {
        for (name, linear, _) in Self.table {
            for target in ["RAS", "LPS", "SAR"] {
                let vol = makeIndexVolume(dims: [3, 4, 5], affine: affine(linear))
                let out = vol.reoriented(to: target)
                XCTAssertEqual(Orientation.code(for: out.grid.affine), target, "\(name) → \(target)")
                XCTAssertEqual(out.grid.dims.sorted(), [3, 4, 5])
                XCTAssertEqual(out.voxels.sorted(), vol.voxels.sorted(), "a permutation, nothing interpolated")
                let toOld = try XCTUnwrap(vol.grid.affine.inverse).multiplied(by: out.grid.affine)
                let d = out.grid.dims
                for k in 0..<d[2] { for j in 0..<d[1] { for i in 0..<d[0] {
                    let p = toOld.apply(SIMD3(Double(i), Double(j), Double(k)))
                    let old = (Int(p.x.rounded()), Int(p.y.rounded()), Int(p.z.rounded()))
                    XCTAssertLessThan(maxAbsDifference([p.x, p.y, p.z], [Double(old.0), Double(old.1), Double(old.2)]), 1e-9)
                    XCTAssertEqual(out[i, j, k], vol[old.0, old.1, old.2], "\(name) → \(target) at \(i),\(j),\(k)")
                } } }
            }
        }
    }

    func testRoundTripIsExact() {
        for (name, linear, code) in Self.table {
            let vol = makeIndexVolume(dims: [2, 3, 4], affine: affine(linear))
            let back = vol.reoriented(to: "RAS").reoriented(to: code)
            XCTAssertEqual(back.grid.dims, vol.grid.dims, name)
            XCTAssertEqual(back.voxels, vol.voxels, name)
            assertAffineClose(back.grid.affine, vol.grid.affine, tol: 1e-12)
        }
    }

    /// nibabel `as_closest_canonical` on a 2×3×4 arange volume with a PSR affine gives this shape,
    /// affine and voxel order (printed by nibabel 5.4.2).
    func testMatchesNibabelAsClosestCanonical() {
        let a = Affine(rowMajor: [0, 0, 2, 10, -1.5, 0, 0, 20, 0, 3, 0, 30, 0, 0, 0, 1])
        let vol = makeIndexVolume(dims: [2, 3, 4], affine: a)
        let can = vol.reoriented()
        XCTAssertEqual(can.grid.dims, [4, 2, 3])
        assertAffineClose(can.grid.affine, Affine(rowMajor: [2, 0, 0, 10, 0, 1.5, 0, 18.5, 0, 0, 3, 30, 0, 0, 0, 1]), tol: 1e-12)
        XCTAssertEqual(can.voxels, [1, 7, 13, 19, 0, 6, 12, 18, 3, 9, 15, 21, 2, 8, 14, 20, 5, 11, 17, 23, 4, 10, 16, 22])
        // Labels move exactly the same way.
        let labels = LabelMap(grid: vol.grid, labels: vol.voxels.map { Int32($0) })
        XCTAssertEqual(labels.reoriented().labels, can.voxels.map { Int32($0) })
    }

    func testCodeValidation() {
        XCTAssertTrue(Orientation.isValidCode("RAS"))
        XCTAssertTrue(Orientation.isValidCode("ipl"))
        XCTAssertFalse(Orientation.isValidCode("RAR"))
        XCTAssertFalse(Orientation.isValidCode("RLS"))
        XCTAssertFalse(Orientation.isValidCode("RA"))
        XCTAssertFalse(Orientation.isValidCode("XYZ"))
    }
}
