import Engine
import Foundation
import TestSupport
import XCTest

/// Spacing resampling and intensity windowing against MONAI (Fixtures/make_spacing_reference.py).
final class ResampleTests: XCTestCase {
    private struct Reference: Decodable {
        struct Case: Decodable {
            let name: String
            let dims: [Int]
            let affine: [Double]
            let pixdim: [Double]
            let input: [Float]
            let input_labels: [Int32]
            let out_dims: [Int]
            let out_affine: [Double]
            let output: [Float]
            let output_labels: [Int32]
        }

        let spacing: [Case]
        let window_input: [Float]
        let window_clip: [Float]
        let window_noclip: [Float]

        enum CodingKeys: String, CodingKey {
            case spacing, window_input
            case window_clip = "window_clip_-1000_1000_0_1"
            case window_noclip = "window_noclip_-175_250_-1_1"
        }
    }

    private func reference() throws -> Reference {
        let url = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/spacing_reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func testSpacingMatchesMONAI() throws {
        for c in try reference().spacing {
            let grid = Grid(dims: c.dims, affine: Affine(rowMajor: c.affine))
            let out = Volume(grid: grid, voxels: c.input).resampled(toSpacing: c.pixdim)
            XCTAssertEqual(out.grid.dims, c.out_dims, c.name)
            // MONAI computes the affine in float64 too; 1e-6 mm covers its float32 MetaTensor copy.
            assertAffineClose(out.grid.affine, Affine(rowMajor: c.out_affine), tol: 1e-5)
            // torch grid_sample interpolates in float32 with normalised coordinates: a few 1e-4 of the
            // ~200-wide value range.
            assertAllClose(out.voxels, c.output, absTol: 2e-3, relTol: 1e-5, c.name)
            let labels = LabelMap(grid: grid, labels: c.input_labels).resampled(toSpacing: c.pixdim)
            XCTAssertEqual(labels.grid.dims, c.out_dims)
            // Where an output centre falls exactly halfway between input voxels, torch's float32
            // coordinates break the tie either way: there both answers must be one of the tied
            // neighbours. Everywhere else the nearest label must agree exactly.
            let toSource = try XCTUnwrap(grid.affine.inverse).multiplied(by: labels.grid.affine)
            let d = labels.grid.dims
            var mismatches = 0
            for n in labels.labels.indices where labels.labels[n] != c.output_labels[n] {
                let p = toSource.apply(SIMD3(Double(n % d[0]), Double(n / d[0] % d[1]), Double(n / (d[0] * d[1]))))
                let options: [[Int]] = (0..<3).map { a in
                    let x = min(max(p[a], 0), Double(grid.dims[a] - 1))
                    let isTie = abs(x - x.rounded(.down) - 0.5) < 1e-4
                    return isTie ? [Int(x.rounded(.down)), Int(x.rounded(.up))] : [Int(x.rounded())]
                }
                var tied = Set<Int32>()
                for i in options[0] { for j in options[1] { for k in options[2] { tied.insert(c.input_labels[grid.index(i, j, k)]) } } }
                if tied.count == 1 || !tied.contains(labels.labels[n]) || !tied.contains(c.output_labels[n]) {
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, "\(c.name): nearest labels differ at \(mismatches) voxels")
        }
    }

    func testSampleShapeAtOnePointFiveMillimetres() {
        // 122×101×112 at 3 mm → (n−1)·3/1.5 + 1 voxels, first voxel centre unchanged.
        let grid = Grid(dims: [122, 101, 112], affine: .scaling([3, 3, 3], origin: [-177.95, 11.32, 94.3]))
        let plan = SpacingPlan(from: grid, toSpacing: [1.5, 1.5, 1.5])
        XCTAssertEqual(plan.target.dims, [243, 201, 223])
        assertAffineClose(plan.target.affine, .scaling([1.5, 1.5, 1.5], origin: [-177.95, 11.32, 94.3]), tol: 1e-9)
    }

    func testSameSpacingIsIdentity() {
        let vol = makeVolume(dims: [4, 3, 5], affine: .scaling([2, 1, 3], origin: [1, 2, 3])) { i, j, k in Float(i * j) - Float(k) }
        let out = vol.resampled(toSpacing: [2, 1, 3])
        XCTAssertEqual(out.grid.dims, vol.grid.dims)
        assertAllClose(out.voxels, vol.voxels, absTol: 1e-5)
    }

    /// Trilinear interpolation reproduces a linear function exactly inside the grid.
    func testLinearFieldIsReproduced() {
        let vol = makeVolume(dims: [5, 4, 3], affine: .scaling([2, 2, 2])) { i, j, k in 3 * Float(i) - 2 * Float(j) + 5 * Float(k) }
        let out = vol.resampled(toSpacing: [1, 1, 1])
        XCTAssertEqual(out.grid.dims, [9, 7, 5])
        for k in 0..<5 { for j in 0..<7 { for i in 0..<9 {
            XCTAssertEqual(out[i, j, k], 1.5 * Float(i) - Float(j) + 2.5 * Float(k), accuracy: 1e-4)
        } } }
    }

    func testWindowMatchesMONAIScaleIntensityRange() throws {
        let ref = try reference()
        let grid = Grid(dims: [ref.window_input.count, 1, 1], affine: .identity)
        let v = Volume(grid: grid, voxels: ref.window_input)
        XCTAssertEqual(v.windowed(aMin: -1000, aMax: 1000, bMin: 0, bMax: 1, clip: true).voxels, ref.window_clip)
        assertAllClose(v.windowed(aMin: -175, aMax: 250, bMin: -1, bMax: 1, clip: false).voxels, ref.window_noclip,
                       absTol: 0, relTol: 1e-6)
        // aMin == aMax only shifts, as MONAI does.
        XCTAssertEqual(v.windowed(aMin: 10, aMax: 10, bMin: 1, bMax: 2, clip: false).voxels,
                       ref.window_input.map { $0 - 10 + 1 })
    }
}
