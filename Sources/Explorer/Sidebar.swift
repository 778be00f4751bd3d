import Foundation
import Engine

extension Explorer {
    func drawSidebar(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = style(.foreground, .sidebarBackground)
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        guard rect.width > 4, rect.height > Layout.sidebarHeaderRows + Layout.sidebarFooterRows else { return }
        let focused = state.focus == .sidebar
        let (tf, _, ta) = style(focused ? .paneTitleFocused : .accent, .sidebarBackground, emphasised: focused)
        let (df, _, _) = style(.dim, .sidebarBackground)
        let u = capabilities.unicode
        let clean = { (s: String) in u ? s : self.asciiOnly(s) }
        let title = state.showGlobal ? "Global · target \(targetName)"
            : methods.isEmpty ? "Segments (no model)" : "Target \(targetName) (\(state.target)) · \(method)"
        grid.put(clean((focused ? (u ? "▶ " : "> ") : "  ") + title),
                 x: rect.x, y: rect.y, fg: tf, bg: bg, attrs: ta, maxWidth: rect.width)
        let bgText = state.includeBackground ? "bg shown" : "bg hidden"
        let listRect = Rect(x: rect.x, y: layout.sidebarListTop, width: rect.width, height: layout.sidebarListRows)
        if state.sidebarMode == .legend && !state.showGlobal {
            grid.put(clean(" labels \(effectiveLabelMode.rawValue) · v toggles row"),
                     x: rect.x, y: rect.y + 1, fg: df, bg: bg, maxWidth: rect.width)
            drawLabelLegend(into: &grid, rect: listRect, header: rect.y + 2)
        } else if state.showGlobal, let global {
            grid.put(clean(" global \(global.scanCount) scans · mass by median · \(bgText)"), x: rect.x, y: rect.y + 1,
                     fg: df, bg: bg, maxWidth: rect.width)
            drawGlobal(into: &grid, rect: listRect, header: rect.y + 2)
        } else {
            let processing = methods.isEmpty ? "" : "\(state.processing.rawValue) · "
            grid.put(clean(" \(processing)by \(rankValueName) · \(bgText)"),
                     x: rect.x, y: rect.y + 1, fg: df, bg: bg, maxWidth: rect.width)
            drawRanking(into: &grid, rect: listRect, header: rect.y + 2)
        }
        drawLegend(into: &grid, rect: Rect(x: rect.x, y: rect.y + rect.height - Layout.sidebarFooterRows,
                                            width: rect.width, height: Layout.sidebarFooterRows))
    }

    /// Name column: whatever is left after rank, value and a bar of at least 6 cells.
    private var nameWidth: Int { max(8, layout.sidebar.width - 22) }

    private func drawRanking(into grid: inout CellGrid, rect: Rect, header: Int) {
        let (_, bg, _) = style(.foreground, .sidebarBackground)
        let (df, _, _) = style(.dim, .sidebarBackground)
        let u = capabilities.unicode
        let nw = nameWidth
        let valueW = 8
        let barW = max(1, rect.width - 6 - nw - valueW - 2)
        grid.put("  #   " + "segment".rightPadded(to: nw) + " " + rankValueName.leftPadded(to: valueW),
                 x: rect.x, y: header, fg: df, bg: bg, attrs: .underline, maxWidth: rect.width)
        let ranked = rankedRows
        guard !ranked.isEmpty else {
            let text = progress != nil ? " computing…" : attribution == nil ? " no attribution yet" : " no segments"
            grid.put(u ? text : asciiOnly(text), x: rect.x, y: rect.y, fg: df, bg: bg, maxWidth: rect.width)
            return
        }
        let values = ranked.map { rankValue($0) ?? 0 }
        let maxValue = values.map(abs).max() ?? 0
        let scroll = sidebarScroll(layout: layout)
        for n in 0..<rect.height {
            let idx = n + scroll
            guard idx < ranked.count else { break }
            let row = ranked[idx]
            let (rf, rb, ra) = rowStyle(index: idx, label: row.label)
            let y = rect.y + n
            grid.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), with: Cell(" ", fg: rf, bg: rb, attrs: ra))
            var x = rect.x + grid.put(String(idx + 1).leftPadded(to: 3) + " ", x: rect.x, y: y, fg: rf, bg: rb, attrs: ra)
            x += drawSwatch(row.label, into: &grid, x: x, y: y, background: rb)
            let v = values[idx]
            let value = methods.isEmpty ? String(Int(v)) : Fmt.num(v)
            let name = u ? row.name : asciiOnly(row.name)
            x += grid.put(" " + name.fitted(to: nw, unicode: u) + " " + value.leftPadded(to: valueW) + " ",
                          x: x, y: y, fg: rf, bg: rb, attrs: ra, maxWidth: rect.x + rect.width - x)
            let frac = maxValue > 0 ? abs(v) / maxValue : 0
            let (bf, _, _) = style(v < 0 ? .barNegative : .barPositive, .sidebarBackground)
            let selected = idx == state.selectedRow && state.focus == .sidebar
            grid.put(bar(frac, width: barW), x: x, y: y, fg: selected ? rf : bf, bg: rb, attrs: ra,
                     maxWidth: rect.x + rect.width - x)
        }
    }

    /// Colours of a list row: the selection (when the sidebar has focus), the highlighted segment,
    /// or plain.
    private func rowStyle(index: Int, label: Int32?) -> (RGB, RGB, CellAttributes) {
        let selected = index == state.selectedRow && state.focus == .sidebar
        let highlighted = label != nil && label == state.highlighted
        var s = selected ? style(.selectionForeground, .selectionBackground, emphasised: true)
            : style(highlighted ? .highlight : .foreground, .sidebarBackground)
        if highlighted && capabilities.depth.hasColor { s.2.insert(.bold) }
        return s
    }

    /// A one-cell colour swatch for a label: its overlay colour, or a dot when it is hidden.
    private func drawSwatch(_ label: Int32, into grid: inout CellGrid, x: Int, y: Int, background: RGB) -> Int {
        let hidden = state.hiddenLabels.contains(label)
        let u = capabilities.unicode
        if label == 0 || !capabilities.depth.hasColor {
            grid.set(x, y, Cell(hidden ? (u ? "·" : ".") : " ", fg: style(.dim, .sidebarBackground).0, bg: background))
        } else {
            grid.set(x, y, Cell(hidden ? (u ? "·" : ".") : (u ? "■" : "#"), fg: labelColor(label), bg: background))
        }
        return 1
    }

    /// The label legend: swatch, name, voxels and whether the label is drawn.
    private func drawLabelLegend(into grid: inout CellGrid, rect: Rect, header: Int) {
        let (_, bg, _) = style(.foreground, .sidebarBackground)
        let (df, _, _) = style(.dim, .sidebarBackground)
        let u = capabilities.unicode
        let countW = 8
        let nw = max(6, rect.width - 21)
        grid.put("  #   " + "label".rightPadded(to: nw) + " " + "voxels".leftPadded(to: countW) + " shown",
                 x: rect.x, y: header, fg: df, bg: bg, attrs: .underline, maxWidth: rect.width)
        let labels = legendLabels
        let scroll = sidebarScroll(layout: layout)
        for n in 0..<rect.height {
            let idx = n + scroll
            guard idx < labels.count else { break }
            let label = labels[idx]
            let (rf, rb, ra) = rowStyle(index: idx, label: label)
            let y = rect.y + n
            grid.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), with: Cell(" ", fg: rf, bg: rb, attrs: ra))
            var x = rect.x + grid.put(String(label).leftPadded(to: 3) + " ", x: rect.x, y: y, fg: rf, bg: rb, attrs: ra)
            x += drawSwatch(label, into: &grid, x: x, y: y, background: rb)
            let name = u ? scene.labelName(label) : asciiOnly(scene.labelName(label))
            let shown = label == 0 ? "" : state.hiddenLabels.contains(label) ? "    no" : "   yes"
            grid.put(" " + name.fitted(to: nw, unicode: u) + " "
                     + String(scene.voxelCounts[label] ?? 0).leftPadded(to: countW) + shown,
                     x: x, y: y, fg: rf, bg: rb, attrs: ra, maxWidth: rect.x + rect.width - x)
        }
    }

    /// Greedy word wrap to `width` columns (words longer than a line are cut).
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            let w = String(word.prefix(width))
            if line.isEmpty { line = w } else if line.count + 1 + w.count <= width { line += " " + w } else {
                lines.append(line)
                line = w
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// A horizontal bar with eighth-block resolution (whole blocks in ASCII).
    func bar(_ fraction: Double, width: Int) -> String {
        let f = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        guard capabilities.unicode else { return String(repeating: "#", count: Int((f * Double(width)).rounded())) }
        let eighths = Int((f * Double(width) * 8).rounded())
        let partial: [Character] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"].map { $0.first ?? " " }
        var s = String(repeating: "█", count: eighths / 8)
        if eighths % 8 > 0 { s.append(partial[eighths % 8]) }
        return s
    }

    private func drawGlobal(into grid: inout CellGrid, rect: Rect, header: Int) {
        let (_, bg, _) = style(.foreground, .sidebarBackground)
        let (df, _, _) = style(.dim, .sidebarBackground)
        let (mf, _, _) = style(.highlight, .sidebarBackground)
        let nw = max(8, nameWidth - 6)
        let plotW = max(5, rect.width - 4 - nw - 1)
        let boxes = globalBoxes
        if let reason = globalEmptyReason {
            var y = rect.y
            for line in reason {
                for chunk in Self.wrap(capabilities.unicode ? line : asciiOnly(line), width: rect.width - 2) {
                    guard y < rect.y + rect.height else { return }
                    grid.put(" " + chunk, x: rect.x, y: y, fg: df, bg: bg, maxWidth: rect.width)
                    y += 1
                }
            }
            return
        }
        let hi = max(boxes.map(\.max).max() ?? 1, boxes.compactMap(\.current).max() ?? 0, 1e-12)
        grid.put("  # " + "roi".rightPadded(to: nw) + " 0" + Fmt.num(hi, digits: 2).leftPadded(to: plotW - 1),
                 x: rect.x, y: header, fg: df, bg: bg, attrs: .underline, maxWidth: rect.width)
        let scroll = sidebarScroll(layout: layout)
        for n in 0..<rect.height {
            let idx = n + scroll
            guard idx < boxes.count else { break }
            let b = boxes[idx]
            let selected = idx == state.selectedRow && state.focus == .sidebar
            let (rf, rb, ra) = rowStyle(index: idx, label: nil)
            let y = rect.y + n
            grid.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), with: Cell(" ", fg: rf, bg: rb, attrs: ra))
            let u = capabilities.unicode
            let text = String(idx + 1).leftPadded(to: 3) + " " + (u ? b.name : asciiOnly(b.name)).fitted(to: nw, unicode: u) + " "
            let x = rect.x + grid.put(text, x: rect.x, y: y, fg: rf, bg: rb, attrs: ra)
            let plot = Self.boxPlot(b, width: plotW, upper: hi, unicode: capabilities.unicode)
            for (i, ch) in plot.unicodeScalars.enumerated() {
                let isMarker = ch == "●" || ch == "o"
                grid.set(x + i, y, Cell(ch, fg: isMarker && !selected ? mf : rf, bg: rb,
                                        attrs: isMarker ? ra.union(.bold) : ra))
            }
        }
    }

    /// A one-line text box plot on a 0…upper axis: whiskers, box, median, and ● at this scan's value.
    public static func boxPlot(_ b: GlobalBox, width: Int, upper: Double, unicode: Bool) -> String {
        guard width > 0 else { return "" }
        func col(_ v: Double) -> Int {
            // Clamped in Double first: an infinite or NaN position cannot be converted to Int.
            let x = (v / upper * Double(width - 1)).rounded()
            return x.isNaN ? 0 : Int(min(max(x, 0), Double(width - 1)))
        }
        var cells = [Character](repeating: " ", count: width)
        let (lo, q1, md, q3, hi) = (col(b.min), col(b.q1), col(b.median), col(b.q3), col(b.max))
        let (whisker, box, median): (Character, Character, Character) = unicode ? ("─", "▒", "┃") : ("-", "=", "|")
        for c in lo...hi { cells[c] = whisker }
        for c in q1...q3 { cells[c] = box }
        cells[lo] = unicode ? "├" : "|"
        cells[hi] = unicode ? "┤" : "|"
        cells[md] = median
        if let cur = b.current { cells[col(cur)] = unicode ? "●" : "o" }
        return String(cells)
    }

    private func drawLegend(into grid: inout CellGrid, rect: Rect) {
        let (df, bg, _) = style(.dim, .sidebarBackground)
        let (fg, _, _) = style(.foreground, .sidebarBackground)
        let u = capabilities.unicode
        let clean = { (s: String) in u ? s : self.asciiOnly(s) }
        let rule = String(repeating: u ? "─" : "-", count: rect.width)
        grid.put(rule, x: rect.x, y: rect.y, fg: df, bg: bg)
        if var summary = computeSummary {
            // Runtime and completeness delta of the map (or the estimate of the job) in the rule.
            if summary.count + 4 > rect.width { summary = summary.replacingOccurrences(of: "completeness Δ", with: "Δ") }
            grid.put(clean(" \(summary) "), x: rect.x + 1, y: rect.y, fg: fg, bg: bg, maxWidth: rect.width - 2)
        }
        guard let attribution else {
            grid.put(" heatmap: no attribution yet", x: rect.x, y: rect.y + 1, fg: df, bg: bg, maxWidth: rect.width)
            return
        }
        let scale = HeatmapScale(attribution: attribution, state: state)
        let mode = state.signedHeatmap ? "signed a" : "\(state.processing.rawValue)(a)"
        let status = state.heatmapVisible ? "" : " (hidden: a)"
        grid.put(clean(" heatmap \(mode) · clip p\(Fmt.num(state.clipPercentile, digits: 1))\(status)"),
                 x: rect.x, y: rect.y + 1, fg: fg, bg: bg, maxWidth: rect.width)
        let barW = max(4, rect.width - 2)
        let map = state.signedHeatmap ? theme.diverging : theme.sequential
        for i in 0..<barW {
            let t = Double(i) / Double(max(barW - 1, 1))
            if capabilities.depth.hasColor {
                let c = map.color(at: t)
                grid.set(rect.x + 1 + i, rect.y + 2, Cell(u ? "█" : " ", fg: c, bg: c))
            } else {
                let ramp = u ? PlaneRenderer.unicodeRamp : PlaneRenderer.asciiRamp
                let level = state.signedHeatmap ? abs(t - 0.5) * 2 : t
                grid.set(rect.x + 1 + i, rect.y + 2, Cell(ramp[min(Int(level * Double(ramp.count)), ramp.count - 1)]))
            }
        }
        let lo = state.signedHeatmap ? Fmt.signed(-Double(scale.clip)) : Fmt.num(Double(scale.threshold))
        let hi = state.signedHeatmap ? Fmt.signed(Double(scale.clip)) : Fmt.num(Double(scale.clip))
        let hidden = state.hideBelowOnePercent ? (u ? " hide ≤" : " hide <=") + Fmt.num(Double(scale.threshold)) : ""
        let line = " " + lo + String(repeating: " ", count: max(1, barW - lo.count - hi.count - hidden.count))
            + hidden + " " + hi
        grid.put(line, x: rect.x, y: rect.y + 3, fg: df, bg: bg, maxWidth: rect.width)
    }
}
