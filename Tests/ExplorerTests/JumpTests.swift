import Engine
import Explorer
import XCTest

/// `z`/`Z` jump between attribution peaks; `:` opens a prompt for a typed ijk or RAS position.
final class JumpTests: XCTestCase {
    /// 12 × 10 × 8 map with three blobs, values picked so the expected order is known by hand:
    /// a plateau of 5 at (2…3, 2, 2) (tie: the lower index wins), its neighbour 4.9 next to it,
    /// −7 at (9, 8, 6) (strongest |a|, negative), and 3 at (6, 5, 1).
    private func explorerWithBlobs() -> Explorer {
        var ex = Fixtures.explorer()
        var map = Volume(grid: ex.scene.ct.grid, voxels: [Float](repeating: 0, count: ex.scene.ct.grid.voxelCount))
        map[2, 2, 2] = 5
        map[3, 2, 2] = 5
        map[4, 2, 2] = 4.9
        map[9, 8, 6] = -7
        map[6, 5, 1] = 3
        ex.attribution = AttributionDisplay(map: map)
        return ex
    }

    func testPeaksAreDistinctBlobsStrongestFirst() {
        let ex = explorerWithBlobs()
        XCTAssertEqual(ex.peaks, [[9, 8, 6], [2, 2, 2], [6, 5, 1]], "|a|; neighbours of (2, 2, 2) are skipped")
        var pos = ex
        pos.state.processing = .pos
        XCTAssertEqual(pos.peaks, [[2, 2, 2], [6, 5, 1]], "pos: the negative blob is no peak")
        pos.state.processing = .neg
        XCTAssertEqual(pos.peaks, [[9, 8, 6]])
        let spaced = AttributionPeaks.top(ex.attribution!.map, count: 10, separation: 0, value: { Double(abs($0)) })
        XCTAssertEqual(spaced, [[9, 8, 6], [2, 2, 2], [3, 2, 2], [4, 2, 2], [6, 5, 1]], "no spacing: every voxel above 0")
        XCTAssertEqual(AttributionPeaks.top(ex.attribution!.map, count: 2, separation: 3, value: { Double(abs($0)) }),
                       [[9, 8, 6], [2, 2, 2]])
    }

    func testZCyclesThroughPeaksAndZBackwards() {
        var ex = explorerWithBlobs()
        XCTAssertEqual(KeyTable.action(for: .char("z")), .jumpToPeak(1))
        XCTAssertEqual(ex.handle(.key(.char("z"))), .redraw)
        XCTAssertEqual(ex.state.crosshair, [9, 8, 6])
        XCTAssertEqual(ex.state.message, StatusMessage("Peak 1/3: a = -7 at voxel 9 8 6 (z next, Z previous)"))
        _ = ex.handle(.key(.char("z")))
        XCTAssertEqual(ex.state.crosshair, [2, 2, 2])
        _ = ex.handle(.key(.char("z")))
        _ = ex.handle(.key(.char("z")))
        XCTAssertEqual(ex.state.crosshair, [9, 8, 6], "wraps after the last peak")
        _ = ex.handle(.key(.char("Z")))
        XCTAssertEqual(ex.state.crosshair, [6, 5, 1])
        XCTAssertEqual(ex.state.peakIndex, 2)
        // Another processing is another map: z starts at its maximum again.
        XCTAssertEqual(ex.handle(.key(.char("p"))), .recompute)
        XCTAssertNil(ex.state.peakIndex)
        _ = ex.handle(.key(.char("z")))
        XCTAssertEqual(ex.state.crosshair, [2, 2, 2], "pos: the strongest positive voxel")

        var none = Fixtures.explorer(withAttribution: false)
        _ = none.handle(.key(.char("z")))
        XCTAssertEqual(none.state.message, StatusMessage("No attribution map to jump in yet", isError: true))
    }

    func testPromptTakesVoxelsOrRASMillimetres() {
        var ex = Fixtures.explorer()
        XCTAssertEqual(ex.handle(.key(.char(":"))), .redraw)
        XCTAssertEqual(ex.state.prompt, "")
        for c in "3 4 59" { _ = ex.handle(.key(.char(c))) }
        _ = ex.handle(.key(.backspace))
        XCTAssertEqual(ex.state.prompt, "3 4 5")
        XCTAssertEqual(ex.handle(.key(.enter)), .redraw)
        XCTAssertNil(ex.state.prompt)
        XCTAssertEqual(ex.state.crosshair, [3, 4, 5])
        // The fixture's affine: 2 × 2 × 3 mm, voxel 0 at (−12, −10, −12) mm, so (−8, −2, 3) mm is
        // voxel ((−8 + 12) / 2, (−2 + 10) / 2, (3 + 12) / 3) = (2, 4, 5); (−7.2, …) rounds to i = 2.
        for text in ["-8, -2, 3 mm", "RAS -7.2 -2 3"] {
            ex.state.crosshair = [0, 0, 0]
            _ = ex.handle(.key(.char(":")))
            for c in text { _ = ex.handle(.key(.char(c))) }
            _ = ex.handle(.key(.enter))
            XCTAssertEqual(ex.state.crosshair, [2, 4, 5], text)
        }
        _ = ex.handle(.key(.char(":")))
        for c in "12 0 0" { _ = ex.handle(.key(.char(c))) }
        _ = ex.handle(.key(.enter))
        XCTAssertEqual(ex.state.message, StatusMessage("Outside the scan: voxel 12 0 0 (dims 12×10×8)", isError: true))
        XCTAssertEqual(ex.state.crosshair, [2, 4, 5], "unchanged")
        _ = ex.handle(.key(.char(":")))
        for c in "liver" { _ = ex.handle(.key(.char(c))) }
        _ = ex.handle(.key(.enter))
        XCTAssertEqual(ex.state.message,
                       StatusMessage("Not a position: 'liver' (type i j k, or x y z mm for RAS)", isError: true))
        // Esc closes the prompt without moving; q inside the prompt is text, not quit.
        _ = ex.handle(.key(.char(":")))
        XCTAssertEqual(ex.handle(.key(.char("q"))), .redraw)
        XCTAssertEqual(ex.state.prompt, "q")
        _ = ex.handle(.key(.escape))
        XCTAssertNil(ex.state.prompt)
        XCTAssertEqual(ex.state.crosshair, [2, 4, 5])
    }

    func testPromptSnapshot() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.handle(.key(.char(":")))
        for c in "61 50 5" { _ = ex.handle(.key(.char(c))) }
        assertSnapshot(ex.render(), depth: .palette256)
    }
}
