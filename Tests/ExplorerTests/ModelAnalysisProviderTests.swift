import XCTest
import Engine
import Explorer
import TestSupport

/// z₀ = 0 and z₁ = x − 0.5 per voxel: class 1 wins where x > 0.5, and with the sum rule
/// ∂T₁/∂x is exactly the indicator of the fixed mask M₁ (∂T₀/∂x = 0).
private struct ThresholdModel: ExplainableModel {
    var classCount: Int { 2 }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        try cancel?.check()
        progress?(1)
        return Tensor(shape: [2] + input.shape.dropFirst(), data: [Float](repeating: 0, count: input.count)
                      + input.data.map { $0 - 0.5 })
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        let mask = try target.mask ?? TargetFunction.argmax(logits(input, progress: nil, cancel: cancel))
        progress?(1)
        return Tensor(shape: input.shape, data: mask.map { target.classIndex == 1 && $0 == 1 ? 1 : 0 })
    }
}

private final class ProgressRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Double] = []
    func record(_ f: Double) { lock.withLock { recorded.append(f) } }
    var values: [Double] { lock.withLock { recorded } }
}

final class ModelAnalysisProviderTests: XCTestCase {
    /// 4 × 3 × 2 voxels with x rising along i fastest: x = (i + 4j + 12k) / 23.
    private let volume: Volume = {
        let grid = Grid(dims: [4, 3, 2], affine: .scaling([1, 2, 3]))
        return Volume(grid: grid, voxels: (0..<24).map { Float($0) / 23 })
    }()

    private func provider() -> ModelAnalysisProvider {
        ModelAnalysisProvider(model: ThresholdModel(), classNames: ["background", "bright"], description: "threshold",
                              preprocessed: volume, methods: [.gradient, .inputXGradient, .integratedGradients])
    }

    func testPredictionIsTheArgmaxInNIfTIOrder() throws {
        let labels = try provider().predict(progress: { _ in }, cancel: CancellationToken())
        XCTAssertEqual(labels.grid, volume.grid)
        XCTAssertEqual(labels.labels, volume.voxels.map { $0 > 0.5 ? 1 : 0 })
    }

    func testGradientAndInputTimesGradientOnTheFixedMask() throws {
        let p = provider()
        XCTAssertEqual(p.methods, ["gradient", "input-x-gradient", "integrated-gradients"])
        let recorder = ProgressRecorder()
        let g = try p.attribute(method: "gradient", target: 1,
                                progress: { recorder.record($0) }, cancel: CancellationToken())
        let fractions = recorder.values
        XCTAssertEqual(g.map.voxels, volume.voxels.map { $0 > 0.5 ? 1 : 0 })
        XCTAssertEqual(g.details.first?.0, "target rule")
        XCTAssertEqual(fractions.last, 1)
        XCTAssertEqual(fractions.first, 0.1, "the clean prediction takes the first tenth of the bar")
        let ixg = try p.attribute(method: "input-x-gradient", target: 1, progress: { _ in },
                                  cancel: CancellationToken())
        XCTAssertEqual(ixg.map.voxels, volume.voxels.map { $0 > 0.5 ? $0 : 0 })
        let background = try p.attribute(method: "gradient", target: 0, progress: { _ in },
                                         cancel: CancellationToken())
        XCTAssertEqual(background.maxAbs, 0)
    }

    func testIntegratedGradientsReportsItsOptions() throws {
        let ig = try provider().attribute(method: "integrated-gradients", target: 1, progress: { _ in },
                                          cancel: CancellationToken())
        let details = Dictionary(uniqueKeysWithValues: ig.details)
        XCTAssertEqual(details["steps"], "20")
        XCTAssertEqual(details["baseline"], "zeros")
        XCTAssertNotNil(details["completeness delta"])
        // Along the straight path the gradient is the fixed-mask indicator, so IG = x on M₁.
        for (a, x) in zip(ig.map.voxels, volume.voxels) { XCTAssertEqual(a, x > 0.5 ? x : 0, accuracy: 1e-6) }
    }

    func testRankingIsAgg2ExpMassAndMean() throws {
        let p = provider()
        let segments = try p.predict(progress: { _ in }, cancel: CancellationToken())
        let a = try p.attribute(method: "input-x-gradient", target: 1, progress: { _ in },
                                cancel: CancellationToken())
        let rows = p.rank(attribution: a.map, segments: segments, processing: .abs, names: [0: "background", 1: "bright"])
        XCTAssertEqual(rows.map(\.name), ["background", "bright"])
        XCTAssertEqual(rows[0].mass, 0)
        XCTAssertEqual(rows[1].mass, 1)
        let bright = volume.voxels.filter { $0 > 0.5 }
        XCTAssertEqual(rows[1].voxels, bright.count)
        XCTAssertEqual(rows[1].mean!, Double(bright.reduce(0, +)) / Double(bright.count), accuracy: 1e-6)
    }

    func testUnknownMethodAndCancellationAreErrors() {
        let p = provider()
        XCTAssertThrowsError(try p.attribute(method: "magic", target: 1, progress: { _ in },
                                             cancel: CancellationToken()))
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try p.predict(progress: { _ in }, cancel: token)) { XCTAssertTrue($0 is CancellationError) }
    }
}

/// ThresholdModel that counts its forward and gradient passes, to tell a cache hit from a recompute.
private final class CountingModel: ExplainableModel, @unchecked Sendable {
    private let base = ThresholdModel()
    private let lock = NSLock()
    private var counts = (logits: 0, gradients: 0)
    var classCount: Int { base.classCount }
    var logitPasses: Int { lock.withLock { counts.logits } }
    var gradientPasses: Int { lock.withLock { counts.gradients } }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { counts.logits += 1 }
        return try base.logits(input, progress: progress, cancel: cancel)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { counts.gradients += 1 }
        return try base.targetGradient(input, target: target, progress: progress, cancel: cancel)
    }
}

final class AttributionDiskCacheTests: XCTestCase {
    private let volume: Volume = {
        let grid = Grid(dims: [4, 3, 2], affine: .scaling([1, 2, 3]))
        return Volume(grid: grid, voxels: (0..<24).map { Float($0) / 23 })
    }()

    private func provider(_ model: CountingModel, cache: AttributionCache, digest: String = "weights-1",
                          steps: Int = 20) -> ModelAnalysisProvider {
        var options = AttributionOptions()
        options.steps = steps
        return ModelAnalysisProvider(model: model, classNames: ["background", "bright"], description: "threshold",
                                     preprocessed: volume, methods: [.gradient, .integratedGradients],
                                     options: options, cache: cache, sourceDigest: { digest })
    }

    private func attribute(_ p: ModelAnalysisProvider, _ method: String = "integrated-gradients") throws -> AttributionDisplay {
        try p.attribute(method: method, target: 1, progress: { _ in }, cancel: CancellationToken())
    }

    /// A second run (a fresh provider, as after restarting) reads the map and the prediction from
    /// disk: no forward or gradient pass, the same voxels, the original details and runtime.
    func testReopeningReadsMapAndPredictionWithoutRecomputing() throws {
        let cache = AttributionCache(directory: URL(fileURLWithPath: try makeTemporaryDirectory(self)), capacityBytes: 1 << 20)
        let first = CountingModel()
        let computed = try attribute(provider(first, cache: cache))
        XCTAssertNil(computed.notice)
        XCTAssertEqual(first.gradientPasses, 20, "IG with 20 steps")
        XCTAssertTrue(computed.details.contains { $0.0 == "runtime" })

        let second = CountingModel()
        let p = provider(second, cache: cache)
        let labels = try p.predict(progress: { _ in }, cancel: CancellationToken())
        let reopened = try attribute(p)
        XCTAssertEqual(second.logitPasses, 0, "the prediction came from the cache")
        XCTAssertEqual(second.gradientPasses, 0, "the map came from the cache")
        XCTAssertEqual(labels.labels, volume.voxels.map { $0 > 0.5 ? 1 : 0 })
        XCTAssertEqual(reopened.map.voxels, computed.map.voxels)
        XCTAssertEqual(reopened.map.grid, volume.grid)
        let storedValues: [String] = reopened.details.prefix(computed.details.count).map { $0.1 }
        XCTAssertEqual(storedValues, computed.details.map { $0.1 })
        XCTAssertEqual(reopened.details.last?.0, "source")
        XCTAssertTrue(reopened.notice?.hasPrefix("integrated-gradients → bright from the cache") == true,
                      reopened.notice ?? "")
    }

    private func session(_ p: ModelAnalysisProvider) -> ExplorerSession {
        let explorer = Explorer(scene: Scene(scanPath: "scan.nii.gz", ct: volume), width: 120, height: 40,
                                methods: p.methods, classNames: p.classNames)
        return ExplorerSession(explorer: explorer, controller: AnalysisController(provider: p))
    }

    /// A scan seen before opens with its prediction, map and ranking already in the first frame:
    /// `start()` reads them from disk itself, with no background job and no model pass.
    func testSessionStartShowsTheStoredMapBeforeTheFirstFrame() throws {
        let cache = AttributionCache(directory: URL(fileURLWithPath: try makeTemporaryDirectory(self)), capacityBytes: 1 << 20)
        let firstModel = CountingModel()
        let first = session(provider(firstModel, cache: cache))
        first.start()
        first.finishComputations()
        XCTAssertGreaterThan(firstModel.logitPasses, 0, "a first visit predicts")
        let shown = try XCTUnwrap(first.explorer.attribution)

        let model = CountingModel()
        let second = session(provider(model, cache: cache))
        second.start()
        XCTAssertNil(second.controller?.runningJob, "nothing left to compute")
        XCTAssertEqual(second.explorer.scene.labels?.labels, first.explorer.scene.labels?.labels)
        XCTAssertEqual(second.explorer.attribution?.map.voxels, shown.map.voxels)
        XCTAssertEqual(second.explorer.attribution?.sortedAbs, shown.sortedAbs)
        XCTAssertEqual(second.explorer.rows, first.explorer.rows)
        XCTAssertFalse(second.explorer.rows.isEmpty)
        XCTAssertEqual(model.logitPasses + model.gradientPasses, 0)
        XCTAssertTrue(second.explorer.state.message?.text.contains("from the cache") == true,
                      second.explorer.state.message?.text ?? "no message")
    }

    /// Other options, another model or another method are other keys and compute afresh.
    func testOptionsModelAndMethodAreInTheKey() throws {
        let cache = AttributionCache(directory: URL(fileURLWithPath: try makeTemporaryDirectory(self)), capacityBytes: 1 << 20)
        _ = try attribute(provider(CountingModel(), cache: cache))
        for (digest, steps, method, passes) in [("weights-1", 10, "integrated-gradients", 10),
                                                ("weights-2", 20, "integrated-gradients", 20),
                                                ("weights-1", 20, "gradient", 1)] {
            let model = CountingModel()
            _ = try attribute(provider(model, cache: cache, digest: digest, steps: steps), method)
            XCTAssertEqual(model.gradientPasses, passes, "\(digest), \(steps) steps, \(method) computes")
        }
    }

    /// A damaged entry is never shown: the map is recomputed, the user told, and the entry replaced.
    func testDamagedEntryIsRecomputedAndReplaced() throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = AttributionCache(directory: URL(fileURLWithPath: dir), capacityBytes: 1 << 20)
        let computed = try attribute(provider(CountingModel(), cache: cache))
        let entries = cache.entriesDirectory
        for name in try FileManager.default.contentsOfDirectory(atPath: entries.path) {
            let url = entries.appendingPathComponent(name)
            var bytes = try Data(contentsOf: url)
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: url)
        }
        let model = CountingModel()
        let again = try attribute(provider(model, cache: cache))
        XCTAssertEqual(model.gradientPasses, 20, "recomputed")
        XCTAssertEqual(again.map.voxels, computed.map.voxels)
        XCTAssertTrue(again.notice?.hasPrefix("A cache entry was unusable (checksum mismatch") == true, again.notice ?? "")
        let third = CountingModel()
        _ = try attribute(provider(third, cache: cache))
        XCTAssertEqual(third.gradientPasses, 0, "the recomputed map was stored again")
    }
}
