import XCTest
import Engine
import Explorer

/// Plane axes, flips and aspect ratio for the orientations users bring (RAS, LPS, permuted).
final class GeometryTests: XCTestCase {
    func testRASGridFlipsToRadiologicalConvention() {
        let axes = PlaneAxes(plane: .axial, affine: .scaling([1, 1, 1]))
        XCTAssertEqual(axes, PlaneAxes.expected(h: 0, v: 1, n: 2, flipH: true, flipV: true))
        XCTAssertEqual(orientationCode(.scaling([1, 1, 1])), "RAS")
    }

    func testLPSGridNeedsNoFlipInAxial() {
        let lps = Affine(rowMajor: [-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        XCTAssertEqual(PlaneAxes(plane: .axial, affine: lps),
                       PlaneAxes.expected(h: 0, v: 1, n: 2, flipH: false, flipV: false))
        XCTAssertEqual(PlaneAxes(plane: .coronal, affine: lps),
                       PlaneAxes.expected(h: 0, v: 2, n: 1, flipH: false, flipV: true))
        XCTAssertEqual(orientationCode(lps), "LPS")
    }

    func testPermutedAxesFollowTheAffine() {
        // i → S, j → R, k → A (a sagittal acquisition stored "SRA").
        let sra = Affine(rowMajor: [0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(orientationCode(sra), "SRA")
        let axial = PlaneAxes(plane: .axial, affine: sra)
        XCTAssertEqual([axial.horizontal, axial.vertical, axial.normal], [1, 2, 0])
        let sagittal = PlaneAxes(plane: .sagittal, affine: sra)
        XCTAssertEqual([sagittal.horizontal, sagittal.vertical, sagittal.normal], [2, 0, 1])
    }

    func testObliqueAffinePicksTheNearestAxes() {
        let c = cos(0.3), s = sin(0.3)
        let oblique = Affine(rowMajor: [c, -s, 0, 0, s, c, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1])
        let axes = PlaneAxes(plane: .axial, affine: oblique)
        XCTAssertEqual([axes.horizontal, axes.vertical, axes.normal], [0, 1, 2])
    }

    func testAnisotropicSpacingKeepsSquarePixels() {
        // 10 × 10 voxels at 1 × 3 mm: 10 mm wide, 30 mm tall; a 60 × 60 pixel canvas fits 20 × 60.
        let grid = Grid(dims: [10, 10, 4], affine: .scaling([1, 3, 1]))
        let vp = PlaneViewport(plane: .axial, grid: grid, crosshair: [0, 0, 0], pixelWidth: 60, pixelHeight: 60,
                               zoom: 1, center: nil)
        XCTAssertEqual(vp.columns.filter { $0 >= 0 }.count, 20)
        XCTAssertEqual(vp.rows.filter { $0 >= 0 }.count, 60)
        // Each voxel row spans three times as many pixels as each voxel column.
        XCTAssertEqual(vp.rows.filter { $0 == 4 }.count, 3 * vp.columns.filter { $0 == 4 }.count)
        // Screen top is anterior (j = 9) and screen left is patient right (i = 9).
        XCTAssertEqual(vp.rows.first, 9)
        XCTAssertEqual(vp.columns.first { $0 >= 0 }, 9)
    }

    func testZoomMagnifiesAboutTheCentre() {
        let grid = Grid(dims: [20, 20, 1], affine: .scaling([1, 1, 1]))
        let centre = PlaneViewport.displayPoint(grid: grid, axes: PlaneAxes(plane: .axial, affine: grid.affine),
                                                h: 5, v: 5)
        let vp = PlaneViewport(plane: .axial, grid: grid, crosshair: [5, 5, 0], pixelWidth: 40, pixelHeight: 40,
                               zoom: 4, center: centre)
        XCTAssertEqual(Set(vp.columns).count, 5, "4× zoom shows a quarter of 20 voxels")
        XCTAssertTrue(vp.columns.contains(5))
        XCTAssertEqual(vp.crosshairPixel.x, 20, "the crosshair voxel centre lands mid-canvas (voxel 5 spans pixels 16–23)")
    }
}

extension PlaneAxes {
    static func expected(h: Int, v: Int, n: Int, flipH: Bool, flipV: Bool) -> PlaneAxes {
        var a = PlaneAxes(plane: .axial, affine: .identity)
        a.horizontal = h
        a.vertical = v
        a.normal = n
        a.flipHorizontal = flipH
        a.flipVertical = flipV
        return a
    }
}
