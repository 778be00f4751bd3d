import Foundation

/// 3-D average pooling with kernel = stride and no padding (PyTorch `AvgPool3d(k, k)`), as the
/// skip path of a strided `BasicBlockD` uses it. Trailing voxels that do not fill a window are
/// dropped (floor). Shapes: x [C, D, H, W] → y [C, ⌊D/kD⌋, ⌊H/kH⌋, ⌊W/kW⌋].
/// The backward pass spreads each dy uniformly over its window: dx = dy / |k|.
public struct AvgPool3d: Sendable {
    public let kernel: [Int]

    public init(kernel: [Int]) {
        precondition(kernel.count == 3 && kernel.allSatisfy { $0 >= 1 }, "AvgPool3d kernel must be three positive sizes")
        self.kernel = kernel
    }

    public func outputShape(_ input: [Int]) -> [Int] {
        [input[0]] + (0..<3).map { input[$0 + 1] / kernel[$0] }
    }

    public func forward(_ x: Tensor) -> Tensor {
        let y = FeatureMap(shape: outputShape(x.shape))
        let input = FeatureMap(x)
        forward(input: input.pointer, inputShape: x.shape, output: y.pointer)
        return y.tensor
    }

    /// The literal window sums, for checking `forward`.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let out = outputShape(x.shape)
        var y = Tensor(zeros: out)
        let (d, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let scale = 1 / Float(kernel.reduce(1, *))
        for c in 0..<out[0] {
            for od in 0..<out[1] { for oh in 0..<out[2] { for ow in 0..<out[3] {
                var sum: Float = 0
                for a in 0..<kernel[0] { for b in 0..<kernel[1] { for e in 0..<kernel[2] {
                    let (z, yy, xx) = (od * kernel[0] + a, oh * kernel[1] + b, ow * kernel[2] + e)
                    sum += x.data[((c * d + z) * h + yy) * w + xx]
                }}}
                y.data[((c * out[1] + od) * out[2] + oh) * out[3] + ow] = sum * scale
            }}}
        }
        return y
    }

    /// dy [C, D', H', W'] → dx of `inputShape`.
    public func backwardInput(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        precondition(dy.shape == outputShape(inputShape), "AvgPool3d output gradient shape")
        let g = FeatureMap(dy)
        let dx = FeatureMap(shape: inputShape)
        backward(outputGradient: g.pointer, inputShape: inputShape, inputGradient: dx.pointer)
        return dx.tensor
    }

    func forward(input: UnsafeMutablePointer<Float>, inputShape: [Int], output: UnsafeMutablePointer<Float>) {
        let out = outputShape(inputShape)
        let (d, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let scale = 1 / Float(kd * kh * kw)
        let src = SharedPointer(input), dst = SharedPointer(output)
        Parallel.forEach(out[0] * out[1]) { row in
            let c = row / out[1], od = row % out[1]
            for oh in 0..<out[2] {
                for ow in 0..<out[3] {
                    var sum: Float = 0
                    for a in 0..<kd {
                        for b in 0..<kh {
                            let base = ((c * d + od * kd + a) * h + oh * kh + b) * w + ow * kw
                            for e in 0..<kw { sum += src[base + e] }
                        }
                    }
                    dst[((c * out[1] + od) * out[2] + oh) * out[3] + ow] = sum * scale
                }
            }
        }
    }

    /// Writes every element of `inputGradient` (zero where no window reaches).
    func backward(outputGradient: UnsafeMutablePointer<Float>, inputShape: [Int],
                  inputGradient: UnsafeMutablePointer<Float>) {
        let out = outputShape(inputShape)
        let (d, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let scale = 1 / Float(kd * kh * kw)
        let g = SharedPointer(outputGradient), dx = SharedPointer(inputGradient)
        Parallel.forEach(inputShape[0] * d) { row in
            let c = row / d, z = row % d
            let od = z / kd
            for yy in 0..<h {
                let oh = yy / kh
                for xx in 0..<w {
                    let ow = xx / kw
                    let inside = od < out[1] && oh < out[2] && ow < out[3]
                    dx[((c * d + z) * h + yy) * w + xx] =
                        inside ? g[((c * out[1] + od) * out[2] + oh) * out[3] + ow] * scale : 0
                }
            }
        }
    }
}

extension Graph {
    /// Average pooling with kernel = stride. Saves nothing.
    func avgPool(_ x: Var, _ pool: AvgPool3d) -> Var {
        let inputShape = x.shape
        let y = FeatureMap(shape: pool.outputShape(inputShape))
        pool.forward(input: x.value.pointer, inputShape: inputShape, output: y.pointer)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: inputShape)
                pool.backward(outputGradient: g.pointer, inputShape: inputShape, inputGradient: dx.pointer)
                return [dx]
            }
        }
    }

    /// The mean of equally shaped values (fold ensembling). Saves nothing.
    func mean(_ values: [Var]) -> Var {
        precondition(!values.isEmpty, "mean of no values")
        if values.count == 1 { return values[0] }
        let y = FeatureMap(zeros: values[0].shape)
        let scale = 1 / Float(values.count)
        let py = SharedPointer(y.pointer)
        for v in values {
            precondition(v.value.count == y.count, "mean needs equal sizes")
            let pv = SharedPointer(v.value.pointer)
            Parallel.forEachBlock(y.count, minimumPerWorker: 1 << 16) { r in
                for i in r { py[i] += pv[i] * scale }
            }
        }
        let count = values.count
        return output(y, inputs: values) {
            { g in
                let pg = SharedPointer(g.pointer)
                Parallel.forEachBlock(g.count, minimumPerWorker: 1 << 16) { r in
                    for i in r { pg[i] *= scale }
                }
                return [g] + (1..<count).map { _ in g.reshaped(g.shape) }
            }
        }
    }
}
