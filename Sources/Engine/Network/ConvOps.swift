import Foundation

/// MONAI `Convolution` with `adn_ordering="NDA"`: Conv3d → Norm → Dropout → Activation.
/// Dropout is the identity at inference and has no layer here.
struct ConvADN: Sendable {
    enum Norm: Sendable {
        case none
        /// Statistics of the input itself (InstanceNorm, or BatchNorm without running stats).
        case statistics(InstanceNorm3d)
        /// Running statistics (BatchNorm in eval mode): a fixed per-channel affine map.
        case running(BatchNorm3d)
        /// Statistics over groups of channels (GroupNorm).
        case group(GroupNorm)
    }

    /// What the backward pass keeps: the pre-activation is scale_c·source + shift_c.
    /// With statistics norm `source` is x̂; otherwise it is the convolution output.
    struct Saved {
        let source: FeatureMap
        let inverseStd: [Float]
    }

    let conv: Conv3d
    let norm: Norm
    let activation: Activation

    /// Pre-activation = scale·source + shift, per channel.
    private var affine: (scale: [Float], shift: [Float]) { norm.affine(channels: conv.outChannels) }

    /// Inputs are concatenated along channels (without copying).
    func forward(_ inputs: [FeatureMap]) -> FeatureMap {
        let y = convolve(inputs)
        _ = normalizeActivate(y, into: y)
        return y
    }

    func forwardSaving(_ inputs: [FeatureMap]) -> (FeatureMap, Saved) {
        let y = convolve(inputs)
        let out = FeatureMap(shape: y.shape)
        let inverseStd = normalizeActivate(y, into: out)
        return (out, Saved(source: y, inverseStd: inverseStd))
    }

    /// `y` becomes the source (x̂ for a statistics norm) and `out` (which may be `y`) the
    /// activation of scale·source + shift; instance norm does both in its normalising pass.
    private func normalizeActivate(_ y: FeatureMap, into out: FeatureMap) -> [Float] {
        if case .statistics(let n) = norm {
            return n.normalize(y.pointer, plane: y.plane, activation: activation, into: out.pointer)
        }
        let inverseStd = norm.normalize(y)
        let (scale, shift) = affine
        activation.activate(source: y, scale: scale, shift: shift, into: out)
        return inverseStd
    }

    /// `gradient` (∂L/∂output) is overwritten. Returns ∂L/∂input split like the forward inputs.
    func backward(_ gradient: FeatureMap, saved: Saved, inputChannels: [Int], inputSize: [Int]) -> [FeatureMap] {
        let (scale, shift) = affine
        activation.scaleGradient(gradient.pointer, preActivation: saved.source.pointer, scale: scale, shift: shift,
                                 channels: gradient.channels, plane: gradient.plane)
        norm.backward(gradient, source: saved.source, inverseStd: saved.inverseStd)
        let outputs = inputChannels.map { FeatureMap(shape: [$0] + inputSize) }
        conv.backwardInput(outputGradient: gradient.pointer, inputSize: inputSize, inputGradients: outputs.map(\.slab))
        return outputs
    }

    private func convolve(_ inputs: [FeatureMap]) -> FeatureMap {
        let inSize = inputs[0].spatial
        let y = FeatureMap(shape: [conv.outChannels] + conv.geometry.outputSize(inSize))
        conv.forward(inputs: inputs.map(\.slab), inputSize: inSize, outputs: [y.slab])
        return y
    }

}

extension ConvADN.Norm {
    /// scale_c and shift_c such that the norm's output is scale·source + shift, where the source
    /// is x̂ for the statistics norms and the input itself otherwise.
    func affine(channels: Int) -> (scale: [Float], shift: [Float]) {
        switch self {
        case .none: return ([Float](repeating: 1, count: channels), [Float](repeating: 0, count: channels))
        case .statistics(let n): return (n.scale, n.shift)
        case .running(let b): return (b.scale, b.shift)
        case .group(let n): return (n.scale, n.shift)
        }
    }

    /// In place, for the statistics norms: `x` becomes x̂. Returns the inverse standard deviations
    /// (per channel or per group; empty for the other norms, which leave `x` unchanged).
    func normalize(_ x: FeatureMap) -> [Float] {
        switch self {
        case .none, .running: return []
        case .statistics(let n): return n.normalize(x.pointer, plane: x.plane)
        case .group(let n): return n.normalize(x.pointer, plane: x.plane)
        }
    }

    /// In place: ∂L/∂(norm output) → ∂L/∂(norm input), from the source `normalize` left.
    func backward(_ gradient: FeatureMap, source: FeatureMap, inverseStd: [Float]) {
        switch self {
        case .none: break
        case .statistics(let n):
            n.backward(gradient: gradient.pointer, normalized: source.pointer, inverseStd: inverseStd,
                       plane: gradient.plane)
        case .running(let b):
            ChannelAffine.apply(source: gradient.pointer, scale: b.scale,
                                shift: [Float](repeating: 0, count: b.channels), plane: gradient.plane,
                                into: gradient.pointer)
        case .group(let n):
            n.backward(gradient: gradient.pointer, normalized: source.pointer, inverseStd: inverseStd,
                       plane: gradient.plane)
        }
    }
}

extension Activation {
    /// out = act(scale_c·source + shift_c) in one pass; `out` may be `source`.
    func activate(source: FeatureMap, scale: [Float], shift: [Float], into out: FeatureMap) {
        let src = SharedPointer(source.pointer), dst = SharedPointer(out.pointer)
        let plane = source.plane
        let act = self
        Parallel.forEach(source.channels) { c in
            let (s, b) = (scale[c], shift[c])
            let slope = act.negativeSlope(channel: c)
            let i0 = c * plane
            for i in i0..<(i0 + plane) {
                let pre = s * src[i] + b
                dst[i] = pre > 0 ? pre : pre * slope
            }
        }
    }
}

/// Convolution-side ops on a pass. Feature maps are channels first, [C, D, H, W].
extension Graph {
    /// The fused MONAI Convolution (conv → norm → activation) over `inputs` concatenated along
    /// channels (never materialised). Saves one buffer per output element (x̂, or the
    /// convolution output when the norm is not instance statistics) and the inverse std.
    func convADN(_ inputs: [Var], _ block: ConvADN) -> Var {
        let maps = inputs.map(\.value)
        guard recording else { return Var(value: block.forward(maps), id: -1) }
        let (y, saved) = block.forwardSaving(maps)
        let channels = maps.map(\.channels), size = maps[0].spatial
        return output(y, inputs: inputs) {
            { g in block.backward(g, saved: saved, inputChannels: channels, inputSize: size) }
        }
    }

    /// A plain convolution (with its bias) over `inputs` concatenated along channels. Saves
    /// nothing: the input gradient needs only the weights.
    func conv(_ inputs: [Var], _ conv: Conv3d) -> Var {
        let maps = inputs.map(\.value)
        let size = maps[0].spatial
        let y = FeatureMap(shape: [conv.outChannels] + conv.geometry.outputSize(size))
        conv.forward(inputs: maps.map(\.slab), inputSize: size, outputs: [y.slab])
        let channels = maps.map(\.channels)
        return output(y, inputs: inputs) {
            { g in
                let grads = channels.map { FeatureMap(shape: [$0] + size) }
                conv.backwardInput(outputGradient: g.pointer, inputSize: size, inputGradients: grads.map(\.slab))
                return grads
            }
        }
    }

    /// A transposed convolution. Saves nothing.
    func deconv(_ x: Var, _ deconv: ConvTranspose3d) -> Var {
        let inputShape = x.shape
        let y = FeatureMap(shape: deconv.outputShape(inputShape))
        deconv.forward(input: x.value.pointer, inputSize: x.value.spatial, output: y.pointer)
        let outSize = y.spatial
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: inputShape)
                deconv.backwardInput(outputGradient: g.pointer, outputSize: outSize, inputGradient: dx.pointer)
                return [dx]
            }
        }
    }

    /// Max pooling. Saves the argmax index of every output element.
    func maxPool(_ x: Var, _ pool: MaxPool3d) -> Var {
        let inputShape = x.shape
        let y = FeatureMap(shape: pool.outputShape(inputShape))
        var indices = [Int32](repeating: 0, count: y.count)
        indices.withUnsafeMutableBufferPointer {
            pool.forward(input: x.value.pointer, inputShape: inputShape, output: y.pointer, indices: $0.baseAddress!)
        }
        let outputShape = y.shape
        return output(y, inputs: [x]) {
            { [indices] g in
                let dx = FeatureMap(shape: inputShape)
                var idx = indices
                idx.withUnsafeMutableBufferPointer {
                    pool.backward(outputGradient: g.pointer, indices: $0.baseAddress!, outputShape: outputShape,
                                  inputGradient: dx.pointer, inputShape: inputShape)
                }
                return [dx]
            }
        }
    }

    /// MONAI's replicate padding at the end of each spatial axis up to `size` (UpCat joins a
    /// deconvolution output one voxel short of an odd-sized skip). The identity when sizes agree.
    func replicatePadEnd(_ x: Var, to size: [Int]) -> Var {
        guard x.value.spatial != size else { return x }
        let inputShape = x.shape
        let y = FeatureMap(ChannelOps.replicatePadEnd(x.value.tensor, to: size))
        return output(y, inputs: [x]) {
            { g in [FeatureMap(ChannelOps.replicatePadEndBackward(g.tensor, inputShape: inputShape))] }
        }
    }

    /// a + b, elementwise. Saves nothing.
    func add(_ a: Var, _ b: Var) -> Var {
        precondition(a.value.count == b.value.count, "add needs equal sizes")
        let y = FeatureMap(shape: a.shape)
        let (pa, pb, py) = (SharedPointer(a.value.pointer), SharedPointer(b.value.pointer), SharedPointer(y.pointer))
        Parallel.forEachBlock(y.count, minimumPerWorker: 1 << 16) { r in
            for i in r { py[i] = pa[i] + pb[i] }
        }
        return output(y, inputs: [a, b]) {
            { g in [g, g.reshaped(g.shape)] }
        }
    }

    /// LeakyReLU(a + b): the residual join of MONAI's UnetResBlock, fused so the sum is never
    /// stored. Saves the output, whose sign is the sum's.
    func addLeakyReLU(_ a: Var, _ b: Var, negativeSlope slope: Float) -> Var {
        precondition(a.value.count == b.value.count, "add needs equal sizes")
        let y = FeatureMap(shape: a.shape)
        let (pa, pb, py) = (SharedPointer(a.value.pointer), SharedPointer(b.value.pointer), SharedPointer(y.pointer))
        Parallel.forEachBlock(y.count, minimumPerWorker: 1 << 16) { r in
            for i in r {
                let s = pa[i] + pb[i]
                py[i] = s > 0 ? s : s * slope
            }
        }
        return output(y, inputs: [a, b]) {
            { [y] g in
                let pg = SharedPointer(g.pointer), py = SharedPointer(y.pointer)
                Parallel.forEachBlock(g.count, minimumPerWorker: 1 << 16) { r in
                    for i in r where py[i] <= 0 { pg[i] *= slope }
                }
                return [g, g.reshaped(g.shape)]
            }
        }
    }
}
