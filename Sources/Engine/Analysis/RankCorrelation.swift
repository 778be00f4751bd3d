import Foundation

/// Pearson and Spearman correlation (scipy.stats `pearsonr` / `spearmanr` definitions).
public enum RankCorrelation {
    /// Pearson's r; nil when the lengths differ, fewer than 2 pairs, or either side is constant.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        pearsonCorrelation(x, y)
    }

    /// Ranks 1…n with ties given their average rank (scipy `rankdata(method="average")`).
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var out = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j { out[order[k]] = rank }
            i = j + 1
        }
        return out
    }

    /// Spearman's ρ: Pearson's r of the average ranks. Pairs with a missing side are dropped.
    public static func spearman(_ x: [Double?], _ y: [Double?]) -> Double? {
        let pairs = zip(x, y).compactMap { a, b in a.flatMap { a in b.map { (a, $0) } } }
        return pearson(ranks(pairs.map(\.0)), ranks(pairs.map(\.1)))
    }
}
