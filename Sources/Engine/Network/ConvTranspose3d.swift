import Foundation

/// 3-D transposed convolution, PyTorch `ConvTranspose3d` semantics (no dilation, one group).
///
/// Shapes: input x [Cin, D, H, W] → output y [Cout, D', H', W'] with D' = (D − 1)·s − 2p + k + op,
/// where the output padding op (< s) adds voxels at the end of each axis that only the kernel's
/// far taps reach; MONAI's UNet uses k3 s2 p1 op1 so that D' = 2D.
/// Weight [Cin, Cout, kD, kH, kW] (PyTorch layout), bias [Cout].
///
/// A transposed convolution is the adjoint of the convolution with the same weight read as
/// [Cout_conv = Cin, Cin_conv = Cout, …]; its forward pass is that convolution's backward pass
/// to the input and its backward pass is that convolution's forward pass.
public struct ConvTranspose3d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let geometry: ConvGeometry
    /// PyTorch `output_padding`, per axis.
    public let outputPadding: [Int]
    /// [Cin, Cout, kD, kH, kW].
    public var weight: [Float] { adjoint.weight }
    /// [Cout], or nil.
    public let bias: [Float]?
    private let adjoint: Conv3d

    public init(inChannels: Int, outChannels: Int, geometry: ConvGeometry, outputPadding: [Int] = [0, 0, 0],
                weight: [Float], bias: [Float]?) {
        precondition(bias == nil || bias!.count == outChannels, "bias size")
        precondition(outputPadding.count == 3 && (0..<3).allSatisfy { outputPadding[$0] >= 0 && outputPadding[$0] < geometry.stride[$0] },
                     "output padding must be smaller than the stride")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.geometry = geometry
        self.outputPadding = outputPadding
        self.bias = bias
        self.adjoint = Conv3d(inChannels: outChannels, outChannels: inChannels, geometry: geometry,
                              weight: weight, bias: nil)
    }

    /// Output shape [Cout, D', H', W'] for an input shape [Cin, D, H, W].
    public func outputShape(_ input: [Int]) -> [Int] {
        [outChannels] + outputSize(Array(input[1...]))
    }

    /// Output spatial size; the adjoint convolution maps it back to `input` because op < s.
    func outputSize(_ input: [Int]) -> [Int] {
        zip(geometry.transposedOutputSize(input), outputPadding).map { $0 + $1 }
    }

    /// x [Cin, D, H, W] → y [Cout, D', H', W'].
    public func forward(_ x: Tensor) -> Tensor { forward(x, reference: false) }

    /// `forward` on the scalar reference path (`fmaf`, one pass per residue class of the output
    /// grid): the twin the single-pass up-convolution must match bit for bit.
    public func forwardReference(_ x: Tensor) -> Tensor { forward(x, reference: true) }

    private func forward(_ x: Tensor, reference: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[0] == inChannels, "ConvTranspose3d input must be [Cin, D, H, W]")
        let inSize = Array(x.shape[1...])
        return x.data.withUnsafeBufferPointer { xp in
            Tensor.overwritten(shape: outputShape(x.shape)) { y in
                forward(input: UnsafeMutablePointer(mutating: xp.baseAddress!), inputSize: inSize, output: y,
                        reference: reference)
            }
        }
    }

    /// dy [Cout, D', H', W'] → dx [Cin, D, H, W] (`inputShape`).
    public func backwardInput(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        precondition(dy.shape == outputShape(inputShape), "ConvTranspose3d output gradient shape")
        let outSize = Array(dy.shape[1...])
        return dy.data.withUnsafeBufferPointer { gp in
            Tensor.overwritten(shape: inputShape) { dx in
                backwardInput(outputGradient: UnsafeMutablePointer(mutating: gp.baseAddress!), outputSize: outSize,
                              inputGradient: dx)
            }
        }
    }

    /// Raw backward: `outputGradient` [Cout, D', H', W'] → `inputGradient` [Cin, D, H, W] (overwritten).
    func backwardInput(outputGradient: UnsafeMutablePointer<Float>, outputSize: [Int],
                       inputGradient: UnsafeMutablePointer<Float>) {
        adjoint.forward(inputs: [ChannelSlab(pointer: outputGradient, channels: outChannels)], inputSize: outputSize,
                        outputs: [ChannelSlab(pointer: inputGradient, channels: inChannels)])
    }

    /// Raw forward: `input` [Cin, D, H, W] → `output` [Cout, D', H', W'] (overwritten).
    func forward(input: UnsafeMutablePointer<Float>, inputSize: [Int], output: UnsafeMutablePointer<Float>,
                 reference: Bool = false) {
        adjoint.backwardInput(outputGradient: input, inputSize: outputSize(inputSize),
                              inputGradients: [ChannelSlab(pointer: output, channels: outChannels)], bias: bias,
                              reference: reference)
    }

    /// Direct scatter reference of `forward`.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let inSize = Array(x.shape[1...])
        let outShape = outputShape(x.shape)
        let (k, s, p) = (geometry.kernel, geometry.stride, geometry.padding)
        var y = Tensor(zeros: outShape)
        let w = weight
        for co in 0..<outChannels {
            let b = bias?[co] ?? 0
            for t in 0..<(outShape[1] * outShape[2] * outShape[3]) { y.data[co * outShape[1] * outShape[2] * outShape[3] + t] = b }
        }
        for ci in 0..<inChannels {
            for z in 0..<inSize[0] {
                for yy in 0..<inSize[1] {
                    for xx in 0..<inSize[2] {
                        let v = x.data[((ci * inSize[0] + z) * inSize[1] + yy) * inSize[2] + xx]
                        for co in 0..<outChannels {
                            for a in 0..<k[0] {
                                let oz = z * s[0] + a - p[0]
                                if oz < 0 || oz >= outShape[1] { continue }
                                for b in 0..<k[1] {
                                    let oy = yy * s[1] + b - p[1]
                                    if oy < 0 || oy >= outShape[2] { continue }
                                    for c in 0..<k[2] {
                                        let ox = xx * s[2] + c - p[2]
                                        if ox < 0 || ox >= outShape[3] { continue }
                                        let wv = w[(((ci * outChannels + co) * k[0] + a) * k[1] + b) * k[2] + c]
                                        y.data[((co * outShape[1] + oz) * outShape[2] + oy) * outShape[3] + ox] += wv * v
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Direct gather reference of `backwardInput`.
    public func backwardInputNaive(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let inSize = Array(inputShape[1...])
        let outShape = dy.shape
        let (k, s, p) = (geometry.kernel, geometry.stride, geometry.padding)
        var dx = Tensor(zeros: inputShape)
        let w = weight
        for ci in 0..<inChannels {
            for z in 0..<inSize[0] {
                for yy in 0..<inSize[1] {
                    for xx in 0..<inSize[2] {
                        var acc: Float = 0
                        for co in 0..<outChannels {
                            for a in 0..<k[0] {
                                let oz = z * s[0] + a - p[0]
                                if oz < 0 || oz >= outShape[1] { continue }
                                for b in 0..<k[1] {
                                    let oy = yy * s[1] + b - p[1]
                                    if oy < 0 || oy >= outShape[2] { continue }
                                    for c in 0..<k[2] {
                                        let ox = xx * s[2] + c - p[2]
                                        if ox < 0 || ox >= outShape[3] { continue }
                                        let wv = w[(((ci * outChannels + co) * k[0] + a) * k[1] + b) * k[2] + c]
                                        acc += wv * dy.data[((co * outShape[1] + oz) * outShape[2] + oy) * outShape[3] + ox]
                                    }
                                }
                            }
                        }
                        dx.data[((ci * inSize[0] + z) * inSize[1] + yy) * inSize[2] + xx] = acc
                    }
                }
            }
        }
        return dx
    }
}
