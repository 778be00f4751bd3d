import XCTest
import Engine
import Explorer

final class ReportTests: XCTestCase {
    private let date = Date(timeIntervalSince1970: 1_790_000_000)   // 2026-09-21T14:13:20Z

    func testPlainReportHasProvenancePlanesRankingAndStatus() {
        var ex = Fixtures.explorer()
        ex.state.crosshair = [2, 6, 3]
        let text = Report.make(ex, ansi: false, date: date)
        XCTAssertFalse(text.contains("\u{1B}["), "plain report has no escape codes")
        for needle in ["scan         /data/s0042_ct.nii.gz", "dims         12 x 10 x 8",
                       "spacing      2.000 x 2.000 x 3.000 mm", "orientation  RAS", "labels       file seg.nii.gz",
                       "model        fake model (3 classes)", "classes      0 background, 1 liver, 2 spleen",
                       "method       gradient", "target       liver (class 1)", "processing   abs", "steps        20",
                       "date         2026-09-21T14:13:20Z", "voxel        2 6 3", "HU           -80",
                       "label        liver", "Planes at voxel 2 6 3", "Ranking (gradient, target liver, abs",
                       "rank  segment       voxels        mass        mean"] {
            XCTAssertTrue(text.contains(needle), "report lacks '\(needle)'\n\(text)")
        }
        // Ranking rows match the oracle ranking, in mass order.
        let lines = text.split(separator: "\n").map(String.init)
        let start = lines.firstIndex { $0.contains("rank  segment") }!
        let ranked = ex.rankedRows
        for (n, row) in ranked.enumerated() {
            let cols = lines[start + 1 + n].split(separator: " ")
            XCTAssertEqual(cols[0], "\(n + 1)")
            XCTAssertEqual(String(cols[1]), row.name)
            XCTAssertEqual(Int(cols[2]), row.voxels)
            XCTAssertEqual(Double(cols[3])!, row.mass!, accuracy: 5e-5)
        }
        // CT and |a| plane strips with shading characters and the crosshair.
        XCTAssertTrue(text.contains("CT  Axial"))
        XCTAssertTrue(text.contains("|a| Axial"))
        XCTAssertTrue(text.contains("+"))
        XCTAssertTrue(text.contains("█") || text.contains("▓"))
    }

    func testANSIReportIsColoured() {
        let text = Report.make(Fixtures.explorer(), ansi: true, date: date)
        XCTAssertTrue(text.contains("\u{1B}[0;38;2;"))
        XCTAssertTrue(text.contains("▀"))
        XCTAssertTrue(text.contains("rank  segment"))
    }

    func testExportWritesTimestampedFileAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agg2exp-report-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ex = Fixtures.explorer()
        let a = try Report.export(ex, ansi: false, directory: dir, date: date)
        let b = try Report.export(ex, ansi: false, directory: dir, date: date)
        let c = try Report.export(ex, ansi: true, directory: dir, date: date)
        XCTAssertTrue(a.lastPathComponent.hasPrefix("agg2exp-report-2026092"))
        XCTAssertTrue(a.lastPathComponent.hasSuffix(".txt"))
        XCTAssertEqual(b.lastPathComponent, a.deletingPathExtension().lastPathComponent + "-2.txt",
                       "a second export in the same second does not overwrite the first")
        XCTAssertTrue(c.lastPathComponent.hasSuffix(".ansi.txt"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).count, 3, "no temp files left")
        XCTAssertEqual(try String(contentsOf: a, encoding: .utf8), Report.make(ex, ansi: false, date: date))
    }

    func testFailingExportPathIsAStatusError() {
        let session = ExplorerSession(explorer: Fixtures.explorer(),
                                      controller: AnalysisController(provider: FakeProvider(scene: Fixtures.scene())),
                                      exportDirectory: URL(fileURLWithPath: "/nonexistent/dir"))
        let before = session.explorer.state
        XCTAssertEqual(session.handle(.key(.char("e"))), .redraw)
        let message = session.explorer.state.message
        XCTAssertEqual(message?.isError, true)
        XCTAssertTrue(message?.text.hasPrefix("Export failed: cannot write /nonexistent/dir/agg2exp-report-") == true,
                      message?.text ?? "")
        var after = session.explorer.state
        after.message = nil
        XCTAssertEqual(after, before, "nothing else is lost")
    }
}

final class SessionTests: XCTestCase {
    private func waitUntil(_ session: ExplorerSession, timeout: Double = 5, _ condition: () -> Bool) {
        let end = Date().addingTimeInterval(timeout)
        while !condition() && Date() < end {
            _ = session.poll()
            usleep(2000)
        }
        XCTAssertTrue(condition(), "condition not met within \(timeout) s")
    }

    func testComputesInBackgroundThenCaches() {
        let scene = Fixtures.scene()
        let provider = FakeProvider(scene: scene, blocking: true)
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session) { session.explorer.progress?.fraction == 0.5 }
        XCTAssertNil(session.explorer.attribution)
        XCTAssertEqual(session.explorer.render().textLines.joined().contains("computing"), true)
        // The UI keeps handling input while the job runs.
        XCTAssertEqual(session.handle(.key(.char("w"))), .redraw)
        provider.release()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertNil(session.explorer.progress)
        XCTAssertEqual(session.explorer.rankedRows.first?.name, "liver")
        // Next target computes; going back is a cache hit (no third call).
        _ = session.handle(.key(.char("n")))
        provider.release()
        waitUntil(session) { session.explorer.attribution != nil && session.explorer.targetName == "spleen" }
        XCTAssertEqual(session.explorer.rankedRows.first?.name, "spleen")
        _ = session.handle(.key(.char("N")))
        XCTAssertNotNil(session.explorer.attribution, "cached result shown at once")
        XCTAssertEqual(provider.attributeCalls.map(\.target), [1, 2])
        // AttributionProcessing changes re-rank the cached map without recomputing.
        _ = session.handle(.key(.char("p")))
        XCTAssertEqual(provider.attributeCalls.count, 2)
        XCTAssertEqual(session.explorer.rows, FakeProvider.ranking(session.explorer.attribution!.map, scene.labels!,
                                                                   .pos, scene.labelNames))
    }

    func testEscapeDuringComputeCancels() {
        let scene = Fixtures.scene()
        let provider = FakeProvider(scene: scene, blocking: true)
        let session = ExplorerSession(explorer: Fixtures.explorer(withAttribution: false),
                                      controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session) { session.explorer.progress != nil }
        XCTAssertEqual(session.handle(.key(.escape)), .redraw)
        waitUntil(session) { session.explorer.progress == nil }
        XCTAssertNil(session.explorer.attribution)
        XCTAssertEqual(session.explorer.state.message?.text.contains("cancelled"), true)
        // Asking again starts a fresh job.
        _ = session.handle(.key(.char("m")))
        _ = session.handle(.key(.char("M")))
        provider.release()
        waitUntil(session) { session.explorer.attribution != nil }
    }

    func testSwitchingTargetSupersedesTheRunningJob() {
        let scene = Fixtures.scene()
        let provider = FakeProvider(scene: scene, blocking: true)
        let session = ExplorerSession(explorer: Fixtures.explorer(withAttribution: false),
                                      controller: AnalysisController(provider: provider))
        session.start()
        waitUntil(session) { session.explorer.progress != nil }
        _ = session.handle(.key(.char("n")))
        provider.release()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(session.explorer.targetName, "spleen")
        XCTAssertNil(session.explorer.state.message, "a superseded job is not reported as cancelled")
    }

    func testPredictionFillsTheLabelMapFirst() {
        let scene = Fixtures.scene()
        var unlabelled = scene
        unlabelled.setLabels(nil, source: "")
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = unlabelled
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: FakeProvider(scene: scene)))
        session.start()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(session.explorer.scene.labelSource, Scene.predictionSource)
        XCTAssertEqual(session.explorer.scene.centroids[2], [9, 2, 4])
    }

    func testFinishComputationsRunsPredictionThenAttribution() {
        let scene = Fixtures.scene()
        var unlabelled = scene
        unlabelled.setLabels(nil, source: "")
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = unlabelled
        ex.state.target = 2
        let provider = FakeProvider(scene: scene)
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: provider))
        session.start()
        session.finishComputations()
        XCTAssertEqual(provider.attributeCalls, [AnalysisKey(method: "gradient", target: 2)])
        XCTAssertEqual(session.explorer.rankedRows.first?.name, "spleen")
        XCTAssertNil(session.explorer.progress)
    }

    func testWithoutAModelTheSidebarListsSegmentsByVoxels() {
        var ex = Fixtures.explorer(withAttribution: false)
        ex.methods = []
        let session = ExplorerSession(explorer: ex, controller: nil)
        session.start()
        XCTAssertEqual(session.explorer.rankedRows.map(\.name), ["background", "spleen", "liver"])
        XCTAssertEqual(session.explorer.rankedRows.map(\.voxels), [960 - 72 - 64, 72, 64], "boxes of 4·3·6 and 4·4·4")
        XCTAssertEqual(session.explorer.rankValueName, "voxels")
        XCTAssertTrue(session.explorer.state.message?.text.hasPrefix("No model loaded") == true)
        XCTAssertFalse(session.poll())
        XCTAssertEqual(session.handle(.key(.char("m"))), .none, "no methods to cycle")
    }

    /// Leaving a method for one whose result is cached stops the job of the method left behind;
    /// Esc shows "cancelling…" at once.
    func testLeavingAMethodCancelsItsJobAndEscSaysCancelling() {
        let scene = Fixtures.scene()
        let controller = AnalysisController(provider: FakeProvider(scene: scene, blocking: true))
        let gradient = AnalysisKey(method: "gradient", target: 1), ig = AnalysisKey(method: "integrated-gradients", target: 1)
        controller.start(.attribution(ig), label: "integrated-gradients → liver")
        let deadline = Date().addingTimeInterval(5)
        while controller.progress?.fraction != 0.5 && Date() < deadline { usleep(2000) }
        XCTAssertEqual(controller.progress?.label, "integrated-gradients → liver")
        XCTAssertNotNil(controller.progress?.remaining, "an ETA once a step is done")
        controller.cancelAttribution(otherThan: ig)
        XCTAssertEqual(controller.progress?.label, "integrated-gradients → liver", "the current job keeps running")
        controller.cancelAttribution(otherThan: gradient)
        XCTAssertEqual(controller.progress?.label, "cancelling…", "shown at once, before the job stops")
        XCTAssertNil(controller.progress?.remaining)
        controller.wait()
        XCTAssertNil(controller.runningJob)
        let events = controller.takeEvents()
        XCTAssertEqual(events.count, 1)
        if case .cancelled(.attribution(let key))? = events.first { XCTAssertEqual(key, ig) } else { XCTFail("\(events)") }
    }
}
