import Engine
import XCTest

final class PoolTests: XCTestCase {
    func testMaxPoolMatchesNaive() {
        var rng = KernelRNG(seed: 30)
        for (kernel, stride, input) in [([2, 2, 2], [2, 2, 2], [3, 5, 6, 7]), ([3, 2, 2], [1, 2, 1], [2, 5, 4, 3])] {
            let pool = MaxPool3d(kernel: kernel, stride: stride)
            let x = rng.tensor(input)
            let (y, indices) = pool.forward(x)
            XCTAssertEqual(y, pool.forwardNaive(x))
            let dy = rng.tensor(y.shape)
            KernelCheck.assertClose(pool.backwardInput(dy, indices: indices, inputShape: x.shape),
                                    pool.backwardInputNaive(dy, input: x), maxRelative: 0, "max pool backward")
        }
        // Odd sizes floor: 5 → 2 along each axis.
        XCTAssertEqual(MaxPool3d(kernel: [2, 2, 2]).outputShape([1, 5, 5, 5]), [1, 2, 2, 2])
    }

    /// Exact ties keep the first element and any larger value wins, however close, as in
    /// PyTorch; NaN wins and infinities keep their order.
    func testMaxPoolTiesAreExact() {
        let pool = MaxPool3d(kernel: [2, 1, 1])
        func chosen(_ a: Float, _ b: Float) -> Int32 {
            pool.forward(Tensor(shape: [1, 2, 1, 1], data: [a, b])).indices[0]
        }
        let a: Float = 2.0917232
        XCTAssertEqual(chosen(a, a), 0, "an exact tie: the first wins")
        XCTAssertEqual(chosen(a, a.nextUp), 1, "one ulp larger wins")
        XCTAssertEqual(chosen(a.nextUp, a), 0)
        XCTAssertEqual(chosen(0, 1e-30), 1)
        XCTAssertEqual(chosen(-.infinity, -3), 1)
        XCTAssertEqual(chosen(3, .infinity), 1)
        XCTAssertEqual(chosen(.infinity, .infinity), 0)
        XCTAssertEqual(chosen(1, .nan), 1)
        XCTAssertEqual(chosen(.nan, 5), 0)
    }

    func testMaxPoolFiniteDifferences() {
        var rng = KernelRNG(seed: 31)
        // Distinct values at least 0.05 apart so that ±h never changes a window's argmax.
        var values = (0..<48).map { Float($0) * 0.05 }
        for i in stride(from: values.count - 1, to: 0, by: -1) { values.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let x = Tensor(shape: [2, 2, 4, 3], data: values)
        let pool = MaxPool3d(kernel: [2, 2, 2])
        KernelCheck.assertGradientMatchesFiniteDifferences(
            input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "max pool",
            forward: { pool.forward($0).output },
            backward: { g, x in pool.backwardInput(g, indices: pool.forward(x).indices, inputShape: x.shape) })
    }
}
