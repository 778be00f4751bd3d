import Foundation

/// Figures for the dataset-level analyses, drawn with `SVGDocument`. Labels and boxes take the
/// colour of their anatomical group, as the official figures do, with a legend of the groups.
public enum Figures {
    static let grid = RGB(0xE5, 0xE5, 0xE5)
    static let axisGrey = RGB(0x44, 0x44, 0x44)

    /// Yellow → orange → dark red (ColorBrewer YlOrRd stops), `t` in 0…1.
    static func heat(_ t: Double) -> RGB {
        let stops = [RGB(0xFF, 0xFF, 0xE5), RGB(0xFE, 0xD9, 0x76), RGB(0xFD, 0x8D, 0x3C),
                     RGB(0xE3, 0x1A, 0x1C), RGB(0x80, 0x00, 0x26)]
        let x = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2)
        return stops[i].mixed(with: stops[i + 1], x - Double(i))
    }

    /// A row of legend swatches for the groups used by `names`, starting at (x, y).
    static func legend(_ svg: inout SVGDocument, groups: AnatomicalGroups, names: [String], x: Double, y: Double,
                       title: String = "Anatomical group:") {
        var cx = x
        svg.text(title, x: cx, y: y, size: 10, fill: axisGrey)
        cx += SVGDocument.textWidth(title, size: 10) + 8
        for g in groups.groupsUsed(by: names) {
            svg.rect(x: cx, y: y - 9, width: 10, height: 10, fill: g.colour)
            svg.text(g.name, x: cx + 14, y: y, size: 10)
            cx += 14 + SVGDocument.textWidth(g.name, size: 10) + 14
        }
    }

    /// A horizontal value axis from `lo` to `hi` mapped onto x0…x1, with ticks, vertical grid
    /// lines from `top` to `bottom`, and a title under it.
    static func valueAxis(_ svg: inout SVGDocument, lo: Double, hi: Double, x0: Double, x1: Double,
                          top: Double, bottom: Double, title: String) {
        let ticks = niceTicks(lo: lo, hi: hi)
        let step = niceStep(lo: lo, hi: hi)
        for t in ticks {
            let x = x0 + (t - lo) / (hi - lo) * (x1 - x0)
            svg.line(x1: x, y1: top, x2: x, y2: bottom, stroke: grid)
            svg.line(x1: x, y1: bottom, x2: x, y2: bottom + 4, stroke: axisGrey)
            svg.text(tickLabel(t, step: step), x: x, y: bottom + 16, size: 10, anchor: .middle, fill: axisGrey)
        }
        svg.line(x1: x0, y1: bottom, x2: x1, y2: bottom, stroke: axisGrey)
        svg.text(title, x: (x0 + x1) / 2, y: bottom + 34, size: 12, anchor: .middle)
    }

    // MARK: - Matrix heatmap

    /// The class × RoI heatmap: colour on a √ scale (so the small masses stay distinguishable),
    /// the value printed in each cell, labels coloured by group, a colour bar with true values.
    public static func matrix(_ m: MassMatrix, groups: AnatomicalGroups, title: String? = nil) -> SVGDocument {
        let cell = 30.0
        let labelWidth = (m.rows + m.columns).map { SVGDocument.textWidth(ClassNames.display($0), size: 11) }.max() ?? 80
        let left = labelWidth + 44, top = 58.0
        let gridW = cell * Double(m.columns.count), gridH = cell * Double(m.rows.count)
        let bottom = labelWidth * 0.72 + 80
        var svg = SVGDocument(width: left + gridW + 110, height: top + gridH + bottom)
        svg.text(title ?? "Global \(m.statistic.rawValue) mass of explanation, \(m.scanCount) scans",
                 x: 12, y: 22, size: 15, bold: true)
        svg.text("cell (c, r): \(m.statistic.rawValue) over scans of the share of class c's explanation inside RoI r",
                 x: 12, y: 40, size: 11, fill: axisGrey)
        let top1 = m.maximum
        for (r, row) in m.values.enumerated() {
            let y = top + Double(r) * cell
            svg.text(ClassNames.display(m.rows[r]), x: left - 6, y: y + cell / 2 + 4, size: 11, anchor: .end,
                     fill: groups.colour(of: m.rows[r]))
            for (c, v) in row.enumerated() {
                let x = left + Double(c) * cell
                guard let v else {
                    svg.rect(x: x, y: y, width: cell, height: cell, fill: RGB(0xF2, 0xF2, 0xF2), stroke: .white)
                    continue
                }
                let t = top1 > 0 ? (v / top1).squareRoot() : 0
                let fill = heat(t)
                svg.rect(x: x, y: y, width: cell, height: cell, fill: fill, stroke: .white,
                         title: "\(m.rows[r]) ← \(m.columns[c]): \(String(format: "%.4f", v))")
                svg.text(TextPlot.decimal3(v), x: x + cell / 2, y: y + cell / 2 + 3, size: 8.5, anchor: .middle,
                         fill: fill.luminance < 0.5 ? .white : .black)
            }
        }
        for (c, name) in m.columns.enumerated() {
            let x = left + Double(c) * cell + cell / 2 + 3
            svg.text(ClassNames.display(name), x: x, y: top + gridH + 8, size: 11, anchor: .end,
                     fill: groups.colour(of: name), rotate: -50)
        }
        svg.text("RoI (where the explanation lies)", x: left + gridW / 2, y: top + gridH + labelWidth * 0.72 + 30,
                 size: 12, anchor: .middle)
        svg.text("Explained class", x: 16, y: top + gridH / 2, size: 12, anchor: .middle, rotate: -90)
        // Colour bar on the same √ scale as the cells.
        let barX = left + gridW + 22
        for k in 0..<100 {
            let t0 = Double(k) / 100
            svg.rect(x: barX, y: top + gridH * (1 - t0 - 0.01), width: 14, height: gridH / 100 + 0.5, fill: heat(t0))
        }
        let ticks = niceTicks(lo: 0, hi: top1, count: 5)
        let step = niceStep(lo: 0, hi: top1, count: 5)
        for v in ticks where top1 > 0 {
            let y = top + gridH * (1 - (v / top1).squareRoot())
            svg.line(x1: barX + 14, y1: y, x2: barX + 18, y2: y, stroke: axisGrey)
            svg.text(tickLabel(v, step: step), x: barX + 21, y: y + 4, size: 10, fill: axisGrey)
        }
        svg.text("\(m.statistic.rawValue) mass (√ scale)", x: barX + 7, y: top - 8, size: 10, anchor: .middle, fill: axisGrey)
        legend(&svg, groups: groups, names: m.rows + m.columns, x: 12, y: svg.height - 14)
        return svg
    }

    // MARK: - Box plots

    /// Horizontal box plots, one row per entry top to bottom, coloured by group (ggplot2
    /// `geom_boxplot` conventions: whiskers to 1.5 × IQR, outliers as points). `mark` values
    /// (one per row) are drawn as open diamonds.
    static func boxPlots(rows: [(name: String, box: BoxStatistics, mark: Double?)], groups: AnatomicalGroups,
                         title: String, subtitle: String, xTitle: String, yTitle: String,
                         markLabel: String?) -> SVGDocument {
        let rowH = 24.0
        let labelWidth = rows.map { SVGDocument.textWidth(ClassNames.display($0.name), size: 11) }.max() ?? 80
        let left = labelWidth + 44, top = 56.0, plotW = 420.0
        let plotH = rowH * Double(rows.count)
        var svg = SVGDocument(width: left + plotW + 30, height: top + plotH + 86)
        svg.text(title, x: 12, y: 22, size: 15, bold: true)
        svg.text(subtitle, x: 12, y: 40, size: 11, fill: axisGrey)
        let hi = max(rows.map { max($0.box.summary.max, $0.mark ?? 0) }.max() ?? 1, 1e-12)
        let axisHi = niceCeiling(hi)
        func x(_ v: Double) -> Double { left + v / axisHi * plotW }
        valueAxis(&svg, lo: 0, hi: axisHi, x0: left, x1: left + plotW, top: top, bottom: top + plotH, title: xTitle)
        for (i, r) in rows.enumerated() {
            let cy = top + (Double(i) + 0.5) * rowH
            let colour = groups.colour(of: r.name)
            let s = r.box.summary
            svg.text(ClassNames.display(r.name), x: left - 6, y: cy + 4, size: 11, anchor: .end, fill: colour)
            svg.line(x1: x(r.box.lowerWhisker), y1: cy, x2: x(s.q1), y2: cy, stroke: colour, width: 1.2)
            svg.line(x1: x(s.q3), y1: cy, x2: x(r.box.upperWhisker), y2: cy, stroke: colour, width: 1.2)
            svg.rect(x: x(s.q1), y: cy - rowH * 0.32, width: x(s.q3) - x(s.q1), height: rowH * 0.64, fill: .white,
                     stroke: colour, strokeWidth: 1.2,
                     title: "\(r.name): median \(String(format: "%.4f", s.median)), IQR "
                         + "\(String(format: "%.4f", s.q1))–\(String(format: "%.4f", s.q3)), n = \(s.n)")
            svg.line(x1: x(s.median), y1: cy - rowH * 0.32, x2: x(s.median), y2: cy + rowH * 0.32, stroke: colour, width: 2.2)
            for o in r.box.outliers { svg.circle(cx: x(o), cy: cy, r: 2, fill: colour) }
            if let m = r.mark {
                svg.polyline([(x(m), cy - 6), (x(m) + 5, cy), (x(m), cy + 6), (x(m) - 5, cy), (x(m), cy - 6)],
                             stroke: .black, width: 1.5)
            }
        }
        svg.text(yTitle, x: 16, y: top + plotH / 2, size: 12, anchor: .middle, rotate: -90)
        legend(&svg, groups: groups, names: rows.map(\.name), x: 12, y: svg.height - 12)
        if let markLabel {
            svg.polyline([(left + plotW - 150, top + plotH + 62), (left + plotW - 145, top + plotH + 68),
                          (left + plotW - 150, top + plotH + 74), (left + plotW - 155, top + plotH + 68),
                          (left + plotW - 150, top + plotH + 62)], stroke: .black, width: 1.5)
            svg.text(markLabel, x: left + plotW - 140, y: top + plotH + 72, size: 10)
        }
        return svg
    }

    /// The context figure: self-mass per class, ranked by median (largest on top).
    public static func context(_ s: SelfMass, groups: AnatomicalGroups, mark: String? = nil) -> SVGDocument {
        let p = mark.flatMap { s.patients.firstIndex(of: $0) }
        let rows = s.rows.map { row in (name: row.target, box: row.box, mark: p.flatMap { row.values[$0] }) }
        return boxPlots(rows: rows, groups: groups,
                        title: "Context: self-mass of each class's explanation",
                        subtitle: "mass(c, c) over \(s.patients.count) scans; classes ranked by median",
                        xTitle: "Mass of explanation inside the segmented class", yTitle: "Explained class",
                        markLabel: p != nil ? "scan \(mark!)" : nil)
    }

    // MARK: - Dendrogram

    /// A horizontal dendrogram: leaves on the left coloured by group, height growing to the
    /// right, the cophenetic correlation in the subtitle.
    public static func dendrogram(_ h: HierarchicalClustering, groups: AnatomicalGroups) -> SVGDocument {
        let n = h.labels.count
        let rowH = 22.0
        let labelWidth = h.labels.map { SVGDocument.textWidth(ClassNames.display($0), size: 11) }.max() ?? 80
        let left = labelWidth + 22, top = 58.0, plotW = 400.0, plotH = rowH * Double(n)
        var svg = SVGDocument(width: left + plotW + 40, height: top + plotH + 86)
        let r = h.copheneticCorrelation.map { String(format: "%.3f", $0) } ?? "n/a"
        svg.text("Hierarchical clustering of explained classes (\(h.method.rawValue) linkage)", x: 12, y: 22, size: 15, bold: true)
        svg.text("distance max √mass − √mass of the global mean matrix; cophenetic correlation \(r)", x: 12, y: 40,
                 size: 11, fill: axisGrey)
        let topHeight = h.merges.last?.height ?? 1
        let axisHi = niceCeiling(topHeight)
        func x(_ v: Double) -> Double { left + 10 + v / axisHi * (plotW - 10) }
        valueAxis(&svg, lo: 0, hi: axisHi, x0: left + 10, x1: left + plotW, top: top, bottom: top + plotH,
                  title: "Height (merge distance)")
        var y = [Double](repeating: 0, count: 2 * n - 1)
        var height = [Double](repeating: 0, count: 2 * n - 1)
        for (pos, leaf) in h.leafOrder.enumerated() {
            y[leaf] = top + (Double(pos) + 0.5) * rowH
            svg.text(ClassNames.display(h.labels[leaf]), x: left + 4, y: y[leaf] + 4, size: 11, anchor: .end,
                     fill: groups.colour(of: h.labels[leaf]))
        }
        for (k, m) in h.merges.enumerated() {
            let node = n + k
            for child in [m.left, m.right] {
                svg.line(x1: x(height[child]), y1: y[child], x2: x(m.height), y2: y[child], stroke: .black, width: 1.3)
            }
            svg.line(x1: x(m.height), y1: y[m.left], x2: x(m.height), y2: y[m.right], stroke: .black, width: 1.3)
            y[node] = (y[m.left] + y[m.right]) / 2
            height[node] = m.height
        }
        legend(&svg, groups: groups, names: h.labels, x: 12, y: svg.height - 12)
        return svg
    }

    // MARK: - Outliers

    /// With Dice: one scatter of score vs Dice per class plus one of the mean score vs the mean
    /// Dice, in a grid. Without Dice: a strip plot of the scores per class.
    public static func outliers(_ a: OutlierAnalysis, groups: AnatomicalGroups, mark: String? = nil) -> SVGDocument {
        a.hasDice ? outlierScatters(a, groups: groups, mark: mark) : outlierStrips(a, groups: groups, mark: mark)
    }

    static func outlierScatters(_ a: OutlierAnalysis, groups: AnatomicalGroups, mark: String?) -> SVGDocument {
        var panels: [(title: String, x: [Double?], y: [Double?], colour: RGB, rho: Double?, yTitle: String)] =
            a.classes.filter(\.hasDice).map {
                (ClassNames.display($0.target), $0.scores, $0.dice, groups.colour(of: $0.target), $0.spearman, "Dice")
            }
        if a.classes.count > 1 {
            panels.append(("mean over \(a.classes.count) classes", a.meanScore, a.meanDice, .black, a.meanSpearman, "mean Dice"))
        }
        let columns = min(4, panels.count)
        let rowsCount = (panels.count + columns - 1) / columns
        let single = panels.count == 1
        let pw = single ? 420.0 : 190.0, ph = single ? 280.0 : 150.0
        let gapX = 52.0, gapY = 62.0, left = 56.0, top = 92.0
        var svg = SVGDocument(width: max(640, left + Double(columns) * (pw + gapX)),
                              height: top + Double(rowsCount) * (ph + gapY) + 30)
        svg.text("Outlier score vs Dice" + (single ? ": \(ClassNames.display(a.classes[0].target))" : " per explained class"),
                 x: 12, y: 22, size: 15, bold: true)
        svg.text("IsolationForest (\(a.options.trees) trees, seed \(a.options.seed)) fitted on "
                 + (a.referenceSource as NSString).lastPathComponent, x: 12, y: 40, size: 11, fill: axisGrey)
        svg.text("score = decision_function, lower = more anomalous; dashed line: outlier threshold 0; ρ: Spearman"
                 + (mark.map { "; ○ scan \($0)" } ?? ""), x: 12, y: 56, size: 11, fill: axisGrey)
        let markRow = mark.flatMap { a.patients.firstIndex(of: $0) }
        for (i, p) in panels.enumerated() {
            let ox = left + Double(i % columns) * (pw + gapX), oy = top + Double(i / columns) * (ph + gapY)
            var pairs: [(Int, Double, Double)] = []
            for (k, v) in zip(p.x, p.y).enumerated() { if let x = v.0, let y = v.1 { pairs.append((k, x, y)) } }
            let xs = pairs.map(\.1) + [0], ys = pairs.map(\.2)
            let (xlo, xhi) = padded(xs.min() ?? -0.1, xs.max() ?? 0.1)
            let (ylo, yhi) = padded(ys.min() ?? 0, ys.max() ?? 1)
            func px(_ v: Double) -> Double { ox + (v - xlo) / (xhi - xlo) * pw }
            func py(_ v: Double) -> Double { oy + ph - (v - ylo) / (yhi - ylo) * ph }
            svg.rect(x: ox, y: oy, width: pw, height: ph, fill: RGB(0xFA, 0xFA, 0xFA), stroke: axisGrey, strokeWidth: 0.8)
            let xt = niceTicks(lo: xlo, hi: xhi, count: 3), yt = niceTicks(lo: ylo, hi: yhi, count: 3)
            let xs1 = niceStep(lo: xlo, hi: xhi, count: 3), ys1 = niceStep(lo: ylo, hi: yhi, count: 3)
            for t in xt {
                svg.line(x1: px(t), y1: oy, x2: px(t), y2: oy + ph, stroke: grid)
                svg.text(tickLabel(t, step: xs1), x: px(t), y: oy + ph + 13, size: 9, anchor: .middle, fill: axisGrey)
            }
            for t in yt {
                svg.line(x1: ox, y1: py(t), x2: ox + pw, y2: py(t), stroke: grid)
                svg.text(tickLabel(t, step: ys1), x: ox - 4, y: py(t) + 3, size: 9, anchor: .end, fill: axisGrey)
            }
            svg.line(x1: px(0), y1: oy, x2: px(0), y2: oy + ph, stroke: axisGrey, dash: "4 3")
            for (k, x, y) in pairs {
                let marked = k == markRow
                svg.circle(cx: px(x), cy: py(y), r: marked ? 4.5 : 2.8, fill: marked ? nil : p.colour,
                           stroke: marked ? .black : .white, strokeWidth: marked ? 1.8 : 0.5,
                           title: "\(a.patients[k]): score \(String(format: "%.4f", x)), Dice \(String(format: "%.4f", y))")
            }
            let rho = p.rho.map { String(format: "ρ = %+.2f", $0) } ?? "ρ n/a"
            svg.text(p.title, x: ox, y: oy - 8, size: 11, fill: p.colour == .black ? .black : p.colour, bold: true)
            svg.text(rho, x: ox + pw, y: oy - 8, size: 10, anchor: .end, fill: axisGrey)
            svg.text("outlier score", x: ox + pw / 2, y: oy + ph + 27, size: 10, anchor: .middle)
            svg.text(p.yTitle, x: ox - 36, y: oy + ph / 2, size: 10, anchor: .middle, rotate: -90)
        }
        legend(&svg, groups: groups, names: a.classes.map(\.target), x: 12, y: svg.height - 12,
               title: "Point colour (anatomical group):")
        return svg
    }

    static func outlierStrips(_ a: OutlierAnalysis, groups: AnatomicalGroups, mark: String?) -> SVGDocument {
        let rowH = 22.0
        let labelWidth = a.classes.map { SVGDocument.textWidth(ClassNames.display($0.target), size: 11) }.max() ?? 80
        let left = labelWidth + 44, top = 56.0, plotW = 420.0, plotH = rowH * Double(a.classes.count)
        var svg = SVGDocument(width: left + plotW + 30, height: top + plotH + 86)
        svg.text("Outlier scores per explained class (IsolationForest, seed \(a.options.seed))", x: 12, y: 22, size: 15, bold: true)
        svg.text("each dot a scan of \((a.scoredSource as NSString).lastPathComponent); lower = more anomalous, "
                 + "dashed line = threshold 0", x: 12, y: 40, size: 11, fill: axisGrey)
        let all: [Double] = a.classes.flatMap { c in c.scores.compactMap { $0 } } + [0]
        let (lo, hi) = padded(all.min() ?? -0.1, all.max() ?? 0.1)
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * plotW }
        valueAxis(&svg, lo: lo, hi: hi, x0: left, x1: left + plotW, top: top, bottom: top + plotH,
                  title: "Outlier score (decision_function)")
        svg.line(x1: x(0), y1: top, x2: x(0), y2: top + plotH, stroke: axisGrey, dash: "4 3")
        let markRow = mark.flatMap { a.patients.firstIndex(of: $0) }
        for (i, c) in a.classes.enumerated() {
            let cy = top + (Double(i) + 0.5) * rowH
            let colour = groups.colour(of: c.target)
            svg.text(ClassNames.display(c.target), x: left - 6, y: cy + 4, size: 11, anchor: .end, fill: colour)
            for (k, s) in c.scores.enumerated() {
                guard let s else { continue }
                let marked = k == markRow
                svg.circle(cx: x(s), cy: cy, r: marked ? 4.5 : 2.6, fill: marked ? nil : colour,
                           stroke: marked ? .black : .white, strokeWidth: marked ? 1.8 : 0.4,
                           title: "\(a.patients[k]): \(String(format: "%.4f", s))")
            }
        }
        svg.text("Explained class", x: 16, y: top + plotH / 2, size: 12, anchor: .middle, rotate: -90)
        legend(&svg, groups: groups, names: a.classes.map(\.target), x: 12, y: svg.height - 12)
        return svg
    }

    /// The first tick at or above `v` (axes end on a labelled tick).
    static func niceCeiling(_ v: Double) -> Double {
        guard v > 0, let last = niceTicks(lo: 0, hi: v).last else { return v }
        return last >= v ? last : last + niceStep(lo: 0, hi: v)
    }

    /// A range widened by 6 % on each side (and made non-empty).
    static func padded(_ lo: Double, _ hi: Double) -> (Double, Double) {
        let span = hi > lo ? hi - lo : max(abs(hi), 1e-3)
        return (lo - 0.06 * span, hi + 0.06 * span)
    }
}
