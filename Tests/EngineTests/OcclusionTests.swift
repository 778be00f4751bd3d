import Engine
import XCTest

final class OcclusionTests: XCTestCase {
    func testWindowStartsCoverTheWholeAxis() {
        XCTAssertEqual(Occlusion.starts(dim: 8, size: 4, stride: 4), [0, 4])
        XCTAssertEqual(Occlusion.starts(dim: 10, size: 4, stride: 4), [0, 4, 6])
        XCTAssertEqual(Occlusion.starts(dim: 3, size: 5, stride: 2), [0])
        XCTAssertEqual(Occlusion.starts(dim: 5, size: 2, stride: 1), [0, 1, 2, 3])
    }

    func testLinearModelGivesWDotXPerCube() throws {
        // Non-overlapping 2³ cubes on a 4×4×2 volume: every voxel of a cube carries
        // Σ_{cube ∩ mask} w·(x − b), i.e. w·x per cube when b = 0.
        let (ni, nj, nk) = (4, 4, 2)
        let x = rampInput(ni, nj, nk)
        let n = x.count
        let w = (0..<n).map { Float(($0 * 7) % 5) - 2 }
        let model = LinearModel(w: w, bias: [Float](repeating: 1, count: n))
        let mask = (0..<n).map { Int32($0 % 4 == 3 ? 0 : 1) }
        for b in [0.0, 0.25] {
            let r = try Occlusion(size: 2, stride: 2, baseline: .value(b)).attribute(
                x, model: model, target: SegmentTarget(classIndex: 1, mask: mask), progress: nil, cancel: nil)
            for i in 0..<ni {
                for j in 0..<nj {
                    for k in 0..<nk {
                        var expected = 0.0
                        for ii in (i / 2 * 2)..<(i / 2 * 2 + 2) {
                            for jj in (j / 2 * 2)..<(j / 2 * 2 + 2) {
                                for kk in 0..<2 {
                                    let u = (ii * nj + jj) * nk + kk
                                    if mask[u] == 1 { expected += Double(w[u]) * (Double(x.data[u]) - b) }
                                }
                            }
                        }
                        XCTAssertEqual(Double(r.map.data[(i * nj + j) * nk + k]), expected, accuracy: 1e-5)
                    }
                }
            }
        }
    }

    func testOverlappingCubesAreAveraged() throws {
        // 1-D volume of 3 voxels, cube 2, stride 1: windows {0,1} and {1,2}.
        let x = Tensor(shape: [1, 3, 1, 1], data: [1, 2, 3])
        let model = LinearModel(w: [1, 10, 100], bias: [0, 0, 0])
        let r = try Occlusion(size: 2, stride: 1).attribute(
            x, model: model, target: SegmentTarget(classIndex: 1, mask: [1, 1, 1]), progress: nil, cancel: nil)
        let d0: Float = 1 + 20, d1: Float = 20 + 300
        XCTAssertEqual(r.map.data, [d0, (d0 + d1) / 2, d1])
        XCTAssertEqual(r.targetValue!, 321, accuracy: 1e-9)
    }
}
