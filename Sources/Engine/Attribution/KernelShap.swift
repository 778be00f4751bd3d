import COpenBLAS
import Foundation

/// KernelSHAP with Captum semantics (METHOD.md §1.3.4–5).
///
/// - Coalitions: the first is all features on, the second all off (weight 10⁶ each, which pins
///   the surrogate to both endpoints); each further one draws k ∈ 1…M−1 with p(k) ∝ (M−1)/(k(M−k))
///   and then a uniform subset of size k (weight 1). Sampling by the Shapley kernel this way makes
///   plain weights equivalent to kernel weights.
/// - Removed features are set to 0 (Captum's default baseline).
/// - Surrogate: weighted least squares with an intercept, solved with LAPACK `dgels`.
/// - Model function: T_c with the clean prediction's mask fixed (`wrapper_classes_intersection`).
/// Identical coalitions are evaluated once; the model is deterministic, so this changes nothing
/// but the run time.
public struct KernelShap: AttributionMethod {
    public var kind: AttributionMethodKind { .kernelshap }
    public var samples: Int
    public var features: ShapFeatures
    public var cubeComponents: Int
    public var seed: UInt64

    public init(samples: Int, features: ShapFeatures = .segments, cubeComponents: Int = 512, seed: UInt64 = 42) {
        self.samples = samples
        self.features = features
        self.cubeComponents = cubeComponents
        self.seed = seed
    }

    /// The official cubical feature mask over a C-order [I, J, K] volume: side
    /// min(I, J, K) // int(components^(1/3)) (floating point, so 512 gives 7), cubes numbered
    /// in i-, then j-, then k-major order (k innermost), cube n gets id n mod components.
    public static func cubeFeatures(dims: [Int], components: Int) throws -> [Int32] {
        let root = Int(pow(Double(components), 1.0 / 3.0))
        let side = (dims.min() ?? 0) / max(root, 1)
        guard side > 0 else {
            throw AttributionError.invalidOption("\(components) cube components are too many for a volume of \(dims)")
        }
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        var mask = [Int32](repeating: 0, count: ni * nj * nk)
        var id = 0
        for i0 in stride(from: 0, to: ni, by: side) {
            for j0 in stride(from: 0, to: nj, by: side) {
                for k0 in stride(from: 0, to: nk, by: side) {
                    let value = Int32(id % components)
                    for i in i0..<min(i0 + side, ni) {
                        for j in j0..<min(j0 + side, nj) {
                            let row = (i * nj + j) * nk
                            for k in k0..<min(k0 + side, nk) { mask[row + k] = value }
                        }
                    }
                    id += 1
                }
            }
        }
        return mask
    }

    /// Shapley-value estimates per requested class, from one shared set of coalitions.
    /// - Parameters:
    ///   - featureMask: feature id per voxel (C order); features are the distinct ids, ascending.
    ///   - mask: the fixed clean prediction defining each T_c.
    /// - Returns: for each class in `classes`, its value per feature id.
    public func shapleyValues(_ input: Tensor, model: any ExplainableModel, featureMask: [Int32],
                              mask: [Int32], classes: [Int], rule: TargetRule,
                              progress: ProgressHandler?, cancel: CancellationToken?) throws -> [[Int32: Double]] {
        guard featureMask.count == input.count, mask.count == input.count else {
            throw AttributionError.shapeMismatch("feature mask, prediction and input must have the same voxel count")
        }
        let ids = Array(Set(featureMask)).sorted()
        let m = ids.count
        let slot = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let voxelSlot = featureMask.map { slot[$0]! }

        var rng = SeededGenerator(seed: seed)
        var coalitions: [[Bool]] = [[Bool](repeating: true, count: m), [Bool](repeating: false, count: m)]
        var weights: [Double] = [1e6, 1e6]
        if m >= 2 {
            // Cumulative p(k) ∝ (M−1)/(k(M−k)), k = 1…M−1.
            let p = (1..<m).map { Double(m - 1) / Double($0 * (m - $0)) }
            let total = p.reduce(0, +)
            while coalitions.count < samples {
                var u = rng.uniform() * total
                var k = 1
                for (index, pk) in p.enumerated() {
                    k = index + 1
                    if u < pk { break }
                    u -= pk
                }
                var z = [Bool](repeating: false, count: m)
                for f in rng.sample(k, from: m) { z[f] = true }
                coalitions.append(z)
                weights.append(1)
            }
        }

        var cache: [[Bool]: [Double]] = [:]
        var outputs: [[Double]] = []
        var work = input
        for (n, z) in coalitions.enumerated() {
            try cancel?.check()
            if let hit = cache[z] {
                outputs.append(hit)
            } else {
                for v in 0..<input.count { work.data[v] = z[voxelSlot[v]] ? input.data[v] : 0 }
                // Each coalition advances the bar per window, not only when its pass is done.
                let parts = Double(coalitions.count)
                let logits = try model.logits(work, progress: progress.map { report in
                    { @Sendable f in report((Double(n) + f) / parts) }
                }, cancel: cancel)
                let values: [Double]
                if rule == .sum {
                    let all = TargetFunction.sumValues(logits: logits, mask: mask)
                    values = classes.map { all[$0] }
                } else {
                    values = classes.map { TargetFunction.value(logits: logits, classIndex: $0, rule: rule, mask: mask) }
                }
                cache[z] = values
                outputs.append(values)
            }
            progress?(Double(n + 1) / Double(coalitions.count))
        }

        let beta = try Self.weightedLeastSquares(coalitions: coalitions, weights: weights, outputs: outputs,
                                                 responses: classes.count)
        return (0..<classes.count).map { r in
            Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, beta[r][$0 + 1]) })
        }
    }

    /// Solves min Σ_n w_n (y_n − β₀ − Σ_f β_f z_nf)² for each response with `dgels`
    /// (QR; minimum-norm when there are fewer coalitions than unknowns). Returns [β₀, β₁…β_M] per response.
    static func weightedLeastSquares(coalitions: [[Bool]], weights: [Double], outputs: [[Double]],
                                     responses: Int) throws -> [[Double]] {
        let rows = coalitions.count
        let cols = (coalitions.first?.count ?? 0) + 1
        let ldb = max(rows, cols)
        var a = [Double](repeating: 0, count: rows * cols)
        var b = [Double](repeating: 0, count: ldb * responses)
        for n in 0..<rows {
            let s = weights[n].squareRoot()
            a[n] = s
            for f in 0..<(cols - 1) where coalitions[n][f] { a[(f + 1) * rows + n] = s }
            for r in 0..<responses { b[r * ldb + n] = s * outputs[n][r] }
        }
        var trans = CChar(UInt8(ascii: "N"))
        var m = Int32(rows), n = Int32(cols), nrhs = Int32(responses), lda = Int32(rows), ldbI = Int32(ldb)
        var info: Int32 = 0
        var lwork: Int32 = -1
        var query = 0.0
        dgels_(&trans, &m, &n, &nrhs, &a, &lda, &b, &ldbI, &query, &lwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dgels_(&trans, &m, &n, &nrhs, &a, &lda, &b, &ldbI, &work, &lwork, &info)
        guard info == 0 else {
            throw AttributionError.solverFailed(info > 0 ? "the coalition matrix is rank deficient" : "dgels argument \(-info)")
        }
        return (0..<responses).map { r in Array(b[(r * ldb)..<(r * ldb + cols)]) }
    }

    /// The feature id of each voxel: the clean prediction's labels, or the official cubes.
    public func featureMask(dims: [Int], prediction: [Int32]) throws -> [Int32] {
        switch features {
        case .segments: return prediction
        case .cubes: return try Self.cubeFeatures(dims: dims, components: cubeComponents)
        }
    }

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        guard input.shape.count == 4 else {
            throw AttributionError.shapeMismatch("KernelSHAP needs a [1, I, J, K] input, got \(input.shape)")
        }
        let mask = try model.fixedMask(for: input, target: target, cancel: cancel)
        let features = try featureMask(dims: Array(input.shape[1...]), prediction: mask)
        let values = try shapleyValues(input, model: model, featureMask: features, mask: mask,
                                       classes: [target.classIndex], rule: target.rule,
                                       progress: progress, cancel: cancel)[0]
        let map = Tensor(shape: input.shape, data: features.map { Float(values[$0] ?? 0) })
        return AttributionResult(map: map, featureValues: values)
    }
}
