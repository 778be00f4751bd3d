import XCTest
import Engine
import Explorer

/// Rendering snapshots at fixed sizes. Glyph-only snapshots pin layout and text; styled ones pin
/// colours as each colour depth displays them.
final class SnapshotTests: XCTestCase {
    func testThreePlanesWithOverlaysAndSidebar() {
        assertSnapshot(Fixtures.explorer(width: 100, height: 30).render())
    }

    func testWideLayoutPutsPlanesSideBySide() {
        let ex = Fixtures.explorer(width: 200, height: 24)
        let layout = ex.layout
        XCTAssertEqual(Set(layout.panes.map(\.y)), [0], "one row of planes")
        assertSnapshot(ex.render())
    }

    func testTrueColor() {
        assertSnapshot(Fixtures.explorer(width: 80, height: 24).render(), depth: .trueColor)
    }

    func testPalette256() {
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .palette256, unicode: true))
        assertSnapshot(ex.render(), depth: .palette256)
    }

    func testPalette16() {
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .palette16, unicode: true))
        assertSnapshot(ex.render(), depth: .palette16)
    }

    func testPalette8ASCII() {
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .palette8, unicode: false))
        assertSnapshot(ex.render(), depth: .palette8)
    }

    func testMonochromeShading() {
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .monochrome, unicode: true))
        assertSnapshot(ex.render(), depth: .monochrome)
    }

    func testMonochromeASCII() {
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .monochrome, unicode: false))
        let grid = ex.render()
        XCTAssertTrue(grid.cells.allSatisfy { $0.glyph.isASCII }, "non-UTF-8 locales get ASCII only")
        assertSnapshot(grid, depth: .monochrome)
    }

    func testOutlineLabelsAndHighlightedSegment() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.apply(.cycleLabelMode)
        _ = ex.apply(.cycleLabelMode)
        XCTAssertEqual(ex.state.labelMode, .outline)
        _ = ex.apply(.toggleHeatmap)
        ex.state.focus = .sidebar
        _ = ex.apply(.activateRow)
        assertSnapshot(ex.render(), depth: .palette256)
    }

    func testSignedHeatmapLegend() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.apply(.toggleSigned)
        ex.state.labelMode = .off
        assertSnapshot(ex.render(), depth: .palette256)
    }

    func testHelpOverlay() {
        var ex = Fixtures.explorer(width: 120, height: 40)
        _ = ex.handle(.key(.char("?")))
        assertSnapshot(ex.render())
    }

    func testHelpOverlayAtMinimumSize() {
        var ex = Fixtures.explorer(width: 80, height: 24)
        _ = ex.handle(.key(.function(1)))
        assertSnapshot(ex.render())
    }

    func testHelpOverlaySecondPage() {
        var ex = Fixtures.explorer(width: 80, height: 24)
        _ = ex.handle(.key(.function(1)))
        XCTAssertEqual(ex.handle(.key(.char(" "))), .redraw)
        XCTAssertEqual(ex.state.helpPage, 1)
        assertSnapshot(ex.render())
        _ = ex.handle(.key(.char(" ")))
        _ = ex.handle(.key(.char(" ")))
        XCTAssertEqual(ex.state.helpPage, 3)
        XCTAssertTrue(ex.render().textLines[1].contains("Keys 4/4"))
        _ = ex.handle(.key(.char(" ")))
        XCTAssertFalse(ex.state.helpVisible, "Space on the last page closes help")
    }

    func testTooSmallMessage() {
        assertSnapshot(Fixtures.explorer(width: 60, height: 20).render())
    }

    func testGlobalBoxPlots() throws {
        var ex = Fixtures.explorer(width: 100, height: 30)
        ex.global = GlobalResults(table: try ResultsTable.parse(GlobalResultsTests.csv, source: "results.csv"),
                                  source: "results.csv")
        _ = ex.apply(.toggleGlobal)
        ex.state.focus = .sidebar
        assertSnapshot(ex.render())
    }

    func testComputingProgressAndNoRanking() {
        var ex = Fixtures.explorer(width: 100, height: 30, withAttribution: false)
        ex.progress = ProgressState(label: "integrated-gradients → liver", fraction: 0.42)
        assertSnapshot(ex.render())
    }
}
