/// Where everything goes for a terminal size. Computed from the size, the sidebar width and the
/// planes' physical extents alone, so rendering and mouse hit-testing agree.
///
/// All planes share one scale (pixels per millimetre), so a structure has the same size in every
/// pane. The arrangement — three planes in a row, in a column, or a large axial plane beside the
/// other two stacked — is whichever gives that shared scale the largest value.
public struct Layout: Equatable, Sendable {
    public static let minimumWidth = 80
    public static let minimumHeight = 24
    /// Sidebar lines above the list (title, method line, column header) and below it (legend).
    static let sidebarHeaderRows = 3
    static let sidebarFooterRows = 4
    /// Narrowest and widest sidebar.
    public static let sidebarWidths = 30...48

    public let width: Int
    public let height: Int
    public let tooSmall: Bool
    /// Pane rectangles (title row included), indexed by `Plane.rawValue`; a zero rectangle for a
    /// plane that is not shown (another plane is maximised).
    public let panes: [Rect]
    public let sidebar: Rect
    public let status: Rect
    public let hints: Rect
    /// The scale shared by all planes at zoom 1: the largest that fits every shown plane in its pane.
    public let pixelsPerMM: Double

    /// - Parameters:
    ///   - sidebarWidth: the width the sidebar's content needs (clamped to `sidebarWidths` and to
    ///     a third of the terminal).
    ///   - extents: width and height in millimetres of each plane as displayed, by `Plane.rawValue`.
    ///   - maximized: a plane that takes the whole image area.
    public init(width: Int, height: Int, sidebarWidth: Int = 40,
                extents: [(Double, Double)] = Array(repeating: (100, 100), count: 3), maximized: Plane? = nil) {
        self.width = width
        self.height = height
        tooSmall = width < Self.minimumWidth || height < Self.minimumHeight
        status = Rect(x: 0, y: height - 2, width: width, height: 1)
        hints = Rect(x: 0, y: height - 1, width: width, height: 1)
        let sideWidth = min(max(sidebarWidth, Self.sidebarWidths.lowerBound), Self.sidebarWidths.upperBound,
                            max(Self.sidebarWidths.lowerBound, width / 3))
        let contentHeight = max(0, height - 2)
        sidebar = Rect(x: width - sideWidth, y: 0, width: sideWidth, height: contentHeight)
        let area = max(0, width - sideWidth - 1)
        let ext = extents.map { (max($0.0, 1e-6), max($0.1, 1e-6)) }
        /// Pixels per mm that fit extent `e` into a pane of `w` × `h` cells (one title row).
        func fit(_ e: (Double, Double), _ w: Int, _ h: Int) -> Double {
            guard w > 0, h > 1 else { return 0 }
            return min(Double(w) / e.0, Double(2 * (h - 1)) / e.1)
        }
        if let maximized {
            var panes = Array(repeating: Rect(x: 0, y: 0, width: 0, height: 0), count: 3)
            panes[maximized.rawValue] = Rect(x: 0, y: 0, width: area, height: contentHeight)
            self.panes = panes
            pixelsPerMM = fit(ext[maximized.rawValue], area, contentHeight)
            return
        }
        var best: (scale: Double, panes: [Rect]) = (-1, [])
        func consider(_ panes: [Rect]) {
            let s = (0..<3).map { fit(ext[$0], panes[$0].width, panes[$0].height) }.min() ?? 0
            if s > best.scale + 1e-12 { best = (s, panes) }
        }
        // A row of three, widths in proportion to the planes' widths (separated by one column).
        let totalW = ext.map(\.0).reduce(0, +)
        var x = 0
        var row: [Rect] = []
        for i in 0..<3 {
            let w = i == 2 ? max(0, area - x) : Int(Double(area - 2) * ext[i].0 / totalW)
            row.append(Rect(x: x, y: 0, width: w, height: contentHeight))
            x += w + 1
        }
        consider(row)
        // A column of three, heights in proportion to the planes' heights.
        let totalH = ext.map(\.1).reduce(0, +)
        var y = 0
        var column: [Rect] = []
        for i in 0..<3 {
            let h = i == 2 ? max(0, contentHeight - y) : Int(Double(contentHeight) * ext[i].1 / totalH)
            column.append(Rect(x: 0, y: y, width: area, height: h))
            y += h
        }
        consider(column)
        // Axial on the left, coronal over sagittal on the right; the split column is searched.
        if area > 3 {
            for left in 1..<(area - 1) {
                let right = area - 1 - left
                let top = contentHeight / 2
                consider([Rect(x: 0, y: 0, width: left, height: contentHeight),
                          Rect(x: left + 1, y: 0, width: right, height: top),
                          Rect(x: left + 1, y: top, width: right, height: contentHeight - top)])
            }
        }
        panes = best.panes
        pixelsPerMM = max(best.scale, 0)
    }

    /// The image area of a pane (below its title row).
    public func image(of plane: Plane) -> Rect {
        let r = panes[plane.rawValue]
        return Rect(x: r.x, y: r.y + 1, width: r.width, height: r.height - 1)
    }

    public var sidebarListTop: Int { sidebar.y + Self.sidebarHeaderRows }
    public var sidebarListRows: Int { max(0, sidebar.height - Self.sidebarHeaderRows - Self.sidebarFooterRows) }
}

/// Where compare mode draws: method A's three planes on the top row and method B's on the bottom,
/// all at one scale; or, when that would draw a plane smaller than `minimumPlanePixels` across,
/// the focused plane twice side by side (A left, B right).
public struct CompareLayout: Equatable, Sendable {
    /// A plane drawn narrower or lower than this many pixels is too small to read.
    public static let minimumPlanePixels = 20.0

    /// The planes drawn for each method, in order.
    public let planes: [Plane]
    /// `panes[side][n]`: the pane (title row included) of `planes[n]` for method A (side 0) or B (1).
    public let panes: [[Rect]]
    /// The scale shared by every compare pane at zoom 1.
    public let pixelsPerMM: Double

    public var allPlanes: Bool { planes.count == 3 }

    /// - Parameters:
    ///   - area: the image area left of the sidebar.
    ///   - extents: width and height in millimetres of each plane as displayed, by `Plane.rawValue`.
    public init(area: Rect, extents: [(Double, Double)], focused: Plane) {
        let ext = extents.map { (max($0.0, 1e-6), max($0.1, 1e-6)) }
        func fit(_ e: (Double, Double), _ r: Rect) -> Double {
            guard r.width > 0, r.height > 1 else { return 0 }
            return min(Double(r.width) / e.0, Double(2 * (r.height - 1)) / e.1)
        }
        // Two rows of three, widths in proportion to the planes' widths (one separator column).
        let top = area.height / 2
        let totalW = ext.map(\.0).reduce(0, +)
        var rows: [[Rect]] = []
        for (y, h) in [(area.y, top), (area.y + top, area.height - top)] {
            var x = area.x
            var row: [Rect] = []
            for i in 0..<3 {
                let w = i == 2 ? max(0, area.x + area.width - x) : Int(Double(area.width - 2) * ext[i].0 / totalW)
                row.append(Rect(x: x, y: y, width: w, height: h))
                x += w + 1
            }
            rows.append(row)
        }
        let scale = rows.flatMap { row in (0..<3).map { fit(ext[$0], row[$0]) } }.min() ?? 0
        let smallest = ext.map { min($0.0, $0.1) * scale }.min() ?? 0
        if smallest >= Self.minimumPlanePixels {
            planes = Plane.allCases
            panes = rows
            pixelsPerMM = scale
            return
        }
        let left = max(0, (area.width - 1) / 2)
        let pair = [Rect(x: area.x, y: area.y, width: left, height: area.height),
                    Rect(x: area.x + left + 1, y: area.y, width: max(0, area.width - left - 1), height: area.height)]
        planes = [focused]
        panes = pair.map { [$0] }
        pixelsPerMM = pair.map { fit(ext[focused.rawValue], $0) }.min() ?? 0
    }
}
