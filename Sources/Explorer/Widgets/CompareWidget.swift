import Engine

/// The sidebar in compare mode: both methods' ranks and values per segment (in method A's order),
/// Spearman's ρ between the two rankings, and the colour bar of the scale both heatmaps share.
public struct CompareWidget: Widget {
    public var comparison: Comparison?
    public var methodA: String
    public var methodB: String
    public var targetName: String
    public var valueName: String
    public var includeBackground: Bool
    public var computing: Bool
    /// The heatmap legend with the shared scale of A and B.
    public var legend: HeatmapLegendWidget
    var painter: Painter

    public init(_ explorer: Explorer) {
        comparison = explorer.comparison
        methodA = explorer.method
        methodB = explorer.compareMethod ?? "–"
        targetName = explorer.targetName
        valueName = explorer.rankValueName
        includeBackground = explorer.state.includeBackground
        computing = explorer.progress != nil
        legend = HeatmapLegendWidget(explorer)
        legend.scale = explorer.compareHeatScale
        legend.computeSummary = "one scale for A and B"
        painter = explorer.painter
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = painter.style(.foreground, .sidebarBackground)
        let (df, _, _) = painter.style(.dim, .sidebarBackground)
        let (af, _, aa) = painter.style(.accent, .sidebarBackground, emphasised: true)
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        guard rect.width > 10, rect.height > 4 + Layout.sidebarFooterRows else { return }
        let footer = Layout.sidebarFooterRows
        legend.render(into: &grid, rect: Rect(x: rect.x, y: rect.y + rect.height - footer, width: rect.width,
                                             height: footer))
        let u = painter.capabilities.unicode
        func put(_ text: String, _ y: Int, _ color: RGB, _ attrs: CellAttributes) {
            grid.put(painter.clean(text), x: rect.x, y: y, fg: color, bg: bg, attrs: attrs, maxWidth: rect.width)
        }
        put("  Compare → \(targetName)", rect.y, af, aa)
        put(" A \(methodA)", rect.y + 1, fg, [])
        put(" B \(methodB)", rect.y + 2, fg, [])
        guard let comparison else {
            put(computing ? " computing…" : " waiting for both maps", rect.y + 4, df, [])
            return
        }
        let rho = comparison.rho.map { String(format: "%+.3f", $0) } ?? "undefined (a ranking is constant)"
        put(" Spearman ρ \(rho) · \(comparison.paired) segments", rect.y + 3, af, aa)
        let nw = max(6, rect.width - 24)
        put(" #A #B " + "segment".rightPadded(to: nw) + " " + "A".leftPadded(to: 7) + " " + "B".leftPadded(to: 7),
            rect.y + 4, df, .underline)
        for (n, row) in comparison.rows.prefix(max(0, rect.height - 6 - footer)).enumerated() {
            let rank = { (r: Int?) in r.map { String($0) } ?? "–" }
            let text = rank(row.rankA).leftPadded(to: 3) + rank(row.rankB).leftPadded(to: 3) + " "
                + painter.clean(row.name).fitted(to: nw, unicode: u) + " "
                + Fmt.num(row.valueA).leftPadded(to: 7) + " " + Fmt.num(row.valueB).leftPadded(to: 7)
            // Segments the two methods rank far apart stand out.
            let moved = row.rankA.flatMap { a in row.rankB.map { abs(a - $0) >= 3 } } ?? true
            put(text, rect.y + 5 + n, moved ? af : fg, [])
        }
        put(" \(valueName) · " + (includeBackground ? "bg shown" : "bg hidden") + " · B other · C off",
            rect.y + rect.height - 1 - footer, df, [])
    }
}
