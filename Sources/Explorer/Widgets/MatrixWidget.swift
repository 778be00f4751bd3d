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
    public var description: String
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
            + (state.includeBackground ? "bg shown" : "bg hidden")
        let scene = explorer.scene
        labelName = { scene.labelName($0) }
        painter = explorer.painter
    }

    private func name(_ target: Int) -> String {
        target < targetNames.count ? targetNames[target] : "class \(target)"
    }

    /// Lines under the table: which targets are missing and how to add them.
    func footer(width: Int) -> [String] {
        var lines: [String] = []
        if !matrix.missing.isEmpty {
            let names = matrix.missing.map { "\(name($0)) (\($0))" }.joined(separator: ", ")
            lines += Explorer.wrap("Not computed for \(method): \(names). To add a column: Esc, choose the "
                                   + "target with n/N (or t on a segment), let it compute, then X again.",
                                   width: width)
        }
        lines.append("arrows select · Enter jumps there · r p b m change values · Esc/X closes")
        return lines
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = painter.style(.foreground, .overlayBackground)
        let (df, _, _) = painter.style(.dim, .overlayBackground)
        let (hf, _, ha) = painter.style(.accent, .overlayBackground, emphasised: true)
        let (tf, _, _) = painter.style(.highlightText, .overlayBackground)
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        guard rect.width > Self.nameWidth + Self.cellWidth, rect.height > 4 else { return }
        let maxAbs = matrix.maxAbs
        let title = " Class × segment · \(method) · \(description) · shade = |value| / \(Fmt.num(maxAbs)) "
        grid.put(painter.clean(title), x: rect.x + 1, y: rect.y, fg: hf, bg: bg, attrs: ha, maxWidth: rect.width - 2)
        let footer = footer(width: rect.width - 2).suffix(max(0, rect.height - 4))
        for (n, line) in footer.enumerated() {
            grid.put(painter.clean(" " + line), x: rect.x, y: rect.y + rect.height - footer.count + n, fg: df, bg: bg,
                     maxWidth: rect.width)
        }
        guard !matrix.targets.isEmpty else {
            grid.put(" No target has an attribution for \(method) yet.", x: rect.x, y: rect.y + 2, fg: fg, bg: bg,
                     maxWidth: rect.width)
            return
        }
        // Columns and rows scroll so the selected cell stays visible.
        let visibleColumns = max(1, (rect.width - Self.nameWidth - 1) / Self.cellWidth)
        let visibleRows = max(1, rect.height - 3 - footer.count)
        let cursorColumn = matrix.column(of: cursor)
        let firstColumn = max(0, min(cursorColumn - visibleColumns + 1, matrix.targets.count - visibleColumns))
        let firstRow = max(0, cursor.row - visibleRows + 1)
        let header = rect.y + 1
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
        for r in 0..<visibleRows {
            let row = firstRow + r
            guard row < matrix.segments.count else { break }
            let y = header + 1 + r
            let selectedRow = row == cursor.row
            grid.put(painter.clean(labelName(matrix.segments[row])).fitted(to: Self.nameWidth,
                                                                            unicode: painter.capabilities.unicode),
                     x: rect.x + 1, y: y, fg: selectedRow ? hf : fg, bg: bg, attrs: selectedRow ? .bold : [])
            for (n, c) in columns.enumerated() {
                let x = rect.x + 1 + Self.nameWidth + 1 + n * Self.cellWidth
                drawCell(matrix.values[row][c], maxAbs: maxAbs, selected: selectedRow && c == cursorColumn,
                         current: matrix.targets[c] == currentTarget, x: x, y: y, into: &grid)
            }
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
