/// Pointwise activations with a kink at zero: ReLU, LeakyReLU (PyTorch default slope 0.01) and
/// PReLU (one learned slope, or one per channel).
///
/// Shapes: x [C, D, H, W] → y, same shape. The derivative only needs the sign of the input, so
/// the backward pass reads the pre-activation as scale_c·v + shift_c from whatever buffer the
/// caller kept (x̂ of an instance norm, or the raw input with scale 1 and shift 0).
public enum Activation: Sendable, Equatable {
    case identity
    case relu
    case leakyReLU(negativeSlope: Float)
    /// Slopes: one shared value or one per channel.
    case prelu(weights: [Float])

    /// Slope for negative inputs in channel `c`.
    @inline(__always)
    func negativeSlope(channel c: Int) -> Float {
        switch self {
        case .identity: return 1
        case .relu: return 0
        case .leakyReLU(let s): return s
        case .prelu(let w): return w.count == 1 ? w[0] : w[c]
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        let channels = x.shape[0], plane = x.count / channels
        y.data.withUnsafeMutableBufferPointer { apply($0.baseAddress!, channels: channels, plane: plane) }
        return y
    }

    /// dx = dy · (x > 0 ? 1 : slope).
    public func backwardInput(_ dy: Tensor, input x: Tensor) -> Tensor {
        var dx = dy
        var x = x
        let channels = x.shape[0], plane = x.count / channels
        dx.data.withUnsafeMutableBufferPointer { g in
            x.data.withUnsafeMutableBufferPointer { v in
                scaleGradient(g.baseAddress!, preActivation: v.baseAddress!,
                              scale: [Float](repeating: 1, count: channels),
                              shift: [Float](repeating: 0, count: channels),
                              channels: channels, plane: plane)
            }
        }
        return dx
    }

    /// Element-by-element reference.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let plane = x.count / x.shape[0]
        var y = x
        for i in 0..<x.count where x.data[i] <= 0 {
            y.data[i] = x.data[i] * negativeSlope(channel: i / plane)
        }
        return y
    }

    /// In place over [channels, plane].
    func apply(_ buffer: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
        if case .identity = self { return }
        let buf = SharedPointer(buffer)
        Parallel.forEach(channels) { c in
            let slope = negativeSlope(channel: c)
            let p = buf.base + c * plane
            for i in 0..<plane {
                let v = p[i]
                p[i] = v > 0 ? v : v * slope
            }
        }
    }

    /// In place: multiplies `gradient` by the derivative at pre-activation scale_c·v + shift_c.
    func scaleGradient(_ gradient: UnsafeMutablePointer<Float>, preActivation v: UnsafeMutablePointer<Float>,
                       scale: [Float], shift: [Float], channels: Int, plane: Int) {
        if case .identity = self { return }
        let g = SharedPointer(gradient), src = SharedPointer(v)
        Parallel.forEach(channels) { c in
            let slope = negativeSlope(channel: c)
            let (s, b) = (scale[c], shift[c])
            let gp = g.base + c * plane, vp = src.base + c * plane
            // A multiply by 1 or the slope rather than a branch: the signs are random, and the
            // branch-free loop vectorises (g·1 is g, so the bits are the same).
            for i in 0..<plane { gp[i] *= s * vp[i] + b <= 0 ? slope : 1 }
        }
    }
}
