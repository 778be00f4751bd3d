import Foundation

/// How many RoIs each explained class keeps as incoming edges (`analyse_tcsnet.R`).
public enum EdgeSelection: Sendable, Equatable {
    /// The k RoIs with the largest weight.
    case topK(Int)
    /// RoIs by descending weight while the cumulative weight stays ≤ the threshold (0.35 for
    /// TSV2 in the paper). A class whose largest weight alone exceeds it keeps no edge.
    case cumulative(Double)

    public func validate() throws {
        switch self {
        case let .topK(k): if k < 1 { throw AnalysisError.badTopK(k) }
        case let .cumulative(t): if !(t > 0 && t <= 1) { throw AnalysisError.thresholdOutOfRange(t) }
        }
    }

    public var description: String {
        switch self {
        case let .topK(k): return "top \(k) RoIs per class"
        case let .cumulative(t): return "RoIs per class while cumulative mass ≤ \(t)"
        }
    }
}

/// The dependency graph: nodes are classes and RoIs, an edge runs from RoI to explained class
/// with weight = global mean mass (METHOD.md §1.6). Background is left out as class and RoI, as
/// the official graph filters it; self-edges (a class explained by its own segment) are kept.
public struct DependencyGraph: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        public var from: String
        public var to: String
        public var weight: Double
        /// Edge width 2·(w + 0.02)/(max w + 0.02), max over the drawn edges of all signs.
        public var width: Double
        public var family: MassFamily
    }

    public var selection: EdgeSelection
    public var edges: [Edge]
    /// Explained classes in matrix order (also those that kept no edge).
    public var classes: [String]

    static let widthEpsilon = 0.02

    /// Edges from each mean-mass matrix (one per sign family), selected per class independently.
    public init(matrices: [MassMatrix], selection: EdgeSelection) throws {
        try selection.validate()
        var edges: [Edge] = []
        var classes: [String] = []
        for m in matrices {
            for (r, to) in m.rows.enumerated() {
                if !classes.contains(to) { classes.append(to) }
                let ranked = m.columns.indices.compactMap { c in m.values[r][c].map { (m.columns[c], $0) } }
                    .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                var kept: [(String, Double)] = []
                switch selection {
                case let .topK(k):
                    kept = Array(ranked.prefix(k))
                case let .cumulative(t):
                    var total = 0.0
                    for e in ranked {
                        total += e.1
                        if total > t { break }
                        kept.append(e)
                    }
                }
                edges += kept.map { Edge(from: $0.0, to: to, weight: $0.1, width: 0, family: m.family) }
            }
        }
        let top = edges.map(\.weight).max() ?? 0
        for i in edges.indices {
            edges[i].width = 2 * (edges[i].weight + Self.widthEpsilon) / (top + Self.widthEpsilon)
        }
        self.selection = selection
        self.edges = edges
        self.classes = classes
    }

    /// Every node: classes first, then RoIs that are only sources, each once.
    public var nodes: [String] {
        var out = classes
        for e in edges where !out.contains(e.from) { out.append(e.from) }
        return out
    }

    /// Graphviz DOT (laid out by neato, a force-directed layout like the official igraph
    /// figures, even when run as `dot`): nodes filled with their group colour, edge pen width = edge width, red for
    /// positive and blue for negative edges, a legend of the groups in the graph label.
    public func dot(groups: AnatomicalGroups, title: String) -> String {
        func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func html(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        var out = "digraph dependencies {\n"
        out += "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=14, labelloc=t, nodesep=0.15, ranksep=0.9];\n"
        out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=12];\n"
        out += "  edge [arrowsize=0.5];\n"
        let legend = groups.groupsUsed(by: nodes).map {
            "<FONT COLOR=\"\($0.colour)\">■</FONT> \(html($0.name))"
        }.joined(separator: "   ")
        out += "  label=<<B>\(html(title))</B><BR/><FONT POINT-SIZE=\"11\">node colour: \(legend)</FONT>>;\n"
        for n in nodes {
            let fill = groups.colour(of: n)
            let text = fill.luminance < 0.55 ? "white" : "black"
            out += "  \(quoted(n)) [label=\(quoted(ClassNames.display(n))), fillcolor=\"\(fill)\", fontcolor=\(text)];\n"
        }
        for e in edges {
            let colour = e.family == .pos ? "#C62828" : e.family == .neg ? "#1565C0" : "#000000"
            out += "  \(quoted(e.from)) -> \(quoted(e.to)) [penwidth=\(String(format: "%.4f", e.width)), "
                + "color=\"\(colour)\", tooltip=\(quoted("\(e.from) → \(e.to): " + String(format: "%.4f", e.weight)))];\n"
        }
        return out + "}\n"
    }

    /// Adjacency list: per explained class its incoming edges with weight and a bar scaled to
    /// the largest weight; `scan(to, from)` adds one scan's own mass after each bar.
    public func adjacencyText(barWidth: Int = 24, scan: ((String, String) -> Double?)? = nil) -> String {
        let top = edges.map(\.weight).max() ?? 0
        let classWidth = max(12, classes.map(\.count).max() ?? 0) + 1
        let fromWidth = max(12, edges.map(\.from.count).max() ?? 0) + 1
        var out = "Dependency graph (\(selection.description)); edge RoI → class, weight = global mean mass\n"
        for c in classes {
            let incoming = edges.filter { $0.to == c }
            if incoming.isEmpty {
                out += c.padded(classWidth) + "← (no edge: the largest weight alone exceeds the threshold)\n"
                continue
            }
            for (n, e) in incoming.enumerated() {
                let sign = e.family == .abs ? "" : (e.family == .pos ? " +" : " −")
                out += (n == 0 ? c : "").padded(classWidth) + "← " + e.from.padded(fromWidth)
                    + String(format: "%.3f", e.weight) + sign + " "
                out += (scan == nil ? TextPlot.bar(top > 0 ? e.weight / top : 0, width: barWidth)
                        : TextPlot.bar(top > 0 ? e.weight / top : 0, width: barWidth).padded(barWidth)
                            + (scan!(e.to, e.from).map { String(format: " scan %.3f", $0) } ?? " scan –")) + "\n"
            }
        }
        return out
    }
}
