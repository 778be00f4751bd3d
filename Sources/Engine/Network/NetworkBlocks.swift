import Foundation

/// A feature map [C, D, H, W] inside a network. It owns a raw buffer so that it is freed the
/// moment its last reference goes, and so that several maps can be handed to one kernel call.
final class FeatureMap: @unchecked Sendable {
    let shape: [Int]
    let pointer: UnsafeMutablePointer<Float>

    /// Uninitialised: every kernel writing a fresh map overwrites all of it.
    init(shape: [Int]) {
        self.shape = shape
        pointer = .allocate(capacity: shape.reduce(1, *))
    }

    init(_ tensor: Tensor) {
        shape = tensor.shape
        pointer = .allocate(capacity: tensor.count)
        tensor.data.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: tensor.count) }
    }

    deinit { pointer.deallocate() }

    var channels: Int { shape[0] }
    var spatial: [Int] { Array(shape[1...]) }
    var plane: Int { shape[1] * shape[2] * shape[3] }
    var count: Int { shape.reduce(1, *) }
    var slab: ChannelSlab { ChannelSlab(pointer: pointer, channels: channels) }

    var tensor: Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }

    /// self += other, elementwise.
    func add(_ other: FeatureMap) {
        precondition(other.shape == shape, "feature map shapes")
        let dst = SharedPointer(pointer), src = SharedPointer(other.pointer)
        Parallel.forEachBlock(count, minimumPerWorker: 1 << 16) { range in
            for i in range { dst[i] += src[i] }
        }
    }
}

/// MONAI `Convolution` with `adn_ordering="NDA"`: Conv3d → Norm → Dropout → Activation.
/// Dropout is the identity at inference and has no layer here.
struct ConvADN: Sendable {
    enum Norm: Sendable {
        case none
        /// Statistics of the input itself (InstanceNorm, or BatchNorm without running stats).
        case statistics(InstanceNorm3d)
        /// Running statistics (BatchNorm in eval mode): a fixed per-channel affine map.
        case running(BatchNorm3d)
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
    private var affine: (scale: [Float], shift: [Float]) {
        switch norm {
        case .none:
            return ([Float](repeating: 1, count: conv.outChannels), [Float](repeating: 0, count: conv.outChannels))
        case .statistics(let n): return (n.scale, n.shift)
        case .running(let b): return (b.scale, b.shift)
        }
    }

    /// Inputs are concatenated along channels (without copying).
    func forward(_ inputs: [FeatureMap]) -> FeatureMap {
        let y = convolve(inputs)
        if case .statistics(let n) = norm { _ = n.normalize(y.pointer, plane: y.plane) }
        let (scale, shift) = affine
        activate(source: y, scale: scale, shift: shift, into: y)
        return y
    }

    func forwardSaving(_ inputs: [FeatureMap]) -> (FeatureMap, Saved) {
        let y = convolve(inputs)
        var inverseStd: [Float] = []
        if case .statistics(let n) = norm { inverseStd = n.normalize(y.pointer, plane: y.plane) }
        let out = FeatureMap(shape: y.shape)
        let (scale, shift) = affine
        activate(source: y, scale: scale, shift: shift, into: out)
        return (out, Saved(source: y, inverseStd: inverseStd))
    }

    /// `gradient` (∂L/∂output) is overwritten. Returns ∂L/∂input split like the forward inputs.
    func backward(_ gradient: FeatureMap, saved: Saved, inputChannels: [Int], inputSize: [Int]) -> [FeatureMap] {
        let (scale, shift) = affine
        activation.scaleGradient(gradient.pointer, preActivation: saved.source.pointer, scale: scale, shift: shift,
                                 channels: gradient.channels, plane: gradient.plane)
        switch norm {
        case .none: break
        case .statistics(let n):
            n.backward(gradient: gradient.pointer, normalized: saved.source.pointer, inverseStd: saved.inverseStd,
                       plane: gradient.plane)
        case .running(let b):
            ChannelAffine.apply(source: gradient.pointer, scale: b.scale,
                                shift: [Float](repeating: 0, count: b.channels), plane: gradient.plane,
                                into: gradient.pointer)
        }
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

    /// out = act(scale_c·source + shift_c) in one pass; `out` may be `source`.
    private func activate(source: FeatureMap, scale: [Float], shift: [Float], into out: FeatureMap) {
        let src = SharedPointer(source.pointer), dst = SharedPointer(out.pointer)
        let plane = source.plane
        let act = activation
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

/// MONAI `TwoConv`: two `Convolution` blocks with 3×3×3 kernels and padding 1.
struct TwoConv: Sendable {
    let conv0: ConvADN
    let conv1: ConvADN

    func forward(_ inputs: [FeatureMap]) -> FeatureMap {
        conv1.forward([conv0.forward(inputs)])
    }

    func forwardSaving(_ inputs: [FeatureMap]) -> (FeatureMap, [ConvADN.Saved]) {
        let (h, s0) = conv0.forwardSaving(inputs)
        let (y, s1) = conv1.forwardSaving([h])
        return (y, [s0, s1])
    }

    func backward(_ gradient: FeatureMap, saved: [ConvADN.Saved], inputChannels: [Int], inputSize: [Int]) -> [FeatureMap] {
        let mid = conv1.backward(gradient, saved: saved[1], inputChannels: [conv0.conv.outChannels], inputSize: inputSize)[0]
        return conv0.backward(mid, saved: saved[0], inputChannels: inputChannels, inputSize: inputSize)
    }
}
