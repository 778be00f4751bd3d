import XCTest
import Engine
import Explorer

/// Each widget rendered on its own into an arbitrary rectangle: it draws what the full frame
/// shows in its place, and nothing outside its rectangle.
final class WidgetTests: XCTestCase {
    private static let blank = Cell("~", fg: RGB(1, 2, 3), bg: RGB(4, 5, 6))

    /// Renders `widget` into `rect` of a grid filled with a marker cell, checking that every cell
    /// outside `rect` keeps the marker.
    private func renderAlone(_ widget: some Widget, width: Int, height: Int, rect: Rect,
                             file: StaticString = #filePath, line: UInt = #line) -> CellGrid {
        var grid = CellGrid(width: width, height: height, fill: Self.blank)
        widget.render(into: &grid, rect: rect)
        for y in 0..<height {
            for x in 0..<width where !rect.contains(x, y) {
                XCTAssertEqual(grid[x, y], Self.blank, "drawn outside its rect at \(x),\(y)", file: file, line: line)
            }
        }
        return grid
    }

    /// The cells of `rect` in `grid`, row by row.
    private func cells(_ grid: CellGrid, _ rect: Rect) -> [Cell] {
        (rect.y..<(rect.y + rect.height)).flatMap { y in (rect.x..<(rect.x + rect.width)).map { grid[$0, y] } }
    }

    func testSidebarWidgetDrawsWhatTheFrameShows() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        ex.state.focus = .sidebar
        _ = ex.apply(.selectRow(1))
        let layout = ex.layout
        let frame = ex.render()
        let moved = Rect(x: 1, y: 1, width: layout.sidebar.width, height: layout.sidebar.height)
        let grid = renderAlone(SidebarWidget(ex), width: layout.sidebar.width + 2, height: layout.sidebar.height + 2,
                               rect: moved)
        XCTAssertEqual(cells(grid, moved), cells(frame, layout.sidebar))
        assertSnapshot(grid, depth: .palette256)
    }

    /// The matrix (with a batch running) and compare mode's sidebar, moved into another rect,
    /// draw what the frame shows in their place.
    func testMatrixAndCompareWidgetsDrawWhatTheFrameShows() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.handle(.key(.char("X")))
        ex.matrixBatch = MatrixBatch(method: "gradient", settings: MethodSettings(), targets: [0, 2],
                                     perTarget: nil, awaitingConfirmation: false)
        ex.matrixBatch?.computing = 0
        ex.progress = ProgressState(label: "gradient → background (matrix 1 of 2)", fraction: 0.25, elapsed: 2)
        var frame = ex.render()
        let matrixRect = Rect(x: 0, y: 0, width: 100, height: ex.layout.status.y)
        let moved = Rect(x: 2, y: 1, width: 100, height: matrixRect.height)
        var grid = renderAlone(MatrixWidget(ex), width: 104, height: matrixRect.height + 3, rect: moved)
        XCTAssertEqual(cells(grid, moved), cells(frame, matrixRect))
        _ = ex.handle(.key(.escape))
        _ = ex.apply(.toggleCompare)
        ex.compareAttribution = ex.attribution
        ex.compareRows = ex.rows
        frame = ex.render()
        let sidebar = ex.layout.sidebar
        let shifted = Rect(x: 1, y: 2, width: sidebar.width, height: sidebar.height)
        grid = renderAlone(CompareWidget(ex), width: sidebar.width + 3, height: sidebar.height + 4, rect: shifted)
        XCTAssertEqual(cells(grid, shifted), cells(frame, sidebar))
    }

    func testSidebarWidgetLegendModeInANarrowRect() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.apply(.toggleLegend)
        let grid = renderAlone(SidebarWidget(ex), width: 34, height: 14, rect: Rect(x: 2, y: 1, width: 30, height: 12))
        assertSnapshot(grid)
    }

    func testHeatmapLegendWidgetSignedAndWithoutAttribution() {
        var ex = Fixtures.explorer()
        _ = ex.apply(.toggleSigned)
        var grid = renderAlone(HeatmapLegendWidget(ex), width: 30, height: 10, rect: Rect(x: 1, y: 1, width: 28, height: 4))
        ex.attribution = nil
        HeatmapLegendWidget(ex).render(into: &grid, rect: Rect(x: 1, y: 5, width: 28, height: 4))
        assertSnapshot(grid, depth: .trueColor)
    }

    func testStatusBarWidgetCompactsToItsRect() {
        let ex = Fixtures.explorer(width: 120, height: 36)
        let layout = ex.layout
        let frame = ex.render()
        let grid = renderAlone(StatusBarWidget(ex), width: 120, height: 3, rect: Rect(x: 0, y: 1, width: 120, height: 1))
        XCTAssertEqual(cells(grid, Rect(x: 0, y: 1, width: 120, height: 1)), cells(frame, layout.status))
        // In 50 columns the voxel and label stay, the world position goes.
        var narrow = renderAlone(StatusBarWidget(ex), width: 52, height: 3, rect: Rect(x: 1, y: 1, width: 50, height: 1))
        KeyHintsWidget(ex).render(into: &narrow, rect: Rect(x: 1, y: 2, width: 50, height: 1))
        assertSnapshot(narrow)
    }

    func testKeyHintsWidgetShowsPromptThenMessage() {
        var ex = Fixtures.explorer()
        _ = ex.apply(.openPrompt)
        _ = ex.handle(.key(.char("1")))
        var grid = renderAlone(KeyHintsWidget(ex), width: 60, height: 3, rect: Rect(x: 0, y: 0, width: 60, height: 1))
        _ = ex.handle(.key(.escape))
        _ = ex.apply(.cycleHeatmapOpacity)
        KeyHintsWidget(ex).render(into: &grid, rect: Rect(x: 0, y: 1, width: 60, height: 1))
        ex.state.message = nil
        KeyHintsWidget(ex).render(into: &grid, rect: Rect(x: 0, y: 2, width: 60, height: 1))
        assertSnapshot(grid)
    }

    func testHelpWidgetCentresInItsRect() {
        var ex = Fixtures.explorer(width: 120, height: 40)
        _ = ex.apply(.toggleHelp)
        let frame = ex.render()
        let whole = Rect(x: 0, y: 0, width: 120, height: 40)
        var alone = CellGrid(width: 120, height: 40)
        HelpWidget(ex).render(into: &alone, rect: whole)
        // The box the frame shows is the widget's: same cells wherever the widget drew.
        for y in 0..<40 { for x in 0..<120 where alone[x, y] != Cell() { XCTAssertEqual(alone[x, y], frame[x, y]) } }
        let grid = renderAlone(HelpWidget(ex), width: 90, height: 30, rect: Rect(x: 5, y: 2, width: 80, height: 24))
        assertSnapshot(grid)
    }

    func testActionsAreDispatchedByGroup() {
        XCTAssertEqual(Action.zoomIn.group, .navigation)
        XCTAssertEqual(Action.adjustWindowLevel(20).group, .windowing)
        XCTAssertEqual(Action.toggleSigned.group, .overlays)
        XCTAssertEqual(Action.selectRow(3).group, .ranking)
        XCTAssertEqual(Action.cycleGlobalPage.group, .global)
        XCTAssertEqual(Action.saveMap.group, .general)
        // Every bound action reaches a handler of its group (a wrong group would trap).
        for b in KeyTable.bindings where b.action != .quit {
            var ex = Fixtures.explorer()
            _ = ex.apply(b.action)
        }
    }
}
