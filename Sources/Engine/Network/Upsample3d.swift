import Foundation

/// Trilinear ×2 upsampling, PyTorch `nn.Upsample(scale_factor=2, mode="trilinear",
/// align_corners=False)` (MONAI SegResNet's non-trainable upsampling).
///
/// Shapes: x [C, D, H, W] → y [C, 2D, 2H, 2W]. Along each axis output o reads the source
/// position s = (o + 0.5)/2 − 0.5 clamped at 0, i.e. inputs i₀ = ⌊s⌋ and i₁ = min(i₀ + 1, n − 1)
/// with weights 1 − λ and λ = s − i₀ (0.25 / 0.75 inside, a copy of the edge at the borders).
/// The backward pass is the transpose: each output gradient is added back onto its eight
/// sources with the same weights.
public struct TrilinearUpsample: Sendable {
    public init() {}

    public func outputShape(_ input: [Int]) -> [Int] {
        [input[0]] + input[1...].map { 2 * $0 }
    }

    /// Per output index along an axis of length n: both sources and their weights.
    struct AxisTaps {
        let low: [Int]
        let high: [Int]
        let lowWeight: [Float]
        let highWeight: [Float]

        init(length n: Int) {
            var low = [Int](), high = [Int](), lw = [Float](), hw = [Float]()
            for o in 0..<(2 * n) {
                let s = max(Float(o) * 0.5 - 0.25, 0)
                let i0 = Int(s)
                let lambda = s - Float(i0)
                low.append(i0)
                high.append(min(i0 + 1, n - 1))
                lw.append(1 - lambda)
                hw.append(lambda)
            }
            (self.low, self.high, lowWeight, highWeight) = (low, high, lw, hw)
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        var x = x
        var y = Tensor(zeros: outputShape(x.shape))
        x.data.withUnsafeMutableBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                forward(input: xp.baseAddress!, inputShape: x.shape, output: yp.baseAddress!)
            }
        }
        return y
    }

    /// dy [C, 2D, 2H, 2W] → dx [C, D, H, W] (`inputShape`).
    public func backwardInput(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        precondition(dy.shape == outputShape(inputShape), "upsampling output gradient shape")
        var dy = dy
        var dx = Tensor(zeros: inputShape)
        dy.data.withUnsafeMutableBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { xp in
                backwardInput(outputGradient: gp.baseAddress!, inputShape: inputShape, inputGradient: xp.baseAddress!)
            }
        }
        return dx
    }

    /// Raw forward; `output` is overwritten. Channels are spread over the workers.
    func forward(input: UnsafeMutablePointer<Float>, inputShape: [Int], output: UnsafeMutablePointer<Float>) {
        let (d, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (tz, ty, tx) = (AxisTaps(length: d), AxisTaps(length: h), AxisTaps(length: w))
        let src = SharedPointer(input), dst = SharedPointer(output)
        Parallel.forEach(inputShape[0]) { c in
            let x = src.base + c * d * h * w
            var y = dst.base + c * 8 * d * h * w
            for oz in 0..<(2 * d) {
                let (z0, z1, a0, a1) = (tz.low[oz] * h, tz.high[oz] * h, tz.lowWeight[oz], tz.highWeight[oz])
                for oy in 0..<(2 * h) {
                    let (y0, y1, b0, b1) = (ty.low[oy], ty.high[oy], ty.lowWeight[oy], ty.highWeight[oy])
                    let r00 = x + (z0 + y0) * w, r01 = x + (z0 + y1) * w
                    let r10 = x + (z1 + y0) * w, r11 = x + (z1 + y1) * w
                    for ox in 0..<(2 * w) {
                        let (x0, x1, c0, c1) = (tx.low[ox], tx.high[ox], tx.lowWeight[ox], tx.highWeight[ox])
                        let near = b0 * (c0 * r00[x0] + c1 * r00[x1]) + b1 * (c0 * r01[x0] + c1 * r01[x1])
                        let far = b0 * (c0 * r10[x0] + c1 * r10[x1]) + b1 * (c0 * r11[x0] + c1 * r11[x1])
                        y.pointee = a0 * near + a1 * far
                        y += 1
                    }
                }
            }
        }
    }

    /// Raw backward; `inputGradient` is overwritten. Each channel scatters into its own plane.
    func backwardInput(outputGradient: UnsafeMutablePointer<Float>, inputShape: [Int],
                       inputGradient: UnsafeMutablePointer<Float>) {
        let (d, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (tz, ty, tx) = (AxisTaps(length: d), AxisTaps(length: h), AxisTaps(length: w))
        let src = SharedPointer(outputGradient), dst = SharedPointer(inputGradient)
        Parallel.forEach(inputShape[0]) { c in
            let dx = dst.base + c * d * h * w
            dx.update(repeating: 0, count: d * h * w)
            var g = src.base + c * 8 * d * h * w
            for oz in 0..<(2 * d) {
                let (z0, z1, a0, a1) = (tz.low[oz] * h, tz.high[oz] * h, tz.lowWeight[oz], tz.highWeight[oz])
                for oy in 0..<(2 * h) {
                    let (y0, y1, b0, b1) = (ty.low[oy], ty.high[oy], ty.lowWeight[oy], ty.highWeight[oy])
                    let r00 = dx + (z0 + y0) * w, r01 = dx + (z0 + y1) * w
                    let r10 = dx + (z1 + y0) * w, r11 = dx + (z1 + y1) * w
                    let (w00, w01, w10, w11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1)
                    for ox in 0..<(2 * w) {
                        let (x0, x1, c0, c1) = (tx.low[ox], tx.high[ox], tx.lowWeight[ox], tx.highWeight[ox])
                        let v = g.pointee
                        g += 1
                        r00[x0] += w00 * c0 * v; r00[x1] += w00 * c1 * v
                        r01[x0] += w01 * c0 * v; r01[x1] += w01 * c1 * v
                        r10[x0] += w10 * c0 * v; r10[x1] += w10 * c1 * v
                        r11[x0] += w11 * c0 * v; r11[x1] += w11 * c1 * v
                    }
                }
            }
        }
    }

    /// Reference: every output voxel from the source-index formula, in Double.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let n = Array(x.shape[1...])
        var y = Tensor(zeros: outputShape(x.shape))
        for c in 0..<x.shape[0] {
            for oz in 0..<(2 * n[0]) {
                for oy in 0..<(2 * n[1]) {
                    for ox in 0..<(2 * n[2]) {
                        var acc = 0.0
                        for (iz, wz) in Self.sources(oz, n[0]) {
                            for (iy, wy) in Self.sources(oy, n[1]) {
                                for (ix, wx) in Self.sources(ox, n[2]) {
                                    acc += wz * wy * wx * Double(x.data[((c * n[0] + iz) * n[1] + iy) * n[2] + ix])
                                }
                            }
                        }
                        y.data[((c * 2 * n[0] + oz) * 2 * n[1] + oy) * 2 * n[2] + ox] = Float(acc)
                    }
                }
            }
        }
        return y
    }

    /// The two source indices of output `o` on an axis of length `n`, with their weights.
    private static func sources(_ o: Int, _ n: Int) -> [(Int, Double)] {
        let s = max((Double(o) + 0.5) / 2 - 0.5, 0)
        let i0 = Int(s.rounded(.down))
        let lambda = s - Double(i0)
        return [(i0, 1 - lambda), (min(i0 + 1, n - 1), lambda)]
    }
}
