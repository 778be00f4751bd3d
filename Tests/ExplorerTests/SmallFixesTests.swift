import XCTest
import Engine
import Explorer

/// Status compaction, selection that follows its segment, sidebar ellipsis and the global view's
/// explanation when it is empty.
final class SmallFixesTests: XCTestCase {
    func testStatusLineCompactsByPriorityInsteadOfCutting() {
        let ex = Fixtures.explorer(width: 200, height: 40)
        let line = ex.statusLine
        let full = line.text(width: 1000)
        XCTAssertEqual(full, " ijk 6 5 4 │ RAS 0.0 0.0 0.0 mm │ HU 80 │ background │ a +0.0060 (p51.7) │ "
                       + "gradient → liver (1) · abs │ W/L 400/40 soft tissue")
        // 120 columns: the attribution loses its percentile first, nothing is dropped.
        XCTAssertEqual(line.text(width: 120), " ijk 6 5 4 │ RAS 0.0 0.0 0.0 mm │ HU 80 │ background │ a +0.0060 │ "
                       + "gradient → liver (1) · abs │ W/L 400/40 soft tissue")
        for width in [100, 80, 60, 50] {
            let text = line.text(width: width)
            XCTAssertLessThanOrEqual(text.count, width, text)
            for needle in ["6 5 4", "background", "liver", "400/40"] {
                XCTAssertTrue(text.contains(needle), "\(width) columns lose \(needle): \(text)")
            }
            XCTAssertTrue(text.contains("grad") , text)
        }
        // Shorter forms everywhere before anything is dropped; then the world position goes.
        XCTAssertEqual(line.text(width: 80), " 6 5 4 │ HU 80 │ background │ a +0.0060 │ grad→liver │ W/L 400/40")
        XCTAssertEqual(line.text(width: 40), " 6 5 4 │ background │ grad→liver")
        for width in stride(from: 20, through: 200, by: 7) {
            XCTAssertLessThanOrEqual(line.text(width: width).count, max(width, 12), "width \(width)")
        }
    }

    func testStatusLineKeepsWindowAt120x40WhileComputing() {
        var ex = Fixtures.explorer(width: 120, height: 40)
        ex.progress = ProgressState(label: "kernelshap → liver", fraction: 0.3)
        let status = ex.render().textLines[38]
        XCTAssertTrue(status.contains("W/L 400/40"), status)
        XCTAssertTrue(status.contains("liver"), status)
        XCTAssertTrue(status.contains("30%"), status)
    }

    func testSelectionFollowsTheSegmentAcrossReRanking() {
        var ex = Fixtures.explorer()
        ex.state.focus = .sidebar
        _ = ex.handle(.key(.down))
        let label = ex.selectedLabel
        XCTAssertEqual(label, 2, "spleen is second by mass")
        _ = ex.handle(.key(.char("r")))      // rank by mean: the order changes
        XCTAssertEqual(ex.selectedLabel, label)
        _ = ex.handle(.key(.char("b")))      // hide background
        XCTAssertEqual(ex.selectedLabel, label)
        // A new ranking with another order keeps the segment selected.
        var reversed = ex.rows
        for i in reversed.indices { reversed[i].mass = reversed[i].mass.map { 1 - $0 }; reversed[i].mean = reversed[i].mean.map { -$0 } }
        ex.setRows(reversed)
        XCTAssertEqual(ex.selectedLabel, label)
    }

    func testLongNamesGetAnEllipsis() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        ex.scene.labelNames[2] = "vertebrae_T12_and_more_of_the_spine"
        ex.rows = FakeProvider.ranking(ex.attribution!.map, ex.scene.labels!, .abs, ex.scene.labelNames)
        let lines = ex.render().textLines
        let width = ex.layout.sidebar.width
        // The name column is the sidebar width less 22 columns of rank, swatch, value and bar.
        let name = "vertebrae_T12_and_more_of_the_spine"
        let cut = String(name.prefix(width - 23)) + "…"
        XCTAssertTrue(lines.contains { $0.contains(cut) }, "no row shows \(cut)")
    }

    func testGlobalViewSaysWhyItIsEmpty() throws {
        var ex = Fixtures.explorer(width: 100, height: 30)
        let csv = "patient,kidney_explanation_in_kidney_mass,kidney_explanation_in_background_mass\ns1,0.7,0.3\n"
        ex.global = GlobalResults(table: try ResultsTable.parse(csv, source: "other.csv"), source: "other.csv")
        _ = ex.apply(.toggleGlobal)
        XCTAssertEqual(ex.globalEmptyReason, ["No target of this file is a model class.", "Targets in the file: kidney"])
        let text = ex.render().textLines.joined(separator: "\n")
        XCTAssertTrue(text.contains("No target of this file is"), text)
        XCTAssertTrue(text.contains("Targets in the file: kidney"), text)
        ex.global = GlobalResults(table: try ResultsTable.parse(GlobalResultsTests.csv, source: "r.csv"), source: "r.csv")
        XCTAssertNil(ex.globalEmptyReason)
    }
}
