import Foundation

/// Vanilla gradient ∇_x T_c(x), signed, not multiplied by the input (METHOD.md §1.3.1).
/// The target's mask is passed through as given: nil keeps the official per-window masks.
public struct VanillaGradient: AttributionMethod {
    public var kind: AttributionMethodKind { .gradient }
    public init() {}

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        let g = try model.targetGradient(input, target: target, progress: progress, cancel: cancel)
        try checkShape(g, input)
        return AttributionResult(map: g)
    }
}

/// Input × gradient: x ⊙ ∇_x T_c(x).
public struct InputXGradient: AttributionMethod {
    public var kind: AttributionMethodKind { .inputXGradient }
    public init() {}

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        var g = try model.targetGradient(input, target: target, progress: progress, cancel: cancel)
        try checkShape(g, input)
        for v in 0..<g.count { g.data[v] *= input.data[v] }
        return AttributionResult(map: g)
    }
}

/// SmoothGrad: the mean gradient over `samples` inputs x + ε, ε ~ N(0, σ²) i.i.d. per voxel,
/// σ = noiseLevel·(max x − min x) (METHOD.md §1.3.3). Noise comes from `SeededGenerator(seed)`;
/// the target's mask is fixed to the clean prediction for every sample.
public struct SmoothGrad: AttributionMethod {
    public var kind: AttributionMethodKind { .smoothgrad }
    public var samples: Int
    public var noiseLevel: Double
    public var seed: UInt64

    public init(samples: Int = 20, noiseLevel: Double = 0.1, seed: UInt64 = 42) {
        self.samples = samples
        self.noiseLevel = noiseLevel
        self.seed = seed
    }

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        var fixed = target
        fixed.mask = try model.fixedMask(for: input, target: target, cancel: cancel)
        let lo = input.data.min() ?? 0, hi = input.data.max() ?? 0
        let sigma = noiseLevel * Double(hi - lo)
        var rng = SeededGenerator(seed: seed)
        var sum = [Double](repeating: 0, count: input.count)
        var noisy = input
        // The samples are passes in a row: each reuses the maps the one before freed.
        try NetworkMemory.acrossPasses {
            for s in 0..<samples {
                try cancel?.check()
                for v in 0..<input.count { noisy.data[v] = input.data[v] + Float(sigma * rng.normal()) }
                // Each sample advances the bar per window, not only when the sample is done.
                let g = try model.targetGradient(noisy, target: fixed, progress: progress.map { report in
                    { @Sendable f in report((Double(s) + f) / Double(samples)) }
                }, cancel: cancel)
                try checkShape(g, input)
                for v in 0..<g.count { sum[v] += Double(g.data[v]) }
                progress?(Double(s + 1) / Double(samples))
            }
        }
        let scale = 1 / Double(samples)
        return AttributionResult(map: Tensor(shape: input.shape, data: sum.map { Float($0 * scale) }))
    }
}

func checkShape(_ output: Tensor, _ input: Tensor) throws {
    guard output.shape == input.shape else {
        throw AttributionError.shapeMismatch("model returned a gradient of shape \(output.shape) for an input of shape \(input.shape)")
    }
}
