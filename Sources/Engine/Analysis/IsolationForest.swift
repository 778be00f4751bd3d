import Foundation

/// Isolation forest with scikit-learn's `IsolationForest` defaults (Liu, Ting & Zhou 2008):
/// 100 trees, each grown on `min(256, n)` samples drawn without replacement, all features,
/// random feature and uniform random threshold per split (sklearn's `ExtraTreeRegressor` with
/// `max_features=1`), depth limit ⌈log₂ max_samples⌉. The random stream is this project's
/// seeded generator, so scores agree with sklearn's statistically, not bit for bit.
public struct IsolationForest: Sendable {
    public struct Options: Sendable, Equatable {
        public var trees = 100
        public var maxSamples = 256
        public var seed: UInt64 = 123

        public init(trees: Int = 100, maxSamples: Int = 256, seed: UInt64 = 123) {
            self.trees = trees
            self.maxSamples = maxSamples
            self.seed = seed
        }
    }

    /// One tree in flat arrays; `feature < 0` marks a leaf holding `size` training samples.
    struct Tree: Sendable {
        var feature: [Int] = []
        var threshold: [Double] = []
        var left: [Int] = []
        var right: [Int] = []
        var size: [Int] = []
    }

    public let options: Options
    /// The number of samples each tree was grown on: min(maxSamples, n).
    public let samplesPerTree: Int
    let trees: [Tree]

    /// sklearn treats a feature as constant in a node when max − min ≤ 1e-7 (`FEATURE_THRESHOLD`).
    static let constantTolerance = 1e-7

    /// Fits on `data` (rows = samples, all of equal length, at least 2 rows).
    public init(fitting data: [[Double]], options: Options = Options()) {
        precondition(data.count >= 2, "isolation forest needs at least 2 samples")
        let psi = min(options.maxSamples, data.count)
        let depthLimit = Int(Foundation.log2(Double(max(psi, 2))).rounded(.up))
        var rng = SeededGenerator(seed: options.seed)
        var trees: [Tree] = []
        for _ in 0..<options.trees {
            let subset = rng.sample(psi, from: data.count)
            var tree = Tree()
            Self.grow(&tree, data: data, rows: subset, depth: 0, limit: depthLimit, rng: &rng)
            trees.append(tree)
        }
        self.options = options
        self.samplesPerTree = psi
        self.trees = trees
    }

    @discardableResult
    static func grow(_ tree: inout Tree, data: [[Double]], rows: [Int], depth: Int, limit: Int,
                     rng: inout SeededGenerator) -> Int {
        let node = tree.feature.count
        tree.feature.append(-1)
        tree.threshold.append(0)
        tree.left.append(-1)
        tree.right.append(-1)
        tree.size.append(rows.count)
        guard depth < limit, rows.count >= 2 else { return node }
        let features = data[rows[0]].count
        var candidates: [(feature: Int, lo: Double, hi: Double)] = []
        for f in 0..<features {
            var lo = Double.infinity, hi = -Double.infinity
            for r in rows {
                lo = min(lo, data[r][f])
                hi = max(hi, data[r][f])
            }
            if hi > lo + constantTolerance { candidates.append((f, lo, hi)) }
        }
        guard !candidates.isEmpty else { return node }
        let pick = candidates[rng.index(below: candidates.count)]
        var threshold = pick.lo + rng.uniform() * (pick.hi - pick.lo)
        if threshold >= pick.hi { threshold = pick.lo }
        let leftRows = rows.filter { data[$0][pick.feature] <= threshold }
        let rightRows = rows.filter { data[$0][pick.feature] > threshold }
        tree.feature[node] = pick.feature
        tree.threshold[node] = threshold
        let l = grow(&tree, data: data, rows: leftRows, depth: depth + 1, limit: limit, rng: &rng)
        tree.left[node] = l
        let r = grow(&tree, data: data, rows: rightRows, depth: depth + 1, limit: limit, rng: &rng)
        tree.right[node] = r
        return node
    }

    /// c(n): the average path length of an unsuccessful binary-search-tree lookup among n
    /// points (sklearn `_average_path_length`): 0 for n ≤ 1, 1 for n = 2, else
    /// 2(ln(n − 1) + γ) − 2(n − 1)/n.
    public static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n)
        return 2 * (Foundation.log(m - 1) + 0.5772156649015329) - 2 * (m - 1) / m
    }

    /// Mean over trees of the depth reached plus c(size of the leaf).
    func meanPathLength(_ x: [Double]) -> Double {
        var total = 0.0
        for t in trees {
            var node = 0, depth = 0
            while t.feature[node] >= 0 {
                node = x[t.feature[node]] <= t.threshold[node] ? t.left[node] : t.right[node]
                depth += 1
            }
            total += Double(depth) + Self.averagePathLength(t.size[node])
        }
        return total / Double(trees.count)
    }

    /// sklearn `score_samples`: −2^(−E[h(x)] / c(ψ)), in [−1, 0); lower is more anomalous.
    public func scoreSamples(_ x: [Double]) -> Double {
        -Foundation.pow(2, -meanPathLength(x) / Self.averagePathLength(samplesPerTree))
    }

    /// sklearn `decision_function` with contamination "auto": score_samples − offset with
    /// offset −0.5; negative values are predicted outliers.
    public func decisionFunction(_ x: [Double]) -> Double { scoreSamples(x) + 0.5 }
}
