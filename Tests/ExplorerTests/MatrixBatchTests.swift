import Foundation
import XCTest
import Engine
import Explorer
import TestSupport

/// The class × segment matrix computing its missing targets in the background, and compare mode
/// in all three planes.
final class MatrixBatchTests: XCTestCase {
    private func waitUntil(_ session: ExplorerSession, timeout: Double = 5, _ what: String = "condition",
                           _ condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let end = Date().addingTimeInterval(timeout)
        while !condition() && Date() < end {
            _ = session.poll()
            usleep(2000)
        }
        XCTAssertTrue(condition(), "\(what) not met within \(timeout) s", file: file, line: line)
    }

    private var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// The tiny CT with the tiny instance-norm BasicUNet (5 classes), its map cache in `cache`:
    /// the explorer opens on the prediction, `y` starts the first map (every job asks), X opens the
    /// matrix and asks once for the whole batch; after a second `y` every class gets its column,
    /// and each column equals Agg²Exp of a gradient computed directly with the engine.
    func testMatrixFillsEveryTargetWithTheEnginesAggregation() throws {
        let scan = root.appendingPathComponent("Tests/TerminalTests/Fixtures/tiny_ct.nii.gz").path
        let model = try SegmentationModel.load(directory: root.appendingPathComponent(
            "Tests/EngineTests/Fixtures/network/instance").path)
        let ct = try NIfTI.readVolume(scan)
        let input = model.preprocess(ct)
        let oriented = ct.reoriented(to: model.preprocessing.orientation)
        XCTAssertTrue(oriented.grid.matches(input.grid), "the tiny CT is on the model grid already")
        let cacheDir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
        let cache = AttributionCache(directory: cacheDir, capacityBytes: 64 << 20)
        func provider() -> ModelAnalysisProvider {
            ModelAnalysisProvider(model: model, classNames: model.classes, description: "instance",
                                  preprocessed: input, methods: [.gradient, .inputXGradient], cache: cache,
                                  sourceDigest: { "tiny ct + instance" })
        }
        var names: [Int32: String] = [:]
        for (i, n) in model.classes.enumerated() { names[Int32(i)] = n }
        var ex = Explorer(scene: Scene(scanPath: scan, ct: oriented, labelNames: names), width: 120, height: 36,
                          methods: ["gradient", "input-x-gradient"], classNames: model.classes)
        ex.state.compute.confirmAbove = 0
        let controller = AnalysisController(provider: provider())
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.start()
        waitUntil(session, timeout: 60, "the first map waits for y") { session.explorer.state.compute.pending != nil }
        _ = session.handle(.key(.char("y")))
        waitUntil(session, timeout: 60, "the first map") { session.explorer.attribution != nil }
        XCTAssertEqual(session.handle(.key(.char("X"))), .redraw)
        let batch = try XCTUnwrap(session.explorer.matrixBatch)
        XCTAssertEqual(batch.targets, [0, 2, 3, 4], "every class but the shown one")
        XCTAssertTrue(batch.awaitingConfirmation, "a total estimate above the threshold asks once")
        XCTAssertTrue(session.explorer.state.message?.text.contains("The 4 missing targets of gradient need ≈") == true,
                      session.explorer.state.message?.text ?? "")
        controller.wait()
        XCTAssertNil(controller.runningJob, "nothing starts before y")
        XCTAssertEqual(session.handle(.key(.char("y"))), .redraw)
        XCTAssertNotNil(session.explorer.matrixBatch?.computing, "y starts the first of the batch")
        waitUntil(session, timeout: 60, "all columns") {
            session.explorer.classSegmentMatrix.targets == [0, 1, 2, 3, 4] && session.explorer.progress == nil
        }
        XCTAssertEqual(session.explorer.matrixBatch?.remaining, [])
        XCTAssertNil(session.explorer.state.compute.pending, "no job of the batch asked on its own")
        XCTAssertTrue(session.explorer.render().textLines.joined().contains("All 4 missing targets computed"))

        // The independent path: prediction, gradient and aggregation straight from the engine.
        let (logits, labels) = try model.predict(input)
        let mask = TargetFunction.argmax(logits)
        let matrix = session.explorer.classSegmentMatrix
        for (c, target) in matrix.targets.enumerated() {
            let direct = try AttributionMethods.make(.gradient, options: AttributionOptions())
                .attribute(Tensor(volume: input), model: model, target: SegmentTarget(classIndex: target, mask: mask),
                           progress: nil, cancel: nil)
            let scores = try Aggregation.scores(attribution: direct.map.volume(channel: 0, grid: input.grid).voxels,
                                                segments: labels.labels, processing: .abs, names: { "\($0)" })
            XCTAssertEqual(Set(matrix.segments), Set(scores.map(\.label)), "rows are the predicted segments")
            for (r, label) in matrix.segments.enumerated() {
                let expected = scores.first { $0.label == label }?.mass
                // Same kernels on the same inputs; sums may be ordered differently across threads.
                XCTAssertEqual(matrix.values[r][c] ?? -1, expected ?? -2, accuracy: 1e-6, "target \(target) label \(label)")
            }
            XCTAssertEqual(try XCTUnwrap(matrix.columnSums[c]), 1, accuracy: 1e-6, "mass sums to 1 with the background row")
        }
        // The maps persist: a new provider on the same cache has every target stored.
        let again = provider()
        for t in 0..<5 {
            XCTAssertNotNil(again.storedAttribution(method: "gradient", target: t, settings: MethodSettings()), "target \(t)")
        }
    }

    /// A session on FakeProvider whose jobs block until released, the shown map (gradient → liver)
    /// already in the cache, and the matrix open: its batch runs background (0), then spleen (2).
    private func blockedBatch() -> (ExplorerSession, AnalysisController, FakeProvider) {
        let (session, controller, fake) = Fixtures.blockingSessionShowingLiver()
        XCTAssertNotNil(session.explorer.attribution)
        _ = session.handle(.key(.char("X")))
        waitUntil(session, "batch job running") { session.explorer.progress?.fraction == 0.5 }
        return (session, controller, fake)
    }

    func testMatrixBatchShowsItsProgressAndLeavingTheMatrixCancelsIt() {
        let (session, controller, fake) = blockedBatch()
        let background = AnalysisKey(method: "gradient", target: 0)
        XCTAssertEqual(controller.runningJob, .attribution(background))
        XCTAssertEqual(session.explorer.progress?.label, "gradient → background (matrix 1 of 2)")
        XCTAssertEqual(session.explorer.matrixBatch?.computing, 0)
        let text = session.explorer.render().textLines.joined(separator: "\n")
        XCTAssertTrue(text.contains("Computing background (0), 1 of 2"), text)
        XCTAssertTrue(text.contains("Still to come: spleen (2)"), text)
        // Re-ranking keeps the batch's job.
        _ = session.handle(.key(.char("p")))
        XCTAssertTrue(controller.isSubmitted(.attribution(background)), "a processing change does not cancel it")
        // Esc leaves the matrix: the job is cancelled, silently apart from one line.
        XCTAssertEqual(session.handle(.key(.escape)), .redraw)
        XCTAssertNil(session.explorer.matrixBatch)
        XCTAssertFalse(controller.isSubmitted(.attribution(background)))
        XCTAssertEqual(session.explorer.state.message?.text,
                       "Matrix closed: 0 of 2 missing gradient targets computed; background cancelled, X goes on")
        fake.release()
        controller.wait()
        _ = session.poll()
        XCTAssertNil(controller.cached(background), "the cancelled map never lands")
        XCTAssertEqual(fake.attributeCalls, [background], "spleen never started")
    }

    func testAnotherMethodEndsTheBatchAndStartsItsOwn() {
        let (session, controller, fake) = blockedBatch()
        _ = session.handle(.key(.char("m")))
        XCTAssertEqual(session.explorer.method, "integrated-gradients")
        XCTAssertFalse(controller.isSubmitted(.attribution(AnalysisKey(method: "gradient", target: 0))))
        XCTAssertTrue(controller.isSubmitted(.attribution(AnalysisKey(method: "integrated-gradients", target: 1))),
                      "the shown map comes first")
        XCTAssertEqual(session.explorer.matrixBatch?.method, "integrated-gradients")
        XCTAssertNil(session.explorer.matrixBatch?.computing)
        fake.release()
        waitUntil(session, "IG columns") { session.explorer.classSegmentMatrix.targets == [0, 1, 2] }
        XCTAssertEqual(fake.attributeCalls.map { "\($0.method) \($0.target)" },
                       ["gradient 0", "integrated-gradients 1", "integrated-gradients 0", "integrated-gradients 2"])
    }

    func testAPinnedBatchJobRunsOnAfterTheMatrixCloses() {
        let (session, controller, fake) = blockedBatch()
        XCTAssertEqual(session.handle(.key(.char("P"))), .redraw)
        _ = session.handle(.key(.char("X")))
        XCTAssertNil(session.explorer.state.matrix)
        XCTAssertEqual(session.explorer.state.message?.text,
                       "Matrix closed: 0 of 2 missing gradient targets computed; pinned background runs on into the cache")
        fake.release()
        waitUntil(session, "pinned map cached") { controller.cached(AnalysisKey(method: "gradient", target: 0)) != nil }
        controller.wait()
        XCTAssertEqual(fake.attributeCalls.map(\.target), [0], "the rest of the batch stopped")
    }

    /// A failing target is reported in the matrix and not tried again; the others still land.
    func testAFailedTargetIsNamedAndSkipped() {
        let scene = Fixtures.scene()
        let provider = StoredProvider(scene: scene, stored: [
            AnalysisKey(method: "gradient", target: 1): Fixtures.attribution(for: scene, target: 1),
        ])
        var ex = Fixtures.explorer(width: 100, height: 30, withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session, "first map") { session.explorer.attribution != nil }
        _ = session.handle(.key(.char("X")))
        waitUntil(session, "both failed") { session.explorer.matrixBatch?.failed.count == 2 }
        XCTAssertEqual(session.explorer.matrixBatch?.remaining, [])
        session.controller?.wait()
        XCTAssertNil(session.controller?.runningJob, "failed targets are not tried again")
        let text = session.explorer.render().textLines.joined(separator: "\n")
        XCTAssertTrue(text.contains("spleen (2) failed: "), text)
        XCTAssertTrue(text.contains("background (0) failed: "), text)
    }

    // MARK: Keys

    func testYInTheMatrixConfirmsItsBatchOnly() {
        var ex = Fixtures.explorer()
        _ = ex.handle(.key(.char("X")))
        XCTAssertEqual(ex.handle(.key(.char("y"))), .redraw, "no batch waits: the ordinary y")
        XCTAssertEqual(ex.state.message?.text, "No job waits for confirmation")
        ex.matrixBatch = MatrixBatch(method: "gradient", settings: MethodSettings(), targets: [0, 2],
                                     perTarget: RuntimeEstimate(seconds: 50, basis: "1 gradient pass × 50 s, measured here",
                                                                measured: true),
                                     awaitingConfirmation: true)
        XCTAssertEqual(ex.handle(.key(.char("y"))), .compute(.confirmMatrixBatch))
        let footer = MatrixWidget(ex).footer(width: 200).map(\.text)
        XCTAssertEqual(footer.first, "The 2 missing targets need ≈ 1 min 40 s (2 × 50 s: 1 gradient pass × 50 s, "
                       + "measured here) · y computes them one after another · Esc closes")
        _ = ex.handle(.key(.escape))
        XCTAssertNil(ex.state.matrix)
    }

    func testBatchETAUsesTheRunningJobThenTheMeasuredPace() {
        var batch = MatrixBatch(method: "gradient", settings: MethodSettings(), targets: [0, 2, 3],
                                perTarget: RuntimeEstimate(seconds: 10, basis: "", measured: true),
                                awaitingConfirmation: false)
        XCTAssertEqual(batch.totalEstimate, 30)
        XCTAssertEqual(batch.secondsLeft(running: nil), 30)
        batch.computing = 0
        XCTAssertEqual(batch.secondsLeft(running: ProgressState(label: "", fraction: 0.5, elapsed: 4, remaining: 4)), 24)
        batch.landed = [0]
        batch.measured = [6]
        batch.computing = 2
        XCTAssertEqual(batch.position, 2)
        XCTAssertEqual(batch.secondsLeft(running: ProgressState(label: "", fraction: 0.5, elapsed: 3, remaining: 3)), 9)
    }

    // MARK: Snapshots

    /// Many classes (as TotalSegmentator's): the missing-targets list and the title wrap between
    /// items, the batch line shows target, progress and ETA, and the Σ row the normalisation.
    private func manyTargets(width: Int, height: Int) -> Explorer {
        var ex = Fixtures.explorer(width: width, height: height)
        ex.classNames += ["kidney_left", "kidney_right", "gallbladder", "esophagus", "stomach", "duodenum",
                          "pancreas", "adrenal_gland_left", "adrenal_gland_right", "urinary_bladder", "prostate",
                          "small_bowel", "colon", "lung_upper_lobe_left", "lung_lower_lobe_left",
                          "lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right", "trachea",
                          "thyroid_gland", "heart", "aorta", "pulmonary_vein", "sternum", "costal_cartilages"]
        ex.knownRankings[2] = FakeProvider.ranking(Fixtures.attribution(for: ex.scene, target: 2), ex.scene.labels!,
                                                   .abs, ex.scene.labelNames)
        _ = ex.handle(.key(.char("X")))
        let missing = ex.classSegmentMatrix.missing.filter { $0 != 1 }
        var batch = MatrixBatch(method: "gradient", settings: MethodSettings(), targets: [2] + missing,
                                perTarget: RuntimeEstimate(seconds: 7, basis: "", measured: true),
                                awaitingConfirmation: false)
        batch.landed = [2]
        batch.failed = [0: "out of memory"]
        batch.measured = [6.5]
        batch.computing = 3
        ex.matrixBatch = batch
        ex.progress = ProgressState(label: "gradient → kidney_left (matrix 3 of 27)", fraction: 0.45, elapsed: 3,
                                    remaining: 3.5)
        return ex
    }

    func testMatrixBatchAt200x60() {
        let ex = manyTargets(width: 200, height: 60)
        let text = ex.render().textLines.joined(separator: "\n")
        // Every missing target shows whole: lines break between items, never inside one.
        for t in ex.classSegmentMatrix.missing { XCTAssertTrue(text.contains("\(ex.classNames[t]) (\(t))"), "\(t)") }
        XCTAssertTrue(text.contains("each target's mass sums to 1 over all segments (Σ row)"), text)
        XCTAssertTrue(text.contains("background (0) failed: out of memory"), text)
        assertSnapshot(ex.render(), depth: .palette256)
    }

    func testMatrixBatchAt80x24() throws {
        let ex = manyTargets(width: 80, height: 24)
        let text = ex.render().textLines.joined(separator: "\n")
        XCTAssertTrue(text.contains("Computing kidney_left (3), 3 of 27"), text)
        XCTAssertTrue(text.contains("Σ"), "the normalisation row stays")
        // With less room the list of targets still to come is cut between items and says how many are left.
        let short = MatrixWidget(ex).footer(width: 78, maxLines: 6).map(\.text)
        XCTAssertEqual(short.count, 6)
        XCTAssertEqual(short.last, "arrows select · Enter jumps there · r p b m change values · Esc/X closes")
        let list = short[3]
        XCTAssertTrue(list.hasPrefix("Still to come: kidney_right (4), "), list)
        let items = list.components(separatedBy: ", ")
        let more = try XCTUnwrap(Int(try XCTUnwrap(items.last).dropFirst().prefix { $0.isNumber }), list)
        XCTAssertEqual(items.count - 1 + more, 24, "every target but the shown, the computing and the failed one")
        assertSnapshot(ex.render(), depth: .palette256)
    }

    // MARK: Compare mode in three planes

    private func comparing(width: Int, height: Int) -> Explorer {
        var ex = Fixtures.explorer(width: width, height: height)
        _ = ex.apply(.toggleCompare)
        var b = Fixtures.attribution(for: ex.scene, target: 1)
        for i in b.voxels.indices { b.voxels[i] *= 3 }
        ex.compareAttribution = AttributionDisplay(map: b)
        ex.compareRows = FakeProvider.ranking(b, ex.scene.labels!, .abs, ex.scene.labelNames)
        return ex
    }

    func testCompareDrawsBothMethodsInAllThreePlanesAt200x60() throws {
        var ex = comparing(width: 200, height: 60)
        let compare = ex.compareLayout(layout: ex.layout)
        XCTAssertTrue(compare.allPlanes)
        XCTAssertEqual(compare.planes, [.axial, .coronal, .sagittal])
        // A on the top row, B below, every plane at the one scale and at least the minimum size.
        for plane in 0..<3 {
            XCTAssertLessThan(compare.panes[0][plane].y + compare.panes[0][plane].height - 1, compare.panes[1][plane].y)
            let (eh, ev) = PlaneViewport.extent(of: compare.planes[plane], grid: ex.scene.ct.grid)
            XCTAssertGreaterThanOrEqual(min(eh, ev) * compare.pixelsPerMM, CompareLayout.minimumPlanePixels)
        }
        // One colour scale: B is 3 × A, so the shared clip and threshold are B's.
        let shared = try XCTUnwrap(ex.compareHeatScale)
        let own = HeatmapScale(attribution: try XCTUnwrap(ex.compareAttribution), state: ex.state)
        XCTAssertEqual(shared.clip, own.clip)
        XCTAssertEqual(shared.threshold, own.threshold)
        let grid = ex.render()
        let text = grid.textLines.joined(separator: "\n")
        XCTAssertTrue(text.contains("one scale for A and B"), text)
        XCTAssertFalse(text.contains("compare: axial only"))
        assertSnapshot(grid, depth: .palette256)
        // A click in B's coronal pane focuses coronal and moves the crosshair there.
        let image = Rect(x: compare.panes[1][1].x, y: compare.panes[1][1].y + 1, width: compare.panes[1][1].width,
                         height: compare.panes[1][1].height - 1)
        XCTAssertEqual(ex.handle(.mouse(x: image.x + image.width / 2, y: image.y + image.height / 2, kind: .press)),
                       .redraw)
        XCTAssertEqual(ex.state.focus, .coronal)
    }

    func testCompareFallsBackToTheFocusedPlaneAt80x24AndSaysSo() {
        var ex = comparing(width: 80, height: 24)
        _ = ex.apply(.focusNext)
        let compare = ex.compareLayout(layout: ex.layout)
        XCTAssertFalse(compare.allPlanes)
        XCTAssertEqual(compare.planes, [.coronal])
        XCTAssertTrue(ex.statusLine.text(width: 200).contains("compare: coronal only"), ex.statusLine.text(width: 200))
        let grid = ex.render()
        XCTAssertTrue(grid.textLines[ex.layout.status.y].contains("compare: coronal only"), grid.textLines[ex.layout.status.y])
        assertSnapshot(grid, depth: .palette256)
    }
}
