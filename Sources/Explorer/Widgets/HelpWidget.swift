import Engine

/// The key help: lines generated from the key table in as many columns as fit, paged when they
/// cannot all be shown, in a framed box centred in its rectangle.
public struct HelpWidget: Widget {
    public var lines: [(text: String, isHeader: Bool)]
    public var page: Int
    var painter: Painter

    public init(_ explorer: Explorer) {
        lines = Explorer.helpLines(unicode: explorer.capabilities.unicode)
        page = explorer.state.helpPage
        painter = explorer.painter
    }

    /// Geometry in a `width` × `height` area: rows per column, columns, column width and pages.
    public func layout(width: Int, height: Int) -> (rows: Int, columns: Int, columnWidth: Int, pages: Int) {
        let columnWidth = (lines.map(\.text.count).max() ?? 1) + 2
        let rows = max(1, min(height - 2, lines.count + 4) - 4)
        let fit = max(1, (width - 5) / columnWidth)
        let columns = min(fit, (lines.count + rows - 1) / rows)
        return (rows, columns, columnWidth, (lines.count + rows * columns - 1) / (rows * columns))
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (rows, columns, columnWidth, pages) = layout(width: rect.width, height: rect.height)
        let page = min(self.page, pages - 1)
        let boxH = min(rect.height - 2, rows + 4)
        let boxW = min(rect.width - 2, columns * columnWidth + 3)
        guard boxH > 2, boxW > 2 else { return }
        let colW = max(1, (boxW - 3) / columns)
        let box = Rect(x: rect.x + (rect.width - boxW) / 2, y: rect.y + (rect.height - boxH) / 2,
                       width: boxW, height: boxH)
        let title = pages > 1 ? " Keys \(page + 1)/\(pages) (Space: next page, other keys close) "
            : " Keys (any key closes) "
        painter.drawBox(box, title: title, into: &grid)
        let (fg, bg, _) = painter.style(.foreground, .overlayBackground)
        let (hf, _, ha) = painter.style(.accent, .overlayBackground, emphasised: true)
        for (n, line) in lines.enumerated().dropFirst(page * rows * columns) {
            let slot = n - page * rows * columns
            let col = slot / rows, row = slot % rows
            guard col < columns else { break }
            let x = box.x + 2 + col * colW, y = box.y + 2 + row
            grid.put(painter.clean(line.text), x: x, y: y, fg: line.isHeader ? hf : fg, bg: bg,
                     attrs: line.isHeader ? ha : [], maxWidth: colW - 1)
        }
    }
}
