import Foundation

/// Integrated Gradients: A = (x − x′) ⊙ Σ_k w_k ∇T(x′ + α_k(x − x′)) (METHOD.md §1.3.2).
///
/// The official scheme uses α = linspace(0, 1, m) with both ends and weights 1/m; it is not a
/// consistent quadrature (it over-weights the ends), so the completeness delta
/// Σa − (T(x) − T(x′)) is always reported. The mask is fixed to the clean prediction, and
/// T is computed from logits with that mask and the target rule.
public struct IntegratedGradients: AttributionMethod {
    public var kind: AttributionMethodKind { .integratedGradients }
    public var steps: Int
    public var baseline: Baseline
    public var scheme: IntegrationScheme

    public init(steps: Int = 20, baseline: Baseline = .zeros, scheme: IntegrationScheme = .official) {
        self.steps = steps
        self.baseline = baseline
        self.scheme = scheme
    }

    /// Nodes α_k in [0, 1] and weights w_k (summing to 1) of the scheme.
    public static func quadrature(steps m: Int, scheme: IntegrationScheme) -> (alphas: [Double], weights: [Double]) {
        switch scheme {
        case .official:
            let alphas = m == 1 ? [0.0] : (0..<m).map { Double($0) / Double(m - 1) }
            return (alphas, [Double](repeating: 1 / Double(m), count: m))
        case .gaussLegendre:
            let (t, w) = gaussLegendre(m)
            return (t.map { ($0 + 1) / 2 }, w.map { $0 / 2 })
        }
    }

    /// Gauss–Legendre nodes and weights on [−1, 1] by Newton iteration on P_m.
    static func gaussLegendre(_ m: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: m)
        var weights = [Double](repeating: 0, count: m)
        for i in 0..<(m + 1) / 2 {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(m) + 0.5))
            var dp = 0.0
            for _ in 0..<100 {
                // Three-term recurrence: p1 ends as P_m(x), p0 as P_{m−1}(x).
                var p0 = 1.0, p1 = x
                for n in stride(from: 2, through: m, by: 1) {
                    let pn = ((2 * Double(n) - 1) * x * p1 - (Double(n) - 1) * p0) / Double(n)
                    p0 = p1
                    p1 = pn
                }
                let pm = p1, pPrev = p0
                dp = Double(m) * (x * pm - pPrev) / (x * x - 1)
                let dx = pm / dp
                x -= dx
                if abs(dx) < 1e-15 { break }
            }
            nodes[i] = -x
            nodes[m - 1 - i] = x
            let w = 2 / ((1 - x * x) * dp * dp)
            weights[i] = w
            weights[m - 1 - i] = w
        }
        return (nodes, weights)
    }

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        // Reduce the clean logits at once so they are not held through the integration.
        let (mask, t): ([Int32], Double) = try {
            let z = try model.logits(input, progress: nil, cancel: cancel)
            let mask = target.mask ?? TargetFunction.argmax(z)
            return (mask, TargetFunction.value(logits: z, classIndex: target.classIndex, rule: target.rule, mask: mask))
        }()
        var fixed = target
        fixed.mask = mask
        let b = baseline.resolve(for: input)
        let (alphas, weights) = Self.quadrature(steps: steps, scheme: scheme)
        var sum = [Double](repeating: 0, count: input.count)
        var point = input
        // The steps are passes in a row: each reuses the maps the one before freed.
        try NetworkMemory.acrossPasses {
            for (k, (alpha, w)) in zip(alphas, weights).enumerated() {
                try cancel?.check()
                let a = Float(alpha)
                for v in 0..<input.count { point.data[v] = b + a * (input.data[v] - b) }
                // Each step advances the bar per window, not only when the step is done.
                let parts = Double(alphas.count + 1)
                let g = try model.targetGradient(point, target: fixed, progress: progress.map { report in
                    { @Sendable f in report((Double(k) + f) / parts) }
                }, cancel: cancel)
                try checkShape(g, input)
                for v in 0..<g.count { sum[v] += w * Double(g.data[v]) }
                progress?(Double(k + 1) / Double(alphas.count + 1))
            }
        }
        var map = Tensor(zeros: input.shape)
        var total = 0.0
        for v in 0..<input.count {
            let a = Double(input.data[v] - b) * sum[v]
            map.data[v] = Float(a)
            total += a
        }
        let baselineInput = Tensor(shape: input.shape, data: [Float](repeating: b, count: input.count))
        let tb = try model.targetValues([baselineInput], target: fixed, mask: mask, cancel: cancel)[0]
        progress?(1)
        return AttributionResult(map: map, targetValue: t, baselineValue: tb, completenessDelta: total - (t - tb))
    }
}
