import XCTest
import Engine
import Explorer

/// Overlays that read at a glance: label colours apart from the heatmap maps, a reserved target
/// outline, transparent zero, CT under hidden cells, the label legend, greys at few colours and a
/// glyph layer without colour.
final class OverlayTests: XCTestCase {
    /// Euclidean RGB distance.
    private func distance(_ a: RGB, _ b: RGB) -> Double {
        let d = [Double(a.r) - Double(b.r), Double(a.g) - Double(b.g), Double(a.b) - Double(b.b)]
        return (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).squareRoot()
    }

    func testLabelPaletteAndReservedColoursStayClearOfBothHeatmapMaps() {
        let theme = Theme.builtIn
        let samples = (0...255).flatMap { i in
            [theme.sequential.color(at: Double(i) / 255), theme.diverging.color(at: Double(i) / 255)]
        }
        for c in theme.labelPalette {
            let nearest = samples.map { distance(c, $0) }.min()!
            XCTAssertGreaterThanOrEqual(nearest, 60, "label colour \(c) is within \(nearest) of a heatmap colour")
            XCTAssertGreaterThanOrEqual(distance(c, theme[.targetOutline]), 100, "label \(c) near the target colour")
            XCTAssertGreaterThanOrEqual(distance(c, theme[.highlight]), 100, "label \(c) near the highlight colour")
        }
        for role in [ThemeRole.targetOutline, .highlight] {
            let nearest = samples.map { distance(theme[role], $0) }.min()!
            XCTAssertGreaterThanOrEqual(nearest, 100, "\(role) is within \(nearest) of a heatmap colour")
        }
    }

    /// Cells of the axial pane as (top, bottom) pixel colours, keyed by voxel (i, j) at the crosshair slice.
    private func axialPixels(_ ex: Explorer) -> [[Int]: (RGB, RGB)] {
        let grid = ex.render()
        let image = ex.layout.image(of: .axial)
        let vp = ex.viewport(of: .axial)
        var out: [[Int]: (RGB, RGB)] = [:]
        for y in 0..<image.height {
            for x in 0..<image.width {
                let (i, j) = (vp.columns[x], vp.rows[2 * y])
                guard i >= 0, j >= 0, vp.rows[2 * y + 1] == j else { continue }
                let cell = grid[image.x + x, image.y + y]
                out[[i, j]] = (cell.fg, cell.bg)
            }
        }
        return out
    }

    func testTargetOutlineIsDrawnOverTheHeatmapInTheReservedColour() {
        var ex = Fixtures.explorer(width: 160, height: 60)
        ex.state.crosshairMode = .off
        ex.state.crosshair = [2, 6, 3]
        let reserved = ex.theme[.targetOutline]
        let cells = axialPixels(ex)
        let outlined = cells.filter { $0.value.0 == reserved }.keys
        XCTAssertFalse(outlined.isEmpty, "the target (liver, label 1) is outlined")
        for voxel in outlined {
            XCTAssertEqual(ex.scene.labels![voxel[0], voxel[1], 3], 1, "only the target's own voxels carry the outline")
        }
        // The spleen (label 2) is not the target: its outline uses its palette colour, never the reserved one.
        let spleen = cells.filter { ex.scene.labels![$0.key[0], $0.key[1], 3] == 2 }
        XCTAssertFalse(spleen.isEmpty)
        XCTAssertFalse(spleen.values.contains { $0.0 == reserved || $0.1 == reserved })
    }

    func testHiddenAndNearZeroValuesShowTheCTUnchanged() {
        var base = Fixtures.explorer(width: 160, height: 60)
        base.state.crosshairMode = .off
        base.state.labelMode = .off
        base.state.crosshair = [2, 6, 3]
        var off = base
        off.state.heatmapVisible = false
        let ct = axialPixels(off)
        let a = base.attribution!
        for signed in [false, true] {
            for threshold in [false, true] {
                var ex = base
                ex.state.signedHeatmap = signed
                ex.state.hideBelowOnePercent = threshold
                let scale = HeatmapScale(attribution: a, state: ex.state)
                var checked = 0
                // Background voxels carry 0.001·i against a maximum of 0.5: zero at i = 0, then near zero.
                for (voxel, c) in axialPixels(ex) where ex.scene.labels![voxel[0], voxel[1], 3] == 0 {
                    let v = a.map[voxel[0], voxel[1], 3]
                    if v == 0 || v <= scale.threshold {
                        XCTAssertEqual(c.0, ct[voxel]!.0, "zero or hidden attribution shows the CT exactly")
                    } else {
                        // The tint is bounded by the opacity ramp: at most opacity·alpha(|a|/clip) of the way.
                        let bound = ex.state.heatmapOpacity * HeatmapScale.alpha(Double(v / scale.clip)) * 442 + 2
                        XCTAssertLessThanOrEqual(distance(c.0, ct[voxel]!.0), bound)
                    }
                    checked += 1
                }
                XCTAssertGreaterThan(checked, 20, "signed \(signed) threshold \(threshold)")
            }
        }
        XCTAssertEqual(HeatmapScale.alpha(0), 0, "zero is transparent")
        XCTAssertEqual(HeatmapScale.alpha(0.0625), 0.5)
        XCTAssertEqual(HeatmapScale.alpha(0.5), 1)
    }

    func testLegendListsLabelsAndHidesTheSelectedOne() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.handle(.key(.char("V")))
        XCTAssertEqual(ex.state.sidebarMode, .legend)
        XCTAssertEqual(ex.legendLabels, [0, 1, 2])
        ex.state.focus = .sidebar
        _ = ex.handle(.key(.down))
        XCTAssertEqual(ex.selectedLabel, 1)
        _ = ex.handle(.key(.char("v")))
        XCTAssertEqual(ex.state.hiddenLabels, [1])
        XCTAssertEqual(ex.state.message?.text, "liver hidden")
        assertSnapshot(ex.render(), depth: .palette256)
        _ = ex.handle(.key(.char("v")))
        XCTAssertEqual(ex.state.hiddenLabels, [])
    }

    func testVoxelCountsAndAnchorsInsideASplitSegment() {
        // Label 3 in two separate boxes (a left-plus-right structure): its centroid lies between them.
        var scene = Fixtures.scene()
        var labels = scene.labels!
        for k in 0..<2 { for j in 0..<2 { labels[0, j, k] = 3; labels[11, j, k] = 3 } }
        scene.setLabels(labels, source: "test")
        XCTAssertEqual(scene.voxelCounts[3], 8)
        XCTAssertEqual(scene.voxelCounts[1], 4 * 4 * 4)
        XCTAssertEqual(scene.voxelCounts.values.reduce(0, +), 12 * 10 * 8)
        let c = scene.centroids[3]!
        XCTAssertNotEqual(labels[c[0], c[1], c[2]], 3, "the centroid itself is outside the segment")
        let a = scene.anchors[3]!
        XCTAssertEqual(labels[a[0], a[1], a[2]], 3)
    }

    func testFewColoursDrawTheCTInPaletteGreys() {
        for (depth, greys) in [(ColorDepth.palette16, Set([0, 8, 7, 15])), (.palette8, Set([0, 7]))] {
            var ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: depth, unicode: true))
            ex.state.heatmapVisible = false
            ex.state.labelMode = .off
            ex.state.crosshairMode = .off
            ex.state.highlighted = nil
            ex.state.target = 0
            let grid = ex.render()
            let image = ex.layout.image(of: .axial)
            var used = Set<Int>()
            for y in image.y..<(image.y + image.height) {
                for x in image.x..<(image.x + image.width) where !"RLAP".unicodeScalars.contains(grid[x, y].glyph) {
                    used.insert(depth.paletteIndex(for: grid[x, y].fg)!)
                    used.insert(depth.paletteIndex(for: grid[x, y].bg)!)
                }
            }
            XCTAssertTrue(used.isSubset(of: greys), "\(depth): CT uses palette entries \(used.sorted())")
            XCTAssertGreaterThan(used.count, 1)
        }
        let ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .palette16, unicode: true))
        assertSnapshot(ex.render(), depth: .palette16)
    }

    func testMonochromeMarksAttributionWithItsOwnGlyphs() {
        for unicode in [true, false] {
            var ex = Fixtures.explorer(width: 80, height: 24, caps: RenderCapabilities(depth: .monochrome, unicode: unicode))
            let glyphs = Set((unicode ? ["·", "•", "●"] : ["o", "O", "@"]).map { Unicode.Scalar($0)! })
            let image = ex.layout.image(of: .axial)
            func count(_ grid: CellGrid) -> Int {
                var n = 0
                for y in image.y..<(image.y + image.height) {
                    for x in image.x..<(image.x + image.width) where glyphs.contains(grid[x, y].glyph) { n += 1 }
                }
                return n
            }
            XCTAssertGreaterThan(count(ex.render()), 0, "attribution glyphs appear (unicode \(unicode))")
            ex.state.heatmapVisible = false
            XCTAssertEqual(count(ex.render()), 0, "the CT shading never uses the attribution glyphs")
        }
    }
}
