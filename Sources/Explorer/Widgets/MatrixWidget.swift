import Engine

/// The class × segment matrix as a text heatmap: one row per segment, one column per target with
/// a known attribution, each cell shaded by |value| / matrix maximum and printed; the current
/// target's column is marked, the selected cell drawn in reverse, missing targets listed below.
public struct MatrixWidget: Widget {
    public var matrix: ClassSegmentMatrix
    public var cursor: MatrixCursor
    public var currentTarget: Int
    public var targetNames: [String]
    public var method: String
    /// Processing, rank key and background row, as the title shows them.
    public var description: String
    /// Mass columns sum to 1 over all segments: the Σ row shows it (nil for mean).
    public var showsSums: Bool
    /// What the values are: mass, mean (or voxels without a model).
    public var valueName: String
    /// The batch computing the missing targets, and the running job's progress.
    public var batch: MatrixBatch?
    public var progress: ProgressState?
    /// The method's maps are imported: nothing can be computed for missing targets.
    public var imported: Bool
    var labelName: (Int32) -> String
    var painter: Painter

    static let nameWidth = 16
    static let cellWidth = 9

    public init(_ explorer: Explorer) {
        matrix = explorer.classSegmentMatrix
        cursor = explorer.state.matrix ?? MatrixCursor(target: explorer.state.target)
        currentTarget = explorer.state.target
        targetNames = explorer.targetNames
        method = explorer.method
        let state = explorer.state
        description = "\(state.processing.rawValue) \(explorer.rankValueName) · "
            + (state.includeBackground ? "bg shown (b)" : "bg hidden (b)")
        showsSums = state.rankKey == .mass
        valueName = explorer.rankValueName
        batch = explorer.matrixBatch.flatMap { $0.method == explorer.method ? $0 : nil }
        progress = explorer.progress
        imported = MethodOption.rows(for: explorer.method).isEmpty
        let scene = explorer.scene
        labelName = { scene.labelName($0) }
        painter = explorer.painter
    }

    private func name(_ target: Int) -> String {
        target < targetNames.count ? targetNames[target] : "class \(target)"
    }

    /// Title lines: what the values are, how they are normalised and shaded; wrapped between parts.
    public func title(width: Int) -> [String] {
        var parts = ["Class × segment", method, description]
        if showsSums { parts.append("each target's mass sums to 1 over all segments (Σ row)") }
        parts.append("shade = |value| / \(Fmt.num(matrix.maxAbs))")
        return Self.wrap(parts, separator: " · ", width: width)
    }

    /// Lines under the table: the batch's state (`strong`), the targets still missing, the keys;
    /// at most `maxLines` of them (the list of missing targets is cut short first, ending in
    /// "+N more").
    public func footer(width: Int, maxLines: Int = .max) -> [(text: String, strong: Bool)] {
        var lines: [String] = []
        let u = painter.capabilities.unicode
        let queued = matrix.missing.filter {
            batch == nil || ($0 != currentTarget && $0 != batch?.computing && batch?.failed[$0] == nil)
        }
        if let batch {
            if batch.awaitingConfirmation {
                let per = batch.perTarget.map { " (\(batch.targets.count) × \(PassCostBook.duration($0.seconds)): "
                    + "\($0.basis))" } ?? ""
                lines += Self.wrap(["The \(batch.targets.count) missing targets need ≈ "
                                    + PassCostBook.duration(batch.totalEstimate ?? 0) + per,
                                    "y computes them one after another", "Esc closes"],
                                   separator: " · ", width: width)
            } else if let t = batch.computing {
                var parts = ["Computing \(name(t)) (\(t)), \(batch.position) of \(batch.targets.count)"]
                if let progress {
                    // "~": before the job's first step its bar and ETA follow the runtime estimate.
                    let f = progress.shownFraction, rough = progress.estimated ? "~" : ""
                    let bar = painter.bar(f, width: 12)
                    let light = String(repeating: u ? "░" : ".", count: max(0, 12 - bar.count))
                    var job = "[\(bar)\(light)] \(rough)\(Int(f * 100))% \(PassCostBook.duration(progress.elapsed))"
                    if let eta = progress.remaining { job += " ETA " + rough + PassCostBook.duration(eta) }
                    parts.append(job)
                }
                if let left = batch.secondsLeft(running: progress) {
                    parts.append("all \(batch.remaining.count) left: ETA ≈ " + PassCostBook.duration(left))
                }
                parts.append("P pins · Esc/X stops")
                lines += Self.wrap(parts, separator: " · ", width: width)
            } else if batch.remaining.isEmpty {
                let computed = batch.targets.count - batch.failed.count
                lines.append(batch.failed.isEmpty
                    ? "All \(computed) missing targets computed (kept in the attribution cache)"
                    : "\(computed) of \(batch.targets.count) missing targets computed; these failed:")
            } else {
                lines.append("\(batch.remaining.count) targets wait until the shown map is in")
            }
            for (t, why) in batch.failed.sorted(by: { $0.key < $1.key }) {
                lines += Self.wrap(["\(name(t)) (\(t)) failed: \(why)"], separator: "", width: width)
            }
        }
        let strong = lines.count
        if !queued.isEmpty {
            let items = queued.map { "\(name($0)) (\($0))" }
            let head = imported ? "No map imported for \(method):" : batch == nil
                ? "Not computed for \(method):" : "Still to come:"
            var words = [head + " " + (items.first ?? "")] + items.dropFirst()
            if imported { words[words.count - 1] += " (imported maps: nothing to compute)" }
            let room = maxLines == .max ? Int.max : max(1, maxLines - lines.count - 2)
            var list = Self.wrap(words, separator: ", ", width: width)
            // Too long: fewer items, until the list and its "+N more" fit.
            var shown = words.count
            while list.count > room && shown > 1 {
                shown -= 1
                list = Self.wrap(Array(words.prefix(shown)) + ["+\(words.count - shown) more"], separator: ", ",
                                 width: width)
            }
            lines += list.prefix(room)
        }
        if let selected = selectedCell { lines.append(selected) }
        lines.append("arrows select · Enter jumps there · r p b m change values · Esc/X closes")
        return lines.suffix(maxLines == .max ? lines.count : max(1, maxLines)).enumerated().map {
            ($1, $0 < strong && lines.count <= maxLines)
        }
    }

    /// The selected cell in full (column headers are cut to the cell width).
    var selectedCell: String? {
        guard cursor.row < matrix.segments.count, let c = matrix.targets.firstIndex(of: cursor.target) else { return nil }
        let value = matrix.values[cursor.row][c].map { Fmt.num($0, digits: 4) } ?? "–"
        return "Selected: segment \(labelName(matrix.segments[cursor.row])), target \(name(cursor.target)) "
            + "(\(cursor.target)): \(valueName) \(value)"
    }

    /// `parts` joined by `separator` into lines of at most `width` columns, breaking only between
    /// parts (a part longer than a line is broken at spaces).
    static func wrap(_ parts: [String], separator: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = [], line = ""
        for part in parts {
            let joined = line.isEmpty ? part : line + separator + part
            if joined.count <= width {
                line = joined
                continue
            }
            // A comma stays at the end of its line; a spaced separator (" · ") is left out there.
            if !line.isEmpty { lines.append(separator.hasPrefix(" ") ? line : line + separator.trimmingCharacters(in: .whitespaces)) }
            let pieces = Explorer.wrap(part, width: width)
            lines += pieces.dropLast()
            line = pieces.last ?? ""
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = painter.style(.foreground, .overlayBackground)
        let (df, _, _) = painter.style(.dim, .overlayBackground)
        let (hf, _, ha) = painter.style(.accent, .overlayBackground, emphasised: true)
        let (tf, _, _) = painter.style(.highlightText, .overlayBackground)
        let (pf, _, pa) = painter.style(.progress, .overlayBackground, emphasised: true)
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        guard rect.width > Self.nameWidth + Self.cellWidth, rect.height > 4 else { return }
        let maxAbs = matrix.maxAbs
        let titleLines = title(width: rect.width - 2).prefix(max(1, rect.height / 4))
        for (n, line) in titleLines.enumerated() {
            grid.put(painter.clean(line), x: rect.x + 1, y: rect.y + n, fg: hf, bg: bg, attrs: ha,
                     maxWidth: rect.width - 2)
        }
        // The table keeps its header, the Σ row and up to six segment rows; the footer takes the rest.
        let tableMinimum = 1 + (showsSums ? 1 : 0) + min(max(matrix.segments.count, 1), 6)
        let footerLines = footer(width: rect.width - 2, maxLines: max(1, rect.height - titleLines.count - tableMinimum))
        for (n, line) in footerLines.enumerated() {
            grid.put(painter.clean(" " + line.text), x: rect.x, y: rect.y + rect.height - footerLines.count + n,
                     fg: line.strong ? pf : df, bg: bg, attrs: line.strong ? pa : [], maxWidth: rect.width)
        }
        let header = rect.y + titleLines.count
        guard !matrix.targets.isEmpty else {
            grid.put(" No target has an attribution for \(method) yet.", x: rect.x, y: header + 1, fg: fg, bg: bg,
                     maxWidth: rect.width)
            return
        }
        // Columns and rows scroll so the selected cell stays visible.
        let sumRows = showsSums ? 1 : 0
        let visibleColumns = max(1, (rect.width - Self.nameWidth - 1) / Self.cellWidth)
        let visibleRows = max(1, rect.height - titleLines.count - 2 - sumRows - footerLines.count)
        let cursorColumn = matrix.column(of: cursor)
        let firstColumn = max(0, min(cursorColumn - visibleColumns + 1, matrix.targets.count - visibleColumns))
        let firstRow = max(0, cursor.row - visibleRows + 1)
        grid.put("segment \\ target".fitted(to: Self.nameWidth), x: rect.x + 1, y: header, fg: df, bg: bg,
                 attrs: .underline)
        let columns = Array(matrix.targets.indices.dropFirst(firstColumn).prefix(visibleColumns))
        for (n, c) in columns.enumerated() {
            let t = matrix.targets[c]
            let current = t == currentTarget
            let text = ((current ? (painter.capabilities.unicode ? "▶" : ">") : " ") + name(t))
                .fitted(to: Self.cellWidth - 1, unicode: painter.capabilities.unicode)
            grid.put(painter.clean(text), x: rect.x + 1 + Self.nameWidth + 1 + n * Self.cellWidth, y: header,
                     fg: current ? tf : df, bg: bg, attrs: current ? [.bold, .underline] : .underline)
        }
        var y = header + 1
        for r in 0..<visibleRows {
            let row = firstRow + r
            guard row < matrix.segments.count else { break }
            y = header + 1 + r
            let selectedRow = row == cursor.row
            grid.put(painter.clean(labelName(matrix.segments[row])).fitted(to: Self.nameWidth,
                                                                            unicode: painter.capabilities.unicode),
                     x: rect.x + 1, y: y, fg: selectedRow ? hf : fg, bg: bg, attrs: selectedRow ? .bold : [])
            for (n, c) in columns.enumerated() {
                let x = rect.x + 1 + Self.nameWidth + 1 + n * Self.cellWidth
                drawCell(matrix.values[row][c], maxAbs: maxAbs, selected: selectedRow && c == cursorColumn,
                         current: matrix.targets[c] == currentTarget, x: x, y: y, into: &grid)
            }
            y += 1
        }
        guard showsSums else { return }
        // Σ over the rows shown (all of them, not only those scrolled into view).
        let sums = matrix.columnSums
        grid.put(painter.clean("Σ"), x: rect.x + 1, y: y, fg: df, bg: bg, attrs: .bold)
        for (n, c) in columns.enumerated() {
            grid.put((sums[c].map { Fmt.num($0, digits: 3) } ?? "–").leftPadded(to: Self.cellWidth - 1),
                     x: rect.x + 1 + Self.nameWidth + 1 + n * Self.cellWidth, y: y, fg: df, bg: bg, attrs: .bold)
        }
    }

    /// A shaded cell: the sequential map's colour for |value| / max behind the number (a shading
    /// glyph without colour). The selected cell keeps a one-cell swatch of its shade and shows the
    /// number in the selection colours.
    private func drawCell(_ value: Double?, maxAbs: Double, selected: Bool, current: Bool, x: Int, y: Int,
                          into grid: inout CellGrid) {
        let width = Self.cellWidth - 1
        var (fg, bg, attrs) = selected ? painter.style(.selectionForeground, .selectionBackground, emphasised: true)
            : painter.style(.foreground, .overlayBackground)
        if current { attrs.insert(.underline) }
        guard let value else {
            grid.put("–".leftPadded(to: width), x: x, y: y, fg: fg, bg: bg, attrs: attrs)
            return
        }
        let t = maxAbs > 0 ? abs(value) / maxAbs : 0
        let number = Fmt.num(value, digits: 3).leftPadded(to: width - 1)
        if painter.capabilities.depth.hasColor {
            let shade = painter.theme.sequential.color(at: t)
            if selected {
                grid.set(x, y, Cell(painter.capabilities.unicode ? "█" : " ", fg: shade, bg: shade))
            } else {
                (fg, bg) = (shade.luminance > 0.5 ? .black : .white, shade)
                grid.set(x, y, Cell(" ", fg: fg, bg: bg, attrs: attrs))
            }
        } else {
            let ramp = painter.capabilities.unicode ? PlaneRenderer.unicodeRamp : PlaneRenderer.asciiRamp
            grid.set(x, y, Cell(ramp[min(Int(t * Double(ramp.count - 1) + 0.5), ramp.count - 1)], fg: .white, bg: .black))
        }
        grid.put(number, x: x + 1, y: y, fg: fg, bg: bg, attrs: attrs)
    }
}
