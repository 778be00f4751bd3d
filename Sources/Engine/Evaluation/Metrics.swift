import Foundation

/// Pearson correlation; nil when either side is constant or there are fewer than two points.
public func pearsonCorrelation(_ x: [Double], _ y: [Double]) -> Double? {
    let n = Double(x.count)
    guard x.count == y.count, x.count >= 2 else { return nil }
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for (a, b) in zip(x, y) {
        sxy += (a - mx) * (b - my)
        sxx += (a - mx) * (a - mx)
        syy += (b - my) * (b - my)
    }
    guard sxx > 0, syy > 0 else { return nil }
    return sxy / (sxx * syy).squareRoot()
}

/// Quantus `FaithfulnessCorrelation` as the official benchmark configures it (METHOD.md §2.2):
/// per run, a random subset of voxels is set to the baseline min(x); the score is the Pearson
/// correlation over runs between Σ_{subset} a and Δ = T(x) − T(x_perturbed), where each T uses
/// that input's own argmax mask (sum rule on logits). Max-abs normalisation is skipped because
/// Pearson is invariant to it.
///
/// Subsets and Δ depend only on the seed, the input and the model, so they are computed once
/// and shared by every method (the paired design of the official evaluation).
public struct FaithfulnessCorrelation: Sendable {
    public var subsetSize: Int
    public var runs: Int
    public var seed: UInt64

    public init(subsetSize: Int = 224 * 224, runs: Int = 100, seed: UInt64 = 42) {
        self.subsetSize = subsetSize
        self.runs = runs
        self.seed = seed
    }

    /// The subsets (voxel indices, C order), one per run.
    public func subsets(voxelCount: Int) throws -> [[Int]] {
        guard subsetSize >= 1, subsetSize <= voxelCount else {
            throw AttributionError.invalidOption("faithfulness subset size \(subsetSize) must be in 1…\(voxelCount) voxels")
        }
        guard runs >= 2 else { throw AttributionError.invalidOption("faithfulness needs at least 2 runs") }
        var rng = SeededGenerator(seed: seed)
        return (0..<runs).map { _ in rng.sample(subsetSize, from: voxelCount) }
    }

    /// Δ_r = T_c(x) − T_c(x with subset r at min(x)) for each class in `classes` (one array per
    /// class), each T on that input's own prediction. One model evaluation per run serves every class.
    public func predictionDeltas(model: any ExplainableModel, input: Tensor, classes: [Int], subsets: [[Int]],
                                 progress: ProgressHandler?, cancel: CancellationToken?) throws -> [[Double]] {
        func targets(_ x: Tensor) throws -> [Double] {
            let z = try model.logits(x, progress: nil, cancel: cancel)
            let all = TargetFunction.sumValues(logits: z, mask: TargetFunction.argmax(z))
            return classes.map { all[$0] }
        }
        let t0 = try targets(input)
        let baseline = input.data.min() ?? 0
        var deltas = [[Double]](repeating: [], count: classes.count)
        var work = input
        for (r, subset) in subsets.enumerated() {
            try cancel?.check()
            for v in subset { work.data[v] = baseline }
            let t = try targets(work)
            for i in classes.indices { deltas[i].append(t0[i] - t[i]) }
            for v in subset { work.data[v] = input.data[v] }
            progress?(Double(r + 1) / Double(subsets.count))
        }
        return deltas
    }

    /// The score of one attribution map; nil when undefined (constant sums or deltas).
    public static func score(attribution: [Float], subsets: [[Int]], deltas: [Double]) -> Double? {
        let sums = subsets.map { s in s.reduce(0.0) { $0 + Double(attribution[$1]) } }
        return pearsonCorrelation(sums, deltas)
    }
}

/// Quantus `AvgSensitivity` (METHOD.md §2.3): mean over `samples` inputs x + U[−bound, bound]
/// of ‖â − â_i‖_F / ‖â‖_F, with each map max-abs normalised and the attribution recomputed by
/// the same method with the clean target mask fixed. Lower is more robust.
public struct AvgSensitivity: Sendable {
    public var samples: Int
    public var bound: Double
    public var seed: UInt64

    public init(samples: Int = 3, bound: Double = 0.1, seed: UInt64 = 42) {
        self.samples = samples
        self.bound = bound
        self.seed = seed
    }

    public func score(method: any AttributionMethod, model: any ExplainableModel, input: Tensor,
                      target: SegmentTarget, reference: Tensor,
                      progress: ProgressHandler?, cancel: CancellationToken?) throws -> Double? {
        // No samples (metric switched off) or an all-zero reference: undefined.
        guard samples > 0, let a = Self.normalised(reference.data) else { return nil }
        let norm = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        var rng = SeededGenerator(seed: seed)
        var total = 0.0
        var noisy = input
        for s in 0..<samples {
            try cancel?.check()
            for v in 0..<input.count { noisy.data[v] = input.data[v] + Float((2 * rng.uniform() - 1) * bound) }
            let r = try method.attribute(noisy, model: model, target: target, progress: nil, cancel: cancel)
            // An all-zero perturbed map normalises to zeros, as Quantus' division guard does.
            let b = Self.normalised(r.map.data) ?? [Float](repeating: 0, count: a.count)
            var d = 0.0
            for v in 0..<a.count { d += Double(a[v] - b[v]) * Double(a[v] - b[v]) }
            total += d.squareRoot() / norm
            progress?(Double(s + 1) / Double(samples))
        }
        return total / Double(samples)
    }

    /// a / max|a|; nil for an all-zero map.
    static func normalised(_ a: [Float]) -> [Float]? {
        let m = a.reduce(Float(0)) { max($0, abs($1)) }
        guard m > 0 else { return nil }
        return a.map { $0 / m }
    }
}

/// Quantus `EffectiveComplexity` with eps = 0.1 as a fraction of voxels (METHOD.md §2.4):
/// #{v : |a(v)| / max|a| > eps} / N. Lower is sparser; nil for an all-zero map.
public func effectiveComplexity(_ a: [Float], eps: Double = 0.1) -> Double? {
    let m = a.reduce(Float(0)) { max($0, abs($1)) }
    guard m > 0, !a.isEmpty else { return nil }
    // Compared in Float32, as numpy compares a float32 map with a Python float threshold.
    let threshold = Float(eps)
    let count = a.reduce(0) { abs($1) / m > threshold ? $0 + 1 : $0 }
    return Double(count) / Double(a.count)
}
