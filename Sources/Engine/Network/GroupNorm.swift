import Foundation

/// Group normalisation, PyTorch `GroupNorm` (batch 1): the C channels split into G groups of
/// C/G consecutive channels, each normalised over its channels and voxels together, then an
/// affine map per channel: y = γ_c·(x − μ_g)/√(σ²_g + ε) + β_c, biased variance.
///
/// Shapes: x [C, D, H, W] → y [C, D, H, W]; weight γ and bias β [C] when affine. A group is one
/// contiguous block of (C/G)·D·H·W values, so it is normalised exactly like one instance-norm
/// channel of that length (the statistics accumulate in Double).
public struct GroupNorm: Sendable {
    public let groups: Int
    public let channels: Int
    public let eps: Float
    public let weight: [Float]?
    public let bias: [Float]?

    public init(groups: Int, channels: Int, eps: Float = 1e-5, weight: [Float]? = nil, bias: [Float]? = nil) {
        precondition(groups >= 1 && channels % groups == 0, "groups must divide the channels")
        precondition(weight == nil || weight!.count == channels, "weight size")
        precondition(bias == nil || bias!.count == channels, "bias size")
        self.groups = groups
        self.channels = channels
        self.eps = eps
        self.weight = weight
        self.bias = bias
    }

    /// γ_c and β_c (1 and 0 without affine): the pre-activation is scale·x̂ + shift.
    var scale: [Float] { weight ?? [Float](repeating: 1, count: channels) }
    var shift: [Float] { bias ?? [Float](repeating: 0, count: channels) }

    /// Each group as one channel of an affine-free instance norm.
    private var groupwise: InstanceNorm3d { InstanceNorm3d(channels: groups, eps: eps) }

    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        let plane = x.count / channels
        y.data.withUnsafeMutableBufferPointer { p in
            _ = normalize(p.baseAddress!, plane: plane)
            ChannelAffine.apply(source: p.baseAddress!, scale: scale, shift: shift, plane: plane, into: p.baseAddress!)
        }
        return y
    }

    /// dy [C, D, H, W] → dx for the input x.
    public func backwardInput(_ dy: Tensor, input x: Tensor) -> Tensor {
        var normalized = x
        var dx = dy
        let plane = x.count / channels
        normalized.data.withUnsafeMutableBufferPointer { n in
            let inverseStd = normalize(n.baseAddress!, plane: plane)
            dx.data.withUnsafeMutableBufferPointer { g in
                backward(gradient: g.baseAddress!, normalized: n.baseAddress!, inverseStd: inverseStd, plane: plane)
            }
        }
        return dx
    }

    /// In place: `buffer` [C, plane] becomes x̂. Returns 1/√(σ² + ε) per group.
    func normalize(_ buffer: UnsafeMutablePointer<Float>, plane: Int) -> [Float] {
        groupwise.normalize(buffer, plane: plane * channels / groups)
    }

    /// In place: `gradient` holds ∂L/∂y on entry and ∂L/∂x on return. Within a group,
    /// dx = (1/σ_g)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = γ_c·dy.
    func backward(gradient: UnsafeMutablePointer<Float>, normalized: UnsafeMutablePointer<Float>,
                  inverseStd: [Float], plane: Int) {
        if let weight {
            ChannelAffine.apply(source: gradient, scale: weight, shift: [Float](repeating: 0, count: channels),
                                plane: plane, into: gradient)
        }
        groupwise.backward(gradient: gradient, normalized: normalized, inverseStd: inverseStd,
                           plane: plane * channels / groups)
    }

    /// Double-precision reference of `forward`, straight from the formula.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let plane = x.count / channels, size = channels / groups
        var y = x
        for g in 0..<groups {
            let range = (g * size * plane)..<((g + 1) * size * plane)
            let v = x.data[range].map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
            let inv = 1 / (variance + Double(eps)).squareRoot()
            for (offset, i) in range.enumerated() {
                let c = i / plane
                y.data[i] = Float(Double(weight?[c] ?? 1) * (v[offset] - mean) * inv + Double(bias?[c] ?? 0))
            }
        }
        return y
    }

    /// Double-precision reference of `backwardInput`.
    public func backwardInputNaive(_ dy: Tensor, input x: Tensor) -> Tensor {
        let plane = x.count / channels, size = channels / groups
        var dx = dy
        for g in 0..<groups {
            let range = (g * size * plane)..<((g + 1) * size * plane)
            let v = x.data[range].map(Double.init)
            let n = Double(v.count)
            let mean = v.reduce(0, +) / n
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let inv = 1 / (variance + Double(eps)).squareRoot()
            let xhat = v.map { ($0 - mean) * inv }
            let ghat = range.map { Double(dy.data[$0]) * Double(weight?[$0 / plane] ?? 1) }
            let meanG = ghat.reduce(0, +) / n
            let meanGX = zip(ghat, xhat).reduce(0) { $0 + $1.0 * $1.1 } / n
            for (offset, i) in range.enumerated() {
                dx.data[i] = Float(inv * (ghat[offset] - meanG - xhat[offset] * meanGX))
            }
        }
        return dx
    }
}
