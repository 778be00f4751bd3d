import Foundation

/// Norm → activation without a convolution in front: SegResNet's pre-activation (GroupNorm →
/// ReLU before each convolution) and the ADN after MONAI's transposed `Convolution`.
struct NormActivation: Sendable {
    let norm: ConvADN.Norm
    let activation: Activation

    /// The output, the source the pre-activation is scale·source + shift of (x̂, or the input
    /// itself when the norm has no statistics), and the inverse standard deviations.
    func forward(_ x: FeatureMap) -> (output: FeatureMap, source: FeatureMap, inverseStd: [Float]) {
        var source = x
        var inverseStd: [Float] = []
        switch norm {
        case .statistics, .group: (source, inverseStd) = normalized(x)
        case .none, .running: break
        }
        let out = FeatureMap(shape: x.shape)
        let (scale, shift) = norm.affine(channels: x.channels)
        activation.activate(source: source, scale: scale, shift: shift, into: out)
        return (out, source, inverseStd)
    }

    /// ∂L/∂output (overwritten) → ∂L/∂input.
    func backward(_ gradient: FeatureMap, source: FeatureMap, inverseStd: [Float]) -> FeatureMap {
        let (scale, shift) = norm.affine(channels: gradient.channels)
        activation.scaleGradient(gradient.pointer, preActivation: source.pointer, scale: scale, shift: shift,
                                 channels: gradient.channels, plane: gradient.plane)
        norm.backward(gradient, source: source, inverseStd: inverseStd)
        return gradient
    }

    private func normalized(_ x: FeatureMap) -> (FeatureMap, [Float]) {
        let copy = x.reshaped(x.shape)
        return (copy, norm.normalize(copy))
    }
}

extension Graph {
    /// Norm then activation. Saves x̂ for the statistics norms (nothing extra otherwise: the
    /// input itself is the source).
    func normActivation(_ x: Var, _ block: NormActivation) -> Var {
        let (y, source, inverseStd) = block.forward(x.value)
        return output(y, inputs: [x]) {
            { g in [block.backward(g, source: source, inverseStd: inverseStd)] }
        }
    }

    /// torch.cat along channels. Saves nothing.
    func concat(_ parts: [Var]) -> Var {
        let spatial = parts[0].value.spatial
        precondition(parts.allSatisfy { $0.value.spatial == spatial }, "concat needs equal spatial sizes")
        let channels = parts.map { $0.value.channels }
        let y = FeatureMap(shape: [channels.reduce(0, +)] + spatial)
        var offset = 0
        for p in parts {
            (y.pointer + offset).update(from: p.value.pointer, count: p.value.count)
            offset += p.value.count
        }
        return output(y, inputs: parts) {
            { g in
                var start = 0
                return channels.map { c in
                    let part = FeatureMap(shape: [c] + spatial)
                    part.pointer.update(from: g.pointer + start, count: part.count)
                    start += part.count
                    return part
                }
            }
        }
    }

    /// Trilinear ×2 upsampling. Saves nothing.
    func upsample(_ x: Var, _ up: TrilinearUpsample) -> Var {
        let inputShape = x.shape
        let y = FeatureMap(shape: up.outputShape(inputShape))
        up.forward(input: x.value.pointer, inputShape: inputShape, output: y.pointer)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: inputShape)
                up.backwardInput(outputGradient: g.pointer, inputShape: inputShape, inputGradient: dx.pointer)
                return [dx]
            }
        }
    }
}
