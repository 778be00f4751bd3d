/// 3-D max pooling, PyTorch `MaxPool3d` (no padding, no dilation, floor mode).
///
/// Shapes: x [C, D, H, W] → y [C, D', H', W'] with D' = ⌊(D − k)/s⌋ + 1. The forward pass also
/// returns, per output element, the flat index of the chosen input within its channel
/// (the first maximum in scan order, a NaN wins, as in PyTorch); the backward pass routes each
/// output gradient to that element.
public struct MaxPool3d: Sendable {
    public let kernel: [Int]
    public let stride: [Int]

    /// Whether `v` replaces `best` as the window's maximum, as PyTorch decides: NaN always wins,
    /// otherwise only a strictly larger value, so exact ties keep the first element. Ties are
    /// exact because convolutions are translation-exact (Conv3d).
    @inline(__always)
    static func replaces(_ v: Float, _ best: Float) -> Bool {
        v.isNaN || v > best
    }

    public init(kernel: [Int], stride: [Int]? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(_ input: [Int]) -> [Int] {
        [input[0]] + (0..<3).map { (input[$0 + 1] - kernel[$0]) / stride[$0] + 1 }
    }

    public func forward(_ x: Tensor) -> (output: Tensor, indices: [Int32]) {
        var x = x
        let inShape = x.shape
        let outShape = outputShape(inShape)
        var y = Tensor(zeros: outShape)
        var indices = [Int32](repeating: 0, count: y.count)
        x.data.withUnsafeMutableBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                indices.withUnsafeMutableBufferPointer { ip in
                    forward(input: xp.baseAddress!, inputShape: inShape, output: yp.baseAddress!,
                            indices: ip.baseAddress!)
                }
            }
        }
        return (y, indices)
    }

    /// dy [C, D', H', W'] → dx [C, D, H, W]: each dy lands on its recorded argmax.
    public func backwardInput(_ dy: Tensor, indices: [Int32], inputShape: [Int]) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        var dy = dy
        let outShape = dy.shape
        var indices = indices
        dy.data.withUnsafeMutableBufferPointer { gp in
            indices.withUnsafeMutableBufferPointer { ip in
                dx.data.withUnsafeMutableBufferPointer { xp in
                    backward(outputGradient: gp.baseAddress!, indices: ip.baseAddress!, outputShape: outShape,
                             inputGradient: xp.baseAddress!, inputShape: inputShape)
                }
            }
        }
        return dx
    }

    func forward(input: UnsafeMutablePointer<Float>, inputShape: [Int], output: UnsafeMutablePointer<Float>,
                 indices: UnsafeMutablePointer<Int32>) {
        let outShape = outputShape(inputShape)
        let (d, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (od, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (sd, sh, sw) = (stride[0], stride[1], stride[2])
        let src = SharedPointer(input), dst = SharedPointer(output), idx = SharedPointer(indices)
        Parallel.forEach(inputShape[0]) { c in
            let xp = src.base + c * d * h * w
            let yp = dst.base + c * od * oh * ow
            let ip = idx.base + c * od * oh * ow
            for z in 0..<od {
                for y in 0..<oh {
                    for x in 0..<ow {
                        var bestIndex = ((z * sd) * h + y * sh) * w + x * sw
                        var best = xp[bestIndex]
                        scan: for a in 0..<kd {
                            for b in 0..<kh {
                                let line = ((z * sd + a) * h + (y * sh + b)) * w + x * sw
                                for e in 0..<kw {
                                    if best.isNaN { break scan }
                                    let v = xp[line + e]
                                    if Self.replaces(v, best) {
                                        best = v
                                        bestIndex = line + e
                                    }
                                }
                            }
                        }
                        let o = (z * oh + y) * ow + x
                        yp[o] = xp[bestIndex]
                        ip[o] = Int32(bestIndex)
                    }
                }
            }
        }
    }

    /// Overwrites `inputGradient` [C, D, H, W].
    func backward(outputGradient: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
                  outputShape: [Int], inputGradient: UnsafeMutablePointer<Float>, inputShape: [Int]) {
        let plane = inputShape[1] * inputShape[2] * inputShape[3]
        let outPlane = outputShape[1] * outputShape[2] * outputShape[3]
        let g = SharedPointer(outputGradient), idx = SharedPointer(indices), dx = SharedPointer(inputGradient)
        Parallel.forEach(inputShape[0]) { c in
            let xp = dx.base + c * plane
            xp.update(repeating: 0, count: plane)
            for o in (c * outPlane)..<((c + 1) * outPlane) { xp[Int(idx[o])] += g[o] }
        }
    }

    /// Reference: maximum of each window, scanned independently of the fast path.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let outShape = outputShape(x.shape)
        let (d, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(zeros: outShape)
        var o = 0
        for c in 0..<x.shape[0] {
            for z in 0..<outShape[1] {
                for yy in 0..<outShape[2] {
                    for xx in 0..<outShape[3] {
                        var values: [Float] = []
                        for a in 0..<kernel[0] {
                            for b in 0..<kernel[1] {
                                for e in 0..<kernel[2] {
                                    values.append(x.data[((c * d + z * stride[0] + a) * h + yy * stride[1] + b) * w
                                                         + xx * stride[2] + e])
                                }
                            }
                        }
                        y.data[o] = values.max()!
                        o += 1
                    }
                }
            }
        }
        return y
    }

    /// Reference backward from the input: each output gradient goes to the first maximum of its
    /// window (ties as in the fast path).
    public func backwardInputNaive(_ dy: Tensor, input x: Tensor) -> Tensor {
        let (d, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        var dx = Tensor(zeros: x.shape)
        var o = 0
        for c in 0..<x.shape[0] {
            for z in 0..<dy.shape[1] {
                for yy in 0..<dy.shape[2] {
                    for xx in 0..<dy.shape[3] {
                        var best = -Float.infinity, bestIndex = -1
                        for a in 0..<kernel[0] {
                            for b in 0..<kernel[1] {
                                for e in 0..<kernel[2] {
                                    let i = ((c * d + z * stride[0] + a) * h + yy * stride[1] + b) * w + xx * stride[2] + e
                                    if bestIndex < 0 || Self.replaces(x.data[i], best) { best = x.data[i]; bestIndex = i }
                                }
                            }
                        }
                        dx.data[bestIndex] += dy.data[o]
                        o += 1
                    }
                }
            }
        }
        return dx
    }
}
