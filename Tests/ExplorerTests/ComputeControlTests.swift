import XCTest
import Engine
import Explorer
import TestSupport

/// FakeProvider with a fixed runtime estimate, to drive the confirm-before-start flow.
private final class EstimatingProvider: AnalysisProvider, @unchecked Sendable {
    let base: FakeProvider
    let seconds: Double
    var methods: [String] { base.methods }
    var classNames: [String] { base.classNames }
    var modelDescription: String { base.modelDescription }

    init(base: FakeProvider, seconds: Double) {
        self.base = base
        self.seconds = seconds
    }

    func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap {
        try base.predict(progress: progress, cancel: cancel)
    }

    func attribute(method: String, target: Int, progress: @escaping ProgressHandler,
                   cancel: CancellationToken) throws -> AttributionDisplay {
        try base.attribute(method: method, target: target, progress: progress, cancel: cancel)
    }

    func estimate(method: String, settings: MethodSettings) -> RuntimeEstimate? {
        RuntimeEstimate(seconds: seconds, basis: "20 gradient passes × 6.0 s, measured here", measured: true)
    }

    func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing,
              names: [Int32: String]) -> [SegmentScore] {
        base.rank(attribution: attribution, segments: segments, processing: processing, names: names)
    }
}

final class ComputeControlTests: XCTestCase {
    private func waitUntil(_ session: ExplorerSession, timeout: Double = 5, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline {
            _ = session.poll()
            usleep(2000)
        }
        XCTAssertTrue(condition(), "condition not met within \(timeout) s")
    }

    /// The explorer on integrated-gradients (the fixture's second method).
    private func onIG() -> Explorer {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.apply(.nextMethod)
        XCTAssertEqual(ex.method, "integrated-gradients")
        return ex
    }

    // MARK: Keys → actions → state

    func testOptionsPanelEditsAppliesAndDiscards() {
        var ex = onIG()
        XCTAssertEqual(ex.handle(.key(.char("i"))), .redraw)
        XCTAssertNotNil(ex.state.compute.panel)
        XCTAssertEqual(ex.optionsPanel?.rows.map(\.title), ["target rule", "steps", "baseline", "scheme"])
        // ↓ to steps, → twice: 20 → 32 → 50; the command line follows the draft.
        for key in [Key.down, .right, .right] { XCTAssertEqual(ex.handle(.key(key)), .redraw) }
        XCTAssertEqual(ex.optionsPanel?.rows[1], OptionsPanel.Row(title: "steps", value: "50", changed: true))
        XCTAssertTrue(ex.optionsPanel?.command.contains("--steps 50") == true)
        XCTAssertEqual(ex.state.compute.settings.options.steps, 20, "nothing applies before Enter")
        // ↓ ↓ to scheme, → switches to Gauss–Legendre; ↑ ↑ ↑ back to the target rule, ← wraps to prob-weighted.
        for key in [Key.down, .down, .right, .up, .up, .up, .left] { _ = ex.handle(.key(key)) }
        XCTAssertEqual(ex.handle(.key(.enter)), .recompute)
        XCTAssertNil(ex.state.compute.panel)
        XCTAssertEqual(ex.state.compute.settings.options.steps, 50)
        XCTAssertEqual(ex.state.compute.settings.options.scheme, .gaussLegendre)
        XCTAssertEqual(ex.state.compute.settings.rule, .probWeighted)
        // Esc discards the draft; Enter without a change does not recompute.
        _ = ex.handle(.key(.char("i")))
        _ = ex.handle(.key(.down))
        _ = ex.handle(.key(.left))
        XCTAssertEqual(ex.handle(.key(.escape)), .redraw)
        XCTAssertEqual(ex.state.compute.settings.options.steps, 50)
        _ = ex.handle(.key(.function(2)))
        XCTAssertNotNil(ex.state.compute.panel, "F2 opens the panel too")
        XCTAssertEqual(ex.handle(.key(.enter)), .redraw)
        XCTAssertEqual(ex.state.message?.text, "Options unchanged")
    }

    func testGradientPanelHasOnlyTheRuleAndOtherKeysStayInThePanel() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        _ = ex.handle(.key(.char("i")))
        XCTAssertEqual(ex.optionsPanel?.rows.map(\.title), ["target rule"])
        let crosshair = ex.state.crosshair
        XCTAssertEqual(ex.handle(.key(.char("m"))), .none, "m does not change the method under the panel")
        XCTAssertEqual(ex.method, "gradient")
        _ = ex.handle(.key(.down))
        XCTAssertEqual(ex.state.crosshair, crosshair, "arrows move in the panel, not the crosshair")
    }

    func testImportedMethodHasNoOptionsAndComputeKeysExplainThemselves() {
        var ex = Fixtures.explorer(width: 100, height: 30)
        ex.methods.append("captum-ig")
        ex.state.methodIndex = 2
        XCTAssertEqual(ex.handle(.key(.char("i"))), .redraw)
        XCTAssertNil(ex.state.compute.panel)
        XCTAssertEqual(ex.state.message?.isError, true)
        XCTAssertEqual(ex.handle(.key(.char("R"))), .redraw, "imported maps cannot be recomputed")
        ex.state.methodIndex = 0
        XCTAssertEqual(ex.handle(.key(.char("R"))), .compute(.recompute))
        XCTAssertEqual(ex.handle(.key(.char("y"))), .redraw)
        XCTAssertEqual(ex.state.message?.text, "No job waits for confirmation")
        XCTAssertEqual(ex.handle(.key(.char("P"))), .redraw)
        XCTAssertEqual(ex.state.message?.text, "No job is running to pin")
        ex.progress = ProgressState(label: "gradient → liver", fraction: 0.2)
        XCTAssertEqual(ex.handle(.key(.char("P"))), .compute(.togglePin))
    }

    func testSettingsOnlyKeyTheMethodsThatReadThem() {
        var s = MethodSettings()
        s.options.steps = 64
        s.options.occlusionStride = 8
        XCTAssertEqual(AnalysisKey(method: "gradient", target: 1, settings: s), AnalysisKey(method: "gradient", target: 1))
        XCTAssertNotEqual(AnalysisKey(method: "integrated-gradients", target: 1, settings: s),
                          AnalysisKey(method: "integrated-gradients", target: 1))
        XCTAssertNotEqual(AnalysisKey(method: "occlusion", target: 1, settings: s), AnalysisKey(method: "occlusion", target: 1))
        XCTAssertEqual(AnalysisKey(method: "smoothgrad", target: 1, settings: s), AnalysisKey(method: "smoothgrad", target: 1))
        s.rule = .mean
        XCTAssertNotEqual(AnalysisKey(method: "gradient", target: 1, settings: s), AnalysisKey(method: "gradient", target: 1))
        XCTAssertEqual(AnalysisKey(method: "captum-ig", target: 1, settings: s), AnalysisKey(method: "captum-ig", target: 1),
                       "imported maps have no settings")
    }

    // MARK: Session: confirm, recompute, pin

    func testLongJobWaitsForYAndConfirmationIsRemembered() {
        let scene = Fixtures.scene()
        let fake = FakeProvider(scene: scene)
        let controller = AnalysisController(provider: EstimatingProvider(base: fake, seconds: 120))
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        XCTAssertEqual(ex.state.compute.confirmAbove, .infinity, "only the interactive view asks")
        ex.state.compute.confirmAbove = 60
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.start()
        XCTAssertEqual(session.explorer.state.compute.pending?.estimate.seconds, 120)
        XCTAssertTrue(session.explorer.state.message?.text.contains("needs ≈ 2 min 00 s") == true)
        XCTAssertTrue(session.explorer.state.message?.text.contains("y starts it") == true)
        XCTAssertEqual(session.explorer.computeSummary, "≈ 2 min 00 s · y starts")
        XCTAssertTrue(session.explorer.render().textLines.joined().contains("≈ 2 min 00 s · y starts"), "in the sidebar")
        controller.wait()
        XCTAssertEqual(fake.attributeCalls, [], "nothing starts before y")
        XCTAssertEqual(session.handle(.key(.char("y"))), .redraw)
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(fake.attributeCalls.map(\.target), [1])
        // Another target asks again; coming back to the confirmed one is the cached map.
        _ = session.handle(.key(.char("n")))
        XCTAssertEqual(session.explorer.state.compute.pending?.key.target, 2)
        _ = session.handle(.key(.char("N")))
        XCTAssertNil(session.explorer.state.compute.pending)
        XCTAssertNotNil(session.explorer.attribution)
        // Below the threshold nothing asks.
        session.explorer.state.compute.confirmAbove = 600
        _ = session.handle(.key(.char("n")))
        XCTAssertNil(session.explorer.state.compute.pending)
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(fake.attributeCalls.map(\.target), [1, 2])
    }

    func testRecomputeBypassesTheCacheAndReplacesTheMap() {
        let scene = Fixtures.scene()
        let fake = FakeProvider(scene: scene)
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: fake))
        session.start()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(session.handle(.key(.char("R"))), .redraw)
        XCTAssertTrue(session.explorer.state.message?.text.hasPrefix("Recomputing gradient → liver") == true)
        waitUntil(session) { fake.attributeCalls.count == 2 && session.explorer.progress == nil }
        XCTAssertEqual(fake.attributeCalls, [AnalysisKey(method: "gradient", target: 1),
                                             AnalysisKey(method: "gradient", target: 1)])
        XCTAssertNotNil(session.explorer.attribution)
    }

    func testOptionsAProviderCannotComputeFailWithAMessage() {
        let scene = Fixtures.scene()
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: AnalysisController(provider: FakeProvider(scene: scene)))
        session.start()
        waitUntil(session) { session.explorer.attribution != nil }
        _ = session.handle(.key(.char("i")))
        _ = session.handle(.key(.right))
        _ = session.handle(.key(.enter))
        waitUntil(session) { session.explorer.state.message?.isError == true }
        XCTAssertTrue(session.explorer.state.message?.text.contains("with its default options only") == true,
                      session.explorer.state.message?.text ?? "")
    }

    /// A pinned job survives leaving it (the next job waits behind it) and lands in the cache; an
    /// unpinned one is cancelled.
    func testPinnedJobRunsOnAndLandsInTheCache() {
        let scene = Fixtures.scene()
        let fake = FakeProvider(scene: scene, blocking: true)
        let controller = AnalysisController(provider: fake)
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.start()
        waitUntil(session) { session.explorer.progress?.fraction == 0.5 }
        XCTAssertEqual(session.handle(.key(.char("P"))), .redraw)
        XCTAssertTrue(session.explorer.progress?.label.hasSuffix("(pinned)") == true)
        _ = session.handle(.key(.char("n")))
        // The spleen job waits behind the pinned liver job, and says so.
        XCTAssertEqual(session.explorer.progress?.label, "gradient → spleen waits for gradient → liver (pinned)")
        XCTAssertEqual(controller.runningJob, .attribution(AnalysisKey(method: "gradient", target: 1)))
        fake.release()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertEqual(session.explorer.targetName, "spleen")
        XCTAssertNotNil(controller.cached(AnalysisKey(method: "gradient", target: 1)), "the pinned map is cached")
        XCTAssertEqual(fake.attributeCalls.map(\.target), [1, 2])
    }

    func testLeavingAnUnpinnedJobCancelsItSilently() {
        let scene = Fixtures.scene()
        let fake = FakeProvider(scene: scene, blocking: true)
        let controller = AnalysisController(provider: fake)
        var ex = Fixtures.explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.start()
        waitUntil(session) { session.explorer.progress?.fraction == 0.5 }
        _ = session.handle(.key(.char("m")))
        fake.release()
        waitUntil(session) { session.explorer.attribution != nil }
        XCTAssertNil(controller.cached(AnalysisKey(method: "gradient", target: 1)), "the job left behind was cancelled")
        XCTAssertNotNil(controller.cached(AnalysisKey(method: "integrated-gradients", target: 1)))
        XCTAssertFalse(session.explorer.state.message?.text.contains("cancelled") == true)
    }

    func testProgressShowsTheEstimateUntilTheFirstStep() {
        var ex = Fixtures.explorer(width: 120, height: 30, withAttribution: false)
        ex.progress = ProgressState(label: "gradient → liver", fraction: 0, elapsed: 3, remaining: 9, estimated: true)
        let text = ex.statusLine.progress ?? ""
        XCTAssertTrue(text.contains("~25% 3s ETA ~9s"), text)
        ex.progress = ProgressState(label: "gradient → liver", fraction: 0.5, elapsed: 3, remaining: 3)
        XCTAssertTrue(ex.statusLine.progress?.contains("50% 3s ETA 3s") == true)
    }

    // MARK: Estimates

    /// The pass counts behind the estimates are the passes the methods make: counted on a model
    /// that tallies its own calls.
    func testPassCountsMatchWhatTheMethodsDo() throws {
        var o = AttributionOptions()
        o.steps = 5
        o.samples = 6
        o.occlusionSize = 3
        o.occlusionStride = 2
        let dims = [4, 3, 2]
        for kind in AttributionMethodKind.allCases {
            let model = TallyModel()
            let input = Tensor(shape: [1] + dims, data: (0..<24).map { Float($0) / 23 })
            let mask = input.data.map { $0 > 0.5 ? Int32(1) : 0 }
            _ = try AttributionMethods.make(kind, options: o)
                .attribute(input, model: model, target: SegmentTarget(classIndex: 1, mask: mask), progress: nil, cancel: nil)
            let counted = PassCount(forward: model.forward, gradient: model.gradient)
            let estimated = PassCount.of(kind, options: o, dims: dims)
            if kind == .kernelshap {
                // Repeated coalitions are not passed again: the count is an upper bound.
                XCTAssertLessThanOrEqual(counted.forward, estimated.forward)
                XCTAssertEqual(counted.gradient, 0)
            } else {
                XCTAssertEqual(counted, estimated, kind.rawValue)
            }
        }
        // Occlusion 3-cubes at stride 2 on 4×3×2: starts {0,1} × {0} × {0} plus the clean pass.
        XCTAssertEqual(PassCount.of(.occlusion, options: o, dims: dims), PassCount(forward: 3, gradient: 0))
    }

    func testCostBookMeasuresPersistsAndEstimates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("costs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let book = PassCostBook(directory: dir, key: "model A grid [4, 3, 2]")
        XCTAssertNil(book.estimate(PassCount(forward: 1, gradient: 1)), "nothing measured yet")
        book.record(PassCount(forward: 1, gradient: 0), seconds: 2)
        // IG with 20 steps before any gradient pass was timed: gradient taken as 2 forward passes.
        let rough = try XCTUnwrap(book.estimate(PassCount(forward: 2, gradient: 20)))
        XCTAssertEqual(rough.seconds, 2 * 2 + 20 * 4, accuracy: 1e-9)
        XCTAssertFalse(rough.measured)
        // A 4-step IG run of 2·2 + 4·g = 16 s measures g = 3 s.
        book.record(PassCount(forward: 2, gradient: 4), seconds: 16)
        XCTAssertEqual(book.gradient ?? 0, 3, accuracy: 1e-9)
        let again = PassCostBook(directory: dir, key: "model A grid [4, 3, 2]")
        let measured = try XCTUnwrap(again.estimate(PassCount(forward: 2, gradient: 20)))
        XCTAssertEqual(measured.seconds, 2 * 2 + 20 * 3, accuracy: 1e-9)
        XCTAssertTrue(measured.measured)
        XCTAssertEqual(measured.basis, "20 gradient passes × 3.0 s + 2 forward passes × 2.0 s, measured here")
        XCTAssertNil(PassCostBook(directory: dir, key: "model B").estimate(PassCount(forward: 1, gradient: 0)),
                     "costs belong to one model and grid")
        // A damaged file only means measuring again.
        try Data("{not json".utf8).write(to: dir.appendingPathComponent(PassCostBook.fileName))
        XCTAssertNil(PassCostBook(directory: dir, key: "model A grid [4, 3, 2]").forward)
        XCTAssertEqual(PassCostBook.duration(250), "4 min 10 s")
    }

    // MARK: The command line reproduces the view

    func testCommandLineQuotesAndListsTheMethodsOptions() {
        var s = MethodSettings(rule: .mean)
        s.options.samples = 50
        s.options.noiseLevel = 0.2
        let line = ExplainCommandLine.make(scan: "/data/my scan.nii.gz", modelArguments: ["--model", "models/unet"], method: "smoothgrad",
                                           target: "liver", settings: s, processing: .pos)
        XCTAssertEqual(line, "agg2exp explain '/data/my scan.nii.gz' --model models/unet --target liver "
                       + "--method smoothgrad --target-rule mean --samples 50 --noise-level 0.2 --seed 42 --process pos")
        XCTAssertEqual(ExplainCommandLine.make(scan: "it's.nii", modelArguments: [], method: "gradient", target: "a b",
                                               settings: MethodSettings(), processing: .abs),
                       "agg2exp explain 'it'\\''s.nii' --target 'a b' --method gradient --target-rule sum --process abs")
    }

    /// The panel's command, run through the real CLI, writes the map the explorer's provider
    /// computes with the same settings (tiny CT, tiny instance-norm network): IG with Gauss–Legendre
    /// steps and the mean rule, SmoothGrad with its own samples, σ and seed.
    func testCommandLineRunThroughExplainGivesTheSameMap() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let scan = root.appendingPathComponent("Tests/TerminalTests/Fixtures/tiny_ct.nii.gz").path
        let modelDir = root.appendingPathComponent("Tests/EngineTests/Fixtures/network/instance").path
        let model = try SegmentationModel.load(directory: modelDir)
        let input = model.preprocess(try NIfTI.readVolume(scan))
        let provider = ModelAnalysisProvider(model: model, classNames: model.classes, description: "instance",
                                             preprocessed: input)
        var ig = MethodSettings(rule: .mean)
        ig.options.steps = 4
        ig.options.scheme = .gaussLegendre
        var sg = MethodSettings()
        sg.options.samples = 3
        sg.options.noiseLevel = 0.3
        sg.options.seed = 7
        for (method, settings, flags) in [("integrated-gradients", ig, "--steps 4 --baseline zeros --scheme gauss-legendre"),
                                          ("smoothgrad", sg, "--samples 3 --noise-level 0.3 --seed 7")] {
            let shown = try provider.attribute(method: method, target: 1, settings: settings, recompute: false,
                                               progress: { _ in }, cancel: CancellationToken())
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString).nii.gz").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            let line = ExplainCommandLine.make(scan: scan, modelArguments: ["--model", modelDir], method: method, target: model.classes[1],
                                               settings: settings, processing: .abs)
            XCTAssertTrue(line.contains(flags), line)
            let run = try runAgg2Exp(Array(Self.shellWords(line).dropFirst()) + ["--out", out])
            XCTAssertEqual(run.status, 0, run.stderr)
            let written = try NIfTI.readVolume(out)
            XCTAssertEqual(written.grid.dims, shown.map.grid.dims)
            let scale = shown.map.voxels.map { abs($0) }.max() ?? 1
            XCTAssertGreaterThan(scale, 0, method)
            // Same code and inputs; float32 through the file, and sums whose order may follow the
            // thread count.
            var worst: Float = 0
            for (a, b) in zip(written.voxels, shown.map.voxels) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, method)
        }
        // Another σ gives another map: the flag is honoured, not ignored.
        var other = sg
        other.options.noiseLevel = 0.05
        let a = try provider.attribute(method: "smoothgrad", target: 1, settings: sg, recompute: false,
                                       progress: { _ in }, cancel: CancellationToken())
        let b = try provider.attribute(method: "smoothgrad", target: 1, settings: other, recompute: false,
                                       progress: { _ in }, cancel: CancellationToken())
        XCTAssertNotEqual(a.map.voxels, b.map.voxels)
        let bad = try runAgg2Exp(["explain", scan, "--model", modelDir, "--target", "liver", "--method", "smoothgrad",
                                  "--noise-level", "11"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--noise-level must be between 0 and 10"), bad.stderr)
    }

    /// POSIX shell words of a line quoted by `ExplainCommandLine` (single quotes only).
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = [], word = "", quoted = false, inWord = false
        for c in line {
            if c == "'" { quoted.toggle(); inWord = true }
            else if c == " " && !quoted { if inWord { words.append(word) }; word = ""; inWord = false }
            else { word.append(c); inWord = true }
        }
        if inWord { words.append(word) }
        return words
    }

    // MARK: Snapshots

    func testOptionsPanelSnapshot() {
        var ex = onIG()
        ex.state.compute.modelArguments = ["--model", "models/unet"]
        _ = ex.handle(.key(.char("i")))
        _ = ex.handle(.key(.down))
        _ = ex.handle(.key(.right))
        assertSnapshot(ex.render())
    }

    func testOptionsPanelSnapshotASCII() {
        var ex = onIG()
        ex.capabilities = RenderCapabilities(depth: .monochrome, unicode: false)
        _ = ex.handle(.key(.char("i")))
        assertSnapshot(ex.render())
    }

    func testSidebarShowsRuntimeAndCompletenessDelta() {
        var ex = onIG()
        let a = ex.attribution!
        ex.attribution = AttributionDisplay(map: a.map, details: [("steps", "20"), ("completeness delta", "-0.0123"),
                                                                  ("runtime", "12.34 s")])
        XCTAssertEqual(ex.computeSummary, "12.34 s · completeness Δ -0.0123")
        assertSnapshot(ex.render())
    }
}

/// Counts whole-volume passes; z₀ = 0, z₁ = x.
private final class TallyModel: ExplainableModel, @unchecked Sendable {
    let classCount = 2
    private let lock = NSLock()
    private var counts = (0, 0)
    var forward: Int { lock.withLock { counts.0 } }
    var gradient: Int { lock.withLock { counts.1 } }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { counts.0 += 1 }
        return Tensor(shape: [2] + input.shape.dropFirst(), data: [Float](repeating: 0, count: input.count) + input.data)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { counts.1 += 1 }
        return Tensor(shape: input.shape, data: [Float](repeating: 1, count: input.count))
    }
}
