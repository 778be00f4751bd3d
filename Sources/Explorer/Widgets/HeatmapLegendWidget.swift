import Engine

/// The heatmap's colour bar under a rule: mode and clipping, the bar, and its numeric range.
public struct HeatmapLegendWidget: Widget {
    /// The scale of the shown map (nil before an attribution exists).
    public var scale: HeatmapScale?
    public var signed: Bool
    public var processing: AttributionProcessing
    public var clipPercentile: Double
    public var visible: Bool
    public var hideBelowOnePercent: Bool
    /// Runtime and completeness delta of the shown map, or the estimate of the pending job.
    public var computeSummary: String?
    var painter: Painter

    public init(_ explorer: Explorer) {
        let state = explorer.state
        scale = explorer.attribution.map { HeatmapScale(attribution: $0, state: state) }
        signed = state.signedHeatmap
        processing = state.processing
        clipPercentile = state.clipPercentile
        visible = state.heatmapVisible
        hideBelowOnePercent = state.hideBelowOnePercent
        computeSummary = explorer.computeSummary
        painter = explorer.painter
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (df, bg, _) = painter.style(.dim, .sidebarBackground)
        let (fg, _, _) = painter.style(.foreground, .sidebarBackground)
        let u = painter.capabilities.unicode
        let rule = String(repeating: u ? "─" : "-", count: rect.width)
        grid.put(rule, x: rect.x, y: rect.y, fg: df, bg: bg)
        if var summary = computeSummary {
            // Drawn into the rule, shortened when the sidebar is narrow.
            if summary.count + 4 > rect.width { summary = summary.replacingOccurrences(of: "completeness Δ", with: "Δ") }
            grid.put(painter.clean(" \(summary) "), x: rect.x + 1, y: rect.y, fg: fg, bg: bg, maxWidth: rect.width - 2)
        }
        guard let scale else {
            grid.put(" heatmap: no attribution yet", x: rect.x, y: rect.y + 1, fg: df, bg: bg, maxWidth: rect.width)
            return
        }
        let mode = signed ? "signed a" : "\(processing.rawValue)(a)"
        let status = visible ? "" : " (hidden: a)"
        grid.put(painter.clean(" heatmap \(mode) · clip p\(Fmt.num(clipPercentile, digits: 1))\(status)"),
                 x: rect.x, y: rect.y + 1, fg: fg, bg: bg, maxWidth: rect.width)
        let barW = max(4, rect.width - 2)
        let map = signed ? painter.theme.diverging : painter.theme.sequential
        for i in 0..<barW {
            let t = Double(i) / Double(max(barW - 1, 1))
            if painter.capabilities.depth.hasColor {
                let c = map.color(at: t)
                grid.set(rect.x + 1 + i, rect.y + 2, Cell(u ? "█" : " ", fg: c, bg: c))
            } else {
                let ramp = u ? PlaneRenderer.unicodeRamp : PlaneRenderer.asciiRamp
                let level = signed ? abs(t - 0.5) * 2 : t
                grid.set(rect.x + 1 + i, rect.y + 2, Cell(ramp[min(Int(level * Double(ramp.count)), ramp.count - 1)]))
            }
        }
        let lo = signed ? Fmt.signed(-Double(scale.clip)) : Fmt.num(Double(scale.threshold))
        let hi = signed ? Fmt.signed(Double(scale.clip)) : Fmt.num(Double(scale.clip))
        let hidden = hideBelowOnePercent ? (u ? " hide ≤" : " hide <=") + Fmt.num(Double(scale.threshold)) : ""
        let line = " " + lo + String(repeating: " ", count: max(1, barW - lo.count - hi.count - hidden.count))
            + hidden + " " + hi
        grid.put(line, x: rect.x, y: rect.y + 3, fg: df, bg: bg, maxWidth: rect.width)
    }
}
