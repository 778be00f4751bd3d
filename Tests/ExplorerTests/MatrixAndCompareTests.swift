import Foundation
import XCTest
import Engine
import Explorer

/// A provider with maps already stored (as the attribution cache on disk holds them) and nothing
/// computed: the matrix must pick stored maps up without computing.
final class StoredProvider: AnalysisProvider, @unchecked Sendable {
    let methods = ["gradient", "integrated-gradients"]
    let classNames = ["background", "liver", "spleen"]
    let modelDescription = "stored maps only"
    let scene: Scene
    let stored: [AnalysisKey: Volume]

    init(scene: Scene, stored: [AnalysisKey: Volume]) {
        self.scene = scene
        self.stored = stored
    }

    func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap { scene.labels! }

    func attribute(method: String, target: Int, progress: @escaping ProgressHandler,
                   cancel: CancellationToken) throws -> AttributionDisplay {
        guard let map = stored[AnalysisKey(method: method, target: target)] else {
            throw AttributionError.invalidOption("not stored")
        }
        return AttributionDisplay(map: map)
    }

    func storedAttribution(method: String, target: Int, settings: MethodSettings) -> AttributionDisplay? {
        stored[AnalysisKey(method: method, target: target)].map { AttributionDisplay(map: $0) }
    }

    func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing, names: [Int32: String]) -> [SegmentScore] {
        FakeProvider.ranking(attribution, segments, processing, names)
    }
}

final class MatrixAndCompareTests: XCTestCase {
    private func waitUntil(_ session: ExplorerSession, _ condition: () -> Bool, file: StaticString = #filePath,
                           line: UInt = #line) {
        let end = Date().addingTimeInterval(5)
        while !condition() && Date() < end {
            _ = session.poll()
            usleep(2000)
        }
        XCTAssertTrue(condition(), "condition not met within 5 s", file: file, line: line)
    }

    /// Target 1 on screen, target 2 only in the store: the matrix has both columns, values equal
    /// to the plainly written Agg²Exp oracle, and names background as missing.
    private func sessionWithStoredSpleen() -> (ExplorerSession, Scene) {
        let scene = Fixtures.scene()
        let spleen = Fixtures.attribution(for: scene, target: 2)
        let provider = StoredProvider(scene: scene, stored: [
            AnalysisKey(method: "gradient", target: 1): Fixtures.attribution(for: scene, target: 1),
            AnalysisKey(method: "gradient", target: 2): spleen,
        ])
        var ex = Fixtures.explorer(width: 80, height: 24, withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session) { session.explorer.attribution != nil }
        return (session, scene)
    }

    func testMatrixShowsStoredTargetsWithOracleValues() throws {
        let (session, scene) = sessionWithStoredSpleen()
        XCTAssertEqual(session.handle(.key(.char("X"))), .redraw)
        XCTAssertEqual(session.explorer.state.matrix, MatrixCursor(row: 0, target: 1))
        let matrix = session.explorer.classSegmentMatrix
        XCTAssertEqual(matrix.targets, [1, 2])
        XCTAssertEqual(matrix.missing, [0])
        // Rows follow the current target's (liver's) mass.
        XCTAssertEqual(matrix.segments.first, 1)
        for (c, target) in matrix.targets.enumerated() {
            let oracle = FakeProvider.ranking(Fixtures.attribution(for: scene, target: target), scene.labels!, .abs,
                                              scene.labelNames)
            for (r, label) in matrix.segments.enumerated() {
                let expected = try XCTUnwrap(oracle.first { $0.label == label }?.mass)
                XCTAssertEqual(try XCTUnwrap(matrix.values[r][c]), expected, accuracy: 1e-12)
            }
        }
        // The rank key, processing and background row change the values as in the sidebar.
        _ = session.handle(.key(.char("r")))
        _ = session.handle(.key(.char("b")))
        let means = session.explorer.classSegmentMatrix
        XCTAssertFalse(means.segments.contains(0), "background row hidden")
        let spleenMean = FakeProvider.ranking(Fixtures.attribution(for: scene, target: 2), scene.labels!, .abs,
                                              scene.labelNames).first { $0.label == 2 }!.mean!
        let row = try XCTUnwrap(means.segments.firstIndex(of: 2))
        XCTAssertEqual(try XCTUnwrap(means.values[row][1]), spleenMean, accuracy: 1e-12)
    }

    /// A target with no value in any segment (a class the model never predicts) has no Σ either,
    /// rather than a sum of 0 that reads as "no mass".
    func testMatrixSumIsUndefinedForATargetWithoutValues() throws {
        var ex = Fixtures.explorer()
        ex.knownRankings[2] = ex.rows.map { SegmentScore(label: $0.label, name: $0.name, voxels: $0.voxels, mass: nil, mean: nil) }
        let matrix = ex.classSegmentMatrix
        XCTAssertEqual(matrix.targets, [1, 2])
        XCTAssertNil(matrix.columnSums[1])
        XCTAssertEqual(try XCTUnwrap(matrix.columnSums[0]), 1, accuracy: 1e-9)
    }

    func testMatrixKeysSelectAndEnterJumpsToTargetAndSegment() throws {
        let (session, scene) = sessionWithStoredSpleen()
        _ = session.handle(.key(.char("X")))
        let matrix = session.explorer.classSegmentMatrix
        // Right moves to spleen's column, down to the second row; moves stop at the edges.
        for key in [Key.right, .right, .down] { XCTAssertEqual(session.explorer.handle(.key(key)), .redraw) }
        XCTAssertEqual(session.explorer.state.matrix, MatrixCursor(row: 1, target: 2))
        _ = session.explorer.handle(.key(.up))
        _ = session.explorer.handle(.key(.up))
        XCTAssertEqual(session.explorer.state.matrix?.row, 0)
        _ = session.explorer.handle(.key(.down))
        let label = matrix.segments[1]
        XCTAssertEqual(session.explorer.handle(.key(.enter)), .recompute)
        XCTAssertNil(session.explorer.state.matrix)
        XCTAssertEqual(session.explorer.state.target, 2)
        XCTAssertEqual(session.explorer.state.highlighted, label)
        XCTAssertEqual(scene.label(at: session.explorer.state.crosshair), label, "the crosshair lands inside the segment")
        // Esc closes without jumping; X toggles.
        _ = session.explorer.handle(.key(.char("X")))
        XCTAssertEqual(session.explorer.handle(.key(.escape)), .redraw)
        XCTAssertNil(session.explorer.state.matrix)
    }

    func testMatrixSnapshots() {
        let (session, _) = sessionWithStoredSpleen()
        _ = session.handle(.key(.char("X")))
        _ = session.handle(.key(.down))
        // The batch tries background, which the store lacks: the frame after that, not during it.
        waitUntil(session) { session.explorer.matrixBatch?.failed[0] != nil && session.explorer.progress == nil }
        assertSnapshot(session.explorer.render(), depth: .palette256, name: "testMatrixAt80x24")
        session.explorer.width = 200
        session.explorer.height = 60
        session.explorer.capabilities = RenderCapabilities(depth: .monochrome, unicode: false)
        assertSnapshot(session.explorer.render(), name: "testMatrixAt200x60MonochromeASCII")
    }

    func testMatrixNeedsAModel() {
        var ex = Fixtures.explorer()
        ex.methods = []
        XCTAssertEqual(ex.apply(.toggleMatrix), .redraw)
        XCTAssertNil(ex.state.matrix)
        XCTAssertEqual(ex.state.message?.isError, true)
    }

    func testCompareComputesTheSecondMethodAndShowsBoth() {
        let scene = Fixtures.scene()
        let provider = FakeProvider(scene: scene)
        var ex = Fixtures.explorer(width: 120, height: 36, withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(session.handle(.key(.char("C"))), .redraw)
        XCTAssertEqual(session.explorer.compareMethod, "integrated-gradients")
        waitUntil(session) { session.explorer.comparison != nil }
        XCTAssertEqual(provider.attributeCalls, [AnalysisKey(method: "gradient", target: 1),
                                                 AnalysisKey(method: "integrated-gradients", target: 1)])
        // The fake maps do not depend on the method: identical rankings agree perfectly.
        XCTAssertEqual(session.explorer.comparison?.rho ?? 0, 1, accuracy: 1e-12)
        // B never equals the current method: with two methods it stays on the other one.
        _ = session.handle(.key(.char("m")))
        XCTAssertEqual(session.explorer.compareMethod, "gradient")
        _ = session.handle(.key(.char("C")))
        XCTAssertNil(session.explorer.compareMethod)
        XCTAssertNil(session.explorer.compareAttribution)
    }

    /// A processing change re-ranks the shown map without cancelling the compare method's job.
    func testCompareJobSurvivesARefresh() {
        let (session, controller, provider) = Fixtures.blockingSessionShowingLiver()
        XCTAssertNotNil(session.explorer.attribution)
        _ = session.handle(.key(.char("C")))
        let keyB = AnalysisKey(method: "integrated-gradients", target: 1)
        waitUntil(session) { session.explorer.progress?.fraction == 0.5 }
        XCTAssertEqual(controller.runningJob, .attribution(keyB))
        _ = session.handle(.key(.char("p")))
        XCTAssertEqual(session.explorer.state.processing, .pos)
        XCTAssertEqual(controller.progress?.label, "integrated-gradients → liver (compare)", "not cancelling")
        provider.release()
        waitUntil(session) { session.explorer.comparison != nil }
        XCTAssertEqual(provider.attributeCalls, [keyB], "computed once, not restarted")
        // Leaving the target does cancel it.
        _ = session.handle(.key(.char("n")))
        XCTAssertNotEqual(controller.runningJob, .attribution(keyB))
    }

    /// ρ between the two rankings against scipy.stats.spearmanr (Fixtures/make_compare_spearman.py):
    /// ties get average ranks, a segment only one method ranks is left out, background as the `b` key says.
    func testCompareRhoMatchesScipy() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/compare_spearman.json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let labels = try XCTUnwrap(json["labels"] as? [Int]), names = try XCTUnwrap(json["names"] as? [String])
        let a = try XCTUnwrap(json["mass_a"] as? [Double]), b = try XCTUnwrap(json["mass_b"] as? [Any])
        var ex = Fixtures.explorer()
        ex.rows = labels.indices.map {
            SegmentScore(label: Int32(labels[$0]), name: names[$0], voxels: 10, mass: a[$0], mean: a[$0])
        }
        ex.compareRows = labels.indices.compactMap { i in
            (b[i] as? Double).map { SegmentScore(label: Int32(labels[i]), name: names[i], voxels: 10, mass: $0, mean: $0) }
        }
        ex.compareAttribution = ex.attribution
        _ = ex.apply(.toggleCompare)
        var comparison = try XCTUnwrap(ex.comparison)
        XCTAssertEqual(try XCTUnwrap(comparison.rho), try XCTUnwrap(json["rho_all"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(comparison.paired, json["paired_all"] as? Int)
        XCTAssertEqual(comparison.rows.first { $0.label == 8 }?.rankB, nil, "femur has no rank under B")
        _ = ex.apply(.toggleBackground)
        comparison = try XCTUnwrap(ex.comparison)
        XCTAssertEqual(try XCTUnwrap(comparison.rho), try XCTUnwrap(json["rho_without_background"] as? Double),
                       accuracy: 1e-12)
        XCTAssertEqual(comparison.paired, json["paired_without_background"] as? Int)
    }

    func testCompareSnapshot() {
        var ex = Fixtures.explorer(width: 120, height: 36)
        _ = ex.apply(.toggleCompare)
        let b = AttributionDisplay(map: Fixtures.attribution(for: ex.scene, target: 2))
        ex.compareAttribution = b
        ex.compareRows = FakeProvider.ranking(b.map, ex.scene.labels!, .abs, ex.scene.labelNames)
        assertSnapshot(ex.render(), depth: .palette256)
        XCTAssertEqual(ex.apply(.nextCompareMethod), .none, "only one other method")
    }

    /// The light theme paints every cell outside the CT images with its own colours (no dark
    /// default shows through), and the selected and highlighted rows stay readable (WCAG contrast ≥ 4.5).
    func testLightThemeFillsItsBackgroundAndKeepsSelectionReadable() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Themes")
        let light = try Theme.load(named: "light", searchPaths: [dir])
        var ex = Fixtures.explorer(width: 100, height: 30)
        ex.themes = [light]
        ex.state.focus = .sidebar
        _ = ex.apply(.activateRow)
        _ = ex.apply(.selectRow(1))
        let grid = ex.render()
        let layout = ex.layout
        let images = Plane.allCases.map { layout.image(of: $0) }
        let dark = Set(ThemeRole.allCases.map { Theme.builtIn[$0] })
        let own = Set(ThemeRole.allCases.map { light[$0] })
        for y in 0..<grid.height {
            for x in 0..<grid.width where !images.contains(where: { $0.contains(x, y) }) {
                let bg = grid[x, y].bg
                XCTAssertFalse(dark.contains(bg) && !own.contains(bg), "dark default background at \(x),\(y)")
            }
        }
        func contrast(_ a: RGB, _ b: RGB) -> Double {
            func lum(_ c: RGB) -> Double {
                func ch(_ v: UInt8) -> Double {
                    let s = Double(v) / 255
                    return s <= 0.03928 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
                }
                return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b)
            }
            let (l1, l2) = (lum(a), lum(b))
            return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)
        }
        let top = layout.sidebarListTop
        // Row 0 is highlighted (Enter), row 1 selected; their name cells.
        for row in [0, 1] {
            let cell = grid[layout.sidebar.x + 8, top + row]
            XCTAssertGreaterThanOrEqual(contrast(cell.fg, cell.bg), 4.5, "row \(row) text is hard to read")
        }
        assertSnapshot(grid, depth: .trueColor)
    }
}
