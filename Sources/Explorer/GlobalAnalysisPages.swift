import Engine
import Foundation

/// The dataset-level pages of the explorer's global mode (`G` cycles them, Esc closes): the same
/// Engine analyses as the `matrix`, `graph`, `context`, `cluster` and `outliers` commands, with
/// the current scan marked when it is in the results file.
public enum GlobalPage: Int, CaseIterable, Sendable {
    case matrix, graph, context, dendrogram, outliers

    public var title: String {
        switch self {
        case .matrix: return "class × RoI mean mass"
        case .graph: return "dependency graph (top 5 RoIs per class)"
        case .context: return "context (self-mass)"
        case .dendrogram: return "clustering of classes"
        case .outliers: return "outlier scores vs Dice"
        }
    }
}

/// The analyses of a results CSV, computed once when it is loaded. An analysis the file cannot
/// support (missing columns, too few scans) keeps its error message for its page instead.
public struct GlobalAnalyses: Sendable {
    public let cube: MassCube?
    public let matrix: MassMatrix?
    public let graph: Result<DependencyGraph, AnalysisFailure>
    public let context: Result<SelfMass, AnalysisFailure>
    public let clustering: Result<HierarchicalClustering, AnalysisFailure>
    public let outliers: Result<OutlierAnalysis, AnalysisFailure>

    /// An analysis error kept as its message.
    public struct AnalysisFailure: Error, Sendable {
        public let message: String
    }

    public init(table: ResultsTable, source: String) {
        func attempt<T>(_ f: () throws -> T) -> Result<T, AnalysisFailure> {
            do { return .success(try f()) } catch { return .failure(AnalysisFailure(message: "\(error)")) }
        }
        let cube = attempt { try MassCube(table: table, source: source) }
        let matrix = (try? cube.get()).map { MassMatrix(cube: $0) }
        self.cube = try? cube.get()
        self.matrix = matrix
        graph = attempt { try DependencyGraph(matrices: [try cube.get()].map { MassMatrix(cube: $0) }, selection: .topK(5)) }
        context = attempt { try SelfMass(cube: try cube.get()) }
        clustering = attempt { try HierarchicalClustering(matrix: MassMatrix(cube: try cube.get()), source: source) }
        outliers = attempt { try OutlierAnalysis(reference: try cube.get(), scoredTable: table) }
    }

    /// The text of one page. `patient` is the current scan's id in the file (nil when it is not
    /// there) and `target` the explained class the explorer shows.
    public func lines(_ page: GlobalPage, patient: String?, target: String) -> [String] {
        func text(_ s: String) -> [String] { s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        func failure(_ f: AnalysisFailure) -> [String] { ["Not available: \(f.message)"] }
        let scan = patient.flatMap { cube?.scanIndex($0) }
        let scanNote = patient.map { "this scan: \($0)" } ?? "this scan is not in the results file"
        switch page {
        case .matrix:
            guard let matrix, let cube else { return failure(AnalysisFailure(message: "no mass columns")) }
            var extra: [(label: String, values: [Double?])] = []
            if let scan, let c = cube.classIndex(target) {
                extra.append(("\(patient!) \(ClassNames.short(target))",
                              matrix.columns.map { cube.roiIndex($0).flatMap { cube.mass(scan: scan, target: c, roi: $0) } }))
            }
            return [scanNote + (scan != nil ? "; last row: its masses for \(target)" : "")]
                + text(matrix.textHeatmap(marked: [target], extraRows: extra))
        case .graph:
            switch graph {
            case let .failure(f): return failure(f)
            case let .success(g):
                guard let scan, let cube else { return [scanNote] + text(g.adjacencyText()) }
                return [scanNote + "; \"scan\" = its own mass on each edge"] + text(g.adjacencyText { to, from in
                    cube.classIndex(to).flatMap { c in cube.roiIndex(from).flatMap { cube.mass(scan: scan, target: c, roi: $0) } }
                })
            }
        case .context:
            switch context {
            case let .failure(f): return failure(f)
            case let .success(c): return [scanNote] + text(c.text(mark: scan != nil ? patient : nil))
            }
        case .dendrogram:
            switch clustering {
            case let .failure(f): return failure(f)
            case let .success(h):
                return ["dataset-level tree of the classes; ○ = the current target \(target)"]
                    + text(h.textDendrogram(mark: [target]))
            }
        case .outliers:
            switch outliers {
            case let .failure(f): return failure(f)
            case let .success(o):
                var out = [scanNote] + text(o.text(mark: scan != nil ? patient : nil))
                if let scan, let result = o.classes.first(where: { $0.target == target }), let s = result.scores[scan] {
                    out.insert("outlier score of this scan for \(target): " + String(format: "%+.3f", s)
                               + (s < 0 ? " (predicted outlier)" : " (inlier)"), at: 1)
                }
                return out
            }
        }
    }
}

extension GlobalResults {
    /// The patient id of the scan at `scanPath` in the file (the first id its file name contains).
    public func patient(forScan scanPath: String) -> String? {
        let file = (scanPath as NSString).lastPathComponent
        return table.patients.first { !$0.isEmpty && file.contains($0) }
    }
}

extension Explorer {
    /// `G`: the next global page, closing after the last one.
    mutating func cycleGlobalPage() -> Reaction {
        guard global != nil else {
            state.message = StatusMessage("No results CSV loaded (start with --global FILE)", isError: true)
            return .redraw
        }
        let next = state.globalPage.map { $0.rawValue + 1 } ?? 0
        state.globalPage = GlobalPage(rawValue: next)
        return .redraw
    }

    /// The lines the current global page shows.
    public func globalPageLines(_ page: GlobalPage) -> [String] {
        guard let global else { return [] }
        return global.analyses.lines(page, patient: global.patient(forScan: scene.scanPath), target: targetName)
    }

    /// Draws a global page over the planes and sidebar (status and hint lines stay visible).
    func drawGlobalPage(_ page: GlobalPage, into grid: inout CellGrid) {
        let layout = self.layout
        let box = Rect(x: 0, y: 0, width: width, height: max(0, layout.status.y))
        let (fg, bg, _) = style(.foreground, .overlayBackground)
        let (hf, _, ha) = style(.accent, .overlayBackground, emphasised: true)
        grid.fill(box, with: Cell(" ", fg: fg, bg: bg))
        let title = " Global \(page.rawValue + 1)/\(GlobalPage.allCases.count): \(page.title)"
            + " (G: next page, Esc: close) "
        grid.put(capabilities.unicode ? title : asciiOnly(title), x: 1, y: 0, fg: hf, bg: bg, attrs: ha, maxWidth: width - 2)
        let lines = globalPageLines(page)
        let room = max(0, box.height - 2)
        for (n, line) in lines.prefix(room).enumerated() {
            let shown = n == room - 1 && lines.count > room ? "… \(lines.count - room + 1) more lines (enlarge the terminal)" : line
            grid.put(capabilities.unicode ? shown : asciiOnly(shown), x: 1, y: 1 + n, fg: fg, bg: bg, maxWidth: width - 2)
        }
    }
}
