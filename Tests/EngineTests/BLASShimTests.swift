import COpenBLAS
import XCTest

final class BLASShimTests: XCTestCase {
    /// C = αAB + βC on 2×2 row-major matrices: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]].
    func testSgemm2x2() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c: [Float] = [1, 1, 1, 1]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 2, a, 2, b, 2, 0.5, &c, 2)
        XCTAssertEqual(c, [38.5, 44.5, 86.5, 100.5])
        // Transposed A: Aᵀ·B = [[26,30],[38,44]].
        var d: [Float] = [0, 0, 0, 0]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &d, 2)
        XCTAssertEqual(d, [26, 30, 38, 44])
    }
}
