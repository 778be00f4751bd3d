import XCTest
import Engine
import Explorer

/// Key table → action → state transitions, with no terminal.
final class ExplorerStateTests: XCTestCase {
    func testEveryBoundKeyMapsToItsAction() {
        var seen: [Key: Action] = [:]
        for b in KeyTable.bindings {
            for k in b.keys {
                XCTAssertNil(seen[k], "\(k) bound twice")
                seen[k] = b.action
                XCTAssertEqual(KeyTable.action(for: k), b.action)
            }
        }
        XCTAssertNil(KeyTable.action(for: .char("§")))
    }

    func testHelpListsEveryBinding() {
        let lines = Explorer.helpLines(unicode: true).map(\.text)
        for b in KeyTable.bindings {
            XCTAssertTrue(lines.contains { $0.hasSuffix(b.help) }, "help lacks '\(b.help)'")
        }
        XCTAssertEqual(Explorer.helpLines(unicode: true).filter(\.isHeader).map(\.text),
                       ["Navigate", "Display", "Explain", "General"])
    }

    func testArrowKeysFollowScreenDirectionsInRadiologicalView() {
        var ex = Fixtures.explorer()
        let start = ex.state.crosshair
        // Axial: screen right is patient left, i.e. decreasing i on a RAS grid; screen up is anterior (+j).
        XCTAssertEqual(ex.handle(.key(.right)), .redraw)
        XCTAssertEqual(ex.state.crosshair, [start[0] - 1, start[1], start[2]])
        _ = ex.handle(.key(.char("k")))
        XCTAssertEqual(ex.state.crosshair, [start[0] - 1, start[1] + 1, start[2]])
        // Sagittal: screen right is posterior (−j), screen down is inferior (−k).
        ex.state.focus = .sagittal
        _ = ex.handle(.key(.char("l")))
        _ = ex.handle(.key(.down))
        XCTAssertEqual(ex.state.crosshair, [start[0] - 1, start[1], start[2] - 1])
    }

    func testCrosshairClampsAtTheVolumeEdge() {
        var ex = Fixtures.explorer()
        for _ in 0..<50 { _ = ex.handle(.key(.left)) }
        XCTAssertEqual(ex.state.crosshair[0], 11)
        for _ in 0..<50 { _ = ex.handle(.key(.pageUp)) }
        XCTAssertEqual(ex.state.crosshair[2], 7)
        for _ in 0..<50 { _ = ex.handle(.key(.char("["))) }
        XCTAssertEqual(ex.state.crosshair[2], 0)
    }

    func testSliceStepFollowsFocusedPlane() {
        var ex = Fixtures.explorer()
        let start = ex.state.crosshair
        ex.state.focus = .coronal
        _ = ex.handle(.key(.char("]")))
        XCTAssertEqual(ex.state.crosshair, [start[0], start[1] + 1, start[2]])
    }

    func testTabCyclesPanesAndSidebar() {
        var ex = Fixtures.explorer()
        var order: [Focus] = []
        for _ in 0..<4 { _ = ex.handle(.key(.tab)); order.append(ex.state.focus) }
        XCTAssertEqual(order, [.coronal, .sagittal, .sidebar, .axial])
        _ = ex.handle(.key(.backTab))
        XCTAssertEqual(ex.state.focus, .sidebar)
    }

    func testZoomIsBoundedAndResets() {
        var ex = Fixtures.explorer()
        _ = ex.handle(.key(.char("-")))
        XCTAssertEqual(ex.state.sharedZoom, 1, "cannot zoom out past fit")
        for _ in 0..<30 { _ = ex.handle(.key(.char("+"))) }
        XCTAssertEqual(ex.state.sharedZoom, 16)
        XCTAssertEqual(ex.state.sharedCenter, ex.state.crosshair.map { Double($0) + 0.5 }, "zoom centres on the crosshair")
        XCTAssertEqual(ex.state.message?.text, "Zoom 16.0× (all planes; u unlinks)")
        _ = ex.handle(.key(.char("L")))
        _ = ex.handle(.key(.char("0")))
        XCTAssertEqual(ex.state.sharedZoom, 1)
        XCTAssertNil(ex.state.sharedCenter)
    }

    func testLinkedZoomMagnifiesEveryPlaneAndUnlinkKeepsThePicture() {
        var ex = Fixtures.explorer(width: 160, height: 50)
        let before = Plane.allCases.map { ex.viewport(of: $0).pixelsPerVoxel }
        _ = ex.handle(.key(.char("+")))
        _ = ex.handle(.key(.char("+")))
        let zoomed = Plane.allCases.map { ex.viewport(of: $0).pixelsPerVoxel }
        for (b, z) in zip(before, zoomed) { XCTAssertEqual(z / b, 1.5625, accuracy: 1e-9, "every plane zooms") }
        _ = ex.handle(.key(.char("J")))
        let linkedColumns = Plane.allCases.map { ex.viewport(of: $0).columns }
        _ = ex.handle(.key(.char("u")))
        XCTAssertFalse(ex.state.linked)
        XCTAssertEqual(Plane.allCases.map { ex.viewport(of: $0).columns }, linkedColumns, "unlinking keeps each view")
        _ = ex.handle(.key(.char("+")))
        XCTAssertEqual(ex.viewport(of: .axial).pixelsPerVoxel / zoomed[0], 1.25, accuracy: 1e-9)
        XCTAssertEqual(ex.viewport(of: .coronal).pixelsPerVoxel, zoomed[1], accuracy: 1e-9, "other planes keep theirs")
        _ = ex.handle(.key(.char("u")))
        XCTAssertTrue(ex.state.linked)
    }

    func testPlanesShareOneScaleAndTheLayoutMaximisesIt() {
        for (w, h) in [(80, 24), (120, 40), (200, 60), (240, 70), (100, 80)] {
            let ex = Fixtures.explorer(width: w, height: h)
            let layout = ex.layout
            let grid = ex.scene.ct.grid
            // One millimetre is the same number of pixels in every plane.
            let perMM = Plane.allCases.map { plane -> Double in
                let vp = ex.viewport(of: plane)
                return vp.pixelsPerVoxel / grid.spacing[vp.axes.horizontal]
            }
            for v in perMM { XCTAssertEqual(v, perMM[0], accuracy: 1e-9, "\(w)x\(h)") }
            // Each plane fits its pane at that scale.
            for plane in Plane.allCases {
                let e = PlaneViewport.extent(of: plane, grid: grid)
                let image = layout.image(of: plane)
                XCTAssertLessThanOrEqual(e.0 * layout.pixelsPerMM, Double(image.width) + 1e-9)
                XCTAssertLessThanOrEqual(e.1 * layout.pixelsPerMM, Double(2 * image.height) + 1e-9)
            }
            // No worse than the fixed split used before (axial left half, the others stacked right).
            let area = w - layout.sidebar.width - 1, ch = h - 2
            let left = (area - 1) / 2, right = area - 1 - left
            let fixed = [(left, ch), (right, ch / 2), (right, ch - ch / 2)].enumerated().map { i, r -> Double in
                let e = PlaneViewport.extent(of: Plane(rawValue: i)!, grid: grid)
                return min(Double(r.0) / e.0, Double(2 * (r.1 - 1)) / e.1)
            }.min()!
            XCTAssertGreaterThanOrEqual(layout.pixelsPerMM, fixed - 1e-12, "\(w)x\(h)")
        }
    }

    func testSidebarTakesOnlyTheWidthItNeeds() {
        let ex = Fixtures.explorer(width: 200, height: 60)
        // Longest name "background" (10) + 24 columns for rank, swatch, value and bar.
        XCTAssertEqual(ex.layout.sidebar.width, 34)
        var long = ex
        long.scene.labelNames[2] = "a_very_long_structure_name_indeed_42"
        long.scene.setLabels(long.scene.labels, source: "file")
        XCTAssertEqual(long.layout.sidebar.width, 48, "names longer than 24 are cut with an ellipsis")
    }

    func testMaximizeShowsOnlyTheFocusedPlane() {
        var ex = Fixtures.explorer(width: 160, height: 50)
        let shared = ex.layout.pixelsPerMM
        _ = ex.handle(.key(.tab))
        XCTAssertEqual(ex.handle(.key(.char("f"))), .resize)
        XCTAssertEqual(ex.state.maximized, .coronal)
        let layout = ex.layout
        XCTAssertEqual(layout.panes[0].width, 0)
        XCTAssertEqual(layout.panes[1].width, 160 - layout.sidebar.width - 1)
        XCTAssertGreaterThan(layout.pixelsPerMM, shared)
        _ = ex.handle(.key(.char("f")))
        XCTAssertNil(ex.state.maximized)
    }

    func testWindowPresetsAndFreeWindow() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.state.window.label, "W/L 400/40 soft tissue")
        var labels: [String] = []
        for _ in 0..<5 { _ = ex.handle(.key(.char("w"))); labels.append(ex.state.window.label) }
        XCTAssertEqual(labels, ["W/L 1500/-600 lung", "W/L 1800/400 bone", "W/L 80/40 brain",
                                "W/L 350/50 mediastinum", "W/L 400/40 soft tissue"])
        _ = ex.handle(.key(.char(">")))
        _ = ex.handle(.key(.char("}")))
        XCTAssertEqual(ex.state.window.label, "W/L 440/60")
        XCTAssertNil(ex.state.presetIndex)
    }

    func testOverlayToggles() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.state.labelMode, .auto)
        XCTAssertEqual(ex.effectiveLabelMode, .outline, "auto outlines labels while the heatmap is shown")
        _ = ex.handle(.key(.char("o")))
        XCTAssertEqual(ex.state.labelMode, .fill)
        XCTAssertEqual(ex.state.message?.text, "Labels: fill")
        _ = ex.handle(.key(.char("o")))
        _ = ex.handle(.key(.char("o")))
        XCTAssertEqual(ex.state.labelMode, .off)
        _ = ex.handle(.key(.char("O")))
        XCTAssertEqual(ex.state.labelOpacity, 0.6)
        XCTAssertEqual(ex.state.message?.text, "Label opacity 60% (applies to filled labels: o)")
        _ = ex.handle(.key(.char("A")))
        XCTAssertEqual(ex.state.heatmapOpacity, 0.85)
        XCTAssertEqual(ex.state.message?.text, "Heatmap opacity 85%")
        _ = ex.handle(.key(.char("a")))
        XCTAssertFalse(ex.state.heatmapVisible)
        _ = ex.handle(.key(.char("%")))
        XCTAssertEqual(ex.state.clipPercentile, 99)
        _ = ex.handle(.key(.char("x")))
        XCTAssertFalse(ex.state.hideBelowOnePercent)
    }

    func testExplainChangesAskForRecompute() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.handle(.key(.char("p"))), .recompute)
        XCTAssertEqual(ex.state.processing, .pos)
        XCTAssertEqual(ex.handle(.key(.char("m"))), .recompute)
        XCTAssertEqual(ex.method, "integrated-gradients")
        XCTAssertEqual(ex.handle(.key(.char("M"))), .recompute)
        XCTAssertEqual(ex.method, "gradient")
        XCTAssertEqual(ex.state.target, 1)
        XCTAssertEqual(ex.handle(.key(.char("n"))), .recompute)
        XCTAssertEqual(ex.targetName, "spleen")
        _ = ex.handle(.key(.char("n")))
        XCTAssertEqual(ex.state.target, 0, "targets wrap around")
        _ = ex.handle(.key(.char("N")))
        XCTAssertEqual(ex.state.target, 2)
    }

    func testTargetUnderCrosshair() {
        var ex = Fixtures.explorer()
        ex.state.crosshair = [8, 2, 3]   // inside label 2 (spleen)
        XCTAssertEqual(ex.handle(.key(.char("t"))), .recompute)
        XCTAssertEqual(ex.state.target, 2)
        XCTAssertEqual(ex.handle(.key(.char("t"))), .redraw, "same target: nothing to compute")
        // A label table from the model (label → class) wins over names.
        ex.labelClasses = [2: 1]
        XCTAssertEqual(ex.handle(.key(.char("t"))), .recompute)
        XCTAssertEqual(ex.state.target, 1)
        ex.state.crosshair = [0, 0, 0]   // background: class 0 by name
        XCTAssertEqual(ex.handle(.key(.char("t"))), .recompute)
        XCTAssertEqual(ex.state.target, 0)
    }

    func testRankingOrderBackgroundAndRankKey() {
        var ex = Fixtures.explorer()
        // Target liver: its own box holds most |a| mass.
        XCTAssertEqual(ex.rankedRows.first?.name, "liver")
        XCTAssertTrue(ex.rankedRows.contains { $0.label == 0 })
        _ = ex.handle(.key(.char("b")))
        XCTAssertFalse(ex.rankedRows.contains { $0.label == 0 })
        let masses = ex.rankedRows.compactMap(\.mass)
        XCTAssertEqual(masses, masses.sorted(by: >))
        _ = ex.handle(.key(.char("r")))
        XCTAssertEqual(ex.state.rankKey, .mean)
        let means = ex.rankedRows.compactMap(\.mean)
        XCTAssertEqual(means, means.sorted(by: >))
    }

    func testSelectingARowHighlightsAndJumpsToCentroid() {
        var ex = Fixtures.explorer()
        ex.state.focus = .sidebar
        _ = ex.handle(.key(.down))            // row 2
        XCTAssertEqual(ex.state.selectedRow, 1)
        let label = ex.rankedRows[1].label
        _ = ex.handle(.key(.enter))
        XCTAssertEqual(ex.state.highlighted, label)
        XCTAssertEqual(ex.state.crosshair, ex.scene.anchors[label])
        XCTAssertEqual(ex.scene.label(at: ex.state.crosshair), label, "Enter lands inside the segment")
        XCTAssertEqual(ex.scene.centroids[1], [3, 7, 4], "box i 1…4, j 5…8, k 2…5 (rounded half up)")
        _ = ex.handle(.key(.enter))
        XCTAssertNil(ex.state.highlighted, "Enter again clears the highlight")
        for _ in 0..<10 { _ = ex.handle(.key(.down)) }
        XCTAssertEqual(ex.state.selectedRow, ex.rankedRows.count - 1)
    }

    func testHelpOpensAndAnyKeyClosesIt() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.handle(.key(.char("?"))), .redraw)
        XCTAssertTrue(ex.state.helpVisible)
        let crosshair = ex.state.crosshair
        _ = ex.handle(.key(.left))
        XCTAssertFalse(ex.state.helpVisible)
        XCTAssertEqual(ex.state.crosshair, crosshair, "the closing key does nothing else")
        _ = ex.handle(.key(.function(1)))
        XCTAssertEqual(ex.handle(.key(.escape)), .redraw)
        XCTAssertFalse(ex.state.helpVisible)
    }

    func testEscapeCancelsOnlyWhileComputing() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.handle(.key(.escape)), .none)
        ex.progress = ProgressState(label: "ig", fraction: 0.3)
        XCTAssertEqual(ex.handle(.key(.escape)), .cancelComputation)
    }

    func testQuitExportAndThemeKeys() {
        var ex = Fixtures.explorer()
        ex.themes = [Theme.builtIn, try! Theme.parse("crosshair = #ff0000", name: "x", source: "x.theme")]
        XCTAssertEqual(ex.handle(.key(.char("q"))), .quit)
        XCTAssertEqual(ex.handle(.key(.char("e"))), .export(ansi: false))
        XCTAssertEqual(ex.handle(.key(.char("E"))), .export(ansi: true))
        _ = ex.handle(.key(.char("T")))
        XCTAssertEqual(ex.theme.name, "x")
        XCTAssertEqual(ex.state.message?.text, "Theme: x")
    }

    func testMouseClickPlacesCrosshairAndWheelStepsSlices() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        let image = ex.layout.image(of: .axial)
        // Click the top-left cell of the slice (it is letterboxed): patient right (i = 11), anterior (j = 9).
        let vp = PlaneViewport(plane: .axial, grid: ex.scene.ct.grid, crosshair: ex.state.crosshair,
                               pixelWidth: image.width, pixelHeight: image.height * 2, zoom: 1, center: nil)
        let x = vp.columns.firstIndex { $0 >= 0 }!
        let y = (0..<image.height).first { vp.rows[2 * $0] >= 0 }!
        XCTAssertGreaterThan(y, 0, "a 24 × 20 mm slice in a tall pane is letterboxed")
        var clicked = ex
        _ = clicked.handle(.mouse(x: image.x + x, y: image.y + y, kind: .press))
        XCTAssertEqual(clicked.state.crosshair[0], 11)
        XCTAssertEqual(clicked.state.crosshair[1], 9)
        let k = ex.state.crosshair[2]
        _ = ex.handle(.mouse(x: image.x + 3, y: image.y + 3, kind: .wheelUp))
        XCTAssertEqual(ex.state.crosshair[2], k + 1)
        // Sidebar click selects and activates a row.
        let row = ex.layout.sidebarListTop + 1
        _ = ex.handle(.mouse(x: ex.layout.sidebar.x + 2, y: row, kind: .press))
        XCTAssertEqual(ex.state.focus, .sidebar)
        XCTAssertEqual(ex.state.selectedRow, 1)
        XCTAssertEqual(ex.state.highlighted, ex.rankedRows[1].label)
    }

    func testTinySizesAndRapidResizesNeverBreak() {
        var ex = Fixtures.explorer()
        for (w, h) in [(0, 0), (1, 1), (79, 23), (80, 24), (3, 200), (300, 2), (80, 24), (240, 70), (10, 5)] {
            XCTAssertEqual(ex.handle(.resize(width: w, height: h)), .resize)
            let grid = ex.render()
            XCTAssertEqual(grid.width, w)
            XCTAssertEqual(grid.height, h)
            _ = ex.handle(.mouse(x: w / 2, y: h / 2, kind: .press))
            _ = ex.handle(.key(.char("?")))
            _ = ex.render()
            _ = ex.handle(.key(.escape))
        }
        XCTAssertTrue(ex.layout.tooSmall)
    }

    func testStatusProbeValues() {
        var ex = Fixtures.explorer()
        ex.state.crosshair = [2, 6, 3]
        let probe = Dictionary(uniqueKeysWithValues: ex.probe)
        XCTAssertEqual(probe["voxel"], "2 6 3")
        XCTAssertEqual(probe["RAS mm"], "-8.0 2.0 -3.0")
        XCTAssertEqual(probe["HU"], "-80")
        XCTAssertEqual(probe["label"], "liver")
        XCTAssertEqual(probe["explain"], "gradient → liver (1) · abs")
        XCTAssertEqual(probe["window"], "W/L 400/40 soft tissue")
        // a = 0.1·(1+i) = 0.3 inside the liver box; 32 liver voxels have larger values than i = 2.
        XCTAssertTrue(probe["attribution"]!.hasPrefix("+0.3000 (p"), probe["attribution"]!)
    }

    func testWithoutAModelTargetsComeFromTheGlobalCSV() throws {
        var ex = Fixtures.explorer(withAttribution: false)
        ex.methods = []
        ex.classNames = []
        XCTAssertEqual(ex.handle(.key(.char("n"))), .none, "nothing to cycle yet")
        ex.global = GlobalResults(table: try ResultsTable.parse(GlobalResultsTests.csv, source: "r.csv"), source: "r.csv")
        XCTAssertEqual(ex.targetNames, ["liver", "spleen"])
        ex.state.target = 0
        _ = ex.handle(.key(.char("g")))
        XCTAssertTrue(ex.state.showGlobal)
        XCTAssertEqual(ex.globalBoxes.map(\.name), ["liver", "background", "spleen"])
        _ = ex.handle(.key(.char("n")))
        XCTAssertEqual(ex.targetName, "spleen")
        XCTAssertEqual(ex.globalBoxes.map(\.name), ["liver"])
        XCTAssertTrue(ex.render().textLines[0].contains("Global · target spleen"))
    }
}
