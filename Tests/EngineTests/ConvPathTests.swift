import Engine
import XCTest

/// The vector paths of the direct convolution against the scalar `fmaf` reference (bit for bit)
/// and against a float64 direct convolution written here (within `fastVsNaive`): position tiles
/// (one input channel, few output channels, 1×1×1 kernels; also through the strided adjoint, which
/// writes with a stride), channel tiles (whose gather transposes groups of 8 channels with vector
/// shuffles; the reference copies one value at a time), and the single-pass 2×2×2 stride-2
/// up-convolution.
/// Sizes end in partial tiles and split into several chunks of planes or of rows.
final class ConvPathTests: XCTestCase {
    private struct Case {
        var cin: Int, cout: Int
        var kernel: Int, stride: Int
        var input: [Int]
        var bias: Bool
        var name: String { "\(cin)→\(cout) k\(kernel) s\(stride) \(input)" }
    }

    private let cases: [Case] = [
        Case(cin: 1, cout: 16, kernel: 3, stride: 1, input: [3, 20, 40], bias: true),
        Case(cin: 16, cout: 1, kernel: 3, stride: 1, input: [7, 9, 37], bias: false),
        Case(cin: 16, cout: 15, kernel: 1, stride: 1, input: [6, 9, 37], bias: true),
        Case(cin: 5, cout: 3, kernel: 3, stride: 1, input: [2, 25, 13], bias: true),
        Case(cin: 3, cout: 8, kernel: 3, stride: 2, input: [9, 10, 23], bias: true),
        Case(cin: 16, cout: 16, kernel: 3, stride: 1, input: [5, 11, 19], bias: true),
        // Two groups of 8 channels and a remainder through the vector gather (24 in the backward).
        Case(cin: 20, cout: 24, kernel: 3, stride: 1, input: [4, 9, 21], bias: true),
    ]

    func testConvolutionPathsMatchScalarReferenceAndFloat64() {
        var rng = KernelRNG(seed: 21)
        for c in cases {
            let p = c.kernel / 2
            let geometry = ConvGeometry(kernel: [c.kernel, c.kernel, c.kernel], stride: [c.stride, c.stride, c.stride],
                                        padding: [p, p, p])
            let conv = Conv3d(inChannels: c.cin, outChannels: c.cout, geometry: geometry,
                              weight: rng.floats(c.cout * c.cin * geometry.kernelVolume),
                              bias: c.bias ? rng.floats(c.cout) : nil)
            let x = rng.tensor([c.cin] + c.input)
            let y = conv.forward(x)
            XCTAssertEqual(y.data, conv.forwardReference(x).data, "\(c.name) forward bits")
            KernelCheck.assertClose(y, Float64Conv.forward(conv, x), maxRelative: KernelTolerance.fastVsNaive,
                                    "\(c.name) forward vs float64")
            let dy = rng.tensor(y.shape)
            let dx = conv.backwardInput(dy, inputShape: x.shape)
            XCTAssertEqual(dx.data, conv.backwardInputReference(dy, inputShape: x.shape).data,
                           "\(c.name) backward bits")
            KernelCheck.assertClose(dx, Float64Conv.backwardInput(conv, dy, inputShape: x.shape),
                                    maxRelative: KernelTolerance.fastVsNaive, "\(c.name) backward vs float64")
        }
    }

    func testSinglePassUpConvolutionMatchesPerClassReferenceAndFloat64() {
        var rng = KernelRNG(seed: 22)
        for (cin, cout, input, bias) in [(16, 16, [5, 7, 9], true), (8, 3, [4, 6, 11], false), (3, 20, [6, 3, 5], true)] {
            let geometry = ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2])
            let deconv = ConvTranspose3d(inChannels: cin, outChannels: cout, geometry: geometry,
                                         weight: rng.floats(cin * cout * 8), bias: bias ? rng.floats(cout) : nil)
            let x = rng.tensor([cin] + input)
            let y = deconv.forward(x)
            XCTAssertEqual(y.data, deconv.forwardReference(x).data, "\(cin)→\(cout) up-convolution bits")
            // Each output is one input voxel times one tap: W[ci, co, residue] summed over ci.
            var expected = Tensor(zeros: deconv.outputShape(x.shape))
            let out = expected.shape
            for co in 0..<cout { for z in 0..<out[1] { for a in 0..<out[2] { for b in 0..<out[3] {
                var acc = Double(deconv.bias?[co] ?? 0)
                let tap = ((z % 2) * 2 + a % 2) * 2 + b % 2
                for ci in 0..<cin {
                    let v = x.data[((ci * input[0] + z / 2) * input[1] + a / 2) * input[2] + b / 2]
                    acc += Double(deconv.weight[(ci * cout + co) * 8 + tap]) * Double(v)
                }
                expected.data[((co * out[1] + z) * out[2] + a) * out[3] + b] = Float(acc)
            } } } }
            KernelCheck.assertClose(y, expected, maxRelative: KernelTolerance.fastVsNaive,
                                    "\(cin)→\(cout) up-convolution vs float64")
        }
    }
}

/// Direct convolution and its adjoint accumulated in float64.
private enum Float64Conv {
    /// Calls `body(co, ci, output index, input index, tap index)` for every multiply-add.
    private static func visit(_ conv: Conv3d, inputSize n: [Int], _ body: (Int, Int, Int, Int, Int) -> Void) {
        let (k, s, p) = (conv.geometry.kernel, conv.geometry.stride, conv.geometry.padding)
        let o = conv.geometry.outputSize(n)
        for co in 0..<conv.outChannels { for z in 0..<o[0] { for y in 0..<o[1] { for x in 0..<o[2] {
            let out = ((co * o[0] + z) * o[1] + y) * o[2] + x
            for ci in 0..<conv.inChannels { for a in 0..<k[0] { for b in 0..<k[1] { for c in 0..<k[2] {
                let (iz, iy, ix) = (z * s[0] + a - p[0], y * s[1] + b - p[1], x * s[2] + c - p[2])
                guard iz >= 0, iz < n[0], iy >= 0, iy < n[1], ix >= 0, ix < n[2] else { continue }
                body(co, ci, out, ((ci * n[0] + iz) * n[1] + iy) * n[2] + ix, (((co * conv.inChannels + ci) * k[0] + a) * k[1] + b) * k[2] + c)
            } } } }
        } } } }
    }

    static func forward(_ conv: Conv3d, _ x: Tensor) -> Tensor {
        let shape = conv.outputShape(x.shape)
        let plane = shape[1...].reduce(1, *)
        var acc = (0..<shape.reduce(1, *)).map { Double(conv.bias?[$0 / plane] ?? 0) }
        visit(conv, inputSize: Array(x.shape[1...])) { _, _, out, inp, tap in
            acc[out] += Double(conv.weight[tap]) * Double(x.data[inp])
        }
        return Tensor(shape: shape, data: acc.map { Float($0) })
    }

    static func backwardInput(_ conv: Conv3d, _ dy: Tensor, inputShape: [Int]) -> Tensor {
        var acc = [Double](repeating: 0, count: inputShape.reduce(1, *))
        visit(conv, inputSize: Array(inputShape[1...])) { _, _, out, inp, tap in
            acc[inp] += Double(conv.weight[tap]) * Double(dy.data[out])
        }
        return Tensor(shape: inputShape, data: acc.map { Float($0) })
    }
}
