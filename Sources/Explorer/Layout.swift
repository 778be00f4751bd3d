/// Where everything goes for a terminal size. Computed from the size alone, so rendering and mouse
/// hit-testing agree.
public struct Layout: Equatable, Sendable {
    public static let minimumWidth = 80
    public static let minimumHeight = 24
    /// Sidebar lines above the list (title, method line, column header) and below it (legend).
    static let sidebarHeaderRows = 3
    static let sidebarFooterRows = 4

    public let width: Int
    public let height: Int
    public let tooSmall: Bool
    /// Pane rectangles (title row included), indexed by `Plane.rawValue`.
    public let panes: [Rect]
    public let sidebar: Rect
    public let status: Rect
    public let hints: Rect

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        tooSmall = width < Self.minimumWidth || height < Self.minimumHeight
        status = Rect(x: 0, y: height - 2, width: width, height: 1)
        hints = Rect(x: 0, y: height - 1, width: width, height: 1)
        let sideWidth = min(max(width * 3 / 10, 32), 52)
        let contentHeight = max(0, height - 2)
        sidebar = Rect(x: width - sideWidth, y: 0, width: sideWidth, height: contentHeight)
        let area = width - sideWidth - 1
        // A wide area gets three planes side by side; otherwise the axial plane takes the left half
        // and coronal/sagittal stack on the right. Either way panes are separated by one column.
        if area >= 3 * contentHeight {
            let w = (area - 2) / 3
            panes = (0..<3).map { Rect(x: $0 * (w + 1), y: 0, width: w, height: contentHeight) }
        } else {
            let left = (area - 1) / 2
            let right = area - 1 - left
            let top = contentHeight / 2
            panes = [Rect(x: 0, y: 0, width: left, height: contentHeight),
                     Rect(x: left + 1, y: 0, width: right, height: top),
                     Rect(x: left + 1, y: top, width: right, height: contentHeight - top)]
        }
    }

    /// The image area of a pane (below its title row).
    public func image(of plane: Plane) -> Rect {
        let r = panes[plane.rawValue]
        return Rect(x: r.x, y: r.y + 1, width: r.width, height: r.height - 1)
    }

    public var sidebarListTop: Int { sidebar.y + Self.sidebarHeaderRows }
    public var sidebarListRows: Int { max(0, sidebar.height - Self.sidebarHeaderRows - Self.sidebarFooterRows) }
}
