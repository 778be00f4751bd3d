import Engine
import Explorer
import XCTest

/// Values the renderer once trapped on: very negative labels and infinite box-plot statistics.
final class ExtremeValueRenderingTests: XCTestCase {
    func testNegativeLabelsCycleThroughThePalette() {
        let theme = Theme.builtIn
        let n = Int32(theme.labelPalette.count)
        XCTAssertGreaterThan(n, 1)
        // Label 1 takes the first entry; labels congruent to 1 modulo n take it too, however negative.
        XCTAssertEqual(theme.labelColor(1 - 100 * n), theme.labelPalette[0])
        XCTAssertEqual(theme.labelColor(-1024), theme.labelColor(-1024 + n))
        XCTAssertEqual(theme.labelColor(Int32.min), theme.labelColor(Int32.min + n))
    }

    func testInfiniteBoxPlotValuesDoNotTrap() {
        let b = GlobalBox(name: "x", min: 0, q1: 0.25, median: 0.5, q3: 0.75, max: .infinity, current: .nan)
        // On an infinite axis every position is undefined; the plot keeps its width.
        let plot = Explorer.boxPlot(b, width: 11, upper: .infinity, unicode: false)
        XCTAssertEqual(plot.count, 11)
        // With a finite axis the infinite maximum is clamped to the right edge.
        XCTAssertEqual(Explorer.boxPlot(b, width: 11, upper: 1, unicode: false).last, "|")
    }
}
