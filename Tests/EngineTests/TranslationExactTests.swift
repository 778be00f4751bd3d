import Engine
import XCTest

/// A convolution output depends only on its receptive field and the weights: not on the voxel's
/// position, the column chunk it falls in, or the worker count. The volumes are large enough to
/// span several column chunks and end in a partial one.
final class TranslationExactTests: XCTestCase {
    private func layer(cin: Int, cout: Int, kernel: Int, seed: UInt64) -> Conv3d {
        var rng = KernelRNG(seed: seed)
        let p = kernel / 2
        return Conv3d(inChannels: cin, outChannels: cout,
                      geometry: ConvGeometry(kernel: [kernel, kernel, kernel], padding: [p, p, p]),
                      weight: rng.floats(cout * cin * kernel * kernel * kernel), bias: rng.floats(cout))
    }

    /// Layers as the networks have them: 3³ with Cin ≥ Cout and Cin < Cout, and 1×1×1.
    private var layers: [Conv3d] {
        [layer(cin: 16, cout: 16, kernel: 3, seed: 1), layer(cin: 4, cout: 16, kernel: 3, seed: 2),
         layer(cin: 16, cout: 5, kernel: 1, seed: 3)]
    }

    func testConstantInputGivesExactlyConstantInterior() {
        let size = [23, 29, 37]
        for conv in layers {
            let x = Tensor(shape: [conv.inChannels] + size, data: [Float](repeating: 0.3712, count: conv.inChannels * size.reduce(1, *)))
            let y = conv.forward(x)
            let r = conv.geometry.padding[0]
            for co in 0..<conv.outChannels {
                let first = y.data[((co * size[0] + r) * size[1] + r) * size[2] + r]
                var mismatches = 0
                for z in r..<(size[0] - r) { for a in r..<(size[1] - r) { for b in r..<(size[2] - r) {
                    if y.data[((co * size[0] + z) * size[1] + a) * size[2] + b] != first { mismatches += 1 }
                } } }
                XCTAssertEqual(mismatches, 0, "channel \(co) of a \(conv.geometry.kernel) conv")
            }
        }
    }

    func testShiftedPatternGivesExactlyShiftedOutput() {
        let size = [20, 24, 40]
        let (sz, sy, sx) = (3, 2, 5)
        var rng = KernelRNG(seed: 9)
        for conv in layers {
            let x = rng.tensor([conv.inChannels] + size)
            var shifted = Tensor(zeros: x.shape)
            for c in 0..<conv.inChannels { for z in sz..<size[0] { for a in sy..<size[1] { for b in sx..<size[2] {
                shifted.data[((c * size[0] + z) * size[1] + a) * size[2] + b] =
                    x.data[((c * size[0] + z - sz) * size[1] + a - sy) * size[2] + b - sx]
            } } } }
            let (y, ys) = (conv.forward(x), conv.forward(shifted))
            let r = conv.geometry.padding[0]
            var mismatches = 0
            for co in 0..<conv.outChannels { for z in r..<(size[0] - sz - r) { for a in r..<(size[1] - sy - r) {
                for b in r..<(size[2] - sx - r) {
                    let original = y.data[((co * size[0] + z) * size[1] + a) * size[2] + b]
                    let moved = ys.data[((co * size[0] + z + sz) * size[1] + a + sy) * size[2] + b + sx]
                    if original != moved { mismatches += 1 }
                }
            } } }
            XCTAssertEqual(mismatches, 0, "\(conv.geometry.kernel) conv \(conv.inChannels)→\(conv.outChannels)")
        }
    }

    func testOneAndTwoWorkersGiveIdenticalBits() {
        defer { ComputeThreads.set(nil) }
        var rng = KernelRNG(seed: 10)
        for conv in layers {
            let x = rng.tensor([conv.inChannels, 17, 19, 31])
            let dy = rng.tensor(conv.outputShape(x.shape))
            ComputeThreads.set(1)
            let (y1, g1) = (conv.forward(x), conv.backwardInput(dy, inputShape: x.shape))
            ComputeThreads.set(2)
            let (y2, g2) = (conv.forward(x), conv.backwardInput(dy, inputShape: x.shape))
            XCTAssertEqual(y1.data, y2.data, "forward")
            XCTAssertEqual(g1.data, g2.data, "input gradient")
        }
    }

    func testCgroupQuotaParsing() {
        XCTAssertNil(ComputeThreads.cgroupQuota(cpuMax: "max 100000"))
        XCTAssertEqual(ComputeThreads.cgroupQuota(cpuMax: "150000 100000\n"), 2)
        XCTAssertEqual(ComputeThreads.cgroupQuota(cpuMax: "50000 100000"), 1)
        XCTAssertNil(ComputeThreads.cgroupQuota(cpuMax: "garbage"))
    }
}
