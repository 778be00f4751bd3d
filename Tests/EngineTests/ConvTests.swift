import Engine
import XCTest

final class ConvTests: XCTestCase {
    private struct Case {
        var name: String
        var cin: Int, cout: Int
        var input: [Int]
        var geometry: ConvGeometry
        var bias: Bool
    }

    private let cases: [Case] = [
        Case(name: "3x3x3 pad 1", cin: 3, cout: 4, input: [5, 6, 7],
             geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]), bias: true),
        Case(name: "3x3x3 pad 1, more inputs than outputs", cin: 5, cout: 3, input: [4, 5, 6],
             geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]), bias: true),
        Case(name: "3x3x3 stride 2 pad 1", cin: 2, cout: 3, input: [7, 6, 5],
             geometry: ConvGeometry(kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]), bias: true),
        Case(name: "pointwise", cin: 5, cout: 3, input: [4, 3, 5],
             geometry: ConvGeometry(kernel: [1, 1, 1]), bias: true),
        Case(name: "anisotropic kernel", cin: 2, cout: 2, input: [5, 4, 6],
             geometry: ConvGeometry(kernel: [3, 1, 2], stride: [1, 2, 1], padding: [1, 0, 1]), bias: false),
        Case(name: "pad larger than kernel − 1", cin: 2, cout: 2, input: [3, 3, 3],
             geometry: ConvGeometry(kernel: [2, 2, 2], padding: [2, 2, 2]), bias: false),
        Case(name: "2x2x2 stride 2", cin: 3, cout: 2, input: [6, 4, 4],
             geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]), bias: true),
    ]

    func testConvForwardAndBackwardMatchNaive() {
        var rng = KernelRNG(seed: 10)
        for c in cases {
            let conv = Conv3d(inChannels: c.cin, outChannels: c.cout, geometry: c.geometry,
                              weight: rng.floats(c.cout * c.cin * c.geometry.kernelVolume),
                              bias: c.bias ? rng.floats(c.cout) : nil)
            let x = rng.tensor([c.cin] + c.input)
            let y = conv.forward(x)
            KernelCheck.assertClose(y, conv.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, c.name)
            let dy = rng.tensor(y.shape)
            KernelCheck.assertClose(conv.backwardInput(dy, inputShape: x.shape),
                                    conv.backwardInputNaive(dy, inputShape: x.shape),
                                    maxRelative: KernelTolerance.fastVsNaive, "\(c.name) backward")
        }
    }

    /// More columns than one chunk holds, with chunk edges falling inside output rows.
    func testConvChunkBoundaries() {
        var rng = KernelRNG(seed: 11)
        let conv = Conv3d(inChannels: 40, outChannels: 3, geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]),
                          weight: rng.floats(3 * 40 * 27, -0.1, 0.1), bias: rng.floats(3))
        let x = rng.tensor([40, 12, 12, 13])
        let y = conv.forward(x)
        KernelCheck.assertClose(y, conv.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "chunked forward")
        let strided = Conv3d(inChannels: 40, outChannels: 3,
                             geometry: ConvGeometry(kernel: [3, 3, 3], stride: [1, 1, 2], padding: [1, 1, 1]),
                             weight: rng.floats(3 * 40 * 27, -0.1, 0.1), bias: nil)
        let dy = rng.tensor(strided.outputShape(x.shape))
        KernelCheck.assertClose(strided.backwardInput(dy, inputShape: x.shape),
                                strided.backwardInputNaive(dy, inputShape: x.shape),
                                maxRelative: KernelTolerance.fastVsNaive, "chunked col2vol backward")
    }

    func testConvBackwardMatchesFiniteDifferences() {
        var rng = KernelRNG(seed: 12)
        for c in cases {
            let conv = Conv3d(inChannels: c.cin, outChannels: c.cout, geometry: c.geometry,
                              weight: rng.floats(c.cout * c.cin * c.geometry.kernelVolume),
                              bias: c.bias ? rng.floats(c.cout) : nil)
            let x = rng.tensor([c.cin] + c.input.map { min($0, 4) })
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, c.name,
                forward: { conv.forward($0) },
                backward: { g, x in conv.backwardInput(g, inputShape: x.shape) })
        }
    }

    /// A hand-computed case: a 1×1×1 input through a 3×3×3 kernel with padding 1 only meets the
    /// centre tap.
    func testConvExactValue() {
        var w = [Float](repeating: 0, count: 27)
        w[13] = 2
        w[0] = 100
        let conv = Conv3d(inChannels: 1, outChannels: 1, geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]),
                          weight: w, bias: [0.5])
        XCTAssertEqual(conv.forward(Tensor(shape: [1, 1, 1, 1], data: [3])).data, [6.5])
    }

    func testConvTransposeMatchesNaiveAndFiniteDifferences() {
        var rng = KernelRNG(seed: 13)
        let geometries = [ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]),
                          ConvGeometry(kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]),
                          ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1])]
        for g in geometries {
            let deconv = ConvTranspose3d(inChannels: 3, outChannels: 2, geometry: g,
                                         weight: rng.floats(3 * 2 * g.kernelVolume), bias: rng.floats(2))
            let x = rng.tensor([3, 3, 4, 2])
            let y = deconv.forward(x)
            XCTAssertEqual(y.shape, [2] + g.transposedOutputSize([3, 4, 2]))
            KernelCheck.assertClose(y, deconv.forwardNaive(x), maxRelative: KernelTolerance.fastVsNaive, "\(g)")
            let dy = rng.tensor(y.shape)
            KernelCheck.assertClose(deconv.backwardInput(dy, inputShape: x.shape),
                                    deconv.backwardInputNaive(dy, inputShape: x.shape),
                                    maxRelative: KernelTolerance.fastVsNaive, "\(g) backward")
            KernelCheck.assertGradientMatchesFiniteDifferences(
                input: x, step: 1e-2, tolerance: KernelTolerance.finiteDifferenceLinear, "\(g)",
                forward: { deconv.forward($0) },
                backward: { g, x in deconv.backwardInput(g, inputShape: x.shape) })
        }
        // k = s = 2 places each input voxel's 2×2×2 block without overlap: y = w·x + b exactly.
        let deconv = ConvTranspose3d(inChannels: 1, outChannels: 1,
                                     geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]),
                                     weight: [1, 2, 3, 4, 5, 6, 7, 8], bias: [1])
        XCTAssertEqual(deconv.forward(Tensor(shape: [1, 1, 1, 1], data: [2])).data, [3, 5, 7, 9, 11, 13, 15, 17])
    }
}
