import Foundation

/// What the instance-norm backward pass needs: the normalised input x̂ [C, D, H, W] and
/// 1/√(σ² + ε) per channel.
public struct InstanceNormCache: Sendable {
    public var normalized: Tensor
    public var inverseStd: [Float]
}

/// Instance normalisation over the spatial axes of each channel, PyTorch `InstanceNorm3d`
/// (batch 1, `track_running_stats=False`): y = γ·(x − μ_c)/√(σ²_c + ε) + β, biased variance.
///
/// Shapes: x [C, D, H, W] → y [C, D, H, W]; weight γ and bias β [C] when affine.
/// Statistics and the backward reductions accumulate in Double: planes hold millions of voxels.
public struct InstanceNorm3d: Sendable {
    public let channels: Int
    public let eps: Float
    public let weight: [Float]?
    public let bias: [Float]?

    public init(channels: Int, eps: Float = 1e-5, weight: [Float]? = nil, bias: [Float]? = nil) {
        precondition(weight == nil || weight!.count == channels, "weight size")
        precondition(bias == nil || bias!.count == channels, "bias size")
        self.channels = channels
        self.eps = eps
        self.weight = weight
        self.bias = bias
    }

    /// γ_c and β_c (1 and 0 without affine): the pre-activation is scale·x̂ + shift.
    var scale: [Float] { weight ?? [Float](repeating: 1, count: channels) }
    var shift: [Float] { bias ?? [Float](repeating: 0, count: channels) }

    /// x [C, D, H, W] → (y, cache for the backward pass).
    public func forward(_ x: Tensor) -> (output: Tensor, cache: InstanceNormCache) {
        var normalized = x
        let plane = x.count / channels
        let inverseStd = normalized.data.withUnsafeMutableBufferPointer { normalize($0.baseAddress!, plane: plane) }
        var y = Tensor(zeros: x.shape)
        normalized.data.withUnsafeMutableBufferPointer { n in
            y.data.withUnsafeMutableBufferPointer { o in
                ChannelAffine.apply(source: n.baseAddress!, scale: scale, shift: shift, plane: plane,
                                    into: o.baseAddress!)
            }
        }
        return (y, InstanceNormCache(normalized: normalized, inverseStd: inverseStd))
    }

    /// dy [C, D, H, W] → dx: (γ/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)) per channel.
    public func backwardInput(_ dy: Tensor, cache: InstanceNormCache) -> Tensor {
        var dx = dy
        var normalized = cache.normalized
        let plane = dy.count / channels
        dx.data.withUnsafeMutableBufferPointer { g in
            normalized.data.withUnsafeMutableBufferPointer { n in
                backward(gradient: g.baseAddress!, normalized: n.baseAddress!, inverseStd: cache.inverseStd,
                         plane: plane)
            }
        }
        return dx
    }

    /// In place: each channel of `buffer` [C, plane] becomes x̂. Returns 1/√(σ² + ε) per channel.
    func normalize(_ buffer: UnsafeMutablePointer<Float>, plane: Int) -> [Float] {
        var inverseStd = [Float](repeating: 0, count: channels)
        let buf = SharedPointer(buffer)
        let eps = Double(self.eps)
        inverseStd.withUnsafeMutableBufferPointer { isp in
            let out = SharedPointer(isp.baseAddress!)
            Parallel.forEach(channels) { c in
                let p = buf.base + c * plane
                let m = Reductions.mean(p, count: plane)
                let sq = Reductions.squaredDeviation(p, mean: m, count: plane)
                let s = Float(1 / (sq / Double(plane) + eps).squareRoot())
                for i in 0..<plane { p[i] = m.deviation(p[i]) * s }
                out[c] = s
            }
        }
        return inverseStd
    }

    /// `normalize`, and in the same pass `output` = activation(γ·x̂ + β) (the arithmetic of
    /// `Activation.activate`, so the bits are those of the two passes). `output` may be `buffer`,
    /// which then ends as the activation and x̂ is not kept.
    func normalize(_ buffer: UnsafeMutablePointer<Float>, plane: Int, activation: Activation,
                   into output: UnsafeMutablePointer<Float>) -> [Float] {
        var inverseStd = [Float](repeating: 0, count: channels)
        let buf = SharedPointer(buffer), dst = SharedPointer(output)
        let eps = Double(self.eps)
        let (gamma, beta) = (scale, shift)
        inverseStd.withUnsafeMutableBufferPointer { isp in
            let out = SharedPointer(isp.baseAddress!)
            Parallel.forEach(channels) { c in
                let p = buf.base + c * plane, o = dst.base + c * plane
                let m = Reductions.mean(p, count: plane)
                let sq = Reductions.squaredDeviation(p, mean: m, count: plane)
                let s = Float(1 / (sq / Double(plane) + eps).squareRoot())
                let (a, b) = (gamma[c], beta[c])
                let slope = activation.negativeSlope(channel: c)
                for i in 0..<plane {
                    let normalized = m.deviation(p[i]) * s
                    p[i] = normalized
                    let pre = a * normalized + b
                    o[i] = pre > 0 ? pre : pre * slope
                }
                out[c] = s
            }
        }
        return inverseStd
    }

    /// In place: `gradient` holds ∂L/∂y on entry and ∂L/∂x on return.
    func backward(gradient: UnsafeMutablePointer<Float>, normalized: UnsafeMutablePointer<Float>,
                  inverseStd: [Float], plane: Int) {
        let g = SharedPointer(gradient), n = SharedPointer(normalized)
        let gamma = scale
        Parallel.forEach(channels) { c in
            let gp = g.base + c * plane, np = n.base + c * plane
            let meanG = Reductions.mean(gp, count: plane)
            let meanGN = Float(Reductions.dot(gp, np, count: plane) / Double(plane))
            let k = gamma[c] * inverseStd[c]
            for i in 0..<plane { gp[i] = k * (meanG.deviation(gp[i]) - np[i] * meanGN) }
        }
    }

    /// Double-precision reference of `forward`.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let plane = x.count / channels
        var y = Tensor(zeros: x.shape)
        for c in 0..<channels {
            let v = x.data[(c * plane)..<((c + 1) * plane)].map(Double.init)
            let mean = v.reduce(0, +) / Double(plane)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(plane)
            let gamma = Double(weight?[c] ?? 1), beta = Double(bias?[c] ?? 0)
            for i in 0..<plane {
                y.data[c * plane + i] = Float(gamma * (v[i] - mean) / (variance + Double(eps)).squareRoot() + beta)
            }
        }
        return y
    }

    /// Double-precision reference of `backwardInput`, from the input x rather than a cache.
    public func backwardInputNaive(_ dy: Tensor, input x: Tensor) -> Tensor {
        let plane = x.count / channels
        var dx = Tensor(zeros: x.shape)
        for c in 0..<channels {
            let v = x.data[(c * plane)..<((c + 1) * plane)].map(Double.init)
            let g = dy.data[(c * plane)..<((c + 1) * plane)].map(Double.init)
            let mean = v.reduce(0, +) / Double(plane)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(plane)
            let inv = 1 / (variance + Double(eps)).squareRoot()
            let xhat = v.map { ($0 - mean) * inv }
            let meanG = g.reduce(0, +) / Double(plane)
            let meanGX = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Double(plane)
            let gamma = Double(weight?[c] ?? 1)
            for i in 0..<plane {
                dx.data[c * plane + i] = Float(gamma * inv * (g[i] - meanG - xhat[i] * meanGX))
            }
        }
        return dx
    }
}

/// Batch normalisation in evaluation mode, PyTorch `BatchNorm3d.eval()`:
/// y = γ·(x − running_mean)/√(running_var + ε) + β, a fixed per-channel affine map.
///
/// Shapes: x [C, D, H, W] → y [C, D, H, W]; all parameters [C].
public struct BatchNorm3d: Sendable {
    public let channels: Int
    /// Per-channel multiplier γ/√(running_var + ε).
    public let scale: [Float]
    /// Per-channel offset β − running_mean·scale.
    public let shift: [Float]

    public init(channels: Int, eps: Float = 1e-5, weight: [Float]?, bias: [Float]?,
                runningMean: [Float], runningVar: [Float]) {
        precondition(runningMean.count == channels && runningVar.count == channels, "running statistics size")
        self.channels = channels
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let s = Double(weight?[c] ?? 1) / (Double(runningVar[c]) + Double(eps)).squareRoot()
            scale[c] = Float(s)
            shift[c] = Float(Double(bias?[c] ?? 0) - Double(runningMean[c]) * s)
        }
        self.scale = scale
        self.shift = shift
    }

    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        let plane = x.count / channels
        y.data.withUnsafeMutableBufferPointer {
            ChannelAffine.apply(source: $0.baseAddress!, scale: scale, shift: shift, plane: plane, into: $0.baseAddress!)
        }
        return y
    }

    /// dx = dy·scale_c.
    public func backwardInput(_ dy: Tensor) -> Tensor {
        var dx = dy
        let plane = dy.count / channels
        dx.data.withUnsafeMutableBufferPointer {
            ChannelAffine.apply(source: $0.baseAddress!, scale: scale, shift: [Float](repeating: 0, count: channels),
                                plane: plane, into: $0.baseAddress!)
        }
        return dx
    }

    /// Reference straight from the PyTorch formula, in Double.
    public static func forwardNaive(_ x: Tensor, eps: Float, weight: [Float]?, bias: [Float]?,
                                    runningMean: [Float], runningVar: [Float]) -> Tensor {
        let channels = x.shape[0], plane = x.count / channels
        var y = x
        for c in 0..<channels {
            let denom = (Double(runningVar[c]) + Double(eps)).squareRoot()
            for i in 0..<plane {
                let v = (Double(x.data[c * plane + i]) - Double(runningMean[c])) / denom
                y.data[c * plane + i] = Float(v * Double(weight?[c] ?? 1) + Double(bias?[c] ?? 0))
            }
        }
        return y
    }
}

/// y_c = scale_c·x_c + shift_c over [C, plane] buffers, channels spread over the workers.
enum ChannelAffine {
    /// `into` may alias `source`.
    static func apply(source: UnsafeMutablePointer<Float>, scale: [Float], shift: [Float], plane: Int,
                      into output: UnsafeMutablePointer<Float>) {
        let src = SharedPointer(source), dst = SharedPointer(output)
        Parallel.forEach(scale.count) { c in
            let s = scale[c], b = shift[c]
            let i0 = c * plane
            for i in i0..<(i0 + plane) { dst[i] = s * src[i] + b }
        }
    }
}
