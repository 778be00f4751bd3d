import Foundation

/// Agglomerative linkage rules, with scipy's definitions (`scipy.cluster.hierarchy.linkage`).
/// `ward` is scipy's Ward on the given dissimilarities, which is R's `ward.D2`, not `ward.D`.
public enum LinkageMethod: String, CaseIterable, Sendable {
    case average, complete, single, ward
}

/// Hierarchical clustering of explained classes from the global mean-mass matrix, as the
/// official analysis does it: W[to, from] = √(mean mass) with missing → 0, d = max(W) − W, and
/// R's `as.dist`, which reads the lower triangle of the asymmetric matrix with rows and columns
/// in R's alphabetical factor order (`acast(to ~ from)`), so d(a, b) for a before b is
/// max(W) − W[to = b, from = a]. Background is left out as class and RoI.
public struct HierarchicalClustering: Sendable, Equatable {
    /// One merge, scipy's linkage row: cluster ids (leaves 0..<n, merge k creates n + k), the
    /// merge height and the size of the new cluster.
    public struct Merge: Sendable, Equatable {
        public var left: Int
        public var right: Int
        public var height: Double
        public var size: Int
    }

    public var method: LinkageMethod
    public var labels: [String]
    /// Condensed distances, scipy order: (0,1), (0,2), …, (0,n−1), (1,2), …
    public var distances: [Double]
    public var merges: [Merge]

    /// Leaves sorted as R orders factor levels: by name with `_` read as a space (the
    /// official analysis replaces underscores first), bytewise.
    public static func rOrder(_ names: [String]) -> [String] {
        names.sorted { ClassNames.display($0).utf8.lexicographicallyPrecedes(ClassNames.display($1).utf8) }
    }

    /// `source` names the results file in errors.
    public init(matrix: MassMatrix, method: LinkageMethod = .average, source: String) throws {
        let names = Self.rOrder(matrix.rows.filter { $0 != GlobalStatistics.background })
        guard names.count >= 2 else { throw AnalysisError.tooFewClasses(file: source, count: names.count) }
        func w(_ to: String, _ from: String) -> Double { matrix.value(to, from).map { $0.squareRoot() } ?? 0 }
        var top = 0.0
        for a in names { for b in names { top = max(top, w(a, b)) } }
        var d: [Double] = []
        for i in names.indices {
            for j in names.indices where j > i { d.append(top - w(names[j], names[i])) }
        }
        self.init(labels: names, distances: d, method: method)
    }

    /// Clusters `labels` from condensed `distances` (scipy order).
    public init(labels: [String], distances: [Double], method: LinkageMethod) {
        let n = labels.count
        precondition(distances.count == n * (n - 1) / 2, "condensed matrix of \(distances.count) for \(n) leaves")
        self.method = method
        self.labels = labels
        self.distances = distances
        self.merges = Self.link(n: n, condensed: distances, method: method)
    }

    static func condensedIndex(_ i: Int, _ j: Int, _ n: Int) -> Int {
        let (a, b) = i < j ? (i, j) : (j, i)
        return n * a - a * (a + 1) / 2 + (b - a - 1)
    }

    /// Primitive O(n³) agglomeration with Lance–Williams updates: merge the closest pair (first
    /// in row-major order on ties), then relabel as scipy does (smaller id first, merges by height).
    static func link(n: Int, condensed: [Double], method: LinkageMethod) -> [Merge] {
        var d = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n { for j in 0..<n where i != j { d[i][j] = condensed[condensedIndex(i, j, n)] } }
        var active = Array(0..<n)
        var id = Array(0..<n)  // cluster id held in slot i
        var size = [Int](repeating: 1, count: n)
        var merges: [Merge] = []
        for step in 0..<(n - 1) {
            var best = (i: -1, j: -1, d: Double.infinity)
            for (ai, i) in active.enumerated() {
                for j in active[(ai + 1)...] where d[i][j] < best.d { best = (i, j, d[i][j]) }
            }
            let (i, j) = (best.i, best.j)
            let (ni, nj) = (Double(size[i]), Double(size[j]))
            for k in active where k != i && k != j {
                let nk = Double(size[k])
                let updated: Double
                switch method {
                case .single: updated = min(d[i][k], d[j][k])
                case .complete: updated = max(d[i][k], d[j][k])
                case .average: updated = (ni * d[i][k] + nj * d[j][k]) / (ni + nj)
                case .ward:
                    updated = (((ni + nk) * d[i][k] * d[i][k] + (nj + nk) * d[j][k] * d[j][k]
                                - nk * best.d * best.d) / (ni + nj + nk)).squareRoot()
                }
                d[i][k] = updated
                d[k][i] = updated
            }
            merges.append(Merge(left: min(id[i], id[j]), right: max(id[i], id[j]), height: best.d,
                                size: size[i] + size[j]))
            id[i] = n + step
            size[i] += size[j]
            active.removeAll { $0 == j }
        }
        return merges
    }

    /// Cophenetic distances, condensed: the height at which two leaves first share a cluster.
    public var copheneticDistances: [Double] {
        let n = labels.count
        var members: [[Int]] = (0..<n).map { [$0] }
        var out = [Double](repeating: 0, count: distances.count)
        for m in merges {
            for a in members[m.left] { for b in members[m.right] { out[Self.condensedIndex(a, b, n)] = m.height } }
            members.append(members[m.left] + members[m.right])
        }
        return out
    }

    /// Pearson correlation between the distances and the cophenetic distances (R's
    /// `cor(d, cophenetic(h))`, scipy's `cophenet`).
    public var copheneticCorrelation: Double? {
        RankCorrelation.pearson(distances, copheneticDistances)
    }

    /// Leaves left to right as scipy's dendrogram draws them (each merge: left child first).
    public var leafOrder: [Int] {
        let n = labels.count
        func visit(_ node: Int) -> [Int] {
            node < n ? [node] : visit(merges[node - n].left) + visit(merges[node - n].right)
        }
        return visit(n + merges.count - 1)
    }

    /// Newick text; branch length = parent height − child height, leaves at height 0.
    public var newick: String {
        let n = labels.count
        func height(_ node: Int) -> Double { node < n ? 0 : merges[node - n].height }
        func name(_ s: String) -> String {
            s.contains(where: { " (),:;[]'".contains($0) }) ? "'" + s.replacingOccurrences(of: "'", with: "''") + "'" : s
        }
        func visit(_ node: Int, parent: Double) -> String {
            let length = String(format: "%.6f", parent - height(node))
            if node < n { return name(labels[node]) + ":" + length }
            let m = merges[node - n]
            return "(" + visit(m.left, parent: m.height) + "," + visit(m.right, parent: m.height) + "):" + length
        }
        let root = n + merges.count - 1
        let m = merges[root - n]
        return "(" + visit(m.left, parent: m.height) + "," + visit(m.right, parent: m.height) + ");\n"
    }

    /// A text dendrogram: leaves down the left (scipy's leaf order), height growing to the
    /// right over `width` cells, joined with box-drawing lines, and a height axis below.
    public func textDendrogram(width: Int = 48, mark: Set<String> = []) -> String {
        let n = labels.count
        let order = leafOrder
        let nameWidth = max(12, labels.map(\.count).max() ?? 0) + 1
        let top = merges.last?.height ?? 1
        func column(_ h: Double) -> Int { top > 0 ? Int((h / top * Double(width - 1)).rounded()) : 0 }
        // Directions per cell: up, down, left, right; glyphs follow from the set.
        let rowsCount = 2 * n - 1
        var cells = [[UInt8]](repeating: [UInt8](repeating: 0, count: width + 1), count: rowsCount)
        let up: UInt8 = 1, down: UInt8 = 2, left: UInt8 = 4, right: UInt8 = 8
        var row = [Int](repeating: 0, count: 2 * n - 1)
        var col = [Int](repeating: 0, count: 2 * n - 1)
        for (position, leaf) in order.enumerated() { row[leaf] = 2 * position }
        for (k, m) in merges.enumerated() {
            let node = n + k
            let x = column(m.height)
            for child in [m.left, m.right] {
                for c in col[child]..<x {
                    cells[row[child]][c] |= right
                    cells[row[child]][c + 1] |= left
                }
            }
            let (a, b) = (min(row[m.left], row[m.right]), max(row[m.left], row[m.right]))
            for r in a..<b {
                cells[r][x] |= down
                cells[r + 1][x] |= up
            }
            row[node] = (a + b) / 2
            col[node] = x
        }
        let root = n + merges.count - 1
        cells[row[root]][col[root]] |= right
        cells[row[root]][min(width, col[root] + 1)] |= left
        func glyph(_ bits: UInt8) -> Character {
            switch bits {
            case 0: return " "
            case left | right, left, right: return "─"
            case up | down, up, down: return "│"
            case left | down: return "┐"
            case left | up: return "┘"
            case up | down | right: return "├"
            case up | down | left: return "┤"
            case left | up | down | right: return "┼"
            case down | right: return "┌"
            case up | right: return "└"
            case left | right | down: return "┬"
            case left | right | up: return "┴"
            default: return "?"
            }
        }
        var out = "Hierarchical clustering of \(n) classes (\(method.rawValue) linkage), d = max √mass − √mass\n"
        for r in 0..<rowsCount {
            let leaf = r % 2 == 0 ? order[r / 2] : nil
            let label = leaf.map { (mark.contains(labels[$0]) ? "○ " : "") + labels[$0] } ?? ""
            out += label.padded(nameWidth) + String(cells[r].map(glyph)) + "\n"
        }
        out += "".padded(nameWidth) + TextPlot.axis(lo: 0, hi: top, width: width) + "  (height)\n"
        if let r = copheneticCorrelation { out += String(format: "cophenetic correlation %.4f\n", r) }
        return out
    }
}
