import XCTest
import Engine
import Explorer

final class HeatmapTests: XCTestCase {
    private func display(_ values: [Float]) -> AttributionDisplay {
        AttributionDisplay(map: Volume(grid: Grid(dims: [values.count, 1, 1], affine: .identity), voxels: values))
    }

    func testHidesValuesAtOrBelowOnePercentOfMax() {
        let a = display([0, 0.005, 0.01, 0.0101, -0.5, 1])
        var state = ViewState(crosshair: [0, 0, 0])
        state.clipPercentile = 100
        let scale = HeatmapScale(attribution: a, state: state)
        XCTAssertEqual(scale.threshold, 0.01, accuracy: 1e-7)
        XCTAssertNil(scale.position(0.005))
        XCTAssertNil(scale.position(0.01), "exactly 1% is hidden (|a| ≤ 1% of max)")
        XCTAssertNotNil(scale.position(0.0101))
        XCTAssertEqual(scale.position(-0.5)!, 0.5, accuracy: 1e-9, "abs processing maps |a| / max")
        state.hideBelowOnePercent = false
        XCTAssertNotNil(HeatmapScale(attribution: a, state: state).position(0.005))
    }

    func testSignedScaleIsZeroCentredAndClipped() {
        let values = (0..<200).map { Float($0) / 100 } + [-1, 50]   // one outlier at 50
        let a = display(values)
        var state = ViewState(crosshair: [0, 0, 0])
        state.signedHeatmap = true
        state.clipPercentile = 99
        let scale = HeatmapScale(attribution: a, state: state)
        XCTAssertEqual(Double(scale.clip), Double(a.absQuantile(99)), accuracy: 1e-6)
        XCTAssertLessThan(scale.clip, 50, "the outlier is clipped")
        XCTAssertEqual(scale.position(50)!, 1)
        XCTAssertEqual(scale.position(-1)!, 0.5 - 0.5 / Double(scale.clip), accuracy: 1e-6)
    }

    func testPosAndNegProcessing() {
        let a = display([-2, 1, 2])
        var state = ViewState(crosshair: [0, 0, 0])
        state.clipPercentile = 100
        state.processing = .pos
        XCTAssertNil(HeatmapScale(attribution: a, state: state).position(-2))
        state.processing = .neg
        XCTAssertEqual(HeatmapScale(attribution: a, state: state).position(-2)!, 1)
        XCTAssertNil(HeatmapScale(attribution: a, state: state).position(1))
    }

    func testPercentileOfValue() {
        let a = display((1...100).map { Float($0) })
        XCTAssertEqual(a.percentile(of: 50), 50)
        XCTAssertEqual(a.percentile(of: -100), 100, "percentiles rank |a|")
        XCTAssertEqual(a.percentile(of: 0.5), 0)
        XCTAssertEqual(a.maxAbs, 100)
    }
}

final class ColorDepthTests: XCTestCase {
    func testPaletteMapping() {
        XCTAssertEqual(ColorDepth.palette256.paletteIndex(for: RGB(255, 0, 0)), 196)
        XCTAssertEqual(ColorDepth.palette256.paletteIndex(for: RGB(0, 0, 0)), 16)
        XCTAssertEqual(ColorDepth.palette256.paletteIndex(for: RGB(128, 128, 128)), 244)
        XCTAssertEqual(ColorDepth.palette16.paletteIndex(for: RGB(250, 10, 10)), 9)
        XCTAssertEqual(ColorDepth.palette8.paletteIndex(for: RGB(250, 10, 10)), 1)
        XCTAssertNil(ColorDepth.trueColor.paletteIndex(for: RGB(1, 2, 3)))
        XCTAssertEqual(ColorDepth.monochrome.displayed(RGB(200, 200, 200)), .white)
        for i in 16..<256 {
            XCTAssertEqual(ColorDepth.palette256.paletteIndex(for: ColorDepth.paletteColor(i)).map(ColorDepth.paletteColor),
                           ColorDepth.paletteColor(i), "palette colour \(i) maps to itself")
        }
    }

    func testColormapInterpolatesStops() {
        let map = Colormap(stops: [RGB(0, 0, 0), RGB(255, 255, 255)])
        XCTAssertEqual(map.color(at: 0), RGB(0, 0, 0))
        XCTAssertEqual(map.color(at: 1), RGB(255, 255, 255))
        XCTAssertEqual(map.color(at: 0.5), RGB(128, 128, 128))
        XCTAssertEqual(map.color(at: .nan), RGB(0, 0, 0))
        XCTAssertEqual(map.color(at: 7), RGB(255, 255, 255))
    }
}

final class ThemeTests: XCTestCase {
    static let themesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Themes")

    func testBundledThemesParseAndDiffer() throws {
        XCTAssertEqual(Theme.available(in: [Self.themesDir]), ["default", "high-contrast", "light", "monochrome"])
        let themes = try ["default", "light", "monochrome", "high-contrast"].map {
            try Theme.load(named: $0, searchPaths: [Self.themesDir])
        }
        XCTAssertEqual(themes[0], Theme.builtIn, "the default theme file spells out the built-in defaults")
        XCTAssertEqual(themes[1][.background], RGB(0xf7, 0xf7, 0xf5))
        XCTAssertEqual(themes[2].sequential.stops, [RGB(0, 0, 0), RGB(255, 255, 255)])
        XCTAssertEqual(themes[3][.crosshair], RGB(255, 255, 255))
        XCTAssertEqual(themes[1].labelPalette, Theme.builtIn.labelPalette, "missing keys fall back")
    }

    func testMissingKeysFallBackToBuiltIn() throws {
        let t = try Theme.parse("# only one role\ncrosshair = #123456\n", name: "mine", source: "mine.theme")
        XCTAssertEqual(t[.crosshair], RGB(0x12, 0x34, 0x56))
        XCTAssertEqual(t[.background], Theme.builtIn[.background])
        XCTAssertEqual(t.name, "mine")
    }

    func testErrorsNameFileAndLine() {
        XCTAssertThrowsError(try Theme.parse("crosshair = #12345\n", name: "t", source: "t.theme")) {
            XCTAssertEqual(($0 as? ThemeError)?.description, "t.theme:1: '#12345' is not a #rrggbb colour")
        }
        XCTAssertThrowsError(try Theme.parse("\nwat = #123456\n", name: "t", source: "t.theme")) {
            XCTAssertEqual(($0 as? ThemeError)?.description, "t.theme:2: unknown key 'wat'")
        }
        XCTAssertThrowsError(try Theme.parse("labels = #123456\n", name: "t", source: "t.theme")) {
            XCTAssertEqual(($0 as? ThemeError)?.line, 1)
        }
        XCTAssertThrowsError(try Theme.load(named: "nope", searchPaths: [Self.themesDir])) {
            XCTAssertTrue(($0 as? ThemeError)?.description.contains("no theme file 'nope.theme'") == true)
        }
    }
}

final class GlobalResultsTests: XCTestCase {
    static let csv = """
        patient,liver_explanation_in_background_mass,liver_explanation_in_background_mean,liver_explanation_in_liver_mass,liver_explanation_in_spleen_mass,spleen_explanation_in_liver_mass
        s0001,0.5,1.0,0.4,0.1,0.2
        s0042,0.3,1.0,0.6,0.1,0.3
        s0100,0.2,1.0,0.7,0.1,0.4
        s0200,0.1,1.0,0.8,,0.5
        """

    func testQuartilesRankingAndCurrentScan() throws {
        let g = GlobalResults(table: try ResultsTable.parse(Self.csv, source: "r.csv"), source: "r.csv")
        XCTAssertEqual(g.scanCount, 4)
        let boxes = g.boxes(target: "liver", scanPath: "/data/s0042_ct.nii.gz")
        XCTAssertEqual(boxes.map(\.name), ["liver", "background", "spleen"], "ranked by median")
        let liver = boxes[0]
        XCTAssertEqual(liver.min, 0.4)
        XCTAssertEqual(liver.q1, 0.55, accuracy: 1e-12)      // R type 7: 0.4 + 0.75·(0.6 − 0.4)
        XCTAssertEqual(liver.median, 0.65, accuracy: 1e-12)
        XCTAssertEqual(liver.q3, 0.725, accuracy: 1e-12)
        XCTAssertEqual(liver.max, 0.8)
        XCTAssertTrue(g.boxes(target: "aorta", scanPath: "x").isEmpty, "no columns for the target")
        XCTAssertEqual(liver.current, 0.6)
        XCTAssertEqual(boxes[2].max, 0.1, "empty cells are skipped")
        XCTAssertNil(g.boxes(target: "liver", scanPath: "other.nii").first?.current)
    }

    func testBoxPlotText() {
        let b = GlobalBox(name: "x", min: 0, q1: 0.25, median: 0.5, q3: 0.75, max: 1, current: 0.9)
        XCTAssertEqual(Explorer.boxPlot(b, width: 11, upper: 1, unicode: true), "├──▒▒┃▒▒▒●┤")
        XCTAssertEqual(Explorer.boxPlot(b, width: 11, upper: 1, unicode: false), "|--==|===o|")
    }
}
